"""A run that lost its job lock (frozen past JOB_LOCK_TTL, and another trigger took the lock) stops
before its next step and is recorded `interrupted`; one whose lock merely expired, free, takes it
again and goes on; Redis not answering is no proof of loss. Review: a worker SIGSTOPped for 100 s
mid daily job woke, logged "job lock lost while running", carried on and recorded `succeeded` while
a second run had taken the lock — the post-race retrain and refresh could run twice.

Real Redis (the job locks' store); the takeover is what the other run does: the lock key set to its
token while this run is between two steps.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from ingestion.models import JobRun, JobStatus, Race, RaceResult
from ingestion.services.job_guard import JobLockLost, job_step_check
from ingestion.services.jobs import JobLock, job_daily_results, job_run_execute
from tests.brokers import switchable_proxy
from tests.ingestion.helpers import accuracy_marker, fake_post_race

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="job locks in Redis (REDIS_URL)")
OTHER = "otherhost:4242:" + "f" * 32  # the run that took the lock over


def _redis():
    import redis

    return redis.Redis.from_url(settings.JOB_LOCK_REDIS_URL)


@pytest.mark.django_db
def test_a_run_whose_lock_another_run_took_stops_before_its_next_step_and_is_recorded_interrupted():
    job = f"t-lock-lost-{uuid.uuid4().hex[:6]}"
    key = JobLock(job).key
    done = []

    def body():
        counts = {"first": 1}
        done.append("first")
        _redis().set(key, OTHER, px=60_000)  # frozen past the TTL; the other run took the lock
        job_step_check(step="second", counts=counts)
        done.append("second")
        return counts

    try:
        with pytest.raises(JobLockLost):
            job_run_execute(job=job, func=body)
        run = JobRun.objects.get(job=job)
        assert done == ["first"]
        assert run.status == JobStatus.INTERRUPTED
        assert run.error == (
            f"job lock lost: another run may have taken over (lock now held by {OTHER}); "
            "stopped before the second step; steps it had committed were kept"
        )
        assert run.counts == {"first": 1} and run.finished_at is not None
        assert _redis().get(key).decode() == OTHER  # the other run's lock is left alone
    finally:
        _redis().delete(key)


@pytest.mark.django_db
def test_a_run_whose_lock_expired_with_nobody_taking_it_takes_it_again_and_finishes():
    job = f"t-lock-expired-{uuid.uuid4().hex[:6]}"
    lock_key = JobLock(job).key
    holders = []

    def body():
        _redis().delete(lock_key)  # frozen past the TTL: expired, and no other run came
        job_step_check(step="second")
        holders.append(_redis().get(lock_key).decode())
        return {"steps": 2}

    run = job_run_execute(job=job, func=body)
    assert (run.status, run.error, run.counts) == (JobStatus.SUCCEEDED, "", {"steps": 2})
    assert holders and holders[0].split(":")[:2] == JobLock(job).token.split(":")[:2]  # ours again
    assert not _redis().exists(lock_key)  # released at the end


@pytest.mark.django_db
def test_redis_not_answering_at_a_step_boundary_does_not_stop_the_run(settings):
    """A Redis blip is no proof the lock is lost (the worker blip test: the job must finish)."""
    redis = urlsplit(settings.REDIS_URL)
    job = f"t-lock-blip-{uuid.uuid4().hex[:6]}"
    with switchable_proxy(redis.hostname, redis.port or 6379) as proxy:
        settings.JOB_LOCK_REDIS_URL = redis._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        done = []

        def body():
            proxy.cut(refuse=True)
            job_step_check(step="second")
            done.append("second")
            proxy.restore()
            return {"steps": 2}

        run = job_run_execute(job=job, func=body)
    assert done == ["second"]
    assert (run.status, run.error) == (JobStatus.SUCCEEDED, "")


@pytest.mark.django_db
def test_the_daily_job_that_lost_its_lock_mid_run_stops_before_the_post_race_step(
    mirror, ergast_data, monkeypatch
):
    """The review's case, as the daily job meets it: the lock is taken over while the job syncs
    (slowed by the mirror); the job stops at its next step boundary — no OpenF1 / weather step after
    it, and above all no post-race step (score, retrain, refresh) — and says why."""
    processed = fake_post_race(monkeypatch)
    done = list(Race.objects.filter(season_id=2026, results__isnull=False).distinct().order_by("round"))
    latest = done.pop()
    for race in done:
        accuracy_marker(race)
    RaceResult.objects.filter(race=latest).delete()  # as if the race had just been run: post-race due
    morning = datetime.combine(latest.date + timedelta(days=1), dtime(6), tzinfo=UTC)
    mirror.set_faults({"prefix": "/ergast/", "latency": 300})
    key = JobLock("daily_results_sync").key
    direct = _redis()
    direct.delete(key)

    def take_over():  # the second run, once this one holds the lock and has begun its sync
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not direct.exists(key):
            time.sleep(0.05)
        time.sleep(0.5)
        direct.set(key, OTHER, px=60_000)

    other = threading.Thread(target=take_over, daemon=True)
    other.start()
    try:
        with pytest.raises(JobLockLost):
            job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
        other.join(timeout=5)
        run = JobRun.objects.get(job="daily_results_sync")
        assert run.status == JobStatus.INTERRUPTED
        assert run.error.startswith(
            f"job lock lost: another run may have taken over (lock now held by {OTHER}); stopped before the "
        ), run.error
        assert processed == []  # no post-race step: the other run does it
        assert "jolpica" in run.counts and "post_race" not in run.counts
        assert direct.get(key).decode() == OTHER
    finally:
        mirror.clear_faults()
        direct.delete(key)


@pytest.mark.django_db
def test_a_run_whose_expired_lock_another_run_took_and_released_does_not_take_it_back():
    """Diff review: free now is not "nobody held it meanwhile". A froze past the TTL; B took the
    expired lock, did the whole job (marking A's row interrupted, as every run starting does) and
    released it; A woke, found the lock free, took it back and did B's work again — both recorded
    succeeded. A stops now."""
    job = f"t-retake-{uuid.uuid4().hex[:6]}"
    key = JobLock(job).key
    did = []

    def body_a():
        _redis().delete(key)  # A frozen past the TTL: the lock expired
        b = job_run_execute(job=job, func=lambda: did.append("B") or {"b": 1})  # B runs in full
        assert b.status == JobStatus.SUCCEEDED
        job_step_check(step="post_race", counts={"a": 1})  # A wakes
        did.append("A")
        return {"a": 1}

    try:
        with pytest.raises(JobLockLost, match="another run, since finished"):
            job_run_execute(job=job, func=body_a)
        assert did == ["B"]
        runs = list(JobRun.objects.filter(job=job).order_by("pk").values_list("status", "counts"))
        assert runs == [(JobStatus.INTERRUPTED, {"a": 1}), (JobStatus.SUCCEEDED, {"b": 1})], runs
        assert _redis().get(key) is None  # nothing taken back
    finally:
        _redis().delete(key)
