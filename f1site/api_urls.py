"""Everything under /api/v1/. Each app contributes its routes from <app>/api/urls.py.

Staff tokens: POST {"username", "password"} to auth/token/ -> {"access", "refresh"} (JWT, HS256 by
default: JWT_ALGORITHM); send `Authorization: Bearer <access>`; refresh at auth/token/refresh/.
"""

from django.urls import include, path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from f1site.api import error_responses

token_obtain = extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_obtain",
        summary="Obtain a JWT pair (access + refresh) for a user; writes need a staff user",
        responses={200: TokenObtainPairView.serializer_class, **error_responses(400, 401, 413, 429)},
    )
)(TokenObtainPairView)
token_refresh = extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_refresh",
        summary="Exchange a refresh token for a new access token",
        responses={200: TokenRefreshView.serializer_class, **error_responses(400, 401, 413, 429)},
    )
)(TokenRefreshView)

urlpatterns = [
    path("auth/token/", token_obtain.as_view(), name="api-token"),
    path("auth/token/refresh/", token_refresh.as_view(), name="api-token-refresh"),
    path("", include("ingestion.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("analytics.api.urls")),
]
