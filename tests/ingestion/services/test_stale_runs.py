"""The stale-run sweep (ingestion.services.stale_runs) against a real Redis broker and real `celery
worker` processes: a worker killed with SIGKILL mid-task leaves a `running` JobRun that the sweep
closes `interrupted` once the run has been silent for LIVENESS_MAX_SILENCE_SECONDS; a live worker's
long run keeps heartbeating and is never closed; a queued run no worker picked up is closed after
JOB_QUEUED_MAX_SECONDS, and its late message does not revive it.

The workers heartbeat every second (LIVENESS_HEARTBEAT_SECONDS=1 in their environment); this process
judges silence with a short LIVENESS_MAX_SILENCE_SECONDS (the `settings` fixture, which skips
settings.py's floor of 3 x heartbeat + 20). Like tests/ingestion/services/test_worker.py these tests commit
(the worker is another process) and clean up what they wrote.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from ingestion.models import JobRun, JobStatus
from ingestion.services import stale_runs
from tests.workers import celery_worker, wait_until

pytestmark = pytest.mark.slow
QUEUE = f"pitwall-test-stale-{uuid.uuid4().hex[:8]}"
TEST_JOBS = ["t-stale-long", "t-stale-kill"]
WORKER_ENV = {"JOB_LOCK_TTL": "3", "LIVENESS_HEARTBEAT_SECONDS": "1"}
SILENCE = 4  # this process's LIVENESS_MAX_SILENCE_SECONDS: 4 missed heartbeats


def _cleanup():
    from ingestion.services.resync import RESYNC_JOB

    JobRun.objects.filter(job__in=TEST_JOBS).delete()
    JobRun.objects.filter(job=RESYNC_JOB, task_id__startswith="t-stale-").delete()


@pytest.fixture(scope="module")
def worker(committing_db):
    _cleanup()
    try:
        with celery_worker(
            queue=QUEUE,
            concurrency=2,
            env=WORKER_ENV,
            args=("-I", "tests.ingestion.services.worker_tasks"),
            stop_timeout=3,
        ) as proc:
            yield proc
    finally:
        _cleanup()


def job_runs_stale_close(**kwargs) -> dict:
    """The sweep, on this module's runs only (another module may have left runs in the database)."""
    return stale_runs.job_runs_stale_close(
        jobs=Q(job__startswith="t-stale") | Q(task_id__startswith="t-stale-"), **kwargs
    )


@pytest.fixture
def short_silence(settings):
    settings.LIVENESS_MAX_SILENCE_SECONDS = SILENCE


@pytest.mark.django_db
def test_a_fresh_running_run_is_not_closed(settings):
    # (also makes pytest-django set up the test database when this module runs alone)
    now = timezone.now()
    run = JobRun.objects.create(job="t-stale-unit", worker="h:1", started_at=now, heartbeat_at=now)
    queued = JobRun.objects.create(job="t-stale-unit", worker="", started_at=now - timedelta(seconds=59))
    settings.JOB_QUEUED_MAX_SECONDS = 60
    assert job_runs_stale_close(now=now) == {"interrupted": [], "never_picked_up": []}
    # the bounds are strict and read at call time
    closed = job_runs_stale_close(now=now + timedelta(seconds=settings.LIVENESS_MAX_SILENCE_SECONDS + 1))
    assert closed == {"interrupted": [run.pk], "never_picked_up": [queued.pk]}


def test_a_live_worker_running_a_long_task_is_not_swept(worker, short_silence):
    from tests.ingestion.services.worker_tasks import sleeper

    sent = sleeper.apply_async(("t-stale-long", 3 * SILENCE), queue=QUEUE)
    run = wait_until(
        lambda: JobRun.objects.filter(job="t-stale-long", status=JobStatus.RUNNING).first(),
        timeout=20,
        what="the long run to start",
    )
    beats = {run.started_at}
    while (row := JobRun.objects.get(pk=run.pk)).status == JobStatus.RUNNING:
        assert job_runs_stale_close() == {"interrupted": [], "never_picked_up": []}
        beats.add(row.heartbeat_at)
        time.sleep(0.5)
    assert row.status == JobStatus.SUCCEEDED and row.task_id == sent.id and not row.error
    # it ran three silence bounds long, heartbeating all along (every second in this worker)
    assert row.duration_seconds >= 3 * SILENCE
    beats = sorted(beats)
    assert len(beats) >= 2 * SILENCE and max(b - a for a, b in itertools.pairwise(beats)) < timedelta(
        seconds=SILENCE
    )


