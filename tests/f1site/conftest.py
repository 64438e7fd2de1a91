"""Fixtures for the f1site API plumbing tests: a clean cache and breaker, and a DRF client."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from f1site import cache as f1cache


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    f1cache._local_copies.clear()
    f1cache.breaker.reset()
    yield
    f1cache.breaker.reset()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def tight_anon_rate(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "100/min", "expensive": "100/min"},
    }
