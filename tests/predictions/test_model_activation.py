"""The model activation log (`ModelActivation`): written by `model_version_activate` for every path
that activates a version, read by `model_versions_at` for the version serving at a past clock,
shown read-only in admin, and back-filled by migration predictions 0008."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from django.urls import reverse

from predictions.models import ActivationReason, ModelActivation, ModelVersion
from tests.factories import ModelVersionFactory
from tests.model_fixtures import version_activated_at, version_registered_at

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 10, tzinfo=UTC)  # v1 registered and activated
V2_REGISTERED = datetime(2025, 2, 1, tzinfo=UTC)  # v2 registered, not activated (`--no-activate`)
T1 = datetime(2025, 3, 1, tzinfo=UTC)  # v2 activated (admin)
T3 = datetime(2025, 6, 1, tzinfo=UTC)  # v1 re-activated (a roll-back)


def test_a_version_reactivated_since_the_clock_keeps_its_earlier_activation(
    active_model, second_model, time_machine
):
    """The registry kept only each version's latest activation: v1 activated at T0, v2 (registered
    after T0, trained on data as late as v1's and registered later) at T1, v1 again at T3. At a
    clock between v2's registration and T1, v1's T0 activation was gone (overwritten by T3) and the
    fallback order named v2, which was not serving yet. The log keeps every activation."""
    from predictions.services.training import model_version_activate, model_version_at

    v1 = version_registered_at(active_model, datetime(2025, 1, 9, tzinfo=UTC), is_active=False)
    v2 = version_registered_at(second_model, V2_REGISTERED)
    for when, version, reason in (
        (T0, v1, "train_models"),
        (T1, v2, "admin_activate"),
        (T3, v1, "admin_rollback"),
    ):
        time_machine.move_to(when, tick=False)
        model_version_activate(version=ModelVersion.objects.get(pk=version.pk), reason=reason)

    assert model_version_at(clock=datetime(2025, 2, 15, tzinfo=UTC)) == v1  # between v2's registration and T1
    assert model_version_at(clock=datetime(2025, 4, 1, tzinfo=UTC)) == v2  # between T1 and T3
    assert model_version_at(clock=datetime(2025, 7, 1, tzinfo=UTC)) == v1  # after T3
    assert list(ModelActivation.objects.filter(version=v1).values_list("activated_at", flat=True)) == [T3, T0]


def test_an_activation_at_the_clock_itself_is_not_before_it():
    """The codebase's rule: known at a clock means strictly before it."""
    from predictions.services.training import model_version_at

    first = version_activated_at(version_registered_at(ModelVersionFactory(label="v-first"), T0), T0)
    second = version_registered_at(
        ModelVersionFactory(label="v-second", trained_until_date=date(2024, 1, 1)), T0
    )
    version_activated_at(second, T1)
    assert model_version_at(clock=T1) == first
    assert model_version_at(clock=datetime(2025, 3, 1, 0, 0, 1, tzinfo=UTC)) == second


# --- every activation path logs its reason (and the staff user for admin actions) ----------------


def test_the_admin_activate_and_roll_back_log_the_user_and_which_it_was(
    admin_client, admin_user, active_model, second_model, monkeypatch
):
    monkeypatch.setattr("predictions.admin._refresh_upcoming", lambda *a, **kw: None)  # its own tests
    ModelActivation.objects.all().delete()
    url = reverse("admin:predictions_modelversion_changelist")
    for version in (second_model, active_model):  # forward to the newer, then back to the older
        response = admin_client.post(
            url, {"action": "activate_version", "_selected_action": [version.pk]}, follow=True
        )
        assert "is now the active model" in response.content.decode()
    assert [(a.version_id, a.reason, a.activated_by_id) for a in ModelActivation.objects.all()] == [
        (active_model.pk, ActivationReason.ADMIN_ROLLBACK, admin_user.pk),
        (second_model.pk, ActivationReason.ADMIN_ACTIVATE, admin_user.pk),
    ]


