"""Shared helpers for the ingestion tests (a plain module, not a conftest).

`fast_http` and `clean_breakers` are autouse fixtures: they apply to the tests of a module or conftest
that imports them (tests/ingestion/services/conftest.py, so every test there, and a few modules
elsewhere that test the same sources: tests/ingestion/api/test_jobs_status.py,
tests/ingestion/test_admin_pipeline.py, tests/ingestion/test_openf1_weather_clients.py).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fast_http(settings):
    """Fast HTTP retries and no OpenF1 rate budget to wait for."""
    settings.HTTP_MAX_RETRIES = 2
    settings.HTTP_BACKOFF_BASE = 0.01
    settings.HTTP_BACKOFF_MAX = 0.02
    settings.HTTP_READ_TIMEOUT = 2.0
    settings.OPENF1_RATE_LIMIT = "1000/s"


@pytest.fixture(autouse=True)
def clean_breakers():
    """The OpenF1 live breaker (and the tests' own) closed before and after each test."""
    cache.delete_many(["pitwall:breaker:openf1-live", "pitwall:breaker:test"])
    yield
    cache.delete_many(["pitwall:breaker:openf1-live", "pitwall:breaker:test"])
