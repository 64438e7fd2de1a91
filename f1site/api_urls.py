"""Everything under /api/v1/. Each app contributes its routes from <app>/api/urls.py."""

from django.urls import include, path

urlpatterns = [
    path("", include("ingestion.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("analytics.api.urls")),
]
