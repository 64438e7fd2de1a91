"""HTTP semantics of /api/v1: validators and 304s, CORS, throttling, auth, abuse resistance.

The NUL-byte and 2^63 cases are fixed regression tests (schemathesis found this class of bug).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import yaml
from django.test import Client, override_settings

from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles

pytestmark = pytest.mark.django_db

BIG = str(2**63)


# --- conditional requests -------------------------------------------------------------------------
def test_etag_and_last_modified_give_304(api, ergast_data):
    first = api.get("/api/v1/races", {"season": 2024})
    assert first.status_code == 200
    etag, last_modified = first["ETag"], first["Last-Modified"]
    assert etag.startswith('"') and last_modified.endswith("GMT")

    again = api.get("/api/v1/races", {"season": 2024}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag

    since = api.get("/api/v1/races", {"season": 2024}, HTTP_IF_MODIFIED_SINCE=last_modified)
    assert since.status_code == 304

    stale = api.get("/api/v1/races", {"season": 2024}, HTTP_IF_NONE_MATCH='"not-the-tag"')
    assert stale.status_code == 200 and stale.content == first.content

    old = api.get("/api/v1/races", {"season": 2024}, HTTP_IF_MODIFIED_SINCE="Mon, 01 Jan 2001 00:00:00 GMT")
    assert old.status_code == 200


def test_garbage_if_modified_since_is_ignored(api, ergast_data):
    assert api.get("/api/v1/standings", HTTP_IF_MODIFIED_SINCE="yesterday-ish\x00").status_code == 200


# --- CORS ----------------------------------------------------------------------------------------
def test_cors_allows_only_the_configured_frontend(api, ergast_data, settings):
    assert settings.CORS_ALLOWED_ORIGINS == ["http://localhost:3001"]
    ok = api.get("/api/v1/races", HTTP_ORIGIN="http://localhost:3001")
    assert ok["Access-Control-Allow-Origin"] == "http://localhost:3001"
    # the frontend can read the headers it needs cross-origin (ETag for 304s, Retry-After, a job's
    # Location, the request id); without this a browser hides them from its scripts
    exposed = {h.strip().lower() for h in ok["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "last-modified", "location", "retry-after", "x-request-id"} <= exposed
    assert ok.has_header("ETag")
    evil = api.get("/api/v1/races", HTTP_ORIGIN="http://evil.example")
    assert "Access-Control-Allow-Origin" not in evil
    preflight = api.options(
        "/api/v1/races",
        HTTP_ORIGIN="http://localhost:3001",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    assert preflight["Access-Control-Allow-Origin"] == "http://localhost:3001"


def test_cors_preflight_allows_the_conditional_request_headers(api, ergast_data):
    """A browser script revalidating with the exposed ETag / Last-Modified sends If-None-Match /
    If-Modified-Since, which are not CORS-safelisted: the preflight must allow them (it listed only
    django-cors-headers' defaults, so the browser refused the request), and the request itself then
    gets its 304 with the CORS header."""
    from corsheaders.defaults import default_headers

    preflight = api.options(
        "/api/v1/races?limit=1",
        HTTP_ORIGIN="http://localhost:3001",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="if-none-match, if-modified-since",
    )
    assert preflight.status_code == 200
    allowed = {h.strip().lower() for h in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"if-none-match", "if-modified-since"} <= allowed
    assert set(default_headers) <= allowed  # the defaults (authorization, content-type, …) kept
    first = api.get("/api/v1/races?limit=1", HTTP_ORIGIN="http://localhost:3001")
    again = api.get(
        "/api/v1/races?limit=1", HTTP_ORIGIN="http://localhost:3001", HTTP_IF_NONE_MATCH=first["ETag"]
    )
    assert again.status_code == 304
    assert again["Access-Control-Allow-Origin"] == "http://localhost:3001"


# --- throttling ----------------------------------------------------------------------------------
def test_anonymous_throttle_answers_429_with_retry_after(api, ergast_data, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "100/min"},
    }
    statuses = [api.get("/api/v1/drivers").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get("/api/v1/drivers")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"
    # the body says it too, for clients that read JSON only (QA M14)
    assert response.json()["error"]["details"]["retry_after"] == int(response["Retry-After"])
    # Another client (different address) is not affected; a forged X-Forwarded-For does not help.
    assert api.get("/api/v1/drivers", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert api.get("/api/v1/drivers", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_user_throttle_is_separate(staff_api, ergast_data, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1/min", "user": "2/min"},
    }
    statuses = [staff_api.get("/api/v1/teams").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# --- auth ----------------------------------------------------------------------------------------
def test_reads_are_public_writes_need_auth(api, ergast_data):
    assert api.get("/api/v1/races").status_code == 200
    assert api.post("/api/v1/predictions/race/2025_4", {}, format="json").status_code == 401


def test_a_method_no_one_may_use_is_405_before_auth(api, staff_api, ergast_data):
    # DRF checks permissions before it looks for a handler: an anonymous DELETE got 401.
    job = "/api/v1/predictions/jobs/1-" + "0" * 32
    for client in (api, staff_api):
        for method, path in (
            (client.delete, "/api/v1/races"),
            (client.post, "/api/v1/races"),
            (client.put, job),
        ):
            response = method(path)
            assert response.status_code == 405, (method, path, response.content[:200])
            assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/predictions/what-if/2025_bahrain"),  # the QA case: 404 "Not found." before
        ("post", "/api/v1/predictions/race/2025_bahrain"),
        ("get", "/api/v1/races"),
        ("get", "/api/v1/races/2025_bahrain"),
        ("get", "/api/v1/predictions/upcoming"),
        ("get", "/api/v1/standings"),
    ],
)
def test_an_unknown_format_is_406_not_acceptable_in_the_error_shape(
    api, staff_api, ergast_data, method, path
):
    for client in (api, staff_api):
        response = getattr(client, method)(f"{path}?format=xml", {"grid": []}, format="json")
        assert response.status_code == 406, (path, response.content[:200])
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "error": {
                "code": "not_acceptable",
                "message": "Unsupported format 'xml': this endpoint answers format=json (or leave format out).",
                "details": {},
            }
        }
    # the one format it has, and an unsatisfiable Accept header, behave as before
    if method == "get":
        assert api.get(f"{path}?format=json").status_code == 200
    response = api.get("/api/v1/races", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406 and response.json()["error"]["code"] == "not_acceptable"


def test_jwt_token_flow(api, staff_user):
    response = api.post(
        "/api/v1/auth/token/",
        {"username": "steward", "password": "correct-horse-battery-staple", "is_staff": True, "id": 1},
        format="json",
    )
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    header = json.loads(__import__("base64").urlsafe_b64decode(tokens["access"].split(".")[0] + "=="))
    assert header["alg"] == "HS256"
    bad = api.post("/api/v1/auth/token/", {"username": "steward", "password": "nope"}, format="json")
    assert bad.status_code == 401
    assert set(bad.json()["error"]) == {"code", "message", "details"}


def test_the_token_answers_are_the_schema_s(api, staff_user):
    """The schema's 200s for auth/token/ and auth/token/refresh/ said "No response body" (simplejwt
    adds the tokens in validate(), not as fields): a client generated from it had no login type.
    Each real answer now has exactly the declared, required properties."""
    from pathlib import Path

    import yaml

    schema = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())

    def declared(path: str) -> set[str]:
        ref = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        component = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]
        assert set(component["required"]) == set(component["properties"])
        return set(component["properties"])

    pair = api.post(
        "/api/v1/auth/token/",
        {"username": "steward", "password": "correct-horse-battery-staple"},
        format="json",
    )
    assert pair.status_code == 200 and set(pair.json()) == declared("/api/v1/auth/token/") == {
        "access",
        "refresh",
    }
    refreshed = api.post("/api/v1/auth/token/refresh/", {"refresh": pair.json()["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == declared("/api/v1/auth/token/refresh/") == {"access"}


def test_a_password_change_ends_the_tokens_issued_before_it(api, staff_user):
    """Security QA: after a password change the old refresh token still minted access tokens and the
    old access token still worked."""
    credentials = {"username": "steward", "password": "correct-horse-battery-staple"}
    pair = api.post("/api/v1/auth/token/", credentials, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert api.get("/api/v1/races").status_code == 200

    staff_user.set_password("a-new-long-passphrase-42")
    staff_user.save()
    old_access = api.get("/api/v1/races")
    assert old_access.status_code == 401
    assert "password has been changed" in old_access.json()["error"]["message"]
    api.credentials()
    minted = api.post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    # simplejwt's own refresh minted a (useless) access token here with a 200
    assert minted.status_code == 401, minted.content
    assert minted.json()["error"]["code"] == "password_changed"
    assert "access" not in minted.json()
    api.credentials()
    fresh = api.post(
        "/api/v1/auth/token/", {**credentials, "password": "a-new-long-passphrase-42"}, format="json"
    ).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    assert api.get("/api/v1/races").status_code == 200


@pytest.mark.parametrize("ending", ["deactivated", "deleted"])
def test_a_refresh_token_of_a_gone_user_answers_401(api, staff_user, ending):
    """simplejwt's refresh raised DoesNotExist (a 500) for a deleted user's refresh token."""
    credentials = {"username": "steward", "password": "correct-horse-battery-staple"}
    pair = api.post("/api/v1/auth/token/", credentials, format="json").json()
    if ending == "deleted":
        staff_user.delete()
    else:
        staff_user.is_active = False
        staff_user.save()
    minted = api.post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert minted.status_code == 401, minted.content
    assert minted.json()["error"]["code"] == "no_active_account"


def test_an_invalid_jwt_answers_401_with_its_own_code(api, ergast_data, staff_user):
    """simplejwt's InvalidToken has a dict detail: its "code" (token_not_valid) is the error code,
    not a bare "error" with the useful code hidden in details."""
    api.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    response = api.get("/api/v1/races")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "token_not_valid" and error["message"]
    api.credentials()
    refresh = api.post("/api/v1/auth/token/refresh/", {"refresh": "garbage"}, format="json")
    assert refresh.status_code == 401 and refresh.json()["error"]["code"] == "token_not_valid"


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=2)
def test_login_lockout_answers_in_the_api_error_shape(api, staff_user, django_user_model):
    """django-axes locks the account after AXES_FAILURE_LIMIT failures; on the token endpoint that
    is a 429 in the API's error shape with Retry-After, even for the right password (it was the
    same 401 as a wrong password), while the admin login keeps axes' own page."""
    wrong = {"username": "steward", "password": "no"}
    assert api.post("/api/v1/auth/token/", wrong, format="json").status_code == 401
    assert api.post("/api/v1/auth/token/", wrong, format="json").status_code == 429  # the limit locks
    locked = api.post(
        "/api/v1/auth/token/",
        {"username": "steward", "password": "correct-horse-battery-staple"},
        format="json",
    )
    assert locked.status_code == 429
    body = locked.json()
    assert body["error"]["code"] == "locked_out"
    assert body["error"]["details"]["retry_after"] == 3600  # AXES_COOLOFF_TIME = 1 hour
    assert locked["Retry-After"] == "3600"

    # per account and address: another account from the same address still logs in (axes' default
    # locked the whole address, so one client could lock out every staff login)
    django_user_model.objects.create_user(username="marshal", password="correct-horse-battery-staple")
    other = api.post(
        "/api/v1/auth/token/",
        {"username": "marshal", "password": "correct-horse-battery-staple"},
        format="json",
    )
    assert other.status_code == 200, other.content

    admin = Client().post(
        "/admin/login/", {"username": "steward", "password": "correct-horse-battery-staple"}
    )
    assert admin.status_code == 429
    assert admin["Content-Type"].startswith("text/html") and b"locked" in admin.content.lower()


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=2)
def test_behind_a_proxy_a_lockout_is_the_clients_not_everyones(api, staff_user, settings):
    """Security QA: axes read REMOTE_ADDR, the proxy's address for every client behind it, so ten
    wrong passwords from anywhere locked a staff account for everyone for an hour. It now tells
    clients apart as the throttles do (API_NUM_PROXIES)."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    wrong = {"username": "steward", "password": "no"}
    for _ in range(2):
        api.post(
            "/api/v1/auth/token/", wrong, format="json", HTTP_X_FORWARDED_FOR="203.0.113.66", **via_proxy
        )
    right = {"username": "steward", "password": "correct-horse-battery-staple"}
    attacker = api.post(
        "/api/v1/auth/token/", right, format="json", HTTP_X_FORWARDED_FOR="203.0.113.66", **via_proxy
    )
    assert attacker.status_code == 429  # that client is locked out of the account
    owner = api.post(
        "/api/v1/auth/token/", right, format="json", HTTP_X_FORWARDED_FOR="198.51.100.7", **via_proxy
    )
    assert owner.status_code == 200, owner.content


# --- abuse resistance: NUL bytes, 2^63, oversized bodies ------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/races/2025_%00bahrain", {400}),
        ("/api/v1/races/%00", {400}),
        (f"/api/v1/races/{BIG}_1", {400}),
        (f"/api/v1/races/2025_{BIG}", {400}),
        ("/api/v1/analytics/driver/%00", {404}),
        ("/api/v1/analytics/team/red%00bull", {404}),
        (f"/api/v1/analytics/driver/{BIG}", {404}),
        ("/api/v1/races?season=%00", {400}),
        ("/api/v1/races?limit=%00", {400}),
        (f"/api/v1/races?season={BIG}", {400}),
        (f"/api/v1/races?offset={BIG}", {400}),
        (f"/api/v1/races?season=-{BIG}", {400}),
        (f"/api/v1/standings?round={BIG}", {400}),
        ("/api/v1/standings?season=2024%00", {400}),
        (f"/api/v1/drivers?season={BIG}", {400}),
        (f"/api/v1/analytics/driver/max_verstappen?season={BIG}", {400}),
    ],
)
def test_nul_bytes_and_huge_integers_never_500(api, ergast_data, path, expected):
    response = api.get(path)
    assert response.status_code in expected, (path, response.status_code, response.content[:200])
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_huge_limit_is_capped_not_rejected(api, ergast_data, settings):
    response = api.get(f"/api/v1/races?limit={BIG}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == settings.API_MAX_PAGE_SIZE


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "stew\x00ard", "password": "x"},
        {"username": 2**63, "password": 2**63},
        {"username": "steward", "password": "a\x00b"},
    ],
)
def test_nul_and_huge_values_in_a_body_never_500(api, staff_user, payload):
    response = api.post("/api/v1/auth/token/", payload, format="json")
    assert response.status_code in {400, 401}, response.content


def test_malformed_json_body_is_400(api, staff_user):
    response = api.post("/api/v1/auth/token/", data=b'{"username": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_oversized_body_is_413(api, staff_user, settings):
    body = json.dumps({"username": "steward", "password": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    response = api.post("/api/v1/auth/token/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


# --- admin hardening -----------------------------------------------------------------------------
def test_admin_is_never_cached_and_not_framable(db):
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    cache_control = response["Cache-Control"]
    assert "no-cache" in cache_control and "no-store" in cache_control and "private" in cache_control


def test_admin_login_locks_out_after_ten_failures(db, settings, staff_user):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 10
    client = Client()
    for _ in range(10):
        client.post("/admin/login/", {"username": "steward", "password": "wrong"}, REMOTE_ADDR="10.0.0.7")
    locked = client.post(
        "/admin/login/",
        {"username": "steward", "password": "correct-horse-battery-staple"},
        REMOTE_ADDR="10.0.0.7",
    )
    assert locked.status_code in {403, 429}
    assert "_auth_user_id" not in client.session


def test_check_deploy_is_clean_under_production_settings():
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "f1site.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    env.pop("SECURE_SSL_REDIRECT", None)  # tests/settings.py turns it off; production keeps it on
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- errors outside the views: unknown paths, unexpected failures ---------------------------------
def _assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:200]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("/api/v1/nonexistent", None),
        ("/api/v1/races/", "Did you mean /api/v1/races?"),
        ("/api/v1/races/2025_4/", "Did you mean /api/v1/races/2025_4?"),
        ("/api/v1/", None),
    ],
)
def test_unknown_api_paths_answer_404_in_the_error_shape(db, settings, path, hint, debug):
    settings.DEBUG = debug  # Django's debug 404 page bypasses handler404: the catch-all route does not
    client = Client()
    for method in (client.get, client.post, client.delete):
        error = _assert_error_shape(method(path), 404, "not_found")
        assert path in error["message"]
        if hint:
            assert hint in error["message"]


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("?format=xml", None),  # was 406: content negotiation ran before the catch-all's 404
        ("?format=xml&format=json", None),  # was 400 (repeated parameter)
        ("", "application/xml"),  # was 406
        ("?format=json", None),
    ],
)
def test_an_unknown_api_path_is_404_whatever_format_or_accept_it_asks_for(db, query, accept):
    client = Client()
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    for method in (client.get, client.post):
        error = _assert_error_shape(method(f"/api/v1/nope{query}", **extra), 404, "not_found")
        assert error["message"] == "No API endpoint at /api/v1/nope."


def test_unknown_paths_under_api_but_outside_v1_answer_json_pages_html(db):
    client = Client()
    _assert_error_shape(client.get("/api/v2/races"), 404, "not_found")
    _assert_error_shape(client.get("/api/schema/extra"), 404, "not_found")
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    race = client.get("/races/2099_nowhere/")
    assert race.status_code == 404 and race["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.f1site.urls_with_a_failing_view")
def test_unexpected_errors_answer_500_json_under_api_html_elsewhere(db):
    client = Client(raise_request_exception=False)
    error = _assert_error_shape(client.get("/api/v1/test-failure"), 500, "server_error")
    assert "a bug" not in error["message"]  # no internals leak
    page = client.get("/test-failure/")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
    assert b"Pitwall: server error" in page.content and b"a bug" not in page.content  # the site's page
    assert client.get("/api/v1/races").status_code == 200  # the site's routes are all there


@override_settings(DEBUG=False)  # with DEBUG on Django shows its technical page, not handler400
def test_a_host_not_in_allowed_hosts_answers_400_json_under_api_html_elsewhere(db):
    client = Client()
    for path in ("/api/v1/races", "/api/v1/nonexistent", "/api/v2/races", "/api/schema/"):
        response = client.get(path, HTTP_HOST="evil.example")
        error = _assert_error_shape(response, 400, "bad_request")
        # the reason (host, settings to change) is logged by django.security, not told the client
        assert "evil.example" not in response.content.decode() and "ALLOWED_HOSTS" not in error["message"]
    for path in ("/", "/races/2025_4/"):
        page = Client().get(path, HTTP_HOST="evil.example")
        assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert client.get("/api/v1/races", HTTP_HOST="localhost").status_code == 200  # an allowed host


@override_settings(DEBUG=False)
@pytest.mark.urls("tests.f1site.urls_with_a_failing_view")
def test_suspicious_requests_and_refusals_outside_drf_answer_json_under_api_html_elsewhere(db):
    client = Client()
    error = _assert_error_shape(client.get("/api/v1/test-suspicious"), 400, "bad_request")
    assert "log only" not in error["message"]
    error = _assert_error_shape(client.get("/api/v1/test-forbidden"), 403, "permission_denied")
    assert "log only" not in error["message"]
    for path, status in (("/test-suspicious/", 400), ("/test-forbidden/", 403)):
        page = client.get(path)
        assert page.status_code == status and page["Content-Type"].startswith("text/html")


def test_a_session_write_without_csrf_token_under_api_answers_403_json(db, django_user_model):
    """CSRF under /api/ is DRF's (SessionAuthentication; API views are csrf_exempt for Django's
    middleware), so a failure answers in the API's shape; the admin keeps Django's HTML page."""
    staff = django_user_model.objects.create_user(username="csrf", password="x" * 20, is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    error = _assert_error_shape(client.post("/api/v1/predictions/race/2025_4"), 403, "permission_denied")
    assert "CSRF" in error["message"]
    page = client.post("/admin/logout/")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_the_site_wires_the_error_handlers():
    from django.urls import get_resolver

    from f1site.api import bad_request, page_not_found, permission_denied, server_error

    resolver = get_resolver("f1site.urls")
    assert resolver.resolve_error_handler(400) is bad_request
    assert resolver.resolve_error_handler(403) is permission_denied
    assert resolver.resolve_error_handler(404) is page_not_found
    assert resolver.resolve_error_handler(500) is server_error


def _public_reads() -> list[str]:
    """Every GET of the committed schema that takes no credentials (its security lists `{}`), with
    real ids in its path — but /health, which takes an unusable token as none (no 401 to document:
    tests/ingestion/api/test_health_tokens.py)."""
    from tests.f1site.test_schema import SNAPSHOT

    ids = {"race_id": "2025_bahrain", "driver_id": "leclerc", "team_id": "ferrari", "season": "2025"}
    schema = yaml.safe_load(SNAPSHOT.read_text())
    reads = [
        path.format(**ids)
        for path, operations in schema["paths"].items()
        if {} in operations.get("get", {}).get("security", []) and path != "/api/v1/health"
    ]
    assert "/api/v1/drivers/leclerc" in reads and len(reads) == 16
    return reads


def _documented_401(path: str) -> dict:
    """The body schema the committed snapshot gives for a 401 of GET `path`, with its components."""
    from tests.f1site.test_schema import SNAPSHOT

    schema = yaml.safe_load(SNAPSHOT.read_text())
    pattern = next(p for p in schema["paths"] if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", p), path))
    response = schema["paths"][pattern]["get"]["responses"]["401"]
    if "$ref" in response:  # a shared response: #/components/responses/<name>
        response = schema["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return {**response["content"]["application/json"]["schema"], "components": schema["components"]}


@pytest.mark.parametrize("path", _public_reads())
def test_an_expired_token_on_a_public_read_is_the_documented_401(api, ergast_data, staff_user, path):
    """API contract audit: authentication runs before permissions, so a public read sent with an
    expired JWT (a frontend that kept an old token) answers 401 `token_not_valid`, which the schema
    did not list for any public GET. Every operation that takes a JWT lists it now, in this shape."""
    import jsonschema
    from rest_framework_simplejwt.tokens import AccessToken

    assert api.get(path).status_code != 401  # public: no credentials, no 401 (200, or a 404 / 503)
    token = AccessToken.for_user(staff_user)
    token.set_exp(lifetime=-timedelta(minutes=1))  # expired a minute ago
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get(path)
    assert response.status_code == 401, (path, response.content[:300])
    body = response.json()
    assert body["error"]["code"] == "token_not_valid" and "expired" in json.dumps(body)
    jsonschema.validate(body, _documented_401(path))
