"""The prediction engine's admin is history: nothing is added, edited or deleted by hand (README
"Registry"); its actions call services."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from ingestion.models import Driver, Race, Team
from predictions.models import BacktestRun, ModelVersion, Prediction, RaceAccuracy
from tests.admin_checks import assert_admin_cannot_delete
from tests.conftest import in_season
from tests.factories import (
    ModelVersionFactory,
    PredictionFactory,
    RaceAccuracyFactory,
    RaceFactory,
)

pytestmark = pytest.mark.django_db


def _prediction(race=None) -> Prediction:
    return PredictionFactory(
        race=race or Race.objects.get(slug="2024_bahrain"),
        driver=Driver.objects.get(ref="max_verstappen"),
        team=Team.objects.get(ref="red_bull"),
    )


def test_the_active_model_version_cannot_be_deleted(ergast_data, admin_client):
    # the QA case: a freshly activated version with no predictions, so nothing PROTECTs it
    ModelVersionFactory(label="v-older")
    active = ModelVersionFactory(label="v-active", is_active=True)
    assert_admin_cannot_delete(admin_client, active)
    assert list(ModelVersion.objects.filter(is_active=True)) == [active]


@pytest.mark.parametrize("model", [Prediction, RaceAccuracy, BacktestRun], ids=lambda m: m.__name__)
def test_history_rows_cannot_be_deleted(ergast_data, admin_client, model):
    if model is Prediction:
        obj = _prediction()
    elif model is RaceAccuracy:
        obj = RaceAccuracyFactory(race=Race.objects.get(slug="2024_bahrain"))
    else:
        obj = BacktestRun.objects.create(seasons=[2024], stage="post", status="failed", error="boom")
    assert_admin_cannot_delete(admin_client, obj)


@pytest.mark.parametrize(
    "model", [ModelVersion, Prediction, RaceAccuracy, BacktestRun], ids=lambda m: m.__name__
)
def test_history_admins_are_view_only(rf, admin_user, model):
    request = rf.get("/admin/")
    request.user = admin_user
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_deleting_a_race_would_take_its_predictions_so_it_is_refused(admin_client):
    # Race → Prediction / RaceAccuracy cascade: a race delete would erase the history too
    race = RaceFactory()
    _prediction(race)
    url = reverse("admin:ingestion_race_delete", args=[race.pk])
    response = admin_client.get(url)
    assert response.status_code == 200 and response.context["perms_lacking"] == {"prediction"}
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Race.objects.filter(pk=race.pk).exists() and Prediction.objects.filter(race=race).exists()


def test_activation_message_shows_the_version_label_as_is(ergast_data, admin_client, monkeypatch):
    # the admin template capitalises a message's first letter: "V20261126-… is now the active model"
    version = ModelVersionFactory(label="v20261126-101500000000-2019-2026")
    monkeypatch.setattr("predictions.admin.model_version_activate", lambda *, version: version)
    response = admin_client.post(
        reverse("admin:predictions_modelversion_changelist"),
        {"action": "activate_version", "_selected_action": [version.pk]},
        follow=True,
    )
    body = response.content.decode()
    assert "Model version v20261126-101500000000-2019-2026 is now the active model." in body
    assert "V20261126" not in body


def _regenerate_from_admin(admin_client, prediction):
    return admin_client.post(
        reverse("admin:predictions_prediction_changelist"),
        {"action": "regenerate_predictions", "_selected_action": [prediction.pk]},
        follow=True,
    )


@in_season  # Qatar still to come: a started race is refused before any JobRun (race_not_run_check)
def test_admin_regeneration_is_a_job_run_even_when_it_fails(ergast_data, admin_client):
    """The admin action called prediction_generate directly: no JobRun, so Job runs never showed it
    (the API's regenerations and the admin resync are JobRuns). It now goes through the regeneration
    service: a JobRun with the same lifecycle, here failed (no model is trained)."""
    from django.core.cache import cache
    from django.utils import timezone

    from ingestion.models import JobRun, JobStatus

    cache.clear()  # no regeneration claim left by another test
    race = Race.objects.get(slug="2026_qatar")
    prediction = _prediction(race=race)
    # made an hour ago: a set stored within API_REGENERATE_WINDOW would stand as the regeneration
    Prediction.objects.filter(pk=prediction.pk).update(
        created_at=timezone.now() - timezone.timedelta(hours=1)
    )

    response = _regenerate_from_admin(admin_client, prediction)

    run = JobRun.objects.get(job=f"predictions_regenerate:{race.pk}")
    assert run.status == JobStatus.FAILED and run.error.startswith("cannot predict 2026_qatar")
    assert run.worker and run.heartbeat_at is not None and run.finished_at is not None
    assert run.counts["race"] == "2026_qatar" and run.counts["mode"] == "inline"
    assert "2026_qatar: " in response.content.decode()  # the error is said, as before


@in_season  # Qatar and Abu Dhabi to come
def test_activating_a_version_refreshes_the_upcoming_races_with_it(
    admin_client, active_model, second_model, embedded_celery, django_capture_on_commit_callbacks
):
    """The home cards kept the previous model's sets after an activation until the daily job's
    catch-up; the action now queues a refresh of every upcoming race, which stores sets made by the
    version just activated (eager here, as in the embedded mode)."""
    from ingestion.models import JobRun
    from predictions.services import prediction_generate

    qatar, uae = Race.objects.get(slug="2026_qatar"), Race.objects.get(slug="2026_uae")
    prediction_generate(race=qatar)  # the current set, made by the version active before
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:predictions_modelversion_changelist"),
            {"action": "activate_version", "_selected_action": [second_model.pk]},
            follow=True,
        )

    assert "Refreshing the predictions of 2026_qatar, 2026_uae" in response.content.decode()
    for race in (qatar, uae):
        latest = Prediction.objects.current_candidates().filter(race=race, stage="pre").latest("created_at")
        assert latest.model_version_id == second_model.pk
        assert JobRun.objects.filter(job=f"predictions_refresh:{race.pk}", status="succeeded").exists()
    # the earlier set is kept as history, not overwritten
    assert Prediction.objects.filter(race=qatar, model_version=active_model).exists()
