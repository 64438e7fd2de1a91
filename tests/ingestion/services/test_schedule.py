"""The beat schedule: seeded idempotently, UTC, staff edits picked up without a restart, exactly
once per UTC day across the London and New York DST changes, one beat at a time."""

from __future__ import annotations

import importlib
import json
import os
import time
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry
from django_celery_beat.tzcrontab import TzAwareCrontab

from f1site.celery import app
from ingestion.services.jobs import BeatAlreadyRunning, SingleBeatScheduler, beat_schedule_seed, job_specs

seed_migration = importlib.import_module("ingestion.migrations.0004_seed_beat_schedule")

EXPECTED = {
    "daily_results_sync": ("0", "6", "*"),
    "weekly_full_sync": ("0", "2", "0"),
    "weather_forecasts": ("15", "*/6", "*"),
    "cache_cleanup": ("30", "3", "*"),
}


def schedule_rows() -> list[tuple]:
    return sorted(
        PeriodicTask.objects.values_list(
            "name",
            "task",
            "crontab__minute",
            "crontab__hour",
            "crontab__day_of_week",
            "crontab__timezone",
            "interval__every",
        )
    )


@pytest.mark.django_db
def test_migrations_seeded_the_schedule_in_utc():
    tasks = {t.name: t for t in PeriodicTask.objects.select_related("crontab", "interval")}
    assert set(tasks) >= {s.name for s in job_specs()}
    for name, (minute, hour, dow) in EXPECTED.items():
        cron = tasks[name].crontab
        assert (cron.minute, cron.hour, cron.day_of_week, str(cron.timezone)) == (minute, hour, dow, "UTC")
    live = tasks["live_timing"]
    assert live.interval.every == 30 and live.interval.period == "seconds" and live.expire_seconds == 30


@pytest.mark.django_db
def test_two_deploys_leave_no_duplicate_rows_and_keep_staff_edits():
    before = schedule_rows()
    counts = (PeriodicTask.objects.count(), CrontabSchedule.objects.count(), IntervalSchedule.objects.count())
    daily = PeriodicTask.objects.get(name="daily_results_sync")
    daily.enabled = False  # a staff decision the next deploy must not undo
    daily.save()

    for _ in range(2):  # two deploys: migrate, and the seed migration's code run again
        call_command("migrate", verbosity=0)
        seed_migration.seed(django_apps, None)
    assert beat_schedule_seed() == {"created": [], "kept": [s.name for s in job_specs()]}

    assert (
        PeriodicTask.objects.count(),
        CrontabSchedule.objects.count(),
        IntervalSchedule.objects.count(),
    ) == counts
    assert schedule_rows() == before
    assert PeriodicTask.objects.get(name="daily_results_sync").enabled is False


@pytest.mark.django_db
def test_a_row_staff_renamed_is_not_seeded_again_and_keeps_its_job_history():
    """Admin renames "cache_cleanup" to "Nightly cache cleanup"; the release step's
    `run_job --seed-schedule` looked rows up by name and added a second cache_cleanup at 03:30."""
    from ingestion.api.selectors import jobs_status
    from ingestion.models import JobRun, JobStatus

    beat_schedule_seed()
    row = PeriodicTask.objects.get(name="cache_cleanup")
    row.name = "Nightly cache cleanup"
    row.save()
    before = (PeriodicTask.objects.count(), CrontabSchedule.objects.count())

    out = StringIO()
    call_command("run_job", "--seed-schedule", stdout=out)
    assert json.loads(out.getvalue()) == {
        "created": [],
        "kept": [s.name for s in job_specs()],
        "renamed": {"cache_cleanup": "Nightly cache cleanup"},
    }
    assert (PeriodicTask.objects.count(), CrontabSchedule.objects.count()) == before
    assert list(
        PeriodicTask.objects.filter(task="ingestion.tasks.cache_cleanup").values_list("name", flat=True)
    ) == ["Nightly cache cleanup"]

    # its runs are recorded under the job's own name; jobs/status shows them on the renamed row
    JobRun.objects.create(job="cache_cleanup", status=JobStatus.SUCCEEDED, counts={"x": 1})
    jobs = {j["name"]: j for j in jobs_status()["jobs"]}  # the API's and the staff page's selector
    assert "cache_cleanup" not in jobs
    renamed = jobs["Nightly cache cleanup"]
    assert renamed["last_status"] == "succeeded" and renamed["last_run_at"] is not None
    assert renamed["next_run_at"] is not None


