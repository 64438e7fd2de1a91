"""GET drivers?as_of= and teams?as_of=: the lists as they stood at a clock.

A frontend demo at a past clock asked `/api/v1/drivers?as_of=2020-01-01` and silently got today's
list, drivers who debuted years later included: the lists ignored the clock. At a clock a driver or
team is listed once it had a race result or a qualifying entry in a race whose results were known by
then — start + 3 h (the rule of drivers|teams/{id}?as_of=, whose careers count only those races). Expectations come from the dump's
CSV files read with plain Python (tests/drf_support.py) and from hand-known debuts, never from the
code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.drf_support import csv_race, csv_races_known_by, csv_rows

pytestmark = pytest.mark.django_db

NEW_YEAR_2020 = datetime(2020, 1, 1, tzinfo=UTC)


def _entered(key: str, races: set[str]) -> set[str]:
    """The `key` ids (driverId, constructorId) with a results or qualifying row in `races`."""
    return {r[key] for name in ("results", "qualifying") for r in csv_rows(name) if r["raceId"] in races}


def _refs(name: str, key: str, ids: set[str]) -> set[str]:
    refs = {r[key]: r[f"{name[:-1]}Ref"] for r in csv_rows(name)}
    return {refs[i] for i in ids}


def _every_id(api, path: str, params: dict) -> tuple[int, list[str]]:
    """The list's count and every id over its pages (200 a page, the cap)."""
    ids, offset = [], 0
    while True:
        body = api.get(path, {**params, "limit": 200, "offset": offset}).json()
        ids += [item["id"] for item in body["results"]]
        offset += 200
        if offset >= body["count"]:
            return body["count"], ids


def test_drivers_at_new_year_2020_are_those_who_had_raced(api, ergast_data, django_assert_num_queries):
    expected = _refs("drivers", "driverId", _entered("driverId", csv_races_known_by(NEW_YEAR_2020)))
    assert {"hamilton", "kubica", "fangio"} <= expected  # raced by 2019
    # debuted later: Latifi (2020), Piastri (2023), Antonelli (2025)
    assert not {"latifi", "piastri", "antonelli"} & expected

    with django_assert_num_queries(2):  # the matching names, then the page's rows
        first = api.get("/api/v1/drivers", {"as_of": "2020-01-01T00:00:00Z", "limit": 200})
    assert first.status_code == 200, first.content
    count, ids = _every_id(api, "/api/v1/drivers", {"as_of": "2020-01-01T00:00:00Z"})
    assert count == len(expected) and len(ids) == count
    assert set(ids) == expected
    # today the same list has every stored driver, the later debutants among them
    assert api.get("/api/v1/drivers", {"limit": 1}).json()["count"] == len(csv_rows("drivers")) > count


def test_a_seasons_drivers_at_a_clock_are_those_of_its_races_known_by_then(api, ergast_data):
    """Colapinto's first Grand Prix is the 2024 Italian GP (1 September 2024, 13:00 UTC, round 16).
    At noon that day he had qualified, but not raced, and an hour after the start the race was being
    run: not listed yet, as his career at those clocks is empty; once its results were known
    (start + 3 h) he is."""
    monza = csv_race(2024, 16)
    assert (monza["date"], monza["time"]) == ("2024-09-01", "13:00:00")
    season_races = {r["raceId"] for r in csv_rows("races") if r["year"] == "2024"}
    clocks = (
        ("2024-09-01T12:00:00Z", False),
        ("2024-09-01T14:00:00Z", False),
        ("2024-09-01T16:00:00Z", True),
    )
    for clock, listed in clocks:
        known = season_races & csv_races_known_by(datetime.fromisoformat(clock))
        expected = _refs("drivers", "driverId", _entered("driverId", known))
        assert ("colapinto" in expected) is listed
        body = api.get("/api/v1/drivers", {"season": 2024, "as_of": clock, "limit": 200}).json()
        assert body["count"] == len(expected)
        assert {d["id"] for d in body["results"]} == expected
        assert api.get("/api/v1/drivers/colapinto", {"as_of": clock}).json()["career"]["races"] == int(listed)


def test_teams_at_new_year_2020_are_those_that_had_raced(api, ergast_data, django_assert_num_queries):
    expected = _refs(
        "constructors", "constructorId", _entered("constructorId", csv_races_known_by(NEW_YEAR_2020))
    )
    assert {"toro_rosso", "ferrari", "haas"} <= expected
    # from 2020, 2021, 2024 (Aston Martin is listed: it raced in 1959-60)
    assert not {"alphatauri", "alpine", "rb"} & expected and "aston_martin" in expected

    with django_assert_num_queries(2):  # the matching names, then the page's rows
        assert api.get("/api/v1/teams", {"as_of": "2020-01-01", "limit": 200}).status_code == 200
    count, ids = _every_id(api, "/api/v1/teams", {"as_of": "2020-01-01"})
    assert count == len(expected) and set(ids) == expected and len(ids) == count
    season = api.get("/api/v1/teams", {"season": 2020, "as_of": "2020-01-01"}).json()
    assert season["count"] == 0 and season["results"] == []  # no 2020 race had started


