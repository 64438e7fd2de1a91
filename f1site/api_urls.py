"""Everything under /api/v1/. Each app contributes its routes from <app>/api/urls.py.

Staff tokens: POST {"username", "password"} to auth/token/ -> {"access", "refresh"} (JWT, HS256 by
default: JWT_ALGORITHM); send `Authorization: Bearer <access>`; refresh at auth/token/refresh/.
"""

from django.urls import include, path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from f1site.api import error_responses, lockout_response


class TokenObtainView(TokenObtainPairView):
    """simplejwt's token view, answering a django-axes lockout as 429 `locked_out`.

    axes flags the lockout on the request it was handed, which here is DRF's wrapper, so its
    middleware never sees it and the client got the same 401 as for a wrong password: a locked-out
    staff user had no way to tell that the right password was being refused.
    """

    def handle_exception(self, exc):
        if getattr(self.request, "axes_locked_out", False):
            return lockout_response()
        return super().handle_exception(exc)


# simplejwt's serializers add `access` / `refresh` in validate(), not as fields, so the schema built
# from them had no 200 body and a client generated from it no type for the login answer.
class TokenPairOut(serializers.Serializer):
    access = serializers.CharField(help_text="Access token (JWT): send `Authorization: Bearer <access>`")
    refresh = serializers.CharField(help_text="Refresh token (JWT): POST it to auth/token/refresh/")


class TokenAccessOut(serializers.Serializer):
    access = serializers.CharField(help_text="A new access token (JWT); the refresh token stays valid")


token_obtain = extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_obtain",
        summary="Obtain a JWT pair (access + refresh) for a user; writes need a staff user",
        description=(
            "Takes a user's credentials and returns an access and refresh JSON web token pair. "
            "After AXES_FAILURE_LIMIT failed logins for an account from one address, answers 429 "
            "`locked_out` (with Retry-After) until the cool-off ends, even for the right password."
        ),
        responses={200: TokenPairOut, **error_responses(400, 401, 413, 429)},
    )
)(TokenObtainView)
token_refresh = extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_refresh",
        summary="Exchange a refresh token for a new access token",
        responses={200: TokenAccessOut, **error_responses(400, 401, 413, 429)},
    )
)(TokenRefreshView)

urlpatterns = [
    path("auth/token/", token_obtain.as_view(), name="api-token"),
    path("auth/token/refresh/", token_refresh.as_view(), name="api-token-refresh"),
    path("", include("ingestion.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("analytics.api.urls")),
]