@pytest.fixture
def keep_test_connection(monkeypatch):
    """The scheduler closes stale DB connections between ticks; in a test that would close the
    connection holding the test transaction."""
    monkeypatch.setattr("django_celery_beat.schedulers.close_old_connections", lambda: None)


@pytest.mark.django_db
def test_a_staff_edit_in_admin_takes_effect_without_restart(admin_client, keep_test_connection, monkeypatch):
    # The scheduler only loads crontab rows within two hours of "now": set the beat's clock to 06:00.
    six = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    monkeypatch.setattr("django_celery_beat.schedulers.aware_now", lambda: six)
    scheduler = SingleBeatScheduler(app=app, lazy=False)
    try:
        assert scheduler.schedule["daily_results_sync"].schedule.hour == {6}
        cron = PeriodicTask.objects.get(name="daily_results_sync").crontab
        response = admin_client.post(
            f"/admin/django_celery_beat/crontabschedule/{cron.pk}/change/",
            {
                "minute": "0",
                "hour": "7",
                "day_of_week": "*",
                "day_of_month": "*",
                "month_of_year": "*",
                "timezone": "UTC",
                # the inline list of tasks using this crontab, left unchanged
                "periodictask_set-TOTAL_FORMS": "0",
                "periodictask_set-INITIAL_FORMS": "0",
            },
        )
        assert response.status_code == 302, response.context["errors"]
        time.sleep(0.01)
        assert scheduler.schedule_changed()
        scheduler._last_timestamp = None  # schedule_changed() consumed the change; read it as beat does
        scheduler._initial_read = True
        entry = scheduler.schedule["daily_results_sync"]
        assert entry.schedule.hour == {7}
    finally:
        scheduler.close()


@pytest.mark.django_db
def test_a_second_beat_refuses_to_start(keep_test_connection):
    first = SingleBeatScheduler(app=app, lazy=False)
    try:
        with pytest.raises(BeatAlreadyRunning):
            SingleBeatScheduler(app=app, lazy=False)
    finally:
        first.close()
    SingleBeatScheduler(app=app, lazy=False).close()  # the lock is free again


@pytest.mark.django_db
def test_a_beat_restarted_after_an_unclean_death_takes_over_at_once(keep_test_connection):
    """kill -9 of beat leaves its lock for up to lock_ttl; a restart on the same host must not refuse
    to start (under honcho that took the web and worker down too) when the holder's pid is gone —
    while a live holder is still respected (the test above)."""
    import socket
    import subprocess
    import sys

    from ingestion.services.jobs import JobLock

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that existed on this host and is gone now
    stale = JobLock("celery-beat", ttl=SingleBeatScheduler.lock_ttl)
    stale.token = f"{socket.gethostname()}:{dead.pid}:{'0' * 32}"
    assert stale.acquire()
    try:
        scheduler = SingleBeatScheduler(app=app, lazy=False)
        try:
            assert scheduler._beat_lock.holder() == scheduler._beat_lock.token != stale.token
        finally:
            scheduler.close()
    finally:
        stale.release()


DST_CHANGES = [
    ("Europe/London", date(2026, 3, 29)),
    ("Europe/London", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "change"), DST_CHANGES, ids=[f"{z}-{d}" for z, d in DST_CHANGES])
def test_daily_job_runs_exactly_once_per_utc_day_across_dst(monkeypatch, zone, change):
    clock = [datetime.combine(change - timedelta(days=3), datetime.min.time(), tzinfo=UTC)]
    monkeypatch.setattr(ModelEntry, "_default_now", lambda self: clock[0])
    monkeypatch.setattr(TzAwareCrontab, "nowfunc", lambda self: clock[0].astimezone(self.tz))
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = zone  # the machine's local time zone must not matter
    time.tzset()
    try:
        task = PeriodicTask.objects.get(name="daily_results_sync")
        task.last_run_at = clock[0] - timedelta(hours=12)
        entry = ModelEntry(task, app=app)
        runs: list[datetime] = []
        end = clock[0] + timedelta(days=6)
        while clock[0] < end:  # beat ticks every 5 minutes of the fake clock
            due, _next = entry.is_due()
            if due:
                runs.append(clock[0])
                entry = next(entry)
            clock[0] += timedelta(minutes=5)
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()
    days = [r.date() for r in runs]
    assert len(days) == len(set(days)) == 6
    assert all((r.hour, r.minute) == (6, 0) for r in runs)
