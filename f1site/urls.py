from csp.decorators import csp_update
from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from f1site import ops_views
from f1site.api import UnknownEndpointView

handler400 = "f1site.api.bad_request"
handler403 = "f1site.api.permission_denied"
handler404 = "f1site.api.page_not_found"
handler500 = "f1site.api.server_error"


def _api_docs_policy(**additions: list[str]):
    """The site's Content-Security-Policy (f1site/settings.py) widened by `additions` for one API
    docs page, through django-csp's `csp_update`, on whichever header is sent (enforcing, or
    report-only with CSP_REPORT_ONLY). The bundles come from this site (drf-spectacular-sidecar),
    so scripts stay 'self' only — Swagger UI's start-up script too, a file served by the split view
    at `?script` (the plain view inlines it) — and so do connections (Swagger UI's "Try it out").
    Images stay this site's plus the data: icons the bundles draw: at run time Redoc's footer logo
    would come from cdn.redoc.ly (refused: Redoc then hides it) and Swagger UI's validator badge (off
    in settings) from validator.swagger.io with the schema's URL."""
    directives = {name.replace("_", "-"): values for name, values in additions.items()}

    def decorate(view):
        return csp_update(directives)(csp_update(directives, REPORT_ONLY=True)(view))

    return decorate


# What each page needs beyond the site's policy, measured in Chromium (tests/browser/test_csp_browser.py):
# Swagger UI only its data: icons (its page's inline <style> is a file here,
# templates/drf_spectacular/swagger_ui.html; React sets its style attributes through the DOM,
# which the policy allows). Redoc styles itself with styled-components, which writes <style>
# elements at run time ('unsafe-inline' styles, on this page only: no nonce can reach its bundle),
# and builds its search index in a Worker made from a blob: URL.
_swagger_policy = _api_docs_policy(img_src=["data:"])
_redoc_policy = _api_docs_policy(style_src=["'unsafe-inline'"], img_src=["data:"], worker_src=["blob:"])


def _favicon(request):
    """Browsers ask for /favicon.ico wherever a page names no icon (the admin, the API docs, a JSON
    answer opened in a tab): the site's icon, not a 404 page per first visit. Resolved per request,
    as the manifest's hashed name is known only once collectstatic has run."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


urlpatterns = [
    path("favicon.ico", _favicon),
    path("admin/", admin.site.urls),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/v1/", include("f1site.api_urls")),
    re_path(r"^api/v1/", UnknownEndpointView.as_view(), name="api-unknown"),  # JSON 404, after every route
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        _swagger_policy(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        _redoc_policy(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
    path("", include("analytics.urls")),
]