def test_a_worker_killed_mid_task_leaves_a_run_the_sweep_closes(committing_db, short_silence):
    from f1site.observability import ops_state_get
    from tests.ingestion.services.worker_tasks import sleeper

    queue = f"{QUEUE}-kill"
    with celery_worker(
        queue=queue,
        concurrency=1,
        env=WORKER_ENV,
        args=("-I", "tests.ingestion.services.worker_tasks"),
        stop_timeout=3,
    ) as proc:
        sleeper.apply_async(("t-stale-kill", 120), queue=queue)
        running = wait_until(
            lambda: JobRun.objects.filter(job="t-stale-kill", status=JobStatus.RUNNING).first(),
            timeout=20,
            what="the run to start",
        )
        time.sleep(1.5)
        # a whole worker lost (kill -9 of the worker and its pool, as with a lost host): no redelivery
        # until the broker's visibility timeout, no new run of the job to mark this one
        os.killpg(proc.pid, signal.SIGKILL)
        killed_at = timezone.now()
        assert job_runs_stale_close()["interrupted"] == []  # not silent long enough yet
        closed = wait_until(
            lambda: job_runs_stale_close()["interrupted"],
            timeout=SILENCE + 10,
            what="the sweep to close the run",
        )
    assert closed == [running.pk]
    run = JobRun.objects.get(pk=running.pk)
    assert run.status == JobStatus.INTERRUPTED
    assert run.error.startswith(f"worker {running.worker} stopped heartbeating at ")
    assert f"LIVENESS_MAX_SILENCE_SECONDS={SILENCE}" in run.error
    # closed at its last sign of life, which came before the kill, and silence-bound ago at least
    assert run.finished_at == run.heartbeat_at <= killed_at
    assert timezone.now() - run.heartbeat_at > timedelta(seconds=SILENCE)
    # the job_failing alert counts it now (an interrupted run is a failure)
    assert ops_state_get().job_failure_streaks["t-stale-kill"] == 1
    assert job_runs_stale_close() == {"interrupted": [], "never_picked_up": []}  # closed once


def test_a_run_never_picked_up_is_closed_after_the_bound_and_its_late_message_does_nothing(worker, settings):
    from celery.result import AsyncResult

    from f1site.celery import app
    from ingestion.models import Race
    from ingestion.services.resync import RESYNC_JOB

    settings.JOB_QUEUED_MAX_SECONDS = 2
    race = Race.objects.order_by("pk").first()
    # what the admin's "Resync selected races" leaves when its message is lost (a flushed broker)
    queued = JobRun.objects.create(
        job=RESYNC_JOB, task_id=f"t-stale-{uuid.uuid4().hex}", worker="", counts={"race_ids": [race.pk]}
    )
    assert job_runs_stale_close()["never_picked_up"] == []  # within the bound
    time.sleep(2.2)
    assert job_runs_stale_close()["never_picked_up"] == [queued.pk]
    queued.refresh_from_db()
    assert queued.status == JobStatus.FAILED and queued.finished_at and not queued.worker
    assert queued.error.startswith("never picked up by a worker within 2 s (JOB_QUEUED_MAX_SECONDS)")

    # The message turns up late (re-sent, redelivered): the worker finds the run closed and does
    # nothing — no sync, no worker recorded, the closed row as it was.
    before = JobRun.objects.filter(pk=queued.pk).values().get()
    app.send_task(
        "ingestion.tasks.races_resync",
        args=[[race.pk]],
        kwargs={"run_id": queued.pk},
        queue=QUEUE,
        task_id=queued.task_id,
    )
    result = AsyncResult(queued.task_id, app=app).get(timeout=20)
    assert result == {"job_run": queued.pk, "status": JobStatus.FAILED}
    assert JobRun.objects.filter(pk=queued.pk).values().get() == before
