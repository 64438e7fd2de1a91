"""The rate-limit count of cached GETs is taken with the cache read (f1site.throttling.DeferredCount):
every request still counts once, over-limit requests still get 429 + Retry-After, and a throttled
client still causes no database work. Real PostgreSQL and the configured cache (Redis in CI)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def _assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"


def test_errors_before_the_cache_read_count_and_are_throttled(api, ergast_data, tight_anon_rate):
    # A 400 (bad parameter) and a 400 (malformed race id) never reach the cache read: they are
    # counted when the response is finalized, and the 4th request is refused like any other.
    statuses = [
        api.get("/api/v1/races?season=abc").status_code,
        api.get("/api/v1/races/not-a-race").status_code,
        api.get("/api/v1/races?season=2024").status_code,
    ]
    assert statuses == [400, 400, 200]
    _assert_throttled(api.get("/api/v1/races?season=abc"))
    _assert_throttled(api.get("/api/v1/races?season=2024"))


def test_a_throttled_client_causes_no_database_work(api, ergast_data, tight_anon_rate):
    for season in (2021, 2022, 2023):  # three distinct cold keys use up the window
        assert api.get(f"/api/v1/standings?season={season}").status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        _assert_throttled(api.get("/api/v1/standings?season=2024"))  # a cold key: would compute
        _assert_throttled(api.get("/api/v1/jobs/status"))  # not cached: throttled up front
    assert ctx.captured_queries == []
    assert api.get("/api/v1/standings?season=2024", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_hits_and_conditional_requests_count(api, ergast_data, tight_anon_rate):
    first = api.get("/api/v1/predictions/upcoming")
    assert first.status_code == 200
    assert api.get("/api/v1/predictions/upcoming").status_code == 200  # a warm hit
    assert api.get("/api/v1/predictions/upcoming", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    _assert_throttled(api.get("/api/v1/predictions/upcoming", HTTP_IF_NONE_MATCH=first["ETag"]))
