"""Dropping the dashboards' cached pages and analytics after new data lands.

Pages and analytics expire on their own (CACHE_TTL_DYNAMIC / CACHE_TTL_STANDINGS); a sync or a
prediction run that wants fans to see its result at once calls `dashboard_cache_clear()`.
"""

from __future__ import annotations

from f1site.cache import cache_invalidate

DASHBOARD_KEY_PATTERNS = ("f1:page:*", "f1:analytics:*", "f1:standings:*")


def dashboard_cache_clear() -> None:
    """Delete every cached dashboard page, analytics dict and standings table.

    django-redis: only our keys (SCAN by pattern), other caches untouched; if Redis refuses, the
    clear is kept in the database and replayed (f1site.cache.cache_invalidate). The embedded
    in-process cache has no pattern delete but only holds this process's keys: cleared whole, and
    the stamp makes the web process drop its copy on its next request."""
    cache_invalidate(patterns=DASHBOARD_KEY_PATTERNS)
