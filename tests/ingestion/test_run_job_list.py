"""`run_job --list` shows the schedule in use — django-celery-beat's rows, as `jobs/status` reads
them — and whether each job is enabled. It printed the seeded schedule: daily_results_sync moved to
07:00 in admin was still listed at hour 6 while /api/v1/jobs/status said 07:00, and a disabled task
was listed like the others."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from ingestion.api.selectors import jobs_status
from ingestion.services.jobs import beat_schedule_seed


def _listing() -> dict[str, str]:
    out = io.StringIO()
    call_command("run_job", "--list", stdout=out)
    return {line.split()[0]: line for line in out.getvalue().splitlines()}  # one line per job (+ header)


@pytest.mark.django_db
def test_list_shows_the_edited_schedule_and_disabled_jobs():
    beat_schedule_seed()
    daily = PeriodicTask.objects.get(task="ingestion.tasks.daily_results_sync")
    daily.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="7", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    daily.save()
    PeriodicTask.objects.filter(task="ingestion.tasks.weather_forecasts").update(enabled=False)

    listed = _listing()
    status = {job["name"]: job for job in jobs_status()["jobs"]}

    assert status["daily_results_sync"]["schedule"].startswith("0 7 * * *")
    assert status["daily_results_sync"]["schedule"] in listed["daily_results_sync"]  # the same words
    assert " enabled " in listed["daily_results_sync"]
    assert " 6 " not in listed["daily_results_sync"]
    assert " DISABLED " in listed["weather_forecasts"]
    assert status["weather_forecasts"]["schedule"] in listed["weather_forecasts"]
    assert " enabled " in listed["live_timing"] and "every 30 seconds" in listed["live_timing"]


@pytest.mark.django_db
def test_list_names_a_renamed_row_and_a_job_without_one():
    beat_schedule_seed()
    PeriodicTask.objects.filter(task="ingestion.tasks.cache_cleanup").update(name="Nightly cache cleanup")
    PeriodicTask.objects.filter(task="ingestion.tasks.weekly_full_sync").delete()

    listed = _listing()
    assert "(PeriodicTask 'Nightly cache cleanup')" in listed["cache_cleanup"]
    assert " enabled " in listed["cache_cleanup"] and "30 3 * * *" in listed["cache_cleanup"]
    assert " MISSING " in listed["weekly_full_sync"] and "seeded: 0 2 * * 0 UTC" in listed["weekly_full_sync"]
    assert "--seed-schedule" in listed["MISSING:"]