TODAY = {"limit": 5}
CLOCK = {"as_of": "2020-01-01", "limit": 5}
SAME_CLOCK = {"as_of": "2020-01-01T00:00:00+00:00", "limit": 5}  # the same moment, spelled otherwise


@pytest.mark.parametrize(
    "steps",
    [
        # (the request, the queries it costs: 2 computes the page, 0 is a cache hit)
        [(CLOCK, 2), (SAME_CLOCK, 0), (TODAY, 2)],
        [(SAME_CLOCK, 2), (CLOCK, 0), (TODAY, 2)],
        [(TODAY, 2), (CLOCK, 2), (SAME_CLOCK, 0)],
    ],
    ids=["clock-first", "other-spelling-first", "today-first"],
)
def test_the_clock_is_one_cache_entry_per_moment_beside_todays_pages(
    api, ergast_data, steps, django_assert_num_queries
):
    """Two spellings of one clock share an entry: the second costs no query. Today's page is
    another entry: cached before or after the clock's, it is computed and differs."""
    bodies = {}
    for params, queries in steps:
        with django_assert_num_queries(queries):
            response = api.get("/api/v1/teams", params)
        assert response.status_code == 200, response.content
        bodies[params.get("as_of", "today")] = response.json()
    at, same, today = bodies["2020-01-01"], bodies["2020-01-01T00:00:00+00:00"], bodies["today"]
    assert same == at and at != today
    assert at["count"] < today["count"]


@pytest.mark.parametrize("name", ["drivers", "teams"])
def test_a_season_after_the_clocks_year_is_a_404_as_for_the_races(
    api, ergast_data, name, django_assert_num_queries
):
    """`races?season=2025&as_of=2020-01-01` is a 404 (its calendar came later); the drivers' and
    teams' lists answered the same question with an empty 200, which a client cannot tell from a
    season nobody had raced in yet."""
    params = {"season": 2025, "as_of": "2020-01-01"}
    races = api.get("/api/v1/races", params)
    assert races.status_code == 404, races.content
    with django_assert_num_queries(0):  # refused before any query
        response = api.get(f"/api/v1/{name}", params)
    assert response.status_code == 404, response.content
    error = response.json()["error"]
    assert error["code"] == races.json()["error"]["code"] == "not_found"
    assert error["message"] == f"No {name} of 2025 as of 2020-01-01 00:00 UTC: its calendar came later"
    assert races.json()["error"]["message"] == error["message"].replace(name, "races")
    # the clock's own year is listed (empty until its first race), an earlier one as it stood
    same_year = api.get(f"/api/v1/{name}", {**params, "season": 2020})
    assert same_year.status_code == 200 and same_year.json()["count"] == 0
    assert api.get(f"/api/v1/{name}", {**params, "season": 2019}).json()["count"] > 0


@pytest.mark.parametrize("name", ["races", "drivers", "teams"])
def test_a_season_without_races_is_a_404_with_or_without_a_clock(api, ergast_data, name):
    """API review: `races?season=2030` was an empty 200 while `races?season=2030&as_of=<a minute
    ago>` was a 404 (and the same for drivers and teams), where standings and championship are 404
    either way: a frontend adding or dropping `?as_of=` met different error handling for one
    question. Now a season with no race stored is the one 404 `not_found` both ways; the clock's own
    rule (a season after its year: "its calendar came later") is kept."""
    from datetime import timedelta

    from django.utils import timezone

    a_minute_ago = (timezone.now() - timedelta(minutes=1)).isoformat()
    plain = api.get(f"/api/v1/{name}", {"season": 2030})
    at_clock = api.get(f"/api/v1/{name}", {"season": 2030, "as_of": a_minute_ago})
    for response in (plain, at_clock):
        assert response.status_code == 404, response.content
        assert set(response.json()) == {"error"}
        assert response.json()["error"]["code"] == "not_found"
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert plain.json()["error"]["message"] == f"No {name} of 2030: no race on its calendar"
    assert "its calendar came later" in at_clock.json()["error"]["message"]
    assert api.get("/api/v1/standings", {"season": 2030}).status_code == 404  # as these always were
    # outside the declared seasons (1950-2100): the parameter's 400, before any of this
    too_early = api.get(f"/api/v1/{name}", {"season": 1900})
    assert too_early.status_code == 400 and too_early.json()["error"]["details"]["season"]
    # seasons with races keep answering
    assert api.get(f"/api/v1/{name}", {"season": 2025}).json()["count"] > 0


@pytest.mark.parametrize("name", ["races", "drivers", "teams"])
def test_a_next_season_calendar_without_entrants_is_listed(api, ergast_data, name):
    """A next season's calendar loaded in December has races and no entrants yet: `races` lists it,
    `drivers` / `teams` answer an empty 200 (not the 404 of a season without races)."""
    from tests.factories import RaceFactory, SeasonFactory

    season = SeasonFactory(year=2027)
    RaceFactory(season=season, round=1, slug="2027_test_1")
    response = api.get(f"/api/v1/{name}", {"season": 2027})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == (1 if name == "races" else 0)
