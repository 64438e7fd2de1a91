"""The API's clock (`?as_of=`) as one contract over every operation of the committed schema
(docs/openapi.yaml). One that declares it: the same 400 error shape for a clock that cannot be read,
the same 404 for one still to come, and an answer for a past one. One that does not: 400
`unsupported_parameter` naming it, whatever the clock, never an answer for now (f1site.api
.DeclaredParamsOnlyMixin). An endpoint added later is covered either way without a copy of these
cases. What each endpoint shows at a clock is tested beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

pytestmark = pytest.mark.django_db

# Real ids of the dump for the path parameters of the declaring endpoints.
PATH_IDS = {
    "{race_id}": "2025_canada",
    "{driver_id}": "max_verstappen",
    "{team_id}": "red_bull",
    "{season}": "2025",
    "{job_id}": "1-" + "0" * 32,  # well-formed, no such job: the parameter is refused before the lookup
}
UNREADABLE = [
    "as_of=yesterday",
    "as_of=2025-13-01",
    "as_of=",  # an empty value is no clock the reader accepts, not "no clock"
    "as_of=2025-06-15&as_of=2025-06-16",  # repeated: which one would be meant?
    "as_of=2025-06-15%00",
]


def _operations(*, declaring: bool) -> list[tuple[str, str]]:
    """(method, path with real ids) of the schema's operations that declare `as_of` or,
    `declaring=False`, of every operation that does not."""
    schema = yaml.safe_load(SNAPSHOT.read_text())
    found = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            declares = any(p["name"] == "as_of" for p in op.get("parameters", []))
            if declares != declaring:
                continue
            for name, value in PATH_IDS.items():
                path = path.replace(name, value)
            assert "{" not in path, f"no id for a parameter of {path}: add it to PATH_IDS"
            found.append((method, path))
    return sorted(found)


CLOCKED = _operations(declaring=True)
CLOCKLESS = _operations(declaring=False)
# The body a declaring POST is sent with: valid, so only the clock decides the answer.
POST_BODIES = {"/api/v1/predictions/what-if/": {"grid": ["max_verstappen"]}}


def test_the_contract_covers_every_clock_endpoint():
    assert len(CLOCKED) >= 14, CLOCKED  # 13 GETs and the what-if's POST; more may come
    assert ("post", f"/api/v1/predictions/what-if/{PATH_IDS['{race_id}']}") in CLOCKED


def _send(client, method: str, path: str, query: str):
    if method == "get":
        return client.get(f"{path}?{query}")
    body = next(body for prefix, body in POST_BODIES.items() if path.startswith(prefix))
    return client.post(f"{path}?{query}", body, format="json")


@pytest.mark.parametrize(("method", "path"), CLOCKED)
def test_a_clock_is_read_refused_or_deferred_the_same_everywhere(api, ergast_data, method, path):
    for query in UNREADABLE:
        response = _send(api, method, path, query)
        assert response.status_code == 400, (query, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid" and list(error["details"]) == ["as_of"], (query, error)
    # the last one is after year 9999 in UTC, a valid date-time all the same: the calendar's edge
    for latest in ("as_of=9999-12-31", "as_of=9999-12-31T23:59-01:00"):
        future = _send(api, method, path, latest)
        assert future.status_code == 404, (latest, future.content)
        assert future.json()["error"]["code"] == "not_found"
        assert "is in the future" in future.json()["error"]["message"]
    # The earliest clocks the reader accepts: nothing had happened yet, which is an answer, never a
    # 500 (the API fuzzing's `0001-01-01` overflowed the results-known cut, start + 3 h before it);
    # nor a 400 for one before year 1 in UTC (the fuzzing's `0001-01-01T01:00:01+01:01`): its edge.
    for earliest in ("as_of=0001-01-01", "as_of=0001-01-01T02:59:59Z", "as_of=0001-01-01T01:00:01%2B01:01"):
        response = _send(api, method, path, earliest)
        assert response.status_code in (200, 404, 409), (earliest, response.content)
    past = _send(api, method, path, "as_of=2025-06-15T17:00:00Z")  # an hour before the Canadian GP
    if "/accuracy/" in path:  # the race had not been run, so nothing was scored: as before results
        assert past.status_code == 404, past.content
        assert "no results yet" in past.json()["error"]["message"]
    elif "/championship/" in path or "/what-if/" in path:
        # no model version registered by then in this test's database
        assert past.status_code == 409, past.content
        assert past.json()["error"]["code"] == "no_model_at_clock"
    else:
        assert past.status_code == 200, past.content


def test_the_contract_covers_every_operation_without_a_clock():
    """health, jobs/status, predictions/jobs/{job_id}, the token endpoints and the staff
    regeneration at least: none of them has a past to show."""
    assert {
        ("get", "/api/v1/health"),
        ("get", "/api/v1/jobs/status"),
        ("get", f"/api/v1/predictions/jobs/{PATH_IDS['{job_id}']}"),
        ("post", "/api/v1/auth/token/"),
        ("post", "/api/v1/auth/token/refresh/"),
        ("post", "/api/v1/predictions/race/2025_canada"),
    } <= set(CLOCKLESS), CLOCKLESS
    assert not {path for _, path in CLOCKLESS} & {"/api/v1/drivers", "/api/v1/teams"}  # they take it


@pytest.mark.parametrize(("method", "path"), CLOCKLESS)
def test_an_operation_without_a_clock_refuses_one(staff_api, method, path, django_assert_max_num_queries):
    """As a staff operator with the regeneration permission, so no 401 / 403 stands in front of the
    answer: a clock sent to an operation that cannot show the past is refused, never ignored —
    before the view does any work (no lookup, no token check, no model run)."""
    for query in ("as_of=2020-01-01T00:00:00Z", "as_of=yesterday", "as_of="):
        # the JWT's user (and for the regeneration its user and group permissions), nothing else
        with django_assert_max_num_queries(3):
            if method == "get":
                response = staff_api.get(f"{path}?{query}")
            else:
                response = staff_api.post(f"{path}?{query}", {}, format="json")
        assert response.status_code == 400, (query, response.content)
        error = response.json()["error"]
        assert error["code"] == "unsupported_parameter", (query, error)
        assert "`as_of`" in error["message"] and list(error["details"]) == ["as_of"], error


def test_options_is_never_refused(api):
    """A CORS preflight carries the query string of the request it asks about."""
    assert api.options("/api/v1/health?as_of=2020-01-01").status_code == 200


def test_every_404_at_a_clock_writes_it_one_way(api, ergast_data):
    """API review: the lists' and standings' 404s wrote the clock `2026-11-28T17:00:00+00:00`, the
    championship's `2020-01-01 00:00 UTC`, and a clock still to come was echoed as typed. One
    spelling now, the people's (`f1site.clock.clock_display`: to the minute, in UTC), whatever zone
    the clock was given in."""
    import re

    clock = "2020-01-01T01:30%2B01:00"  # 00:30 UTC
    paths = [
        f"/api/v1/races?season=2025&as_of={clock}",  # its calendar came later
        f"/api/v1/drivers?season=2025&as_of={clock}",
        f"/api/v1/teams?season=2025&as_of={clock}",
        f"/api/v1/standings?season=2025&as_of={clock}",  # no round of it by then
        f"/api/v1/standings?season=2019&round=30&as_of={clock}",  # no such round
        f"/api/v1/championship/2025?as_of={clock}",
        "/api/v1/standings?as_of=1950-01-01T01:30%2B01:00",  # nothing at all by then
    ]
    for path in paths:
        response = api.get(path)
        assert response.status_code == 404, (path, response.content)
        message = response.json()["error"]["message"]
        assert re.search(r"\b(2020|1950)-01-01 00:30 UTC\b", message), (path, message)
        assert not re.search(r"\d{2}:\d{2}:\d{2}|T\d{2}:|\+\d{2}:\d{2}", message), (path, message)
    future = api.get("/api/v1/races?as_of=2999-06-01T12:00%2B02:00").json()["error"]["message"]
    assert future.startswith("as_of 2999-06-01 10:00 UTC is in the future"), future
