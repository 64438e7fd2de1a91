"""The resilient cache layer: breaker, stampede protection, stale copies, invalidation, Redis outages.

Outage tests run a private redis-server (never the shared one) and kill / SIGSTOP it mid-test.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time

import pytest
from django.core.cache import cache

from f1site import cache as f1cache
from f1site.cache import CircuitBreaker, cache_stats, cached_json
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles

# --- pure breaker logic --------------------------------------------------------------------------


def test_breaker_opens_after_threshold_and_probes_once_per_cooldown(settings):
    settings.CACHE_BREAKER_FAILURES = 2
    settings.CACHE_BREAKER_COOLDOWN = 0.2
    b = CircuitBreaker()
    assert b.allow() and b.state == "closed"
    b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open"
    assert not b.allow() and b.rejected == 1
    time.sleep(0.25)
    assert b.allow()  # the probe
    assert b.state == "half_open"
    assert not b.allow()  # single use: even the same (sync worker) thread must wait a cooldown
    other = []
    t = threading.Thread(target=lambda: other.append(b.allow()))
    t.start()
    t.join()
    assert other == [False]  # only one probe per cooldown
    b.record_failure()  # probe failed: open again for a full cooldown
    assert not b.allow()
    time.sleep(0.25)
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.times_opened == 1


# --- stampede and stale copies (real Redis) ------------------------------------------------------


def test_200_concurrent_misses_compute_once():
    calls = []
    lock = threading.Lock()

    def compute():
        with lock:
            calls.append(1)
        time.sleep(0.3)
        return {"value": 42}

    results = []
    barrier = threading.Barrier(200)

    def worker():
        barrier.wait()
        results.append(cached_json(key="f1:test:hot", ttl=60, tier="test", compute=compute).body)

    threads = [threading.Thread(target=worker) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [b'{"value":42}'] * 200


def test_stale_copy_is_served_while_one_caller_refreshes():
    cached_json(key="f1:test:stale", ttl=0, tier="test", compute=lambda: {"v": 1})  # instantly stale
    cache.add("f1:test:stale:lock", 1, timeout=30)  # someone else is refreshing
    served = cached_json(key="f1:test:stale", ttl=60, tier="test", compute=lambda: pytest.fail("recomputed"))
    assert served.body == b'{"v":1}'
    cache.delete("f1:test:stale:lock")
    fresh = cached_json(key="f1:test:stale", ttl=60, tier="test", compute=lambda: {"v": 2})
    assert fresh.body == b'{"v":2}'
    assert cache_stats()["tiers"]["test"]["stale"] >= 1


# --- invalidation --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_correction_clears_exactly_the_race_keys(api, ergast_data, django_capture_on_commit_callbacks):
    from ingestion.models import RaceResult

    bahrain = api.get("/api/v1/races/2025_bahrain").json()
    api.get("/api/v1/races/2025_4")
    other = api.get("/api/v1/races/2025_australia")
    standings = api.get("/api/v1/standings", {"season": 2025}).json()
    assert cache.get("f1:race:2025:2025_bahrain") is not None
    assert cache.get("f1:race:2025:2025_australia") is not None

    winner = RaceResult.objects.get(race__slug="2025_bahrain", position_order=1)
    with django_capture_on_commit_callbacks(execute=True):
        winner.time_text = "1:35:39.435 (corrected)"
        winner.manually_corrected = True
        winner.save()

    assert cache.get("f1:race:2025:2025_bahrain") is None
    assert cache.get("f1:race:2025:2025_4") is None
    assert cache.get("f1:race:2025:2025_australia") is not None  # untouched
    after = api.get("/api/v1/races/2025_bahrain").json()
    assert after["results"][0]["time"] == "1:35:39.435 (corrected)" != bahrain["results"][0]["time"]
    again = api.get("/api/v1/races/2025_australia")
    assert again["ETag"] == other["ETag"]
    assert api.get("/api/v1/standings", {"season": 2025}).json() == standings


@pytest.mark.django_db
@pytest.mark.mirror
def test_sync_invalidates_the_changed_races(api, ergast_data, mirror):
    """A sync that corrects a race's results (signal races_changed) clears that race's cache."""
    from ingestion.models import RaceResult
    from ingestion.services.jolpica_sync import jolpica_sync

    winner = RaceResult.objects.get(race__slug="2024_bahrain", position_order=1)
    true_time = winner.time_text
    RaceResult.objects.filter(pk=winner.pk).update(time_text="tampered")  # bulk: no signal
    stale = api.get("/api/v1/races/2024_bahrain").json()
    assert stale["results"][0]["time"] == "tampered"
    season_list = api.get("/api/v1/races", {"season": 2024}).json()

    summary = jolpica_sync(seasons=[2024], rounds=[1], only="results")
    assert "2024_bahrain" in summary.changed_race_ids

    fresh = api.get("/api/v1/races/2024_bahrain").json()
    assert fresh["results"][0]["time"] == true_time
    assert api.get("/api/v1/races", {"season": 2024}).json() == season_list


@pytest.mark.django_db
def test_invalidation_of_predictions_clears_prediction_keys():
    cache.set("f1:predictions:2026_monaco", "x")
    cache.set("f1:predictions:2026_spain", "y")
    cleared = f1cache.cache_invalidate_predictions(race_ids=["2026_monaco"])
    assert "f1:predictions:2026_monaco" in cleared["keys"]
    assert cache.get("f1:predictions:2026_monaco") is None
    assert cache.get("f1:predictions:2026_spain") == "y"


# --- Redis stopped mid-test (private redis-server on our own port) -------------------------------


@pytest.mark.django_db
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend")
@pytest.mark.parametrize("outage", ["killed", "hung"])
def test_api_answers_from_the_database_while_redis_is_down(
    api, ergast_data, private_redis, settings, monkeypatch, outage
):
    path = "/api/v1/races?season=2024"
    warm = api.get(path)
    assert warm.status_code == 200
    assert api.get(path).status_code == 200  # a cache hit

    if outage == "killed":
        private_redis.kill()
        private_redis.wait(timeout=5)
    else:
        private_redis.send_signal(signal.SIGSTOP)

    # Spy (not a mock): count the Redis attempts that really went out and failed — each one costs
    # at most a socket timeout (refused or timed out); everything else is answered instantly.
    failed_attempts, current = [], [0]
    record_failure = f1cache.breaker.record_failure

    def counting_record_failure():
        failed_attempts.append(current[0])
        record_failure()

    monkeypatch.setattr(f1cache.breaker, "record_failure", counting_record_failure)
    started = time.monotonic()
    for request_no in range(40):  # spans several breaker cooldowns (0.5 s)
        current[0] = request_no
        response = api.get(path)
        assert response.status_code == 200
        assert response.content == warm.content
    elapsed = time.monotonic() - started
    # The breaker opens after CACHE_BREAKER_FAILURES failed attempts; from then on one probe per
    # cooldown goes out and the other requests go straight to the database, so no request pays
    # more than CACHE_BREAKER_FAILURES timeouts and the whole run only a handful.
    probes = elapsed / settings.CACHE_BREAKER_COOLDOWN + 1
    assert settings.CACHE_BREAKER_FAILURES <= len(failed_attempts) <= settings.CACHE_BREAKER_FAILURES + probes
    per_request = collections.Counter(failed_attempts)
    assert max(per_request.values()) <= settings.CACHE_BREAKER_FAILURES, per_request
    assert f1cache.breaker.state in {"open", "half_open"}
    health = api.get("/api/v1/health")
    assert health.status_code == 200  # the cache is not a required check
    assert health.json()["checks"]["cache"]["status"] == "down"

    if outage == "hung":
        private_redis.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 5
        while f1cache.breaker.state != "closed" and time.monotonic() < deadline:
            api.get(path)
            time.sleep(0.1)
        assert f1cache.breaker.state == "closed"  # recovered by itself within seconds
        assert api.get(path).status_code == 200


# --- warm path cost: Redis round trips per request -------------------------------------------------
@pytest.mark.django_db
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend")
def test_warm_list_request_costs_one_redis_round_trip_and_sees_a_generation_bump(
    api, ergast_data, monkeypatch, django_assert_num_queries
):
    # Spy (not a mock): every command still goes to the real Redis; we only count what is sent.
    sent = []
    original = f1cache.CircuitBreakerConnection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(f1cache.CircuitBreakerConnection, "send_packed_command", counting)
    path = "/api/v1/races?season=2024"
    first = api.get(path)
    assert first.status_code == 200
    sent.clear()
    with django_assert_num_queries(0):
        warm = api.get(path)
    assert warm.status_code == 200 and warm.content == first.content
    # One script: the throttle counter (INCR + EXPIRE NX), the generation and the body.
    assert len(sent) == 1, sent
    # ... and both requests were counted by the throttle (a window may have turned in between).
    assert sum(cache.get(k) for k in cache.keys("throttle:anon:*")) == 2

    # A generation bump must still reach the one-round-trip read: the next request recomputes.
    f1cache.bump_families(["races:2024"])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        again = api.get(path)
    assert again.status_code == 200 and again.content == first.content
    assert len(ctx.captured_queries) > 0  # computed from the database, not the old generation's copy


@pytest.mark.django_db
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend")
def test_redis_outage_serves_this_process_copy_until_an_invalidation(api, ergast_data, private_redis):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    path = "/api/v1/races?season=2024"
    warm = api.get(path)
    assert warm.status_code == 200
    private_redis.kill()
    private_redis.wait(timeout=5)
    for _ in range(3):  # trip the breaker
        assert api.get(path).status_code == 200
    assert f1cache.breaker.state in {"open", "half_open"}

    with CaptureQueriesContext(connection) as ctx:
        during = api.get(path)
    assert during.status_code == 200 and during.content == warm.content
    assert len(ctx.captured_queries) == 0  # no database work for a body this worker already had

    # An invalidation (the bump cannot reach the dead Redis) drops the local copies: recomputed.
    f1cache.bump_families(["races:2024"])
    with CaptureQueriesContext(connection) as ctx:
        after = api.get(path)
    assert after.status_code == 200 and after.content == warm.content
    assert len(ctx.captured_queries) > 0


@pytest.mark.django_db
def test_a_deploy_that_bumps_cache_format_never_serves_the_old_shape(settings):
    """Season points gained race_points / sprint_points; a cached analytics answer of the old shape
    would have been served for up to 7 days after the deploy. CACHE_FORMAT is the cache VERSION in
    every key, so what an older release stored is invisible to this one."""
    key = f1cache.driver_key("max_verstappen")
    cache.set(key, {"stale": True}, version=settings.CACHE_FORMAT - 1)
    assert cache.make_key(key).split(":")[1] == str(settings.CACHE_FORMAT)
    assert cache.get(key) is None
    assert cache.get(key, version=settings.CACHE_FORMAT - 1) == {"stale": True}  # still there, unread
    cache.delete(key, version=settings.CACHE_FORMAT - 1)
