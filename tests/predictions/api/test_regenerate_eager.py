"""POST predictions/race/{id} {"background": true} where Celery runs tasks eagerly (the embedded
set-up without Redis): the job has run by the time the view answers, and the answer is still the
documented 202 with the job's URL.

Like test_regenerate_broker_down.py the requests commit (no pytest-django transaction), so the job
is sent on commit inside the request as in production; no model is trained, so the job fails fast
(recorded on its JobRun). The staff user, the JobRuns and the race are deleted afterwards.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from f1site.celery import app
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles
from tests.predictions.api.conftest import committed_staff_client, future_race


@pytest.fixture
def staff_api(committing_db):
    with committed_staff_client() as client:
        yield client


@pytest.fixture
def eager_celery():
    previous = app.conf.task_always_eager, settings.CELERY_TASK_ALWAYS_EAGER
    app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER = True
    yield
    app.conf.task_always_eager, settings.CELERY_TASK_ALWAYS_EAGER = previous


@pytest.fixture
def race(committing_db):
    """A race still to come on any date (2026_qatar, once started, would get a 409 cannot_predict
    rather than a job)."""
    with future_race() as race:
        yield race


@pytest.mark.django_db
def test_the_race_is_upcoming():
    # (the django_db mark also makes pytest-django set up the test database when this module runs alone)
    from predictions.services.predicting import race_live_prediction_check

    with future_race() as race:
        assert not race.results.exists()
        race_live_prediction_check(race=race)  # not run, not started: a live prediction is allowed


def test_a_background_request_is_202_even_when_the_job_already_ran(staff_api, eager_celery, race):
    from ingestion.models import JobRun, JobStatus
    from predictions.models import ModelVersion

    url = f"/api/v1/predictions/race/{race.slug}"
    assert not ModelVersion.objects.exists()  # so the eager job fails at once, recorded
    response = staff_api.post(url, {"background": True}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["duplicate"] is False and body["predictions"] is None
    job = body["job"]
    assert response["Location"] == job["url"]
    # It ran inside the request (eager): the job says how it ended.
    run = JobRun.objects.get(task_id=job["id"])
    assert run.status == JobStatus.FAILED and "train_models" in run.error
    assert job["status"] == "failed" and staff_api.get(job["url"]).json()["status"] == "failed"
    # A failed job frees the race: the retry is a new job, again 202.
    retry = staff_api.post(url, {"background": True}, format="json")
    assert retry.status_code == 202 and retry.json()["duplicate"] is False
    assert retry.json()["job"]["id"] != job["id"]
