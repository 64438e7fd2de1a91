"""The prediction engine's admin is history: nothing is added, edited or deleted by hand (README
"Registry"); its actions call services."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from ingestion.models import Driver, JobRun, Race, Team
from predictions.models import BacktestRun, ModelActivation, ModelVersion, Prediction, RaceAccuracy
from tests.admin_checks import (
    action_post,
    assert_action_refused,
    assert_admin_cannot_delete,
    offered_actions,
    staff_client,
)
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


@pytest.mark.parametrize(
    "model", [Prediction, RaceAccuracy, BacktestRun, ModelActivation], ids=lambda m: m.__name__
)
def test_history_rows_cannot_be_deleted(ergast_data, admin_client, model):
    if model is Prediction:
        obj = _prediction()
    elif model is RaceAccuracy:
        obj = RaceAccuracyFactory(race=Race.objects.get(slug="2024_bahrain"))
    elif model is ModelActivation:
        obj = ModelActivation.objects.create(
            version=ModelVersionFactory(), activated_at=timezone.now(), reason="train_models"
        )
    else:
        obj = BacktestRun.objects.create(seasons=[2024], stage="post", status="failed", error="boom")
    assert_admin_cannot_delete(admin_client, obj)


@pytest.mark.parametrize(
    "model", [ModelVersion, ModelActivation, Prediction, RaceAccuracy, BacktestRun], ids=lambda m: m.__name__
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
    monkeypatch.setattr("predictions.admin.model_version_activate", lambda *, version, **logged: version)
    response = admin_client.post(
        reverse("admin:predictions_modelversion_changelist"),
        {"action": "activate_version", "_selected_action": [version.pk]},
        follow=True,
    )
    body = response.content.decode()
    assert "Model version v20261126-101500000000-2019-2026 is now the active model." in body
    assert "V20261126" not in body


def test_activation_refuses_a_bad_artifact_with_a_message_but_a_bug_is_a_500(
    ergast_data, admin_client, monkeypatch
):
    """The action caught every exception as "Not activated: …" with no log record; only the
    artifact's refusal (ArtifactError) is a message now, anything else an error Django logs."""
    from django.test import Client

    from predictions.ml.artifacts import ArtifactError

    version = ModelVersionFactory(label="v-broken")
    url = reverse("admin:predictions_modelversion_changelist")
    form = {"action": "activate_version", "_selected_action": [version.pk]}

    def refuse(*, version, **logged):
        raise ArtifactError(f"model artifact for {version.label} is missing")

    monkeypatch.setattr("predictions.admin.model_version_activate", refuse)
    body = admin_client.post(url, form, follow=True).content.decode()
    assert "Not activated: model artifact for v-broken is missing" in body

    def crash(*, version, **logged):
        raise KeyError("calibration")

    monkeypatch.setattr("predictions.admin.model_version_activate", crash)
    crashing = Client(raise_request_exception=False)
    crashing.cookies = admin_client.cookies
    assert crashing.post(url, form).status_code == 500


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
    version just activated (eager here, as in the embedded mode). QA: the message said "(queued;
    see Job runs)" although the refresh had already run inline; it says so as retrain does."""
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

    assert _admin_messages(response) == [
        ("success", f"Model version {second_model.label} is now the active model."),
        (
            "success",
            "Ran here (embedded mode, no worker): the refresh of 2026_qatar, 2026_uae with it; "
            "the job runs show the outcome",
        ),
    ]
    for race in (qatar, uae):
        latest = Prediction.objects.current_candidates().filter(race=race, stage="pre").latest("created_at")
        assert latest.model_version_id == second_model.pk
        run = JobRun.objects.get(job=f"predictions_refresh:{race.pk}", status="succeeded")
        assert run.counts["race"] == race.slug and run.counts["trigger"] == "model_activated"
    # the earlier set is kept as history, not overwritten
    assert Prediction.objects.filter(race=qatar, model_version=active_model).exists()


def _admin_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


@in_season  # Qatar and Abu Dhabi to come: a refresh would have queued both
def test_activating_the_version_already_active_says_so_and_queues_no_refresh(
    admin_client, active_model, embedded_celery, django_capture_on_commit_callbacks
):
    """QA: it said "… is now the active model" and refreshed every upcoming race although nothing
    changed."""
    from ingestion.models import JobRun

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            reverse("admin:predictions_modelversion_changelist"),
            {"action": "activate_version", "_selected_action": [active_model.pk]},
            follow=True,
        )
    assert _admin_messages(response) == [
        ("info", f"Model version {active_model.label} is already the active model; nothing to do.")
    ]
    assert callbacks == []  # no models_changed (cache invalidation) either
    assert not JobRun.objects.filter(job__startswith="predictions_refresh:").exists()
    assert not Prediction.objects.exists()
    assert ModelVersion.objects.get(is_active=True) == active_model


