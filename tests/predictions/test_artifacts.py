"""The artifact cache and activation against the files on disk (real joblib bundles in a temporary
MODEL_STORAGE_PATH): a bundle this process holds in memory is no evidence its file is still good."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from predictions.ml import artifacts
from predictions.ml.artifacts import ArtifactError, ModelBundle, bundle_save
from predictions.models import ModelVersion
from predictions.services import model_version_activate
from predictions.services.training import ModelUnavailable, model_bundle_load
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def storage(settings, tmp_path):
    settings.MODEL_STORAGE_PATH = tmp_path / "models"
    artifacts.cache_clear()
    yield settings.MODEL_STORAGE_PATH
    artifacts.cache_clear()


def _version(storage: Path, i: int, *, active: bool = False, record_sha: bool = True) -> ModelVersion:
    """A registered version with a real joblib artifact (and, as training does, its sha256)."""
    label = f"vart-{i}"
    path = storage / f"{label}.joblib"
    sha = bundle_save(ModelBundle(label=label, stages={}, meta={"i": i, "pad": list(range(200))}), path)
    version = ModelVersionFactory(
        label=label,
        artifact_path=str(path),
        metrics={"artifact_sha256": sha} if record_sha else {},
        is_active=active,
    )
    ModelVersion.objects.filter(pk=version.pk).update(created_at=T0 + timedelta(weeks=i))
    return ModelVersion.objects.get(pk=version.pk)


def _truncate(path: Path) -> None:
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # in place: same inode (a failed copy over it)


def _corrupt_keeping_signature(path: Path) -> None:
    """Different bytes, same inode, size and mtime: invisible to the cheap file signature."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def _active() -> str:
    return ModelVersion.objects.get(is_active=True).label


