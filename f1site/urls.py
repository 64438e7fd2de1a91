from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from f1site import ops_views
from f1site.api import UnknownEndpointView

handler400 = "f1site.api.bad_request"
handler403 = "f1site.api.permission_denied"
handler404 = "f1site.api.page_not_found"
handler500 = "f1site.api.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/v1/", include("f1site.api_urls")),
    re_path(r"^api/v1/", UnknownEndpointView.as_view(), name="api-unknown"),  # JSON 404, after every route
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include("analytics.urls")),
]
