"""With a real Redis broker and a real `celery worker` process on the test database: a beat entry
fires and runs once with a JobRun; two overlapping triggers run the job once; a worker killed
mid-task leaves no half-written data and the next run completes it.

These tests commit (the worker is another process), so they avoid pytest-django's `db` fixtures
(which would wrap them in a transaction the worker cannot see) and clean up what they wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from f1site.celery import app
from ingestion.models import JobRun, JobStatus, Season

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
QUEUE = f"pitwall-test-{uuid.uuid4().hex[:8]}"
TEST_JOBS = ["t5-overlap", "t5-kill"]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def db_access(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("worker tests need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    with django_db_blocker.unblock():
        yield


def _cleanup():
    JobRun.objects.filter(job__in=TEST_JOBS).delete()
    Season.objects.filter(year__gte=3000).delete()


@pytest.fixture(scope="module")
def worker(db_access):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "JOB_LOCK_TTL": "3",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("TEST_DATABASE_NAME", None)
    _cleanup()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally; the worker's log (a pipe nobody reads could fill up and block it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "f1site", "worker", "-P", "prefork", "-c", "2", "-Q", QUEUE,
         "-I", "tests.pipeline.worker_tasks", "-n", f"{QUEUE}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(
            lambda: app.control.ping(destination=[f"{QUEUE}@{os.uname().nodename}"], timeout=0.5),
            30,
            "worker",
        )
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool children, nothing else
            proc.wait(timeout=5)
        log.close()
        _cleanup()


@pytest.mark.django_db
def test_the_pipeline_tasks_are_registered_with_late_ack_and_requeue_on_worker_loss():
    # (also makes pytest-django set up the test database when this module runs alone)
    import ingestion.tasks  # noqa: F401

    for name in (
        "daily_results_sync",
        "weekly_full_sync",
        "live_timing_poll",
        "weather_forecasts",
        "cache_cleanup",
    ):
        task = app.tasks[f"ingestion.tasks.{name}"]
        assert task.acks_late and task.reject_on_worker_lost, name
    live = app.tasks["ingestion.tasks.live_timing_poll"]
    assert live.expires == 30 and live.max_retries == 0 and live.time_limit == 60


def test_a_beat_entry_fires_runs_once_and_is_recorded(worker):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask
    from django_celery_beat.schedulers import ModelEntry

    from ingestion.services.jobs import SingleBeatScheduler

    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    task = PeriodicTask.objects.create(
        name=f"test {QUEUE}", task="ingestion.tasks.cache_cleanup", interval=every, queue=QUEUE,
        last_run_at=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    try:
        scheduler = SingleBeatScheduler(app=app, lazy=True)
        entry = ModelEntry(task, app=app)
        assert entry.is_due()[0]
        scheduler.apply_entry(entry)  # what beat's tick does with a due entry
        run = _wait(
            lambda: (
                JobRun.objects.filter(job="cache_cleanup", status=JobStatus.SUCCEEDED).order_by("-pk").first()
            ),
            20,
            "the cache_cleanup JobRun",
        )
        assert run.task_id and run.counts.keys() >= {"expired_sessions_deleted"}
        assert run.duration_seconds is not None and run.worker
        time.sleep(1)
        assert JobRun.objects.filter(task_id=run.task_id).count() == 1
    finally:
        JobRun.objects.filter(job="cache_cleanup", worker__startswith=f"{os.uname().nodename}:").filter(
            started_at__gte=task.date_changed
        ).delete()
        task.delete()


def test_two_overlapping_triggers_run_the_job_once(worker):
    years = [3001, 3002, 3003]
    from tests.pipeline.worker_tasks import slow_seasons

    a = slow_seasons.apply_async(("t5-overlap", years, 0.6), queue=QUEUE)
    b = slow_seasons.apply_async(("t5-overlap", years, 0.6), queue=QUEUE)
    runs = _wait(
        lambda: (
            list(JobRun.objects.filter(job="t5-overlap").exclude(status=JobStatus.RUNNING))
            if JobRun.objects.filter(job="t5-overlap").exclude(status=JobStatus.RUNNING).count() == 2
            else None
        ),
        20,
        "both triggers to finish",
    )
    assert sorted(r.status for r in runs) == [JobStatus.SKIPPED, JobStatus.SUCCEEDED]
    assert {r.task_id for r in runs} == {a.id, b.id}
    assert "already running" in next(r.error for r in runs if r.status == JobStatus.SKIPPED)
    assert sorted(Season.objects.filter(year__in=years).values_list("year", flat=True)) == years


def test_a_worker_killed_mid_task_leaves_nothing_half_written_and_the_next_run_completes(worker):
    years = list(range(3011, 3021))
    from tests.pipeline.worker_tasks import slow_seasons

    slow_seasons.apply_async(("t5-kill", years, 0.4), queue=QUEUE)
    running = _wait(
        lambda: JobRun.objects.filter(job="t5-kill", status=JobStatus.RUNNING).first(), 20, "the run to start"
    )
    time.sleep(1.5)  # a few rows inserted, not committed
    pid = int(running.worker.rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert not Season.objects.filter(year__in=years).exists()  # the transaction died with the process

    time.sleep(3)  # the dead run's lock expires (JOB_LOCK_TTL=3 in the worker, no heartbeat any more)
    slow_seasons.apply_async(("t5-kill", years, 0.05), queue=QUEUE)
    _wait(
        lambda: JobRun.objects.filter(job="t5-kill", status=JobStatus.SUCCEEDED).exists(),
        30,
        "a completed run",
    )
    assert sorted(Season.objects.filter(year__in=years).values_list("year", flat=True)) == years
    assert JobRun.objects.get(pk=running.pk).status == JobStatus.INTERRUPTED
