"""Request id: accepted from X-Request-ID (if sane) or generated, bound to every log line, echoed back.
The pages' mapping of domain errors (f1site.errors) to Http404.
The replay of refused cache invalidations once this process's cache breaker closes (f1site.cache).
The Content-Security-Policy header (django-csp), with a document-less policy for responses that are not HTML.

(Gunicorn workers freeze their startup heap in gunicorn.conf.py `post_worker_init`, not here.)
"""

from __future__ import annotations

import re
import uuid

from csp.constants import NONE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import Http404

from f1site.cache import breaker, cache_invalidations_replay_due
from f1site.errors import NotFound
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


class CacheReplayMiddleware:
    """After the request during which this process's cache breaker closed (Redis answers again after
    an outage), replay the invalidations any process could not send meanwhile — see
    f1site.cache.cache_invalidations_replay_due. Otherwise one attribute read: no query, no command."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if breaker.replay_due:  # set while this request's cache command closed the breaker
            cache_invalidations_replay_due()
        return response


class DomainErrorMiddleware:
    """The pages' translation of f1site.errors: a selector's NotFound becomes Http404, so Django
    answers with the site's 404 page (f1site.api.page_not_found; JSON under /api/) naming what is
    missing. DRF views never get here: their exception handler maps it first (f1site/api.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotFound):
            # Raised, not answered: Django's handler renders Http404 as for any view (the DEBUG
            # technical page included).
            raise Http404(str(exception)) from exception
        return None


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (the policy: CONTENT_SECURITY_POLICY in f1site/settings.py, widened
    per view with its decorators, as the API docs pages are). A response that is not HTML — the
    JSON API and its errors, the OpenAPI schema, /metrics — gets `default-src 'none';
    frame-ancestors 'none'` instead: it is never a page that loads anything, so should a browser
    ever render one (opened directly, or framed by another site) nothing in it may load or run.
    A 304 gets no policy: the browser merges a 304's headers into the response it has cached, which
    keeps its own (the API's 304s say text/html, and would have given a cached JSON answer the
    page policy)."""

    def process_response(self, request, response):
        if response.status_code == 304:
            return response
        return super().process_response(request, response)

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request=request, response=response, report_only=report_only)
        name = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
        configured = getattr(settings, name, None)
        if configured and parts.config is None and not _is_html(response):
            parts.config = {
                "default-src": [NONE],
                "frame-ancestors": [NONE],
                "report-uri": configured["DIRECTIVES"].get("report-uri"),
            }
        return parts


def _is_html(response) -> bool:
    content_type = response.get("Content-Type")
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in {"text/html", "application/xhtml+xml"}
