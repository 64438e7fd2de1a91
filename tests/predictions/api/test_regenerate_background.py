"""POST predictions/race/{id} in the background and GET predictions/jobs/{id}, with eager Celery.

The job is queued on commit: `django_capture_on_commit_callbacks` holds it back so the queued state
can be observed, then runs it (eagerly, in this process) as the commit would. Real PostgreSQL and
Redis (cache and job lock), a model trained once for the module on the real dump. The same flow
against a real `celery worker` process is in test_regenerate_worker.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import in_season
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles
from tests.model_fixtures import module_trained_model

# Every test regenerates "the next race", and regeneration takes no clock: the tests run at a
# moment in the 2026 season (in_season, 2026-11-26), whatever today's date is.
pytestmark = [pytest.mark.django_db, in_season]


trained_model = module_trained_model(from_season=2024, until_season=2025, frames_since=2021)


def _upcoming_race():
    from django.utils import timezone

    from ingestion.models import Race, RaceResult

    done = set(RaceResult.objects.values_list("race_id", flat=True).distinct())
    races = Race.objects.filter(date__gte=timezone.now().date()).order_by("date", "round")
    return next(r for r in races if r.id not in done)


def _runs(race):
    from ingestion.models import JobRun

    return JobRun.objects.filter(job=f"predictions_regenerate:{race.pk}")


def test_background_post_queues_on_commit_then_the_task_succeeds(
    staff_api, api, ergast_data, trained_model, embedded_celery, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from predictions.models import Prediction

    race = _upcoming_race()
    url = f"/api/v1/predictions/race/{race.slug}"
    assert api.get(url).json()["stages"] == []  # cached empty answer

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_api.post(url, {"background": True, "stage": "pre"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    job = body["job"]
    assert body["duplicate"] is False and body["predictions"] is None
    assert job["status"] == "queued" and job["mode"] == "background" and job["stage"] == "pre"
    assert job["race"] == race.slug and job["started_at"] is None and job["finished_at"] is None
    assert job["id"].startswith(f"{race.pk}-") and len(job["id"]) == len(str(race.pk)) + 33
    assert job["url"] == f"/api/v1/predictions/jobs/{job['id']}"
    assert response["Location"] == job["url"]
    assert len(callbacks) == 1  # nothing sent before the commit
    assert not Prediction.objects.filter(race=race).exists()

    status = staff_api.get(job["url"])
    assert status.status_code == 200 and status.json()["status"] == "queued"
    assert status["Cache-Control"] == "no-store"

    # A duplicate while queued returns the same job and queues nothing.
    with django_capture_on_commit_callbacks(execute=False) as more:
        again = staff_api.post(url, {"background": True}, format="json")
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert again.json()["job"]["id"] == job["id"] and again.json()["job"]["status"] == "queued"
    assert more == [] and _runs(race).count() == 1
    # ...also an inline POST: one regeneration per race per window, whatever the mode.
    inline = staff_api.post(url, {}, format="json")
    assert inline.status_code == 202 and inline.json()["job"]["id"] == job["id"]

    # The commit sends the task (eager: it runs here, now).
    callbacks[0]()
    done = staff_api.get(job["url"]).json()
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["started_at"] and done["finished_at"] and done["finished_at"] >= done["started_at"]
    assert done["predictions_url"] == url
    run = _runs(race).get()
    assert run.worker and run.counts["predictions"] == Prediction.objects.filter(race=race).count() > 0
    assert {p.stage for p in Prediction.objects.filter(race=race)} == {"pre"}

    # The cached empty answer was invalidated.
    after = api.get(url).json()
    assert [s["stage"] for s in after["stages"]] == ["pre"]
    assert after["stages"][0]["model_version"] == trained_model.label

    # Within the window a duplicate returns the finished job with the predictions (200)...
    dup = staff_api.post(url, {"background": True}, format="json")
    assert dup.status_code == 200 and dup.json()["job"]["id"] == job["id"]
    assert dup.json()["job"]["status"] == "succeeded" and dup.json()["predictions"]["stages"]
    # ...and still does with the cache flushed: the JobRun row is the guard.
    cache.clear()
    dup = staff_api.post(url, {"background": True}, format="json")
    assert dup.status_code == 200 and dup.json()["job"]["id"] == job["id"]
    assert _runs(race).count() == 1


def test_a_queued_job_survives_a_cache_flush(
    staff_api, ergast_data, trained_model, embedded_celery, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from predictions.models import Prediction

    race = _upcoming_race()
    url = f"/api/v1/predictions/race/{race.slug}"
    with django_capture_on_commit_callbacks(execute=False) as first:
        job = staff_api.post(url, {"background": True}, format="json").json()["job"]
    cache.clear()  # with a shared Redis the broker's copy of the message may be gone too
    with django_capture_on_commit_callbacks(execute=False) as resent:
        again = staff_api.post(url, {"background": True}, format="json")
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert again.json()["job"]["id"] == job["id"] and again.json()["job"]["status"] == "queued"
    assert len(resent) == 1  # the database guard found the queued job and sends it again
    with django_capture_on_commit_callbacks(execute=False) as none:
        third = staff_api.post(url, {"background": True}, format="json")  # the claim is back
    assert third.status_code == 202 and third.json()["job"]["id"] == job["id"] and none == []
    assert staff_api.get(job["url"]).json()["status"] == "queued"

    resent[0]()  # the re-sent copy runs the job...
    assert staff_api.get(job["url"]).json()["status"] == "succeeded"
    n = Prediction.objects.filter(race=race).count()
    first[0]()  # ...and the original copy, if it survived, finds it finished and does nothing
    assert Prediction.objects.filter(race=race).count() == n > 0
    assert staff_api.get(job["url"]).json()["status"] == "succeeded"
    assert _runs(race).count() == 1


def test_a_failed_job_is_recorded_with_its_error_and_frees_the_race(
    staff_api, ergast_data, trained_model, embedded_celery, django_capture_on_commit_callbacks
):
    from predictions.models import ModelActivation, ModelVersion, Prediction

    race = _upcoming_race()
    url = f"/api/v1/predictions/race/{race.slug}"
    # No model at all (in this test's transaction only): the engine cannot predict.
    ModelActivation.objects.all().delete()  # the log PROTECTs its versions
    ModelVersion.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(url, {"background": True}, format="json")
    assert response.status_code == 202
    job = staff_api.get(response.json()["job"]["url"]).json()
    assert job["status"] == "failed" and job["finished_at"] and job["predictions_url"] is None
    assert job["error"].startswith(f"cannot predict {race.slug}: no usable trained model")
    assert "train_models" in job["error"]
    assert not Prediction.objects.filter(race=race).exists()

    # A failure to predict releases the race at once: the next POST is a new job, not a duplicate.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        retry = staff_api.post(url, {"background": True}, format="json")
    assert retry.status_code == 202 and retry.json()["duplicate"] is False
    assert retry.json()["job"]["id"] != job["id"] and len(callbacks) == 1


def test_the_task_gives_up_when_another_refresh_holds_the_race(staff_api, ergast_data, trained_model):
    from ingestion.services.jobs import JobLock
    from predictions.services.regeneration import RegenerationLocked, regeneration_run

    race = _upcoming_race()
    response = staff_api.post(f"/api/v1/predictions/race/{race.slug}", {"background": True}, format="json")
    run = _runs(race).get()
    assert response.json()["job"]["id"] == run.task_id
    lock = JobLock(f"predictions_refresh:{race.pk}")  # what the pipeline's refresh of the race takes
    assert lock.acquire()
    try:
        with pytest.raises(RegenerationLocked):
            regeneration_run(run_id=run.pk)  # the task retries on this
        run.refresh_from_db()
        assert run.status == "running" and not run.worker  # still queued
        # A re-sent copy of a job that another worker is running leaves that run alone...
        type(run).objects.filter(pk=run.pk).update(worker="elsewhere:1")
        regeneration_run(run_id=run.pk, give_up=True)
        run.refresh_from_db()
        assert run.status == "running" and run.worker == "elsewhere:1" and not run.error
        # ...while a job still queued when the retries run out is recorded as failed.
        type(run).objects.filter(pk=run.pk).update(worker="")
        regeneration_run(run_id=run.pk, give_up=True)
    finally:
        lock.release()
    job = staff_api.get(response.json()["job"]["url"]).json()
    assert job["status"] == "failed" and "kept the race locked" in job["error"]


def test_inline_stays_the_default_and_its_job_is_readable(staff_api, ergast_data, trained_model):
    race = _upcoming_race()
    response = staff_api.post(f"/api/v1/predictions/race/{race.slug}", {"stage": "pre"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["job"]["mode"] == "inline" and body["job"]["status"] == "succeeded"
    assert body["predictions"]["stages"][0]["stage"] == "pre"
    job = staff_api.get(body["job"]["url"]).json()
    assert job == body["job"]


def test_writes_and_job_status_need_staff(api, fan_user, ergast_data):
    from rest_framework.test import APIClient

    from tests.drf_support import token_for

    race = _upcoming_race()
    job_url = f"/api/v1/predictions/jobs/{race.pk}-{'0' * 32}"
    post = (f"/api/v1/predictions/race/{race.slug}", {"background": True})
    assert api.post(*post, format="json").status_code == 401
    assert api.get(job_url).status_code == 401
    fan = APIClient()
    fan.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(fan, 'fan')}")
    for response in (fan.post(*post, format="json"), fan.get(job_url)):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert not _runs(race).exists()


def test_unknown_job_404_and_malformed_400(staff_api, ergast_data):
    import uuid

    race = _upcoming_race()
    for unknown_id in (f"{race.pk}-{uuid.uuid4().hex}", f"9999999999-{uuid.uuid4().hex}"):
        unknown = staff_api.get(f"/api/v1/predictions/jobs/{unknown_id}")
        assert unknown.status_code == 404
        error = unknown.json()["error"]
        assert error["code"] == "not_found" and "No regeneration job" in error["message"]
    hex32 = uuid.uuid4().hex
    for bad in (
        "abc",
        hex32,  # no race part
        f"0-{hex32}",
        f"{race.pk}-{hex32[:31]}",
        f"{race.pk}-{hex32.upper()}",
        f"{race.pk}-{uuid.uuid4()}",
        f"{race.pk}-{hex32}%0A",  # a trailing newline
        f"{race.pk}%00-{hex32}",
        f"{2**63}-{hex32}",
        str(2**63),
    ):
        response = staff_api.get(f"/api/v1/predictions/jobs/{bad}")
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("payload", [{"background": "maybe"}, {"background": 2**63}, {"background": None}])
def test_background_flag_must_be_a_boolean(staff_api, ergast_data, payload):
    response = staff_api.post(f"/api/v1/predictions/race/{_upcoming_race().slug}", payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
