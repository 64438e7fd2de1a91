"""Pruning old model artifacts (`model_artifacts_prune`, `manage.py prune_models`, the weekly job's
maintenance) on a real temporary MODEL_STORAGE_PATH with real joblib bundles, and how the fallback,
activation and admin treat a pruned version."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from predictions.ml import artifacts
from predictions.ml.artifacts import ArtifactError, ModelBundle, bundle_save
from predictions.models import ModelVersion
from predictions.services import ModelUnavailable, model_artifacts_prune, model_version_activate
from predictions.services.training import model_bundle_load
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def storage(settings, tmp_path):
    settings.MODEL_STORAGE_PATH = tmp_path / "models"
    settings.MODEL_ARTIFACTS_KEEP = 2
    artifacts.cache_clear()
    yield settings.MODEL_STORAGE_PATH
    artifacts.cache_clear()


def _versions(storage: Path, n: int, *, active: int) -> list[ModelVersion]:
    """n registered versions, oldest first (one a week apart, as post-race retrains), each with a
    real joblib artifact and its recorded sha256; the one at index `active` is active."""
    versions = []
    for i in range(n):
        label = f"vprune-{i}"
        path = storage / f"{label}.joblib"
        sha = bundle_save(ModelBundle(label=label, stages={}, meta={"i": i}), path)
        version = ModelVersionFactory(
            label=label, artifact_path=str(path), metrics={"artifact_sha256": sha}, is_active=i == active
        )
        ModelVersion.objects.filter(pk=version.pk).update(created_at=T0 + timedelta(weeks=i))
        versions.append(version)
    artifacts.cache_clear()  # bundle_save cached them: a fresh process has only the files
    return versions


def _labels(*indexes: int) -> set[str]:
    return {f"vprune-{i}" for i in indexes}


def _on_disk(storage: Path) -> set[str]:
    return {p.stem for p in storage.glob("*.joblib")}


def _pruned() -> set[str]:
    return set(ModelVersion.objects.filter(artifact_pruned_at__isnull=False).values_list("label", flat=True))


def test_keeps_the_active_and_the_newest_n_and_marks_the_rest_pruned(storage):
    versions = _versions(storage, 6, active=5)
    sizes = sum(Path(v.artifact_path).stat().st_size for v in versions[:3])
    summary = model_artifacts_prune()  # MODEL_ARTIFACTS_KEEP = 2
    assert summary["active"] == "vprune-5" and set(summary["kept"]) == _labels(5, 4, 3)
    assert set(summary["pruned"]) == _labels(0, 1, 2) and summary["bytes_freed"] == sizes
    assert _on_disk(storage) == _labels(3, 4, 5)
    assert _pruned() == _labels(0, 1, 2)
    # idempotent: nothing more to do
    again = model_artifacts_prune()
    assert again["pruned"] == [] and _on_disk(storage) == _labels(3, 4, 5)


def test_a_prune_retires_the_cached_model_views_and_a_dry_run_does_not(
    storage, django_capture_on_commit_callbacks
):
    """The model page and models/performance at a past clock name the version a what-if would run
    there, skipping pruned files; a prune that left them cached kept naming a version whose file was
    gone (review). Pruning sends `models_changed`, whose receiver retires those entries."""
    from predictions.signals import models_changed

    _versions(storage, 5, active=4)
    sent = []

    def receiver(sender, reason=None, **kwargs):
        sent.append(reason)

    models_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            model_artifacts_prune(keep=1, dry_run=True)
        assert sent == []
        with django_capture_on_commit_callbacks(execute=True):
            model_artifacts_prune(keep=1)
        assert sent == ["pruned"]
        with django_capture_on_commit_callbacks(execute=True):
            model_artifacts_prune(keep=1)  # nothing left to prune: nothing changed
        assert sent == ["pruned"]
    finally:
        models_changed.disconnect(receiver)


def test_dry_run_deletes_and_marks_nothing(storage):
    _versions(storage, 5, active=4)
    summary = model_artifacts_prune(keep=1, dry_run=True)
    assert summary["dry_run"] and set(summary["pruned"]) == _labels(0, 1, 2) and summary["bytes_freed"] > 0
    assert _on_disk(storage) == _labels(0, 1, 2, 3, 4)
    assert _pruned() == set()


def test_the_fallback_still_finds_a_kept_version_and_never_a_pruned_one(storage):
    versions = _versions(storage, 5, active=4)
    model_artifacts_prune(keep=1)
    assert _on_disk(storage) == _labels(3, 4)

    Path(versions[4].artifact_path).write_bytes(b"corrupt")  # the active artifact breaks
    serving, bundle = model_bundle_load()
    assert serving.label == "vprune-3" and bundle.label == "vprune-3"

    # A pruned version's file reappears (a restore of an old backup): still never a fallback.
    bundle_save(ModelBundle(label="vprune-2", stages={}), Path(versions[2].artifact_path))
    artifacts.cache_clear()
    Path(versions[3].artifact_path).write_bytes(b"corrupt too")
    with pytest.raises(ModelUnavailable) as exc:
        model_bundle_load()
    assert "vprune-2" not in str(exc.value)


def test_a_corrupt_artifact_does_not_count_as_kept(storage):
    versions = _versions(storage, 5, active=4)
    Path(versions[3].artifact_path).write_bytes(b"truncated")  # sha256 no longer matches
    summary = model_artifacts_prune(keep=2)
    assert set(summary["kept"]) == _labels(4, 2, 1)
    assert set(summary["pruned"]) == _labels(3, 0)
    assert _on_disk(storage) == _labels(1, 2, 4)


def test_after_a_roll_back_the_active_versions_fallbacks_are_kept_too(storage):
    _versions(storage, 6, active=1)  # rolled back to an old version
    summary = model_artifacts_prune(keep=2)
    # the newest two (roll-forward targets) and the active one's older fallback (only one exists)
    assert set(summary["kept"]) == _labels(5, 4, 1, 0)
    assert _on_disk(storage) == _labels(0, 1, 4, 5) and _pruned() == _labels(2, 3)


def test_missing_files_and_files_outside_the_storage_are_left_alone(storage, tmp_path):
    versions = _versions(storage, 5, active=4)
    Path(versions[0].artifact_path).unlink()
    elsewhere = tmp_path / "elsewhere" / "vprune-1.joblib"
    elsewhere.parent.mkdir()
    Path(versions[1].artifact_path).rename(elsewhere)
    ModelVersion.objects.filter(pk=versions[1].pk).update(artifact_path=str(elsewhere))
    summary = model_artifacts_prune(keep=1)
    assert summary["missing"] == ["vprune-0"] and set(summary["skipped"]) == {"vprune-1"}
    assert set(summary["pruned"]) == _labels(2)
    assert elsewhere.exists() and _pruned() == _labels(2)


def test_a_pruned_version_cannot_be_activated(storage, admin_client):
    versions = _versions(storage, 4, active=3)
    model_artifacts_prune(keep=1)
    old = ModelVersion.objects.get(pk=versions[0].pk)
    with pytest.raises(ArtifactError, match=r"was pruned on .* train a new version"):
        model_version_activate(version=old, reason="train_models")
    response = admin_client.post(
        "/admin/predictions/modelversion/",
        {"action": "activate_version", "_selected_action": [old.pk]},
        follow=True,
    )
    assert b"Not activated" in response.content and b"was pruned on" in response.content
    assert ModelVersion.objects.get(is_active=True).label == "vprune-3"


def test_admin_shows_the_pruned_state(storage, admin_client):
    versions = _versions(storage, 4, active=3)
    model_artifacts_prune(keep=1)
    page = admin_client.get("/admin/predictions/modelversion/").content.decode()
    assert page.count("pruned 2") == 2 and page.count("on disk") == 2  # "pruned 2026-…"
    only_pruned = admin_client.get(
        "/admin/predictions/modelversion/", {"artifact_pruned_at__isnull": "False"}
    )
    assert versions[0].label in only_pruned.content.decode()
    assert versions[3].label not in only_pruned.content.decode()


def test_prune_models_command(storage):
    _versions(storage, 5, active=4)
    out = StringIO()
    call_command("prune_models", "--dry-run", "--json", stdout=out)
    planned = json.loads(out.getvalue())
    assert planned["dry_run"] and planned["keep"] == 2 and set(planned["pruned"]) == _labels(0, 1)
    assert _pruned() == set()

    out = StringIO()
    call_command("prune_models", "--keep", "3", stdout=out)
    assert "pruned 1 model artifact(s)" in out.getvalue() and "vprune-0" in out.getvalue()
    assert _on_disk(storage) == _labels(1, 2, 3, 4)

    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_models", "--keep", "0")


def test_a_file_that_cannot_be_deleted_is_reported_and_its_row_stays_unpruned(storage):
    versions = _versions(storage, 4, active=3)
    stuck = Path(versions[0].artifact_path)
    stuck.unlink()
    stuck.mkdir()  # unlink() fails on it, as on a file the worker may not delete
    (stuck / "keep").write_text("x")
    summary = model_artifacts_prune(keep=1)
    assert set(summary["errors"]) == {"vprune-0"} and set(summary["pruned"]) == _labels(1)
    assert _pruned() == _labels(1) and stuck.is_dir()
    out = StringIO()
    with pytest.raises(CommandError, match="could not delete 1 artifact"):
        call_command("prune_models", "--keep", "1", stdout=out)
    assert "not pruned: vprune-0" in out.getvalue()
