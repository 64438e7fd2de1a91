"""`run_job <job>` by hand while another run holds a lock the job needs: a clear line naming the
holder and exit status 75 (busy), or — with `--wait SECONDS` — the job runs once the lock is free,
within that bound. The locks are held by other sessions: another PostgreSQL connection or a `psql`
process for the race-data lock, another holder's token for the job's Redis lock.

Before, the daily job by hand ran its other steps and exited 1 like any failure ("daily_results_sync
failed: Jolpica sync not run: …"), a run of a job whose own lock was held printed `"status":
"skipped"` and exited 0, and there was no way to wait. The Celery tasks are unchanged (they retry;
tests/ingestion/services/test_jobs_jolpica_lock.py).
"""

from __future__ import annotations

import json
import threading
import time
from io import StringIO

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection

from ingestion.models import JobRun, JobStatus
from ingestion.services.jobs import JobLock, redis_client_for
from ingestion.services.sync_lock import race_data_lock_held
from tests.conftest import in_season
from tests.ingestion.helpers import (  # noqa: F401 - fast_http, clean_breakers: autouse fixtures
    clean_breakers,
    fake_post_race,
    fast_http,
    jolpica_lock_held,
    lock_held_by_psql,
)

BUSY = 75
ADVICE = "rerun when it has finished, or add --wait SECONDS"
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="advisory lock is PostgreSQL-only"
)


@pytest.fixture
def daily(mirror, ergast_data, monkeypatch, settings):
    """The daily job's surroundings: the mirror, the dump, no retrain, a stand-in post-race step."""
    settings.AUTO_RETRAIN_ENABLED = False
    fake_post_race(monkeypatch)


def _run_job(*args: str) -> tuple[str, float]:
    out = StringIO()
    started = time.monotonic()
    call_command("run_job", *args, stdout=out)
    return out.getvalue(), time.monotonic() - started


@postgresql_only
@pytest.mark.django_db
@in_season
def test_daily_job_by_hand_while_a_sync_holds_the_lock_is_busy_75_naming_it(daily):
    out = StringIO()
    with jolpica_lock_held() as pid, pytest.raises(CommandError) as busy:
        call_command("run_job", "daily_results_sync", stdout=out)

    run = JobRun.objects.filter(job="daily_results_sync").latest("pk")
    assert busy.value.returncode == BUSY
    assert str(busy.value) == (
        "daily_results_sync not done: Jolpica sync not run: another Jolpica sync or Ergast dump load "
        f"(backend pid {pid}) is in progress (PostgreSQL advisory lock held); the job's other steps ran "
        f"(see counts) (JobRun {run.pk}, failed); {ADVICE}"
    )
    # recorded as the task records its last try: failed, with the steps that ran without the lock
    assert run.status == JobStatus.FAILED and run.counts["jolpica"]["skipped"] == "locked"
    printed = json.loads(out.getvalue())
    assert printed["status"] == "failed" and "openf1_sessions" in printed["counts"]


@postgresql_only
@pytest.mark.django_db
@in_season
def test_wait_gives_up_after_its_bound(daily):
    err = StringIO()
    with lock_held_by_psql(60), pytest.raises(CommandError) as busy:
        call_command("run_job", "daily_results_sync", "--wait", "2", stdout=StringIO(), stderr=err)
    assert busy.value.returncode == BUSY
    message = str(busy.value)
    assert message.startswith("daily_results_sync not done: Jolpica sync not run: another Jolpica sync")
    assert message.endswith("; waited 2s") and "\n" not in message
    # while it waited, one line on stderr (it printed nothing): the holder, the bound's remainder
    (line,) = err.getvalue().splitlines()
    assert line.startswith(
        "Waiting up to 2s for the race-data lock: another Jolpica sync or Ergast dump load"
    )
    assert "(backend pid " in line and line.endswith("is in progress (PostgreSQL advisory lock held)")


@postgresql_only
@pytest.mark.django_db
@in_season
def test_wait_runs_the_job_once_the_holder_has_finished(daily):
    with lock_held_by_psql(3):
        assert race_data_lock_held()
        out, took = _run_job("daily_results_sync", "--wait", "60")
    printed = json.loads(out)
    assert printed["status"] == "succeeded", printed["error"]
    assert printed["counts"]["jolpica"]["status"] in ("succeeded", "partial")
    assert took >= 2  # it did wait for psql (3 s after it took the lock, give or take its start)
    run = JobRun.objects.filter(job="daily_results_sync").latest("pk")
    assert run.status == JobStatus.SUCCEEDED


@pytest.fixture
def cleanup_lock():
    """The cache_cleanup job's lock, held by another run (another token) until the test frees it."""
    lock = JobLock("cache_cleanup")

    def free():
        if settings.JOB_LOCK_REDIS_URL:
            redis_client_for(settings.JOB_LOCK_REDIS_URL).delete(lock.key)
        cache.delete(lock.key)

    free()
    assert lock.acquire()
    yield lock
    free()


@pytest.mark.django_db
def test_a_job_whose_own_lock_is_held_is_busy_75_not_a_silent_skip(cleanup_lock):
    with pytest.raises(CommandError) as busy:
        _run_job("cache_cleanup")
    run = JobRun.objects.filter(job="cache_cleanup").latest("pk")
    assert busy.value.returncode == BUSY
    assert str(busy.value) == (
        f"cache_cleanup not done: already running (lock held by {cleanup_lock.token}) "
        f"(JobRun {run.pk}, skipped); {ADVICE}"
    )
    assert run.status == JobStatus.SKIPPED  # recorded as a worker's trigger finding the lock held


@pytest.mark.django_db
def test_wait_takes_the_job_lock_once_the_other_run_frees_it(cleanup_lock):
    threading.Timer(1.5, cleanup_lock.release).start()
    out, err = StringIO(), StringIO()
    started = time.monotonic()
    call_command("run_job", "cache_cleanup", "--wait", "30", stdout=out, stderr=err)
    took = time.monotonic() - started
    assert json.loads(out.getvalue())["status"] == "succeeded"  # stdout: the run's JSON only
    assert 1.4 <= took < 30
    # while it waited, one line on stderr naming the holder (it printed nothing)
    assert err.getvalue() == (
        f"Waiting up to 30s for the cache_cleanup job lock: already running (lock held by {cleanup_lock.token})\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["daily_results_sync", "--enqueue", "--wait", "60"],  # a worker's task retries on its own
        ["--list", "--wait", "60"],
    ],
)
def test_wait_without_a_job_run_here_is_a_usage_error(argv):
    with pytest.raises(CommandError, match="--wait goes with a job run here") as caught:
        call_command("run_job", *argv)
    assert caught.value.returncode == 2


@pytest.mark.parametrize("value", ["-1", "abc", "99999"])
def test_a_bad_wait_is_refused_by_the_parser(value):
    with pytest.raises(CommandError, match="argument --wait"):
        call_command("run_job", "cache_cleanup", "--wait", value)