@pytest.mark.parametrize("when", ["deleted while queued", "deleted during the fit"])
def test_a_retrain_asked_by_a_user_deleted_since_is_activated_as_nobodys_and_says_so(
    when, active_model, django_user_model, embedded_celery, monkeypatch, settings, tmp_path
):
    """The admin's "Retrain" queues `model_retrain` with the clicking user's id. When that account was
    deleted before the job activated, the log's foreign key to it failed at commit: after the fit
    (its artifact left on disk, no version registered), and the task's retry failed the same way. The
    activation is now nobody's and its note names the id. A real (small) fit, so the version and its
    artifact are really registered; the test's transaction never commits, so the database checks the
    foreign keys at once (`SET CONSTRAINTS ALL IMMEDIATE`), as a production commit would."""
    from django.db import connection

    from ingestion.models import JobRun
    from predictions.features.frames import f1_frames_load
    from predictions.services import training
    from predictions.tasks import model_retrain

    real_train = training.model_train

    def small_fit(**logged):  # the retrain's own arguments, on the smallest window that trains
        return real_train(
            from_season=2024, until_season=2025, frames=f1_frames_load(since_season=2021), **logged
        )

    monkeypatch.setattr("predictions.services.model_train", small_fit)
    monkeypatch.setattr(  # the upcoming refresh is the retrain tests' business (test_admin.py)
        "predictions.services.refresh.upcoming_predictions_refresh_enqueue",
        lambda *, reason: SimpleNamespace(queued=[], not_queued=[], error=""),
    )
    settings.MODEL_STORAGE_PATH = tmp_path
    with connection.cursor() as cursor:  # check the foreign keys where production's commit would
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    staff = django_user_model.objects.create_user(username="left-the-team", is_staff=True)
    gone_id = staff.pk
    if when == "deleted while queued":
        staff.delete()
    else:

        def account_deleted_during_the_fit(**logged):
            django_user_model.objects.filter(pk=gone_id).delete()
            return small_fit(**logged)

        monkeypatch.setattr("predictions.services.model_train", account_deleted_during_the_fit)

    model_retrain.apply(kwargs={"activated_by_id": gone_id})

    run = JobRun.objects.get(job="model_retrain")
    assert run.status == "succeeded", run.error
    version = ModelVersion.objects.get(is_active=True)
    assert version != active_model and version.label == run.counts["model_version"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{version.label}.joblib"]  # no orphan
    (logged,) = version.activations.all()
    assert (logged.reason, logged.activated_by_id) == ("admin_retrain", None)
    assert logged.note == f"requested by deleted user #{gone_id}"


def test_an_activation_refused_logs_nothing(active_model, tmp_path):
    from predictions.ml.artifacts import ArtifactError
    from predictions.services import model_version_activate

    gone = ModelVersionFactory(artifact_path=str(tmp_path / "gone.joblib"), metrics={"artifact_sha256": "x"})
    before = ModelActivation.objects.count()
    with pytest.raises(ArtifactError):
        model_version_activate(version=gone, reason="admin_activate")
    assert ModelActivation.objects.count() == before


def test_model_train_refuses_to_activate_without_a_reason_before_fitting(monkeypatch):
    from predictions.services import model_train

    monkeypatch.setattr("predictions.services.training.f1_frames_load", lambda **kw: pytest.fail("loaded"))
    with pytest.raises(ValueError, match="needs the activation's reason"):
        model_train()


# --- admin: read-only log ------------------------------------------------------------------------


def test_the_log_is_a_read_only_inline_latest_first_and_a_changelist(admin_client, admin_user):
    version = ModelVersionFactory(label="v-logged")
    version_activated_at(version, T0, reason="train_models")
    ModelActivation.objects.create(
        version=version, activated_at=T3, reason="admin_rollback", activated_by=admin_user, note="bad fit"
    )
    body = admin_client.get(
        reverse("admin:predictions_modelversion_change", args=[version.pk])
    ).content.decode()
    rollback, trained = body.index("Admin: roll back"), body.index("manage.py train_models")
    assert rollback < trained  # latest first
    assert 'name="activations-0-reason"' not in body and 'name="_save"' not in body  # nothing editable

    changelist = reverse("admin:predictions_modelactivation_changelist")
    body = admin_client.get(changelist, {"reason__exact": "admin_rollback"}).content.decode()
    rows = body.split('id="result_list"')[1].split("</table>")[0]
    assert "bad fit" in rows and "Admin: roll back" in rows and "manage.py train_models" not in rows
    assert admin_client.get(changelist, {"activated_at__year": "2025"}).status_code == 200
    listed = admin_client.get(reverse("admin:predictions_modelversion_changelist")).content.decode()
    assert "June 1, 2025" in listed or "1 June 2025" in listed  # the version's last activation


# --- migration 0008 back-fills the log from activated_at, and reverses ---------------------------


def test_migration_0008_backfills_one_activation_per_activated_version_and_reverses():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        ("predictions", "0007_modelversion_activated_at"),
        ("predictions", "0008_model_activation_log"),
    )
    executor = MigrationExecutor(connection)
    executor.migrate([before])  # inside this test's transaction: rolled back afterwards
    old = executor.loader.project_state(before).apps.get_model("predictions", "ModelVersion")
    fields = dict(
        train_from_season=2018, train_until_season=2024, trained_until_date=date(2024, 12, 8), rows=1,
        data_fingerprint="x", artifact_path="/nonexistent",
    )  # fmt: skip
    activated = old.objects.create(label="v-mig-activated", activated_at=T1, **fields)
    old.objects.create(label="v-mig-never", **fields)

    executor = MigrationExecutor(connection)
    executor.migrate([after])
    new = executor.loader.project_state(after).apps
    log = new.get_model("predictions", "ModelActivation").objects.filter(version__label__startswith="v-mig-")
    assert [(a.version_id, a.activated_at, a.reason, a.activated_by_id) for a in log] == [
        (activated.pk, T1, "backfilled", None)
    ]

    executor = MigrationExecutor(connection)
    executor.migrate([before])  # reversed: the field holds the latest logged activation again
    old = executor.loader.project_state(before).apps.get_model("predictions", "ModelVersion")
    assert dict(old.objects.filter(label__startswith="v-mig-").values_list("label", "activated_at")) == {
        "v-mig-activated": T1,
        "v-mig-never": None,
    }
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes("predictions"))
