"""Query-parameter validation (f1site.api.validate_query): repeated and empty parameters are 400s
with the error shape; found by schemathesis' negative phase (repeated `limit` / `round`)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path,param",
    [
        ("/api/v1/teams?limit=%5B-5%5D&limit=%7B%7D&limit=20.0", "limit"),
        ("/api/v1/standings?round=%7B%7D&round=20.0", "round"),
        ("/api/v1/races?season=2024&season=2025", "season"),
        ("/api/v1/drivers?offset=1&offset=2", "offset"),
        ("/api/v1/races?format=xml&format=json", "format"),  # DRF took the last one: 200
    ],
)
def test_repeated_parameter_is_rejected(api, ergast_data, path, param):
    response = api.get(path)
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid" and param in body["details"]


def test_single_and_empty_parameters_unchanged(api, ergast_data):
    assert api.get("/api/v1/teams?limit=20").json()["limit"] == 20
    empty = api.get("/api/v1/races?season=")
    assert empty.status_code == 400 and "season" in empty.json()["error"]["details"]


@pytest.mark.parametrize(
    "path,param",
    [
        ("/api/v1/drivers?offset=0.0", "offset"),
        ("/api/v1/teams?limit=20.0", "limit"),
        ("/api/v1/races?season=2024.0", "season"),
        ("/api/v1/standings?season=2024&round=3.0", "round"),
    ],
)
def test_integer_parameters_written_as_decimals_are_rejected(api, ergast_data, path, param):
    """DRF's IntegerField took `0.0` as 0 (schemathesis: /drivers?offset=0.0 answered 200)."""
    response = api.get(path)
    assert response.status_code == 400, response.content
    assert param in response.json()["error"]["details"]
    assert api.get(path.split("?")[0] + "?" + path.split("?")[1].replace(".0", "")).status_code == 200


# Every integer query parameter naming a season, and the standings' round. Each value is a
# spelling int() reads as 2026 (as `season=2026.0` was read before): percent-encoded as a client
# sends it, `+` being a space in a query string.
_SEASON_ENDPOINTS = [
    "/api/v1/races",
    "/api/v1/drivers",
    "/api/v1/teams",
    "/api/v1/standings",
    "/api/v1/analytics/driver/hamilton",
    "/api/v1/analytics/team/ferrari",
]
_NOT_CANONICAL_2026 = [
    "02026",  # leading zero
    "%202026",  # leading space
    "2026%20",  # trailing space
    "+2026",  # a space, in a query string
    "%2B2026",  # plus sign
    "2_026",  # underscore
    "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96",  # fullwidth digits
    "%0A2026",  # newline
]


def _not_canonical(name: str, canonical: int) -> dict:
    message = f"Write it as a plain integer: {canonical} (no leading zero, plus sign, space or underscore)."
    return {"error": {"code": "invalid", "message": "Invalid input.", "details": {name: [message]}}}


@pytest.mark.parametrize("raw", _NOT_CANONICAL_2026)
@pytest.mark.parametrize("path", _SEASON_ENDPOINTS)
def test_season_not_written_canonically_is_rejected(api, ergast_data, path, raw):
    """QA: `?season=02026` or `?season=%202026` answered 200 with 2026's data, while the
    championship's `{season}` path answers 400 `invalid` and the pages a 404."""
    response = api.get(f"{path}?season={raw}")
    assert response.status_code == 400, response.content
    assert response.json() == _not_canonical("season", 2026)


@pytest.mark.parametrize("path", _SEASON_ENDPOINTS)
def test_season_written_canonically_still_answers(api, ergast_data, path):
    response = api.get(f"{path}?season=2026")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body.get("season", 2026) == 2026  # standings and analytics name it
    assert {r["season"] for r in body.get("results", []) if "season" in r} <= {2026}  # races


@pytest.mark.parametrize("raw", ["03", "%203", "+3", "%2B3", "3%20"])
def test_round_not_written_canonically_is_rejected(api, ergast_data, raw):
    response = api.get(f"/api/v1/standings?season=2026&round={raw}")
    assert response.status_code == 400, response.content
    assert response.json() == _not_canonical("round", 3)
    assert api.get("/api/v1/standings?season=2026&round=3").json()["round"] == 3


def _hint(canonical: int) -> str:
    return _not_canonical("x", canonical)["error"]["details"]["x"][0]


@pytest.mark.parametrize(
    "query,details",
    [
        ("season=abc", {"season": ["A valid integer is required."]}),
        ("season=1949", {"season": ["Ensure this value is greater than or equal to 1950."]}),
        ("offset=-1", {"offset": ["Ensure this value is greater than or equal to 0."]}),  # canonical
        ("season=999999999999999999999999", {"season": ["Ensure this value is less than or equal to 2100."]}),
        ("season=00000000000000000000002026", {"season": [_hint(2026)]}),
        ("limit=05", {"limit": [_hint(5)]}),  # the page parameters follow the same rule
        ("offset=%2010", {"offset": [_hint(10)]}),
    ],
)
def test_other_bad_integers(api, ergast_data, query, details):
    body = api.get(f"/api/v1/races?{query}").json()
    assert body == {"error": {"code": "invalid", "message": "Invalid input.", "details": details}}
