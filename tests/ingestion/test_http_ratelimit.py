"""The client-side rate limiter: window arithmetic (fake clock) and, against the mirror's own
limiter over HTTP, that a burst at the same budget never draws a 429 — also when two threads with
separate limiter objects share one budget through Redis."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.conf import settings

from ingestion.clients.http import JsonHttpClient, SourceRateLimited
from ingestion.clients.ratelimit import RateLimitTimeout, SlidingWindowLimiter, parse_rate_limit
from ingestion.models import JobRun


def test_parse_rate_limit():
    assert parse_rate_limit("4/s,500/h") == [(4, 1.0), (500, 3600.0)]
    assert parse_rate_limit(" 10/5m ,1/d") == [(10, 300.0), (1, 86400.0)]
    assert parse_rate_limit("") == []
    for bad in ("4/x", "four/s", "0/s", "4"):
        with pytest.raises(ValueError, match="bad rate limit"):
            parse_rate_limit(bad)


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_in_process_windows_with_a_fake_clock():
    t = FakeTime()
    limiter = SlidingWindowLimiter("4/s,6/m", margin=0, clock=t.clock, sleep=t.sleep)
    for _ in range(4):
        limiter.acquire()
    assert t.slept == []
    limiter.acquire()  # 5th: the 1-second window is full until t=1
    assert t.now == pytest.approx(1.005)
    limiter.acquire()  # 6th fits both windows
    t.slept.clear()
    limiter.acquire()  # 7th: the minute window (6) is full until the first request is 60 s old
    assert t.now == pytest.approx(60.005, abs=0.01)


def test_wait_beyond_max_wait_raises():
    t = FakeTime()
    limiter = SlidingWindowLimiter("1/h", margin=0, max_wait=10, clock=t.clock, sleep=t.sleep)
    limiter.acquire()
    with pytest.raises(RateLimitTimeout, match="next slot in 3600"):
        limiter.acquire()
    assert t.slept == []


def _losing_the_first_freed_slot(*, max_wait: float) -> tuple[FakeTime, SlidingWindowLimiter]:
    """A "1/10s" limiter whose one slot is used (t=0); the first time a caller sleeps for the next
    slot, another caller of the same limiter (another thread) takes it as it frees."""
    t = FakeTime()
    limiter = SlidingWindowLimiter("1/10s", margin=0, max_wait=max_wait, clock=t.clock, sleep=t.sleep)
    limiter.acquire()

    def sleep(seconds):
        t.sleep(seconds)
        if len(t.slept) == 1:
            limiter.acquire()  # the rival: the slot is free at t=10.005, so it takes it at once

    limiter._sleep = sleep
    return t, limiter


def test_max_wait_caps_the_total_wait_across_several_sleeps():
    """QA M27: a caller that slept once and lost the freed slot may wait only what is left of
    max_wait (15 - 10 s), not max_wait again (it would sleep 20 s in all)."""
    t, limiter = _losing_the_first_freed_slot(max_wait=15)
    with pytest.raises(RateLimitTimeout, match=r"next slot in 10\.0s\), beyond the 5s this caller"):
        limiter.acquire()
    assert t.slept == [pytest.approx(10.005)]
    assert sum(t.slept) <= 15


def test_several_sleeps_within_max_wait_are_allowed():
    t, limiter = _losing_the_first_freed_slot(max_wait=25)
    limiter.acquire()  # 10 s, slot lost, 10 s more: 20 s within 25 s
    assert t.slept == [pytest.approx(10.005), pytest.approx(10.005)]
    assert t.now == pytest.approx(20.01)


def test_client_turns_a_too_long_wait_into_source_rate_limited(mirror):
    limiter = SlidingWindowLimiter("1/h", key=f"t-{uuid.uuid4().hex}", max_wait=1)
    client = JsonHttpClient(mirror.ergast, rate_limiter=limiter)
    client.get_json("seasons.json")
    with pytest.raises(SourceRateLimited, match="beyond the 1s") as info:
        client.get_json("seasons.json")
    assert info.value.url.endswith("/seasons.json")
    assert client.requests_made == 1


def _statuses(mirror) -> list[int]:
    return [r["status"] for r in mirror.requests()["recent"]]


def test_burst_at_the_servers_budget_never_gets_429_in_process(mirror):
    mirror.set_rate_limit("4/s,500/h")
    limiter = SlidingWindowLimiter("4/s,500/h", key=f"t-{uuid.uuid4().hex}")
    client = JsonHttpClient(mirror.ergast, rate_limiter=limiter, max_retries=0)
    started = time.monotonic()
    for _ in range(10):
        client.get_json("seasons.json", params={"limit": 1})
    elapsed = time.monotonic() - started
    assert _statuses(mirror) == [200] * 10
    assert elapsed >= 2.0  # 10 requests at 4/s need two full windows of waiting


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (shared budget through Redis)")
def test_two_threads_with_separate_limiters_share_one_budget_via_redis(mirror):
    mirror.set_rate_limit("4/s,500/h")
    key = f"t-{uuid.uuid4().hex}"
    errors: list[Exception] = []

    def worker():
        # each thread builds its own limiter and client: only Redis connects them
        limiter = SlidingWindowLimiter("4/s,500/h", key=key, redis_url=settings.REDIS_URL)
        assert limiter.backend == "redis"
        client = JsonHttpClient(mirror.ergast, rate_limiter=limiter, max_retries=0)
        try:
            for _ in range(6):
                client.get_json("seasons.json", params={"limit": 1})
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - started

    assert errors == []
    assert _statuses(mirror) == [200] * 12
    assert elapsed >= 2.0  # 12 requests, one budget of 4/s


def test_without_the_limiter_the_same_burst_is_throttled(mirror):
    """Control for the two tests above: the mirror really does throttle this burst."""
    mirror.set_rate_limit("4/s,500/h")
    client = JsonHttpClient(mirror.ergast, max_retries=0)
    with pytest.raises(SourceRateLimited):
        for _ in range(10):
            client.get_json("seasons.json", params={"limit": 1})
    assert 429 in _statuses(mirror)


# --- the wait is bounded by the caller's time budget, and said ------------------------------------
def test_a_wait_past_the_callers_deadline_fails_at_once_naming_the_window_and_the_next_slot():
    from ingestion.clients.ratelimit import rate_wait_deadline

    t = FakeTime()
    limiter = SlidingWindowLimiter("4/s,2/h", margin=0, max_wait=3600, clock=t.clock, sleep=t.sleep)
    limiter.acquire()
    limiter.acquire()
    with rate_wait_deadline(60), pytest.raises(RateLimitTimeout) as raised:
        limiter.acquire()  # the hourly window binds: ~3600 s away, the deadline is 60 s
    assert t.slept == []  # failed fast, did not sleep until killed
    message = str(raised.value)
    assert "hourly budget (2/h) exhausted" in message and "next request slot at" in message
    assert "beyond the 60s this caller may wait" in message
    assert raised.value.wait == pytest.approx(3600, abs=1) and raised.value.next_slot_at is not None
    # outside the deadline the same caller (a CLI sync) may still wait up to max_wait
    limiter.acquire()
    assert t.slept and t.slept[0] == pytest.approx(3600, abs=1)


def test_a_long_wait_is_logged_before_sleeping(caplog, monkeypatch):
    monkeypatch.setattr("ingestion.clients.ratelimit.WAIT_LOG_SECONDS", 0.5)
    t = FakeTime()
    limiter = SlidingWindowLimiter("1/2s", margin=0, clock=t.clock, sleep=t.sleep, key="jolpica")
    limiter.acquire()
    with caplog.at_level("WARNING", logger="ingestion.clients.ratelimit"):
        limiter.acquire()
    assert t.slept and "rate limit: waiting 2s for the next request slot" in caplog.text
    assert "pitwall:ratelimit:jolpica" in caplog.text


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the shared Jolpica budget)")
@pytest.mark.django_db
def test_a_jolpica_sync_in_a_task_fails_fast_when_the_shared_hourly_budget_is_used_up(
    mirror, ergast_data, settings
):
    """The shared Redis window full (other workers used the hour's budget): a sync inside a task's
    time budget fails at once with the reason in its SyncRun and JobRun, instead of sleeping until
    SoftTimeLimitExceeded with the sync lock held."""
    from ingestion.clients.ratelimit import rate_limiter_for, rate_wait_deadline
    from ingestion.models import JobStatus, SyncRun
    from ingestion.services.jobs import job_run_execute
    from ingestion.services.jolpica_sync import jolpica_sync

    settings.ERGAST_RATE_LIMIT = "50/s,3/h"
    shared = rate_limiter_for("jolpica", settings.ERGAST_RATE_LIMIT)
    assert shared.backend == "redis"
    shared.reset()
    try:
        for _ in range(3):  # another worker's requests, in the same Redis window
            shared.acquire()
        started = time.monotonic()
        with rate_wait_deadline(20), pytest.raises(SourceRateLimited) as raised:
            job_run_execute(
                job="t-budget", func=lambda: jolpica_sync(seasons=[2026], incremental=True).as_dict()
            )
        assert time.monotonic() - started < 10
        assert 3500 < raised.value.retry_in <= 3601  # the window plus its margin
    finally:
        shared.reset()
    run = JobRun.objects.get(job="t-budget")
    assert run.status == JobStatus.FAILED
    assert "jolpica: hourly budget (3/h) exhausted" in run.error and "next request slot at" in run.error
    sync = SyncRun.objects.filter(source="jolpica").latest("pk")
    assert sync.status == "failed"
    assert any("hourly budget (3/h) exhausted" in e["message"] for e in sync.errors)
    assert mirror.requests()["total"] == 0


def test_a_celery_tasks_wait_budget_comes_from_its_time_limit():
    from celery.app.task import Context

    from f1site.celery import task_wait_budget
    from ingestion.tasks import daily_results_sync, live_timing_poll

    assert settings.CELERY_TASK_SOFT_TIME_LIMIT == 1700
    # the soft limit less a tenth kept for the work after the last wait
    assert task_wait_budget(task=daily_results_sync, request=Context(is_eager=False)) == 1530
    assert task_wait_budget(task=live_timing_poll, request=Context(is_eager=False)) == 25  # 50 s: half
    assert (
        task_wait_budget(task=daily_results_sync, request=Context(is_eager=False, timelimit=(600, 500)))
        == 440
    )
    assert task_wait_budget(task=daily_results_sync, request=Context(is_eager=True)) is None  # in-process


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
def test_the_shared_budget_lives_in_the_job_locks_redis_not_the_caches(settings):
    """A budget is a key with a TTL; the cache's Redis may evict such keys (README "Memory and
    eviction"), the job locks' must not, so the budget goes where the locks are."""
    import uuid

    import redis

    from ingestion.clients.ratelimit import rate_limiter_for

    cache_db = redis.Redis.from_url(settings.REDIS_URL)
    base, db = settings.REDIS_URL.rsplit("/", 1)
    locks_url = f"{base}/{(int(db or 0) + 8) % 16}"  # another database (its key is unique and removed)
    assert locks_url != settings.REDIS_URL
    settings.JOB_LOCK_REDIS_URL = locks_url
    source = f"evict-check-{uuid.uuid4().hex}"
    limiter = rate_limiter_for(source, "4/s,500/h")
    assert limiter.backend == "redis"
    limiter.acquire()
    locks_db = redis.Redis.from_url(locks_url)
    try:
        assert locks_db.zcard(limiter.key) == 1
        assert locks_db.pttl(limiter.key) > 0
        assert not cache_db.exists(limiter.key)
    finally:
        locks_db.delete(limiter.key)
