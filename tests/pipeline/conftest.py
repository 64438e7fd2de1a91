"""Pipeline test helpers: fast HTTP settings, a clean OpenF1 breaker/rate budget per test."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fast_http(settings):
    settings.HTTP_MAX_RETRIES = 2
    settings.HTTP_BACKOFF_BASE = 0.01
    settings.HTTP_BACKOFF_MAX = 0.02
    settings.HTTP_READ_TIMEOUT = 2.0
    settings.OPENF1_RATE_LIMIT = "1000/s"


@pytest.fixture(autouse=True)
def _clean_breakers():
    cache.delete_many(["pitwall:breaker:openf1-live", "pitwall:breaker:test"])
    yield
    cache.delete_many(["pitwall:breaker:openf1-live", "pitwall:breaker:test"])
