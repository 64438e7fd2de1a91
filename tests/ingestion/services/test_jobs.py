"""JobRun recording and the per-job Redis lock (in-process; the worker tests cover processes)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from ingestion.models import JobRun, JobStatus
from ingestion.services.jobs import JobLock, job_body_get, job_run_execute, job_runs_prune


@pytest.fixture(autouse=True)
def _free_locks():
    from django.core.cache import cache

    from ingestion.services.jobs import redis_client_for

    for name in ("t5-unit", "t5-hb"):
        key = JobLock(name).key
        if settings.JOB_LOCK_REDIS_URL:
            redis_client_for(settings.JOB_LOCK_REDIS_URL).delete(key)
        cache.delete(key)
    yield


@pytest.mark.django_db
def test_a_successful_run_records_counts_duration_and_task_id():
    run = job_run_execute(job="t5-unit", func=lambda: {"rows": 3}, task_id="abc")
    run.refresh_from_db()
    assert (run.status, run.counts, run.task_id) == (JobStatus.SUCCEEDED, {"rows": 3}, "abc")
    assert run.finished_at >= run.started_at and run.duration_seconds >= 0
    assert JobLock("t5-unit").acquire()  # released afterwards
    JobLock("t5-unit").release()


@pytest.mark.django_db
def test_a_message_redelivered_after_its_run_succeeded_is_skipped_but_a_retry_after_a_failure_runs():
    """Review: with the broker-blip setting off, a job that finished through a blip may lose its ack
    and Redis redelivers its message after the visibility timeout: it ran again."""
    calls = []
    first = job_run_execute(job="t5-unit", func=lambda: calls.append(1) or {"rows": 1}, task_id="m-1")
    again = job_run_execute(job="t5-unit", func=lambda: calls.append(2) or {"rows": 1}, task_id="m-1")
    assert calls == [1]
    assert again.status == JobStatus.SKIPPED
    assert again.error == f"already ran: this message was redelivered after JobRun {first.pk} succeeded"

    def boom():
        calls.append(3)
        raise ValueError("source down")

    with pytest.raises(ValueError):
        job_run_execute(job="t5-unit", func=boom, task_id="m-2")
    retried = job_run_execute(job="t5-unit", func=lambda: calls.append(4) or {}, task_id="m-2")
    assert retried.status == JobStatus.SUCCEEDED and calls == [1, 3, 4]
    assert job_run_execute(job="t5-unit", func=lambda: calls.append(5) or {}).status == JobStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_failing_run_is_recorded_then_raised_and_frees_the_lock():
    def boom():
        raise ValueError("upstream payload drifted")

    with pytest.raises(ValueError):
        job_run_execute(job="t5-unit", func=boom)
    run = JobRun.objects.get(job="t5-unit")
    assert run.status == JobStatus.FAILED and "upstream payload drifted" in run.error
    assert job_run_execute(job="t5-unit", func=dict).status == JobStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_held_lock_skips_the_second_trigger_and_says_who_holds_it():
    other = JobLock("t5-unit")
    assert other.acquire()
    try:
        run = job_run_execute(job="t5-unit", func=lambda: pytest.fail("must not run"))
    finally:
        other.release()
    assert run.status == JobStatus.SKIPPED and other.token in run.error


@pytest.mark.django_db
def test_a_run_left_running_by_a_dead_worker_is_marked_interrupted():
    dead = JobRun.objects.create(job="t5-unit", status=JobStatus.RUNNING)
    job_run_execute(job="t5-unit", func=dict)
    dead.refresh_from_db()
    assert dead.status == JobStatus.INTERRUPTED and dead.finished_at is not None


def test_the_heartbeat_keeps_a_long_job_locked_and_expiry_frees_a_dead_one(settings):
    lock = JobLock("t5-hb", ttl=2)
    assert lock.acquire()
    with lock.heartbeat():
        time.sleep(3)  # longer than the TTL: still ours thanks to the heartbeat
        assert not JobLock("t5-hb").acquire()
    # no heartbeat any more (as after a kill): the lock expires by itself
    time.sleep(2.2)
    taker = JobLock("t5-hb")
    assert taker.acquire()
    taker.release()


@pytest.mark.django_db
def test_concurrent_triggers_in_threads_run_once():
    started = threading.Event()

    def slow():
        started.set()
        time.sleep(0.5)
        return {"ok": 1}

    results = []

    def in_thread():  # its own DB connection, so it commits: remove its row before leaving
        from django.db import connection

        run = job_run_execute(job="t5-unit", func=slow)
        results.append(run)
        JobRun.objects.filter(pk=run.pk).delete()
        connection.close()

    t = threading.Thread(target=in_thread)
    t.start()
    started.wait(5)
    second = job_run_execute(job="t5-unit", func=slow)
    t.join()
    assert second.status == JobStatus.SKIPPED and results[0].status == JobStatus.SUCCEEDED


@pytest.mark.django_db
def test_prune_keeps_recent_runs(settings):
    now = timezone.now()
    settings.JOB_RUN_RETENTION_DAYS = 30
    JobRun.objects.create(job="t5-unit", status=JobStatus.SUCCEEDED, started_at=now - timedelta(days=31))
    JobRun.objects.create(job="t5-unit", status=JobStatus.SKIPPED, started_at=now - timedelta(days=2))
    keep = JobRun.objects.create(
        job="t5-unit", status=JobStatus.SUCCEEDED, started_at=now - timedelta(days=2)
    )
    assert job_runs_prune(now=now) == {"job_runs_deleted": 1, "skipped_runs_deleted": 1}
    assert list(JobRun.objects.filter(job="t5-unit")) == [keep]


def test_unknown_job_names_are_a_clear_error():
    with pytest.raises(KeyError, match="Unknown job 'nope'; known: daily_results_sync"):
        job_body_get(name="nope")


@pytest.mark.django_db
def test_an_idle_check_runs_under_the_lock_and_leaves_no_row_but_a_held_lock_is_still_recorded():
    from ingestion.services.jobs import job_checks_get

    seen_holder = []

    def idle():
        seen_holder.append(JobLock("t5-unit").holder())  # the check runs while we hold the lock
        return "nothing to do"

    before = JobRun.objects.filter(job="t5-unit").count()
    t0 = timezone.now()
    assert job_run_execute(job="t5-unit", func=lambda: pytest.fail("must not run"), idle_check=idle) is None
    first_check = job_checks_get(jobs=["t5-unit"])["t5-unit"]
    assert first_check >= t0
    assert seen_holder and seen_holder[0] is not None
    assert JobRun.objects.filter(job="t5-unit").count() == before
    other = JobLock("t5-unit")
    assert other.acquire()  # released after the idle check
    try:
        # Someone else holds the lock: recorded as skipped as before, and the check is not even run.
        run = job_run_execute(job="t5-unit", func=dict, idle_check=lambda: pytest.fail("must not run"))
    finally:
        other.release()
    assert run.status == JobStatus.SKIPPED
    assert JobRun.objects.filter(job="t5-unit").count() == before + 1
    # Not idle: the body runs and is recorded as before.
    run = job_run_execute(job="t5-unit", func=lambda: {"rows": 1}, idle_check=lambda: None)
    assert run.status == JobStatus.SUCCEEDED and run.counts == {"rows": 1}
    # A later idle check overwrites the one marker (no row either).
    assert job_run_execute(job="t5-unit", func=dict, idle_check=idle) is None
    assert job_checks_get(jobs=["t5-unit"])["t5-unit"] > first_check
    assert JobRun.objects.filter(job="t5-unit").count() == before + 2


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _hold_lock_as(job: str, token: str, ttl: int = 30) -> JobLock:
    lock = JobLock(job, ttl=ttl)
    lock.token = token
    assert lock.acquire()
    return lock


@pytest.mark.django_db
def test_a_lock_held_by_a_dead_process_makes_a_task_retry_after_it_expires_instead_of_skipping():
    import socket

    from ingestion.services.jobs import JobLockStale, lock_holder_alive

    token = f"{socket.gethostname()}:{_dead_pid()}:deadbeef"
    assert lock_holder_alive(token) is False
    lock = _hold_lock_as("t5-unit", token, ttl=30)
    try:
        with pytest.raises(JobLockStale) as raised:
            job_run_execute(job="t5-unit", func=lambda: pytest.fail("must not run"), retry_if_stale=True)
        assert 0 < raised.value.retry_in <= 30 and raised.value.holder == token
        assert not JobRun.objects.filter(job="t5-unit").exists()  # the retry records the outcome
        # with no retries left, the trigger is still recorded as a skip, saying why
        run = job_run_execute(job="t5-unit", func=lambda: pytest.fail("must not run"))
        assert run.status == JobStatus.SKIPPED and "gone" in run.error
    finally:
        lock.release()


@pytest.mark.django_db
def test_a_redelivered_task_retries_unless_a_live_process_here_holds_the_lock():
    import os
    import socket

    from ingestion.services.jobs import JobLockStale

    other_host = _hold_lock_as("t5-unit", "elsewhere:123:abc")  # cannot tell: trust the redelivery
    try:
        with pytest.raises(JobLockStale):
            job_run_execute(job="t5-unit", func=dict, redelivered=True, retry_if_stale=True)
        # not a redelivery, another host: a live overlapping trigger as far as we know
        run = job_run_execute(job="t5-unit", func=dict, retry_if_stale=True)
        assert run.status == JobStatus.SKIPPED and "already running" in run.error
    finally:
        other_host.release()
    live = _hold_lock_as("t5-unit", f"{socket.gethostname()}:{os.getppid()}:abc")  # alive, not us
    try:
        run = job_run_execute(job="t5-unit", func=dict, redelivered=True, retry_if_stale=True)
        assert run.status == JobStatus.SKIPPED
    finally:
        live.release()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (SystemExit(-241), "worker shut down during the run"),
        # Ctrl-C reaches a job only at `run_job` (a prefork pool child ignores SIGINT): it said
        # "worker shut down during the run (KeyboardInterrupt)" although no worker was involved
        (KeyboardInterrupt(), "interrupted by the user (Ctrl-C / SIGINT)"),
    ],
)
def test_a_worker_shutdown_mid_run_is_recorded_interrupted_with_a_readable_reason(exc, reason):
    def body():
        raise exc

    with pytest.raises(type(exc)):
        job_run_execute(job="t5-unit", func=body)
    run = JobRun.objects.get(job="t5-unit")
    assert run.status == JobStatus.INTERRUPTED
    assert run.error.startswith(reason) and "-241" not in run.error
    assert "kept" in run.error
    assert JobLock("t5-unit").acquire()  # released
    JobLock("t5-unit").release()


@pytest.mark.django_db
def test_run_job_with_the_lock_redis_down_records_a_failed_job_run(settings):
    """`run_job weather_forecasts` with Redis down said only "failed: Error 111 connecting to …" and
    left no JobRun, although the job status pages and the job_failing alert read JobRuns. A real
    refused port (nothing listens), never the shared Redis stopped."""
    from django.core.management import CommandError, call_command

    from tests.brokers import closed_port

    if not settings.JOB_LOCK_REDIS_URL:
        pytest.skip("the lock is in Redis only with REDIS_URL")
    port = closed_port()
    settings.JOB_LOCK_REDIS_URL = f"redis://127.0.0.1:{port}/0"
    with pytest.raises(CommandError) as caught:
        call_command("run_job", "weather_forecasts")
    (run,) = JobRun.objects.filter(job="weather_forecasts")
    assert str(caught.value) == (
        "weather_forecasts failed: job lock unavailable, not run: ConnectionError: Error 111 connecting "
        f"to 127.0.0.1:{port}. Connection refused.; recorded as JobRun {run.pk}"
    )
    assert run.status == JobStatus.FAILED and run.finished_at is not None and run.worker
    assert run.error.startswith(
        f"job lock unavailable, not run: ConnectionError: Error 111 connecting to 127.0.0.1:{port}"
    )


@pytest.mark.django_db
def test_run_job_ctrl_c_is_one_line_exit_130_and_the_job_run_interrupted(mirror, ergast_data, monkeypatch):
    """Ctrl-C at `run_job daily_results_sync` (here: while its Jolpica sync reads the calendar)
    printed a full KeyboardInterrupt traceback and recorded the JobRun "worker shut down during the
    run (KeyboardInterrupt)"; the sync commands answer Ctrl-C with one line and exit 130 (QA)."""
    from django.core.management import CommandError, call_command

    from ingestion.clients.jolpica import JolpicaClient
    from ingestion.models import SyncRun, SyncSource, SyncStatus

    def ctrl_c(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(JolpicaClient, "races", ctrl_c)
    try:
        with pytest.raises(CommandError) as caught:
            call_command("run_job", "daily_results_sync")
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped run_job: a traceback at the terminal, not one line + 130")
    run = JobRun.objects.filter(job="daily_results_sync").latest("pk")
    message = str(caught.value)
    assert caught.value.returncode == 130
    assert message.startswith(f"daily_results_sync interrupted by Ctrl-C (JobRun {run.pk}): ")
    assert "\n" not in message and "rerun" in message
    assert run.status == JobStatus.INTERRUPTED and run.finished_at is not None
    assert run.error.startswith("interrupted by the user (Ctrl-C / SIGINT)")
    assert "worker" not in run.error
    sync = SyncRun.objects.filter(source=SyncSource.JOLPICA).latest("pk")
    assert sync.status == SyncStatus.INTERRUPTED


@pytest.mark.parametrize(
    "argv",
    [
        ["--list", "--seed-schedule"],
        ["daily_results_sync", "--list"],
        ["daily_results_sync", "--seed-schedule"],
        ["--list", "--enqueue"],
        ["--seed-schedule", "--enqueue"],
    ],
)
def test_run_job_refuses_conflicting_modes_instead_of_ignoring_one(argv):
    """`run_job daily_results_sync --seed-schedule` seeded the schedule and silently did not run the
    job; `--list --seed-schedule` listed and did not seed. A usage error (exit 2) now, nothing done."""
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="choose one of") as caught:
        call_command("run_job", *argv)
    assert caught.value.returncode == 2
