"""With a real Redis broker and a real `celery worker` process on the test database: a beat entry
fires and runs once with a JobRun; two overlapping triggers run the job once; a worker killed
mid-task leaves no half-written data and the redelivered task completes it.

These tests commit (the worker is another process), so they avoid pytest-django's `db` fixtures
(which would wrap them in a transaction the worker cannot see) and clean up what they wrote.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from f1site.celery import app
from ingestion.models import JobRun, JobStatus, Season
from tests.workers import celery_worker, wait_until

pytestmark = pytest.mark.slow
QUEUE = f"pitwall-test-{uuid.uuid4().hex[:8]}"
TEST_JOBS = ["t5-overlap", "t5-kill"]


def _cleanup():
    JobRun.objects.filter(job__in=TEST_JOBS).delete()
    Season.objects.filter(year__gte=3000).delete()


@pytest.fixture(scope="module")
def worker(committing_db):
    _cleanup()
    try:
        with celery_worker(
            queue=QUEUE,
            concurrency=2,
            env={"JOB_LOCK_TTL": "3"},
            args=("-I", "tests.ingestion.services.worker_tasks"),
            stop_timeout=3,
        ) as proc:
            yield proc
    finally:
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
        run = wait_until(
            lambda: (
                JobRun.objects.filter(job="cache_cleanup", status=JobStatus.SUCCEEDED).order_by("-pk").first()
            ),
            timeout=20,
            what="the cache_cleanup JobRun",
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
    from tests.ingestion.services.worker_tasks import slow_seasons

    a = slow_seasons.apply_async(("t5-overlap", years, 0.6), queue=QUEUE)
    b = slow_seasons.apply_async(("t5-overlap", years, 0.6), queue=QUEUE)
    runs = wait_until(
        lambda: (
            list(JobRun.objects.filter(job="t5-overlap").exclude(status=JobStatus.RUNNING))
            if JobRun.objects.filter(job="t5-overlap").exclude(status=JobStatus.RUNNING).count() == 2
            else None
        ),
        timeout=20,
        what="both triggers to finish",
    )
    assert sorted(r.status for r in runs) == [JobStatus.SKIPPED, JobStatus.SUCCEEDED]
    assert {r.task_id for r in runs} == {a.id, b.id}
    assert "already running" in next(r.error for r in runs if r.status == JobStatus.SKIPPED)
    assert sorted(Season.objects.filter(year__in=years).values_list("year", flat=True)) == years


def test_a_worker_killed_mid_task_leaves_nothing_half_written_and_its_redelivery_completes_it(worker):
    years = list(range(3011, 3021))
    from tests.ingestion.services.worker_tasks import slow_seasons

    sent = slow_seasons.apply_async(("t5-kill", years, 0.4), queue=QUEUE)
    running = wait_until(
        lambda: JobRun.objects.filter(job="t5-kill", status=JobStatus.RUNNING).first(),
        timeout=20,
        what="the run to start",
    )
    time.sleep(1.5)  # a few rows inserted, not committed
    pid = int(running.worker.rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert not Season.objects.filter(year__in=years).exists()  # the transaction died with the process

    # No new trigger: acks_late re-queues the message at once, the redelivery finds the dead run's
    # lock (JOB_LOCK_TTL=3 in the worker) and retries once it has expired, instead of recording a
    # skip and leaving the job undone until its next schedule.
    done = wait_until(
        lambda: JobRun.objects.filter(job="t5-kill", status=JobStatus.SUCCEEDED).first(),
        timeout=40,
        what="the redelivered task to complete the job",
    )
    assert done.task_id == sent.id
    assert sorted(Season.objects.filter(year__in=years).values_list("year", flat=True)) == years
    assert JobRun.objects.get(pk=running.pk).status == JobStatus.INTERRUPTED
    assert not JobRun.objects.filter(job="t5-kill", status=JobStatus.SKIPPED).exists()
