from functools import wraps

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from f1site import ops_views
from f1site.api import UnknownEndpointView

handler400 = "f1site.api.bad_request"
handler403 = "f1site.api.permission_denied"
handler404 = "f1site.api.page_not_found"
handler500 = "f1site.api.server_error"


def _images_from_this_site_only(view):
    """The docs bundles (drf-spectacular-sidecar) are served from here, but at run time Redoc draws
    its footer logo from cdn.redoc.ly, and Swagger UI's validator badge (off in settings, kept off
    here too) would load from validator.swagger.io with the schema's URL: a Content-Security-Policy
    on images alone keeps both pages from reaching another site, leaving scripts and styles as the
    bundles need them."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = "img-src 'self' data: blob:"
        return response

    return wrapper


urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/v1/", include("f1site.api_urls")),
    re_path(r"^api/v1/", UnknownEndpointView.as_view(), name="api-unknown"),  # JSON 404, after every route
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        _images_from_this_site_only(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        _images_from_this_site_only(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
    path("", include("analytics.urls")),
]
