"""The weather_forecasts task retries a forecast run that failed because Open-Meteo was unavailable
(5xx / timeouts / 429 after the client's own retries), as the other tasks retry a Jolpica outage
(Celery's autoretry: 30 s backoff with full jitter, 3 times). Before, ForecastsFailed — a SourceError
but not a SourceUnavailable — was not in the task's TRANSIENT exceptions: a full outage failed once
and waited for the next 6-hourly slot. A run that failed on broken payloads alone is not retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from f1site.celery import app
from ingestion.models import JobRun, JobStatus, Race, SyncRun, SyncSource, SyncStatus
from ingestion.services.weather_forecast import ForecastsFailed


@pytest.fixture
def forecasts_task(settings):
    """The weather_forecasts task as a worker runs it (not eager); a retry it sends to the broker is
    removed afterwards (no worker reads this test's queue)."""
    from ingestion.tasks import weather_forecasts

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (a retry is sent to the real broker)")
    weather_forecasts.push_request(
        id="t-forecasts-0", retries=0, is_eager=False, called_directly=False, kwargs={}, args=[]
    )
    yield weather_forecasts
    weather_forecasts.pop_request()
    with app.connection_for_write() as conn:
        conn.SimpleQueue(app.conf.task_default_queue).clear()


def _race_due_soon() -> Race:
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    Race.objects.filter(slug="2024_bahrain").update(date=start.date(), start=start)
    return Race.objects.get(slug="2024_bahrain")


@pytest.mark.django_db
def test_an_open_meteo_outage_is_retried_by_the_task(mirror, ergast_data, forecasts_task):
    _race_due_soon()
    mirror.set_faults({"prefix": "/v1/forecast", "status": 503, "retry_after": 0})
    with pytest.raises(Retry) as retried:
        forecasts_task.run()
    assert isinstance(retried.value.exc, ForecastsFailed)
    assert 0 <= retried.value.when <= forecasts_task.retry_backoff  # full jitter: 0..30 s
    assert mirror.requests()["paths"]["/v1/forecast"] >= 1
    job = JobRun.objects.filter(job="weather_forecasts").latest("pk")
    assert job.status == JobStatus.FAILED and "no forecast for any of the" in job.error
    run = SyncRun.objects.filter(source=SyncSource.WEATHER, params__kind="forecast").latest("pk")
    assert run.status == SyncStatus.FAILED


@pytest.mark.django_db
def test_a_broken_payload_is_not_retried(mirror, ergast_data, forecasts_task):
    _race_due_soon()
    mirror.set_faults({"prefix": "/v1/forecast", "body": "malformed"})
    with pytest.raises(ForecastsFailed) as failed:
        forecasts_task.run()
    assert type(failed.value) is ForecastsFailed  # not the retried ForecastsUnavailable
    job = JobRun.objects.filter(job="weather_forecasts").latest("pk")
    assert job.status == JobStatus.FAILED and "ForecastsFailed" in job.error
