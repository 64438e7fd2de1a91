"""Fixtures for the f1site tests: a clean cache and breaker (autouse), the API fixtures of
tests/drf_support.py (a DRF client, staff and fan users with JWTs) and `private_redis`
(tests/f1site/helpers.py), for the tests that request them.

The API-level tests here (test_cache, test_cache_invalidation, test_http_contract, test_schema)
import tests/drf_support.py's `clean_cache`, which overrides this one for their module: it also
relaxes the throttles."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from f1site import cache as f1cache
from tests.drf_support import api, fan_user, staff_api, staff_user  # noqa: F401 - fixtures
from tests.f1site.helpers import private_redis  # noqa: F401 - fixture


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    f1cache._local_copies.clear()
    f1cache.breaker.reset()
    yield
    f1cache.breaker.reset()


@pytest.fixture
def tight_anon_rate(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "100/min", "expensive": "100/min"},
    }
