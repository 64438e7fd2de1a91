"""Request id: accepted from X-Request-ID (if sane) or generated, bound to every log line, echoed back.

Also freezes the process's startup heap after its first request (`_freeze_startup_heap`).
"""

from __future__ import annotations

import gc
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
        if not _heap_frozen:
            _freeze_startup_heap()
        return response


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Move everything alive after the first request (Django, DRF, the URLconf, the views and the
    libraries they import: ~250k objects) out of the cyclic collector's reach.

    Why: a full (generation 2) collection walks every tracked object; with that startup heap it
    took ~150 ms and ran every few hundred uncached requests, which made those the p99. Frozen
    objects are still freed by reference counting; only cycles among them would never be
    collected, hence one collection first. Runs once per process (each gunicorn worker)."""
    global _heap_frozen
    _heap_frozen = True
    gc.collect()
    gc.freeze()