def _retrain_from_admin(admin_client, version):
    return admin_client.post(
        reverse("admin:predictions_modelversion_changelist"),
        {"action": "retrain_models", "_selected_action": [version.pk]},
        follow=True,
    )


@in_season  # Qatar and Abu Dhabi to come
def test_retrain_is_a_job_that_activates_and_refreshes_the_upcoming_races(
    admin_client, admin_user, active_model, second_model, embedded_celery, monkeypatch
):
    """ "Retrain models" trained inside the web request (13 s at load 2.7; gunicorn ends a request at
    30 s) and left no JobRun of its own. It is now the `model_retrain` job (run here, in the embedded
    mode): the new version is active and each upcoming race is refreshed with it. The fit itself is
    the training tests' business: the retrain here activates the second trained bundle."""
    from ingestion.models import JobRun
    from predictions.services import model_version_activate

    monkeypatch.setattr(
        "predictions.services.model_train",
        lambda **logged: model_version_activate(version=second_model, **logged),
    )

    response = _retrain_from_admin(admin_client, active_model)

    run = JobRun.objects.get(job="model_retrain")
    assert run.status == "succeeded", run.error
    assert run.counts["model_version"] == second_model.label
    assert run.counts["refresh_queued"] == ["2026_qatar", "2026_uae"]
    assert ModelVersion.objects.get(is_active=True) == second_model
    # logged as the admin's retrain, by the user who clicked (their id travels with the job)
    logged = ModelActivation.objects.get(version=second_model)
    assert (logged.reason, logged.activated_by_id) == ("admin_retrain", admin_user.pk)
    for slug in ("2026_qatar", "2026_uae"):
        race = Race.objects.get(slug=slug)
        latest = Prediction.objects.current_candidates().filter(race=race, stage="pre").latest("created_at")
        assert latest.model_version_id == second_model.pk
        assert JobRun.objects.filter(job=f"predictions_refresh:{race.pk}", status="succeeded").exists()
    texts = [text for _, text in _admin_messages(response)]
    assert texts[0].startswith("Ran here (embedded mode, no worker): model_retrain")
    assert "activates its version" in texts[1]


def test_a_failed_retrain_is_a_failed_job_run_and_keeps_the_active_model(
    admin_client, active_model, embedded_celery, monkeypatch
):
    from ingestion.models import JobRun

    def model_train(**logged):
        raise ValueError("no race results in the database: load data first (load_ergast)")

    monkeypatch.setattr("predictions.services.model_train", model_train)

    response = _retrain_from_admin(admin_client, active_model)

    assert response.status_code == 200
    run = JobRun.objects.get(job="model_retrain")
    assert run.status == "failed" and "no race results in the database" in run.error
    assert ModelVersion.objects.get(is_active=True) == active_model


def test_a_retrain_finding_a_version_trained_after_it_was_queued_is_skipped(
    active_model, second_model, embedded_celery, monkeypatch
):
    """QA: two clicks on "Retrain models" while the worker was busy trained two versions, one after
    the other. The admin passes the click's time (`queued_at`); a retrain that finds the active
    version trained after that records itself as skipped instead of training again."""
    from types import SimpleNamespace

    from django.utils import timezone

    from ingestion.models import JobRun
    from predictions.services import model_version_activate
    from predictions.tasks import model_retrain

    trained = []

    def model_train(**logged):  # a fit that registers a new version now (the second bundle), activated
        ModelVersion.objects.filter(pk=second_model.pk).update(created_at=timezone.now())
        trained.append(second_model.label)
        return model_version_activate(version=ModelVersion.objects.get(pk=second_model.pk), **logged)

    monkeypatch.setattr("predictions.services.model_train", model_train)
    monkeypatch.setattr(  # the upcoming refresh is the other tests' business
        "predictions.services.refresh.upcoming_predictions_refresh_enqueue",
        lambda *, reason: SimpleNamespace(queued=[], not_queued=[], error=""),
    )
    first_click = timezone.now().isoformat()
    second_click = timezone.now().isoformat()  # both queued before the worker picks the first up

    model_retrain.apply(args=[first_click])
    model_retrain.apply(args=[second_click])

    assert trained == [second_model.label]  # one fit, not two
    first, second = JobRun.objects.filter(job="model_retrain").order_by("started_at", "pk")
    assert first.status == "succeeded" and first.counts["model_version"] == second_model.label
    assert second.status == "skipped"
    reason = second.counts["skipped"]
    assert reason.startswith("a retrain queued at ") and f"already ran: {second_model.label}" in reason
    assert ModelVersion.objects.get(is_active=True) == second_model

    # A click after that version was trained is a new request: it trains.
    model_retrain.apply(args=[timezone.now().isoformat()])
    assert len(trained) == 2
    # So does a message without a time (queued before this change).
    model_retrain.apply()
    assert len(trained) == 3


