"""A staff regeneration of a stage that is not available yet (`{"stage": "post"}` before qualifying)
is refused with 409 `cannot_predict` before anything is queued: no JobRun, in inline and background
mode, so repeated refusals never feed the `job_failing` alert. Real PostgreSQL and Redis.
"""

from __future__ import annotations

import pytest

from tests.conftest import in_season
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles

# 2026-11-26: Qatar (round 22, 2026-11-29) not started, its qualifying not in.
pytestmark = [pytest.mark.django_db, in_season]

URL = "/api/v1/predictions/race/2026_qatar"


@pytest.fixture
def eager_celery(settings):
    from f1site.celery import app

    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def _runs():
    from ingestion.models import JobRun

    return JobRun.objects.filter(job__startswith="predictions_regenerate:")


def _assert_refused(response) -> None:
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "cannot_predict"
    assert "qualifying is not in yet" in error["message"] and "post-qualifying" in error["message"]
    assert error["details"] == {"stage": "post", "available": ["pre"]}


@pytest.mark.parametrize("background", [False, True])
def test_post_stage_before_qualifying_is_refused_before_any_job(
    staff_api, ergast_data, eager_celery, django_capture_on_commit_callbacks, background
):
    from f1site.observability import alerts_evaluate

    body = {"stage": "post", "background": True} if background else {"stage": "post"}
    for _ in range(4):  # more than the job_failing streak (3)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = staff_api.post(URL, body, format="json")
        _assert_refused(response)
        assert callbacks == []  # nothing sent to the broker
    assert not _runs().exists()
    job_failing = next(a for a in alerts_evaluate() if a["name"] == "job_failing")
    assert job_failing["firing"] is False and "predictions_regenerate" not in job_failing["description"]


def test_the_pre_stage_and_no_stage_still_go_ahead_before_qualifying(
    staff_api, ergast_data, eager_celery, django_capture_on_commit_callbacks
):
    """Only the unavailable stage is refused: `{}` (every stage available = pre) and `pre` queue a job."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_api.post(URL, {"background": True}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["job"]["stage"] is None and len(callbacks) == 1
    assert _runs().count() == 1


def test_post_stage_once_qualifying_is_in_is_not_refused(
    staff_api, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import QualifyingResult, Race, RaceResult

    qatar = Race.objects.get(slug="2026_qatar")
    entrants = RaceResult.objects.filter(race__season_id=2026, race__round=7, shared_car_index=0)
    for pos, entry in enumerate(entrants.order_by("grid"), start=1):
        QualifyingResult.objects.create(
            race=qatar, driver_id=entry.driver_id, team_id=entry.team_id, number=entry.number, position=pos
        )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_api.post(URL, {"stage": "post", "background": True}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["job"]["stage"] == "post" and len(callbacks) == 1


def test_the_service_refuses_it_too(ergast_data):
    """`regeneration_start` itself (the admin's path as well) raises before creating a run."""
    from ingestion.models import Race
    from predictions.services.predicting import PredictionInputError
    from predictions.services.regeneration import regeneration_start

    race = Race.objects.get(slug="2026_qatar")
    for background in (False, True):
        with pytest.raises(PredictionInputError, match="qualifying is not in yet"):
            regeneration_start(race=race, stage="post", background=background)
    assert not _runs().exists()
