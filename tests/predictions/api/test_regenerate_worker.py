"""Background regeneration through a real Redis broker and a real `celery worker` process.

Like tests/ingestion/services/test_worker.py these tests commit (the worker is another process reading the
test database), so they avoid pytest-django's transactional fixtures and clean up what they wrote:
the staff user, the JobRuns, the races they regenerate, and (via small_trained_model) the model
rows and predictions.
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.conf import settings

from f1site.celery import app
from tests.model_fixtures import small_trained_model
from tests.predictions.api.conftest import committed_staff_client, future_race
from tests.workers import celery_worker, wait_until

pytestmark = pytest.mark.slow
QUEUE = f"pitwall-test-regen-{uuid.uuid4().hex[:8]}"
TASK = "predictions.tasks.race_predictions_regenerate"


def _wait(predicate, timeout: float, what: str):
    # These poll the staff job-status API (throttled per user) for up to 90 s: every 0.2 s is plenty.
    return wait_until(predicate, timeout=timeout, what=what, interval=0.2)


@pytest.fixture(scope="module")
def trained_model(committing_db, django_db_blocker, tmp_path_factory):
    with small_trained_model(
        django_db_blocker,
        tmp_path_factory.mktemp("models"),
        from_season=2024,
        until_season=2025,
        frames_since=2021,
    ) as version:
        yield version


@pytest.fixture(scope="module")
def worker(committing_db, trained_model):
    from django.core.cache import cache

    cache.clear()  # before the worker declares its queue (the cache and the broker share the Redis db)
    previous_routes = app.conf.task_routes
    # The view sends the task to the default queue; route it to this worker's own queue instead.
    app.conf.update(task_routes={TASK: {"queue": QUEUE}})
    try:
        with celery_worker(
            queue=QUEUE,
            concurrency=1,
            env={"MODEL_STORAGE_PATH": str(settings.MODEL_STORAGE_PATH)},
            show_log=True,
        ) as proc:
            yield proc
    finally:
        app.conf.update(task_routes=previous_routes)


@pytest.fixture(scope="module")
def staff_api(committing_db):
    with committed_staff_client() as client:
        yield client


@pytest.fixture(scope="module")
def races(committing_db):
    """Two races still to come on any date, committed for the worker: a race that has started gets
    no new live prediction (`race_not_run_check`, by the worker's real clock too, which time_machine
    does not reach), so the data's own last races (2026_qatar, 2026_uae) would stop qualifying once
    they start. Two, because a race predicted by an earlier test is answered from its fresh
    predictions (API_REGENERATE_WINDOW) rather than queued again."""
    from django.utils import timezone

    with future_race() as first, future_race() as second:
        for race in (first, second):
            assert not (race.results.exists() or race.qualifying_results.exists())
            assert race.start > timezone.now()
        yield [first, second]


@pytest.mark.django_db
def test_the_regenerate_task_is_registered_with_late_ack_and_retries():
    # (also makes pytest-django set up the test database when this module runs alone)
    import predictions.tasks  # noqa: F401

    task = app.tasks[TASK]
    assert task.acks_late and task.reject_on_worker_lost and task.max_retries == 12


def test_a_worker_runs_the_queued_job_and_a_duplicate_gets_the_same_job(
    worker, staff_api, trained_model, races
):
    from ingestion.models import JobRun
    from predictions.models import Prediction

    race = races[0]
    url = f"/api/v1/predictions/race/{race.slug}"
    response = staff_api.post(url, {"background": True}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()["job"]
    assert job["status"] in ("queued", "running")  # the worker may already have it
    duplicate = staff_api.post(url, {"background": True}, format="json")
    assert duplicate.json()["job"]["id"] == job["id"] and duplicate.json()["duplicate"] is True
    if duplicate.json()["job"]["status"] in ("queued", "running"):
        assert duplicate.status_code == 202

    done = _wait(
        lambda: (lambda j: j if j["status"] in ("succeeded", "failed") else None)(
            staff_api.get(job["url"]).json()
        ),
        90,
        "the job to finish in the worker",
    )
    assert done["status"] == "succeeded", done
    assert done["predictions_url"] == url and done["error"] is None
    run = JobRun.objects.get(task_id=job["id"])
    assert run.worker and run.worker != f"{os.uname().nodename}:{os.getpid()}"  # another process ran it
    assert JobRun.objects.filter(job=run.job).count() == 1
    n = Prediction.objects.filter(race=race).count()
    assert n > 0 and run.counts["predictions"] == n
    body = staff_api.get(url).json()
    assert body["stages"] and body["stages"][0]["model_version"] == trained_model.label


def test_a_failure_in_the_worker_is_recorded_and_frees_the_race(worker, staff_api, trained_model, races):
    from predictions.models import ModelVersion

    race = races[1]
    url = f"/api/v1/predictions/race/{race.slug}"
    # Hide the model from the worker (committed; restored below): the engine cannot predict.
    ModelVersion.objects.filter(pk=trained_model.pk).update(
        is_active=False, label="hidden-" + uuid.uuid4().hex[:8]
    )
    try:
        response = staff_api.post(url, {"background": True, "stage": "pre"}, format="json")
        assert response.status_code == 202, response.content
        job = response.json()["job"]
        done = _wait(
            lambda: (lambda j: j if j["status"] in ("succeeded", "failed") else None)(
                staff_api.get(job["url"]).json()
            ),
            60,
            "the job to fail in the worker",
        )
    finally:
        ModelVersion.objects.filter(pk=trained_model.pk).update(is_active=True, label=trained_model.label)
    assert done["status"] == "failed" and done["finished_at"], done
    assert done["error"].startswith(f"cannot predict {race.slug}:"), done["error"]
    # Not a duplicate: the failed job released the race, a new one is queued and now succeeds.
    retry = staff_api.post(url, {"background": True, "stage": "pre"}, format="json")
    assert retry.status_code == 202 and retry.json()["duplicate"] is False
    assert retry.json()["job"]["id"] != job["id"]
    again = _wait(
        lambda: (lambda j: j if j["status"] in ("succeeded", "failed") else None)(
            staff_api.get(retry.json()["job"]["url"]).json()
        ),
        90,
        "the retried job",
    )
    assert again["status"] == "succeeded", again


def test_a_dead_run_does_not_block_the_race_and_its_late_message_does_nothing(
    worker, staff_api, trained_model, races, settings
):
    """A worker killed mid-regeneration leaves its JobRun `running`, with its worker recorded and no
    heartbeat since (the row below is exactly that; the kill itself is tests/ingestion/services/
    test_stale_runs.py). Before, the race's claim and database guard returned it as the job for up
    to CELERY_TASK_TIME_LIMIT; now the request closes it first and starts a new job."""
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from ingestion.models import JobRun, JobStatus
    from predictions.services.regeneration import regeneration_job_name

    # The earlier tests' jobs and fresh predictions of this race must not count: with a 1 s window a
    # job of the previous test that finished under a second ago was returned as the duplicate (a
    # 200 on a fast run, CI 340c6af). 0: only a live run is one, which is what this test is about.
    settings.API_REGENERATE_WINDOW = 0
    race = races[0]
    url = f"/api/v1/predictions/race/{race.slug}"
    silent_since = timezone.now() - timedelta(seconds=settings.LIVENESS_MAX_SILENCE_SECONDS + 30)
    dead = JobRun.objects.create(
        job=regeneration_job_name(race=race),
        task_id=f"{race.pk}-{uuid.uuid4().hex}",
        status=JobStatus.RUNNING,
        started_at=silent_since,
        heartbeat_at=silent_since,
        worker="lost-host:4242",
        counts={"race": race.slug, "stage": "pre", "stages": "pre", "mode": "background",
                "queued_at": silent_since.isoformat()},
    )  # fmt: skip
    # and the race's claim still names it, as the request that queued it left it
    cache.set(
        f"f1:regenerate:{race.slug}:pre", {"id": dead.task_id, "race": race.slug, "status": "queued"}, 60
    )
    try:
        response = staff_api.post(url, {"background": True, "stage": "pre"}, format="json")
        assert response.status_code == 202, response.content
        assert response.json()["duplicate"] is False and response.json()["job"]["id"] != dead.task_id
        closed = staff_api.get(f"/api/v1/predictions/jobs/{dead.task_id}").json()
        assert closed["status"] == "failed"
        assert closed["error"].startswith("worker lost-host:4242 stopped heartbeating at "), closed["error"]
        done = _wait(
            lambda: (lambda j: j if j["status"] in ("succeeded", "failed") else None)(
                staff_api.get(response.json()["job"]["url"]).json()
            ),
            90,
            "the new job",
        )
        assert done["status"] == "succeeded", done

        # The dead run's message turns up late (redelivered after the broker's visibility timeout):
        # the worker finds the run closed and leaves it as it is, no resurrection.
        before = JobRun.objects.filter(pk=dead.pk).values().get()
        result = app.send_task(TASK, args=[dead.pk], task_id=dead.task_id).get(timeout=30)
        assert result == {"job": dead.task_id, "status": "failed"}
        assert JobRun.objects.filter(pk=dead.pk).values().get() == before
        assert before["status"] == JobStatus.INTERRUPTED
    finally:
        JobRun.objects.filter(pk=dead.pk).delete()