needs_a_broker = pytest.mark.skipif(
    settings.CELERY_TASK_ALWAYS_EAGER,
    reason="needs a real broker (REDIS_URL); eager mode never publishes",
)


@needs_a_broker
def test_retrain_is_queued_on_the_real_broker_not_run_in_the_request(admin_client, admin_user, active_model):
    from f1site.celery import app
    from ingestion.models import JobRun

    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        queue.clear()
        response = _retrain_from_admin(admin_client, active_model)
        message = queue.get(timeout=5)
        message.ack()
        queue.close()

    assert message.headers["task"] == "predictions.tasks.model_retrain"
    # the click's time (a retrain finding a newer version skips) and who clicked (logged with it)
    queued_at, activated_by_id = message.decode()[0]
    assert activated_by_id == admin_user.pk
    assert abs((datetime.fromisoformat(queued_at) - timezone.now()).total_seconds()) < 60
    assert ("success", "Queued: model_retrain") in _admin_messages(response)
    assert not JobRun.objects.filter(job="model_retrain").exists()  # the worker's to run
    assert ModelVersion.objects.get(is_active=True) == active_model


@needs_a_broker
@in_season  # Qatar and Abu Dhabi to come
def test_activation_with_workers_queues_the_refresh_and_says_queued(admin_client, active_model, second_model):
    """With workers the refresh after an activation is queued, not run here: the message says
    "queued" (the embedded mode's says "Ran here", above)."""
    from f1site.celery import app
    from ingestion.models import JobRun

    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        queue.clear()
        response = admin_client.post(
            reverse("admin:predictions_modelversion_changelist"),
            {"action": "activate_version", "_selected_action": [second_model.pk]},
            follow=True,
        )
        sent = [queue.get(timeout=5) for _ in range(2)]
        for message in sent:
            message.ack()
        queue.close()

    assert {m.headers["task"] for m in sent} == {"predictions.tasks.race_predictions_refresh"}
    assert _admin_messages(response) == [
        ("success", f"Model version {second_model.label} is now the active model."),
        (
            "success",
            "Refreshing the predictions of 2026_qatar, 2026_uae with it (queued for the worker; each "
            "refresh shows in Job runs as predictions_refresh once a worker starts it).",
        ),
    ]
    assert not JobRun.objects.filter(job__startswith="predictions_refresh:").exists()  # the worker's


@needs_a_broker
def test_retrain_with_the_broker_refusing_says_not_queued(admin_client, active_model):
    from tests.brokers import broker_url, closed_port

    port = closed_port()
    with broker_url(f"redis://127.0.0.1:{port}/0"):
        response = _retrain_from_admin(admin_client, active_model)
    ((level, text),) = _admin_messages(response)
    assert level == "error" and text.startswith("NOT queued: model_retrain: the broker"), text


@needs_a_broker
@in_season
def test_activation_with_the_broker_refusing_keeps_the_activation_and_says_the_refresh_was_not_queued(
    admin_client, active_model, second_model
):
    """The refresh after an activation was an on-commit `.delay`: with the broker down the request
    hung in Celery's retries (~19 s), then answered 500 although the activation was saved."""
    import time

    from tests.brokers import broker_url, closed_port

    port = closed_port()
    with broker_url(f"redis://127.0.0.1:{port}/0"):
        clock = time.monotonic()
        response = admin_client.post(
            reverse("admin:predictions_modelversion_changelist"),
            {"action": "activate_version", "_selected_action": [second_model.pk]},
            follow=True,
        )
        elapsed = time.monotonic() - clock
    assert response.status_code == 200
    (activated, refused) = _admin_messages(response)
    assert activated == ("success", f"Model version {second_model.label} is now the active model.")
    assert refused[0] == "error"
    assert refused[1].startswith("NOT queued: the refresh of 2026_qatar, 2026_uae: the broker"), refused
    assert "daily job's catch-up" in refused[1]
    assert ModelVersion.objects.get(is_active=True) == second_model
    assert elapsed < 10, f"the refused broker took {elapsed:.1f} s to be reported"


# --- who may run the actions (QA security #1) --------------------------------------------------
# A staff user with only "view" permissions was offered, and ran, every action: activate a version,
# retrain, regenerate. ViewOnlyAdmin's change permission is False for everyone, so each action now
# asks for the model's "Can change" permission directly (superusers have it).


def _fake_activate(calls):
    def activate(*, version, **logged):  # what the service does to the rows, without an artifact on disk
        calls.append(version.label)
        ModelVersion.objects.filter(is_active=True).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
        return version

    return activate


