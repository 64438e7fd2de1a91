"""What the README's Redis memory advice (Caching: "Memory and eviction") rests on, checked on the
real Redis: every cached body expires by itself (so `volatile-lru` may evict it), the list families'
generation counters never do (so eviction cannot reset one to 0 and bring back a retired entry), and
a job lock expires too (so the Redis holding the locks must never evict: `noeviction`)."""

from __future__ import annotations

import os
import uuid

import pytest
from django.core.cache import cache

from f1site import cache as f1cache
from ingestion.services.jobs import JobLock, redis_client_for
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend"),
]


def _ttl(key: str) -> int:
    """Redis TTL of a Django cache key: -1 = never expires, -2 = absent."""
    return cache.client.get_client().ttl(cache.make_key(key))


def test_bodies_expire_and_generation_counters_never_do(api, ergast_data):
    # a clock answer: one entry per distinct clock, the kind whose number nothing bounds
    assert api.get("/api/v1/races?season=2024&as_of=2024-06-01").status_code == 200
    bodies = cache.keys("f1:races:2024:g*")
    assert bodies and all(_ttl(key) > 0 for key in bodies), {key: _ttl(key) for key in bodies}

    f1cache.bump_families(["races:2024"])
    generation = "f1:gen:races:2024"
    assert cache.get(generation) == 1
    assert _ttl(generation) == -1


def test_a_job_lock_expires_so_its_redis_must_not_evict(settings):
    lock = JobLock(f"eviction-check-{uuid.uuid4().hex}", ttl=60)
    assert lock.acquire()
    try:
        ttl_ms = redis_client_for(settings.JOB_LOCK_REDIS_URL).pttl(lock.key)
        assert 0 < ttl_ms <= 60_000
    finally:
        lock.release()
