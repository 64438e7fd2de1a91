"""Request id: accepted from X-Request-ID (if sane) or generated, bound to every log line, echoed back.
The pages' mapping of domain errors (f1site.errors) to Http404.
The replay of refused cache invalidations once this process's cache breaker closes (f1site.cache).
The Content-Security-Policy header (django-csp), with a document-less policy for responses that are not HTML.

(Gunicorn workers freeze their startup heap in gunicorn.conf.py `post_worker_init`, not here.)
"""

from __future__ import annotations

import re
import uuid

from csp.constants import HEADER, HEADER_REPORT_ONLY, NONE
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse

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
        if not _csp_headers_are_static(request, response):
            return super().process_response(request, response)
        # The common case — no view's own policy, no nonce — gets the same headers every time, built
        # once per process by the library itself (`_csp_static_headers`): building them per response
        # (a deep copy of the policy, twice) cost the warm API ~7 % of its requests/s (bench_api).
        for header, value in self._static_headers(html=_is_html(response)):
            if header not in response:
                response[header] = value
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # as the library does
        return response

    def _static_headers(self, *, html: bool) -> list[tuple[str, str]]:
        headers = _csp_static_headers.get(html)
        if headers is None:
            sample = HttpResponse(content_type="text/html" if html else "application/json")
            super().process_response(HttpRequest(), sample)
            headers = _csp_static_headers[html] = [
                (h, sample[h]) for h in (HEADER, HEADER_REPORT_ONLY) if h in sample
            ]
        return headers

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


# The policy headers of a response without per-view policy or nonce, by whether it is HTML; emptied
# whenever a CSP setting changes (override_settings in tests).
_csp_static_headers: dict[bool, list[tuple[str, str]]] = {}
# What django-csp's decorators (csp_update, csp_replace, a per-view config, csp_exempt) leave on a response.
_PER_VIEW_POLICY = tuple(
    f"_csp_{kind}{suffix}" for kind in ("config", "update", "replace", "exempt") for suffix in ("", "_ro")
)


def _csp_headers_are_static(request, response) -> bool:
    """Whether the response's policy headers are the process-wide ones: no nonce asked for, no view's
    own policy, no excluded URL prefixes, not a DEBUG error page (which the library leaves alone)."""
    if getattr(request, "_csp_nonce", None) is not None:
        return False
    if any(hasattr(response, name) for name in _PER_VIEW_POLICY):
        return False
    if settings.DEBUG and response.status_code in (404, 500):
        return False
    return not any(
        (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
        for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY")
    )


@receiver(setting_changed)
def _csp_setting_changed(*, setting, **kwargs) -> None:
    if setting in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "DEBUG"):
        _csp_static_headers.clear()


def _is_html(response) -> bool:
    content_type = response.get("Content-Type")
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in {"text/html", "application/xhtml+xml"}
