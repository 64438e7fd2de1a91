"""GET health with a token it cannot use: the public view, never a 401.

A probe or a browser that kept a stale JWT used to get 401 `token_not_valid` from /health (DRF
authenticates before any view runs), which a monitor reads as the site being down. Health now
treats an expired, malformed, foreign, revoked or orphaned token as no token; a valid staff token
still sees the staff detail. Real tokens (simplejwt's, PyJWT for a foreign key), real Redis for the
worker's heartbeat whose hostname only staff may see.
"""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from ingestion.services import liveness
from tests.drf_support import token_for

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not settings.REDIS_URL, reason="the worker's heartbeat is read from Redis (REDIS_URL)"
    ),
]

HOSTNAME = "worker@db-host-7.internal"  # staff-only detail: who the worker is


@pytest.fixture
def heartbeat():
    """A worker heartbeat whose hostname /health shows to staff only."""

    def clear():
        client = liveness._redis()
        if client is not None:
            client.delete(liveness.WORKERS_KEY, liveness.BEAT_KEY)

    clear()
    liveness.worker_heartbeat_record(hostname=HOSTNAME)
    yield
    clear()


def _health(authorization: str | None):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get("/api/v1/health")


def _expired(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))  # expired a minute ago
    return str(token)


def _assert_public_view(response) -> None:
    assert response.status_code in (200, 503), response.content[:300]  # the checks' verdict, not auth's
    body = response.json()
    assert set(body) == {"status", "checks", "cache", "alerts"}
    assert body["checks"]["worker"]["detail"]["name"] == ""  # the anonymous view
    assert HOSTNAME not in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def test_an_expired_staff_token_gets_the_public_health(heartbeat, staff_user):
    token = _expired(staff_user)
    # the same token is refused on another public read: only health lets it through, as anonymous
    refused = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/races")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_not_valid"
    assert "expired" in refused.content.decode()

    response = _health(f"Bearer {token}")
    _assert_public_view(response)
    anonymous = _health(None)
    assert response.status_code == anonymous.status_code
    assert response.json()["checks"].keys() == anonymous.json()["checks"].keys()


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not.a.jwt",  # malformed
        "Bearer ",  # no token after the type
        "Bearer two tokens",  # simplejwt: "must contain two space-delimited values"
        "foreign",  # a well-formed token signed with another key
    ],
)
def test_an_unusable_token_gets_the_public_health(heartbeat, staff_user, authorization):
    if authorization == "foreign":
        payload = dict(AccessToken.for_user(staff_user).payload)
        authorization = "Bearer " + jwt.encode(payload, "not-the-site-key-" * 4, algorithm="HS256")
        assert APIClient(HTTP_AUTHORIZATION=authorization).get("/api/v1/races").status_code == 401
    _assert_public_view(_health(authorization))


@pytest.mark.parametrize("ending", ["password_changed", "deactivated", "deleted"])
def test_a_token_of_a_changed_or_gone_user_gets_the_public_health(heartbeat, staff_user, ending):
    """Valid signature and lifetime, but simplejwt refuses the user (a 401 elsewhere)."""
    token = token_for(APIClient(), staff_user.username)
    if ending == "password_changed":
        staff_user.set_password("another-horse-battery-staple")
        staff_user.save()
    elif ending == "deactivated":
        staff_user.is_active = False
        staff_user.save()
    else:
        staff_user.delete()
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/races").status_code == 401
    _assert_public_view(_health(f"Bearer {token}"))


def test_a_valid_staff_token_still_gets_the_staff_detail(heartbeat, staff_user, fan_user):
    response = _health(f"Bearer {token_for(APIClient(), staff_user.username)}")
    assert response.status_code in (200, 503)
    assert response.json()["checks"]["worker"]["detail"]["name"] == HOSTNAME
    # a valid token of a non-staff user is the public view, as before
    _assert_public_view(_health(f"Bearer {token_for(APIClient(), fan_user.username)}"))
