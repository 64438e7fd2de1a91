"""Everything under /api/v1/. Each app contributes its routes from <app>/api/urls.py."""

from django.urls import include, path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

urlpatterns = [
    path("auth/token/", TokenObtainPairView.as_view(), name="api-token"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="api-token-refresh"),
    path("", include("ingestion.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("analytics.api.urls")),
]
