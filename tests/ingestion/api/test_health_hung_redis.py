"""/api/v1/health and jobs/status with a Redis that accepts connections and never answers (a hung
Redis, a stuck failover): a real listener (tests/brokers.py `hung_port`) as the cache, the broker and
the liveness store, through the real endpoints.

Before the fix health never answered: the broker probe (kombu's `ensure_connection`) pinged the
Redis transport with no socket timeout, so the request waited forever (gunicorn killed the worker
after 30 s, the container's HEALTHCHECK failed a site that was serving), and past it the worker and
beat liveness reads took 5 s each; jobs/status took 5.4 s. The bounds are generous (a loaded 2-core
box) next to those numbers; they are correctness checks, not benchmarks.

With the broker and the liveness store on *separate* hung servers, the two probes each waited out
their own JOB_ENQUEUE_TIMEOUT, one after the other: 4.5 s with the default 2 s, next to the container
HEALTHCHECK's 4 s / 5 s. They run concurrently now, under one shared deadline
(`health.redis_probes_budget`).
"""

from __future__ import annotations

import pytest
from django.conf import settings

from f1site.cache import breaker
from ingestion.services.health import redis_probes_budget
from tests.brokers import broker_url, hung_port, run_bounded, trickling_port

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL,
        reason="needs the Redis set-up (REDIS_URL): eager mode has no broker probe and no Redis liveness",
    ),
]


@pytest.fixture
def hung_redis(settings):
    """Every Redis the web talks to (cache, broker, job locks / liveness) is a listener that hangs."""
    with hung_port() as port:
        url = f"redis://127.0.0.1:{port}/0"
        settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": url}}
        settings.JOB_LOCK_REDIS_URL = url
        breaker.reset()
        with broker_url(url):
            yield url
        breaker.reset()


def test_health_answers_within_seconds_with_the_redis_parts_down(api, hung_redis):
    response, error, seconds = run_bounded(lambda: api.get("/api/v1/health"), timeout=60)
    assert error is None, error
    assert seconds < 5, f"health took {seconds:.1f} s with Redis hung"
    body = response.json()
    # the database is up and none of the Redis-backed checks is required: 200, degraded (as with a
    # refused Redis), never 503
    assert response.status_code == 200 and body["status"] == "degraded"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["broker"]["status"] == "down" and checks["broker"]["required"] is False
    assert checks["cache"]["status"] == "down"
    for role in ("worker", "beat"):
        assert checks[role]["status"] == "degraded", checks[role]
        assert checks[role]["detail"]["state"] == "unknown"
    # each bounded: one connect budget for the broker (JOB_ENQUEUE_TIMEOUT), the liveness store not
    # waited on again once the broker check found that same Redis server hung
    assert checks["broker"]["latency_ms"] < (settings.JOB_ENQUEUE_TIMEOUT + 1.5) * 1000
    assert checks["worker"]["latency_ms"] + checks["beat"]["latency_ms"] < 1000


def test_health_tells_staff_why_the_liveness_store_was_not_read(api, staff_user, hung_redis):
    # forced, not by JWT: the request runs in another thread, whose connection does not see the
    # test's uncommitted user
    api.force_authenticate(user=staff_user)
    response, error, _ = run_bounded(lambda: api.get("/api/v1/health"), timeout=60)
    assert error is None, error
    checks = response.json()["checks"]
    assert "Timeout" in checks["broker"]["detail"]["error"]
    for role in ("worker", "beat"):
        assert checks[role]["detail"]["error"].startswith("not read: the broker check found"), checks[role]


@pytest.fixture
def hung_redis_servers(settings):
    """The cache, the liveness store and the broker each on a separate Redis server, all hung."""
    with hung_port() as cache_port, hung_port() as store_port, hung_port() as broker_port:
        cache_url = f"redis://127.0.0.1:{cache_port}/0"
        settings.CACHES = {
            **settings.CACHES,
            "default": {**settings.CACHES["default"], "LOCATION": cache_url},
        }
        settings.JOB_LOCK_REDIS_URL = f"redis://127.0.0.1:{store_port}/0"
        breaker.reset()
        with broker_url(f"redis://127.0.0.1:{broker_port}/0"):
            yield
        breaker.reset()


