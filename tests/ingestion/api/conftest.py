"""The API fixtures of tests/drf_support.py for every test here: `clean_cache` (autouse: an empty
cache, a closed breaker, relaxed throttles), `api`, `staff_user`, `fan_user`, `staff_api`."""

from tests.drf_support import api, clean_cache, fan_user, staff_api, staff_user  # noqa: F401 - fixtures
