"""Request id: accepted from X-Request-ID (if sane) or generated, bound to every log line, echoed back.

(Gunicorn workers freeze their startup heap in gunicorn.conf.py `post_worker_init`, not here.)
"""

from __future__ import annotations

import re
import uuid

from f1site.logging import bind_log_context, log_context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = bind_log_context(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            log_context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class LocalCacheSyncMiddleware:
    """Embedded mode only (no Redis): drop this process's cache when another process (a management
    command) has invalidated data since the previous request — see f1site.cache.local_cache_sync."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from f1site.cache import local_cache_sync

        local_cache_sync()
        return self.get_response(request)
