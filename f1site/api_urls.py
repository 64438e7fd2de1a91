"""Everything under /api/v1/. Each app contributes its routes from <app>/api/urls.py.

Staff tokens: POST {"username", "password"} to auth/token/ -> {"access", "refresh"} (JWT, HS256 by
default: JWT_ALGORITHM); send `Authorization: Bearer <access>`; refresh at auth/token/refresh/.
"""

from django.contrib.auth import get_user_model
from django.urls import include, path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from f1site.api import DeclaredParamsOnlyMixin, error_responses, lockout_response


class TokenObtainView(DeclaredParamsOnlyMixin, TokenObtainPairView):
    """simplejwt's token view, answering a django-axes lockout as 429 `locked_out`.

    axes flags the lockout on the request it was handed, which here is DRF's wrapper, so its
    middleware never sees it and the client got the same 401 as for a wrong password: a locked-out
    staff user had no way to tell that the right password was being refused.
    """

    def handle_exception(self, exc):
        if getattr(self.request, "axes_locked_out", False):
            return lockout_response()
        return super().handle_exception(exc)


class TokenRefreshRevokingSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, refusing what its authentication refuses.

    Its refresh serializer checks neither the password-change claim (`CHECK_REVOKE_TOKEN`) nor a
    deleted user: a refresh token issued before a password change still minted access tokens (each
    refused on use, but a 200 told the holder the token was good), and one whose user was deleted
    raised DoesNotExist, a 500.
    """

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # TokenError -> the view's 401 token_not_valid
        user_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
        user = get_user_model().objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).first()
        if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account")
        claimed = refresh.payload.get(jwt_settings.REVOKE_TOKEN_CLAIM)
        if jwt_settings.CHECK_REVOKE_TOKEN and claimed != get_md5_hash_password(user.password):
            raise AuthenticationFailed("The user's password has been changed.", "password_changed")
        return super().validate(attrs)


class TokenRefreshRevokingView(DeclaredParamsOnlyMixin, TokenRefreshView):
    serializer_class = TokenRefreshRevokingSerializer


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
        description=(
            "401 `token_not_valid` for an invalid or expired token, `password_changed` when the "
            "user's password changed after it was issued, `no_active_account` when the user was "
            "deactivated or deleted."
        ),
        request=TokenRefreshSerializer,  # upstream's, which drf-spectacular's simplejwt extension types
        responses={200: TokenAccessOut, **error_responses(400, 401, 413, 429)},
    )
)(TokenRefreshRevokingView)

urlpatterns = [
    path("auth/token/", token_obtain.as_view(), name="api-token"),
    path("auth/token/refresh/", token_refresh.as_view(), name="api-token-refresh"),
    path("", include("ingestion.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("analytics.api.urls")),
]