def test_activation_refuses_a_truncated_file_this_process_holds_in_memory(storage, admin_client):
    _version(storage, 0, active=True)
    fallback = _version(storage, 1)
    artifacts.cache_clear()
    model_bundle_load(version=fallback)  # loaded earlier (e.g. as a fallback): now in memory
    _truncate(Path(fallback.artifact_path))

    with pytest.raises(ArtifactError, match=r"vart-1 is corrupt or replaced .*sha256"):
        model_version_activate(version=fallback, reason="train_models")
    response = admin_client.post(
        "/admin/predictions/modelversion/",
        {"action": "activate_version", "_selected_action": [fallback.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Not activated" in page and "corrupt or replaced" in page
    assert "is now the active model" not in page
    assert _active() == "vart-0"


def test_activation_checks_the_recorded_sha256_not_the_file_signature(storage):
    """A change the inode/mtime/size signature cannot see is still refused: the bytes are hashed."""
    _version(storage, 0, active=True)
    other = _version(storage, 1)
    model_bundle_load(version=other)
    _corrupt_keeping_signature(Path(other.artifact_path))
    with pytest.raises(ArtifactError, match="sha256"):
        model_version_activate(version=other, reason="train_models")
    assert _active() == "vart-0"


def test_activation_without_a_recorded_sha256_reads_the_file_itself(storage):
    _version(storage, 0, active=True)
    legacy = _version(storage, 1, record_sha=False)  # trained before hashes were recorded
    model_bundle_load(version=legacy)
    _corrupt_keeping_signature(Path(legacy.artifact_path))
    with pytest.raises(ArtifactError, match="unreadable"):
        model_version_activate(version=legacy, reason="train_models")
    assert _active() == "vart-0"


def test_activation_of_an_intact_file_still_works(storage):
    _version(storage, 0, active=True)
    other = _version(storage, 1)
    legacy = _version(storage, 2, record_sha=False)
    model_version_activate(version=other, reason="train_models")
    assert _active() == "vart-1"
    model_version_activate(version=legacy, reason="train_models")
    assert _active() == "vart-2"


def test_the_cache_notices_the_active_file_changed_on_disk(storage, client):
    """The health check turns degraded on the next poll after the active artifact is truncated or
    replaced, not only once the workers restart; and ok again when the file is repaired."""
    _version(storage, 0)
    active = _version(storage, 1, active=True)
    path = Path(active.artifact_path)
    good = path.read_bytes()

    def model_check():
        return client.get("/api/v1/health").json()["checks"]["model"]

    check = model_check()
    assert check["status"] == "ok" and check["detail"] == {"active": "vart-1", "serving": "vart-1"}

    _truncate(path)
    check = model_check()
    assert check["status"] == "degraded" and check["detail"]["serving"] == "vart-0"
    assert model_bundle_load()[0].label == "vart-0"  # predictions fall back as well

    # Repaired (atomic replace by the good bytes), then replaced by another version's bundle.
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(good)
    tmp.replace(path)
    assert model_check()["status"] == "ok"
    bundle_save(ModelBundle(label="vart-0", stages={}), storage / "elsewhere.joblib")
    (storage / "elsewhere.joblib").replace(path)
    check = model_check()
    assert check["status"] == "degraded" and check["detail"]["serving"] == "vart-0"

    # Deleted outright: the cached copy is not served either.
    path.unlink()
    assert model_check()["detail"]["serving"] == "vart-0"


def test_an_unchanged_file_is_served_from_memory(storage, monkeypatch):
    version = _version(storage, 0, active=True)
    artifacts.cache_clear()
    first = model_bundle_load()[1]
    monkeypatch.setattr(artifacts.joblib, "load", lambda *a, **k: pytest.fail("read again"))
    assert model_bundle_load()[1] is first
    assert artifacts.bundle_load(Path(version.artifact_path), label=version.label) is first


def test_the_fallback_is_the_model_trained_on_the_latest_data_not_a_newer_backfill_model(storage):
    """QA: with the active artifact corrupt, the site served the backfill model (trained to 2025 for
    honest past predictions, registered after the 2026 one) instead of the older 2026 model."""
    from datetime import date

    current = _version(storage, 0)  # trained through 2026
    backfill = _version(storage, 1)  # registered later, trained through 2025 only
    active = _version(storage, 2, active=True)
    ModelVersion.objects.filter(pk__in=[current.pk, active.pk]).update(trained_until_date=date(2026, 6, 28))
    ModelVersion.objects.filter(pk=backfill.pk).update(
        train_until_season=2025, trained_until_date=date(2025, 12, 7)
    )
    _truncate(Path(active.artifact_path))
    assert model_bundle_load()[0].label == "vart-0"


def test_with_no_older_version_loading_a_newer_one_serves_as_a_last_resort(storage, client):
    """QA: right after `make up` the active artifact was corrupt and the only good versions were
    registered after it (a newer inactive one, a backfill model trained 2018-2025): none was tried,
    so predictions, what-if and the championship answered 503 and health was down."""
    from datetime import date

    active = _version(storage, 0, active=True)
    backfill = _version(storage, 1)  # registered later, trained through 2025 only
    newer = _version(storage, 2)  # registered later, inactive, trained on the latest data
    ModelVersion.objects.filter(pk__in=[active.pk, newer.pk]).update(trained_until_date=date(2026, 6, 14))
    ModelVersion.objects.filter(pk=backfill.pk).update(trained_until_date=date(2025, 12, 7))
    _truncate(Path(active.artifact_path))

    assert model_bundle_load()[0].label == "vart-2"  # the best trained of the later ones
    check = client.get("/api/v1/health").json()["checks"]["model"]
    assert check["status"] == "degraded"
    assert check["detail"]["active"] == "vart-0" and check["detail"]["serving"] == "vart-2"
    assert (
        check["detail"]["error"]
        == "the active model's artifact does not load: serving a version registered after it"
    )
    Path(newer.artifact_path).unlink()
    assert model_bundle_load()[0].label == "vart-1"
    # a version asked for by name (a backfill's) falls back only to one trained on no later data:
    # vart-1 (to 2025-12-07), whenever it was registered
    assert model_bundle_load(version=ModelVersion.objects.get(pk=active.pk))[0].label == "vart-1"


def test_an_older_version_that_loads_still_comes_before_a_newer_one(storage):
    """The roll-back case: staff activated an older version; when its file breaks, the fallback
    prefers the versions registered before it to the newer one staff had deactivated."""
    older = _version(storage, 0)
    rolled_back_to = _version(storage, 1, active=True)
    _version(storage, 2)  # the newer version staff rolled back from
    _truncate(Path(rolled_back_to.artifact_path))
    assert model_bundle_load()[0].label == older.label


def test_models_performance_names_the_version_serving_as_health_does(storage, client):
    """QA: during a fallback `models/performance` showed the broken active version and not which
    one served. `serving_model` follows the files on disk on the next request (cached per version
    serving), as health's `serving` does."""
    from django.core.cache import cache

    cache.clear()
    _version(storage, 0)
    active = _version(storage, 1, active=True)
    path = Path(active.artifact_path)
    good = path.read_bytes()

    def views():
        performance = client.get("/api/v1/models/performance").json()
        health = client.get("/api/v1/health").json()["checks"]["model"]["detail"]
        # a what-if now loads the version serving now (`model_bundle_load`), fallback included
        what_if = performance["what_if_model"]
        assert (what_if and what_if["label"]) == health["serving"] and not (what_if and what_if["differs"])
        return performance["active_model"]["label"], performance["serving_model"], health["serving"]

    assert views() == ("vart-1", "vart-1", "vart-1")  # cached from here on
    _truncate(path)
    assert views() == ("vart-1", "vart-0", "vart-0")
    Path(storage / "vart-0.joblib").unlink()
    assert views() == ("vart-1", None, None)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(good)
    tmp.replace(path)  # repaired
    assert views() == ("vart-1", "vart-1", "vart-1")


def test_a_truncated_artifact_names_why_it_is_unreadable(storage):
    """QA: a truncated file was logged as "… is unreadable: " (pickle's EOFError has no message; an
    interrupted copy that wrote nothing yet leaves an empty file)."""
    version = _version(storage, 0, active=True)
    path = Path(version.artifact_path)
    path.write_bytes(b"")
    with pytest.raises(ArtifactError) as caught:
        artifacts.bundle_load(path, label=version.label)
    message = str(caught.value)
    assert "is unreadable: " in message and not message.endswith(": ")


def test_a_given_versions_fallback_never_uses_later_data(storage):
    """A backfill names its version (trained only on the seasons before its race). If that file
    breaks, an older-registered version trained on later races (the active one, here) is no
    stand-in: it learnt from the race being predicted. One trained on no later data is."""
    from datetime import date

    active = _version(storage, 0, active=True)  # registered first, trained through mid-2026
    older_data = _version(storage, 1)  # trained through 2024
    backfill = _version(storage, 2)  # trained through 2025
    ModelVersion.objects.filter(pk=active.pk).update(trained_until_date=date(2026, 6, 14))
    ModelVersion.objects.filter(pk=older_data.pk).update(trained_until_date=date(2024, 12, 8))
    ModelVersion.objects.filter(pk=backfill.pk).update(trained_until_date=date(2025, 12, 7))
    backfill.refresh_from_db()
    Path(backfill.artifact_path).unlink()
    assert model_bundle_load(version=backfill)[0].label == "vart-1"  # not the active vart-0
    Path(older_data.artifact_path).unlink()
    with pytest.raises(ModelUnavailable):
        model_bundle_load(version=backfill)
    assert model_bundle_load()[0].label == "vart-0"  # serving the active one is unaffected