def _publishes(monkeypatch) -> list:
    sent = []
    monkeypatch.setattr("f1site.celery.task_publish", lambda **kw: sent.append(kw["name"]))
    return sent


def test_view_only_staff_cannot_activate_or_retrain(db, monkeypatch):
    older = ModelVersionFactory(label="v-older")
    active = ModelVersionFactory(label="v-active", is_active=True)
    activated, sent = [], _publishes(monkeypatch)
    monkeypatch.setattr("predictions.admin.model_version_activate", _fake_activate(activated))
    viewer = staff_client("view")

    assert_action_refused(viewer, ModelVersion, "activate_version", [older.pk])
    assert_action_refused(viewer, ModelVersion, "retrain_models", [older.pk])
    assert activated == [] and sent == []
    assert list(ModelVersion.objects.filter(is_active=True)) == [active]


def test_staff_with_change_modelversion_can_activate_and_retrain(db, monkeypatch):
    older = ModelVersionFactory(label="v-older")
    ModelVersionFactory(label="v-active", is_active=True)
    activated, sent = [], _publishes(monkeypatch)
    monkeypatch.setattr("predictions.admin.model_version_activate", _fake_activate(activated))
    monkeypatch.setattr("predictions.admin._refresh_upcoming", lambda *a, **kw: None)
    monkeypatch.setattr("ingestion.tasks.job_enqueue_runs_inline", lambda: False)
    operator = staff_client("predictions.change_modelversion")

    assert offered_actions(operator, ModelVersion) == ["activate_version", "retrain_models"]
    response = action_post(operator, ModelVersion, "activate_version", [older.pk])
    assert "Model version v-older is now the active model." in [str(m) for m in response.context["messages"]]
    assert activated == ["v-older"]
    assert list(ModelVersion.objects.filter(is_active=True)) == [older]
    response = action_post(operator, ModelVersion, "retrain_models", [older.pk])
    assert sent == ["predictions.tasks.model_retrain"]
    assert "Queued: model_retrain" in [str(m) for m in response.context["messages"]]
    # still no editing by hand: the change permission only opens the actions
    model_admin, request = admin.site._registry[ModelVersion], response.wsgi_request
    assert not model_admin.has_change_permission(request) and not model_admin.has_delete_permission(request)


def test_view_only_staff_cannot_regenerate_predictions(ergast_data, monkeypatch):
    prediction = _prediction()
    started = []
    monkeypatch.setattr(
        "predictions.services.regeneration.regeneration_start", lambda **kw: started.append(kw)
    )
    before = Prediction.objects.count()
    viewer = staff_client("view")

    assert_action_refused(viewer, Prediction, "regenerate_predictions", [prediction.pk])
    assert started == [] and Prediction.objects.count() == before
    assert not JobRun.objects.filter(job__startswith="predictions_regenerate").exists()


def test_staff_with_change_prediction_can_regenerate(ergast_data, monkeypatch):
    from types import SimpleNamespace

    prediction = _prediction()
    started = []

    def start(*, race, stage, background):
        started.append(race.slug)
        return SimpleNamespace(run=None, duplicate=False, stored_nothing=True, job={})

    monkeypatch.setattr("predictions.services.regeneration.regeneration_start", start)
    operator = staff_client("predictions.change_prediction")

    assert offered_actions(operator, Prediction) == ["regenerate_predictions"]
    response = action_post(operator, Prediction, "regenerate_predictions", [prediction.pk])
    assert started == ["2024_bahrain"]
    assert [str(m) for m in response.context["messages"]] == [
        "Unchanged (same model version and inputs; current predictions kept): "
        "2024_bahrain (stored by a pipeline refresh)."
    ]


@pytest.mark.parametrize(
    ("model", "actions"),
    [(ModelVersion, ["activate_version", "retrain_models"]), (Prediction, ["regenerate_predictions"])],
    ids=["ModelVersion", "Prediction"],
)
def test_superusers_are_offered_every_action(db, admin_client, model, actions):
    assert offered_actions(admin_client, model) == actions


def test_race_accuracy_admin_searches_races_and_filters_by_season(ergast_data, admin_client):
    """As the Predictions admin does (admin review: no search box, no season filter)."""
    bahrain = RaceAccuracyFactory(race=Race.objects.get(slug="2024_bahrain"))
    monaco = RaceAccuracyFactory(race=Race.objects.get(slug="2023_monaco"))
    url = reverse("admin:predictions_raceaccuracy_changelist")

    def listed(query: str) -> set[int]:
        response = admin_client.get(url + query)
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("") == {bahrain.pk, monaco.pk}
    assert listed("?q=2024_bahrain") == {bahrain.pk}
    assert listed("?q=monaco") == {monaco.pk}  # by the race's name too
    assert listed("?race__season__year__exact=2023") == {monaco.pk}
