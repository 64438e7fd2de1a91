"""Authentication for an endpoint that answers everyone and tells staff more: /health.

DRF authenticates before any view runs, and simplejwt refuses a token it cannot use (expired,
malformed, signed with another key, of a user whose password changed or who is gone) with a 401
`token_not_valid` even on a public read. That is the API's rule (README, Auth), but for /health it
turned a monitor or a browser holding a stale token into "the site is down". Here an unusable token
counts as no token: the caller gets the public view; a valid staff token still gets the staff view.
"""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.drainage import set_override
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication


class JWTOrAnonymousAuthentication(JWTAuthentication):
    # Read by f1site.api.openapi_token_errors: an operation authenticated by this class lists no
    # 401 (a comment, not a docstring: drf-spectacular publishes docstrings).
    unusable_token_is_anonymous = True

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed:  # simplejwt's InvalidToken is one
            return None


class JWTOrAnonymousScheme(SimpleJWTScheme):
    """drf-spectacular: the same `jwtAuth` security scheme as simplejwt's own class (its extension
    matches that class only, not subclasses; without this the schema build warns and fails)."""

    target_class = "f1site.authentication.JWTOrAnonymousAuthentication"


# Both classes register the one `jwtAuth` scheme, with the same definition; drf-spectacular warns on
# two classes behind one component name unless told they are meant to share it (as its own helpers do).
set_override(JWTOrAnonymousAuthentication, "suppress_collision_warning", True)