def test_health_answers_within_one_budget_however_many_redis_servers_hang(
    api, staff_user, hung_redis_servers, settings
):
    # A longer probe timeout than the default 2 s keeps the one-budget answer (~3.5 s) well apart
    # from the sum it took before (3 s per hung server, one after the other: 6.4 s).
    settings.JOB_ENQUEUE_TIMEOUT = 3.0
    budget = redis_probes_budget()
    api.force_authenticate(user=staff_user)
    response, error, seconds = run_bounded(lambda: api.get("/api/v1/health"), timeout=60)
    assert error is None, error
    assert seconds < budget + 1.5, (
        f"health took {seconds:.1f} s with three hung Redis servers (budget {budget} s)"
    )
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["cache"]["status"] == checks["broker"]["status"] == "down"
    # the broker and the store each met their own hung server and said so: the liveness store is
    # not the broker's server, so it was read (and timed out), not skipped
    assert "Timeout" in checks["broker"]["detail"]["error"]
    for role in ("worker", "beat"):
        assert checks[role]["status"] == "degraded", checks[role]
        assert checks[role]["detail"]["state"] == "unknown"
        assert "Timeout" in checks[role]["detail"]["error"], checks[role]
        assert "broker check" not in checks[role]["detail"]["error"]
    assert checks["broker"]["latency_ms"] <= (budget + 0.5) * 1000
    assert checks["worker"]["latency_ms"] <= (budget + 0.5) * 1000  # the store's read


@pytest.mark.parametrize("enqueue_timeout", [1.0, 20.0])
def test_health_stops_waiting_for_a_probe_at_the_budget(api, staff_user, settings, enqueue_timeout):
    """A liveness store that keeps answering one byte at a time never trips the read's socket
    timeout: only health's own deadline ends the wait (before, the request waited as long as the
    trickle lasted). The deadline is capped: a long JOB_ENQUEUE_TIMEOUT (20 s, for slow enqueues)
    still answers within the container HEALTHCHECK's 5 s (Dockerfile), degraded, not killed."""
    settings.JOB_ENQUEUE_TIMEOUT = enqueue_timeout
    budget = redis_probes_budget()
    with trickling_port() as port:
        settings.JOB_LOCK_REDIS_URL = f"redis://127.0.0.1:{port}/0"
        api.force_authenticate(user=staff_user)
        response, error, seconds = run_bounded(lambda: api.get("/api/v1/health"), timeout=30)
    assert error is None, error
    assert seconds < min(budget + 1.5, 5.0), f"health took {seconds:.1f} s (budget {budget} s)"
    checks = response.json()["checks"]
    assert checks["broker"]["status"] == "ok"  # this run's Redis: unaffected
    for role in ("worker", "beat"):
        assert checks[role]["status"] == "degraded" and checks[role]["detail"]["state"] == "unknown"
        assert "budget" in checks[role]["detail"]["error"], checks[role]


def test_repeated_polls_share_the_probe_still_running_instead_of_piling_up_threads(api, staff_user, settings):
    """A probe abandoned at the deadline ends only on its socket timeouts, which a store trickling
    one byte at a time never trips: each poll left one more thread and socket behind. Later polls
    wait on the probe still running, so the process holds one, and each poll still answers within
    its budget, saying so."""
    import threading

    settings.JOB_ENQUEUE_TIMEOUT = 0.5
    budget = redis_probes_budget()
    api.force_authenticate(user=staff_user)

    def probes() -> int:
        return sum(t.name == "health-probe" and t.is_alive() for t in threading.enumerate())

    before = probes()
    with trickling_port() as port:
        settings.JOB_LOCK_REDIS_URL = f"redis://127.0.0.1:{port}/0"
        for _ in range(4):
            response, error, seconds = run_bounded(lambda: api.get("/api/v1/health"), timeout=30)
            assert error is None, error
            assert seconds < budget + 1.5, f"health took {seconds:.1f} s (budget {budget} s)"
            worker = response.json()["checks"]["worker"]
            assert worker["detail"]["state"] == "unknown" and "budget" in worker["detail"]["error"], worker
        assert probes() - before == 1  # the trickled liveness read; the broker's (this run's Redis) ended


def test_jobs_status_reads_the_liveness_store_within_the_enqueue_budget(api, hung_redis, settings):
    settings.JOB_ENQUEUE_TIMEOUT = 1.0
    response, error, seconds = run_bounded(lambda: api.get("/api/v1/jobs/status"), timeout=60)
    assert error is None, error
    assert response.status_code == 200
    assert seconds < 3.5, f"jobs/status took {seconds:.1f} s with Redis hung"  # 5.4 s before
    liveness = response.json()["liveness"]
    assert liveness["detail"] == "liveness store unreadable"
    assert liveness["worker"]["status"] == liveness["beat"]["status"] == "unknown"
