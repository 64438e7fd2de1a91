"""Dropping the dashboards' cached pages and analytics after new data lands.

Pages and analytics expire on their own (CACHE_TTL_DYNAMIC / CACHE_TTL_STANDINGS); a sync or a
prediction run that wants fans to see its result at once calls `dashboard_cache_clear()`.
"""

from __future__ import annotations

from django.core.cache import cache

from f1site.cache import local_cache_stamp_touch

DASHBOARD_KEY_PATTERNS = ("f1:page:*", "f1:analytics:*", "f1:standings:*")


def dashboard_cache_clear() -> None:
    """Delete every cached dashboard page, analytics dict and standings table."""
    if hasattr(cache, "delete_pattern"):  # django-redis: only our keys, other caches untouched
        for pattern in DASHBOARD_KEY_PATTERNS:
            cache.delete_pattern(pattern)
    else:  # the embedded in-process cache has no pattern delete; it only holds this process's keys
        cache.clear()
        local_cache_stamp_touch()  # and the web process's copy is dropped on its next request
