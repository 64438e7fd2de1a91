"""GET drivers/{id}?as_of= and teams/{id}?as_of=: the career as it stood at a clock.

A frontend demo at a past clock followed a driver link and got his whole career as stored now: an
hour before the 2025 Canadian GP (round 10), Verstappen's wins, podiums and points already counted
the fifteen races still to come. At a clock only races whose results were known by then count (the
driver's and team's pages' rule). Expectations come from the dump's CSV files read with plain Python
(tests/drf_support.py), never from the code under test: a race counts once its start (races.csv
date and time, UTC) + 3 h is at or before the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.drf_support import csv_race, csv_races_known_by, csv_rows

pytestmark = pytest.mark.django_db

BEFORE_CANADA = "2025-06-15T17:00:00Z"  # an hour before the 2025 Canadian GP's start (round 10)
CLOCK = datetime(2025, 6, 15, 17, tzinfo=UTC)
VERSTAPPEN = "/api/v1/drivers/max_verstappen"
RED_BULL = "/api/v1/teams/red_bull"


def _csv_figures(key: str, entity: str, races: set[str]) -> dict:
    """Seasons, races, wins, podiums and points (Grand Prix plus sprint) of a driver (`key`
    driverId) or team (constructorId) over `races`; a modern entity (no shared cars), so a row is a car."""
    years = {r["raceId"]: int(r["year"]) for r in csv_rows("races")}
    mine = [r for r in csv_rows("results") if r[key] == entity and r["raceId"] in races]
    sprint = [r for r in csv_rows("sprint_results") if r[key] == entity and r["raceId"] in races]
    return {
        "seasons": sorted({years[r["raceId"]] for r in mine}),
        "races": len({r["raceId"] for r in mine}),
        "entries": len(mine),
        "wins": len({r["raceId"] for r in mine if r["position"] == "1"}),
        "podiums": sum(r["position"] in ("1", "2", "3") for r in mine),
        "points": pytest.approx(sum(float(r["points"]) for r in mine + sprint)),
        "sprint_points": pytest.approx(sum(float(r["points"]) for r in sprint)),
    }


def _ids(ref_column: str, name: str, ref: str) -> str:
    return next(r[ref_column] for r in csv_rows(name) if r[f"{name[:-1]}Ref"] == ref)


def test_verstappens_career_an_hour_before_canada_counts_to_round_9(
    api, ergast_data, django_assert_num_queries
):
    driver_id = _ids("driverId", "drivers", "max_verstappen")
    known = csv_races_known_by(CLOCK)
    spain, canada = csv_race(2025, 9), csv_race(2025, 10)
    assert spain["raceId"] in known and canada["raceId"] not in known
    expected = _csv_figures("driverId", driver_id, known)
    assert (expected["wins"], expected["podiums"]) == (65, 116)  # 63 and 112 before 2025, as published

    with django_assert_num_queries(4):  # as without a clock: the driver, seasons, sprints, latest race
        response = api.get(VERSTAPPEN, {"as_of": BEFORE_CANADA})
    assert response.status_code == 200, response.content
    body = response.json()
    career = body["career"]
    assert {k: career[k] for k in expected} == expected
    assert career["last_season"] == 2025
    assert body["latest_race"]["id"] == "2025_spain" and body["latest_race"]["round"] == 9
    assert body["latest_team"]["id"] == "red_bull"

    # today the same driver has the whole of 2025 (and 2026) counted
    today = api.get(VERSTAPPEN).json()["career"]
    every = _csv_figures("driverId", driver_id, {r["raceId"] for r in csv_rows("races")})
    assert {k: today[k] for k in every} == every
    assert today["wins"] > career["wins"] and today["points"] > career["points"]


def test_red_bull_before_canada_counts_its_cars_to_round_9(api, ergast_data, django_assert_num_queries):
    team_id = _ids("constructorId", "constructors", "red_bull")
    expected = _csv_figures("constructorId", team_id, csv_races_known_by(CLOCK))
    with django_assert_num_queries(4):  # the team, seasons, sprints, its latest race's drivers
        body = api.get(RED_BULL, {"as_of": BEFORE_CANADA}).json()
    assert {k: body["career"][k] for k in expected} == expected
    spain = csv_race(2025, 9)["raceId"]
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    drivers = sorted(
        (r for r in csv_rows("results") if r["constructorId"] == team_id and r["raceId"] == spain),
        key=lambda r: int(r["positionOrder"]),
    )
    assert body["latest_race"]["id"] == "2025_spain"
    assert [d["id"] for d in body["latest_drivers"]] == [refs[r["driverId"]] for r in drivers]


def test_no_race_started_by_the_clock_is_the_empty_career(api, ergast_data):
    """Antonelli's first race is the 2025 Australian GP (16 March): on 1 March he answers as a
    driver without a race does — 200, an empty career, no latest race or team."""
    first = csv_race(2025, 1)
    assert first["date"] == "2025-03-16"
    body = api.get("/api/v1/drivers/antonelli", {"as_of": "2025-03-01"}).json()
    assert body["career"]["seasons"] == [] and body["career"]["races"] == 0
    assert body["career"]["points"] == 0
    assert body["latest_race"] is None and body["latest_team"] is None
    assert api.get("/api/v1/drivers/antonelli").json()["career"]["races"] > 0


# --- errors (the 400 / 404 every clock endpoint shares: tests/f1site/test_api_clock.py), cache ---------
def test_the_clock_is_checked_before_the_id(api, ergast_data):
    """As analytics/driver/{id}: a junk clock is its 400 whatever the id; a valid one and an
    unknown id, the 404."""
    junk = api.get("/api/v1/drivers/nobody_at_all", {"as_of": "junk"})
    assert junk.status_code == 400 and list(junk.json()["error"]["details"]) == ["as_of"]
    assert api.get("/api/v1/drivers/nobody_at_all", {"as_of": BEFORE_CANADA}).status_code == 404


def test_each_clock_has_its_own_cache_entry_and_a_race_change_retires_them(
    api, ergast_data, django_assert_num_queries
):
    before = api.get(VERSTAPPEN, {"as_of": BEFORE_CANADA}).json()
    early = api.get(VERSTAPPEN, {"as_of": "2025-03-01"}).json()
    today = api.get(VERSTAPPEN).json()
    assert early["career"]["wins"] < before["career"]["wins"] < today["career"]["wins"]
    with django_assert_num_queries(0):  # each its own warm entry
        assert api.get(VERSTAPPEN, {"as_of": BEFORE_CANADA}).json() == before
        assert api.get(VERSTAPPEN, {"as_of": "2025-06-15T19:00+02:00"}).json() == before  # same moment
        assert api.get(VERSTAPPEN, {"as_of": "2025-03-01"}).json() == early
        assert api.get(VERSTAPPEN).json() == today

    from ingestion.models import Race, RaceResult
    from ingestion.signals import races_changed

    spain = Race.objects.get(season_id=2025, round=9)
    RaceResult.objects.filter(race=spain, driver__ref="max_verstappen").update(points=100)
    assert api.get(VERSTAPPEN, {"as_of": BEFORE_CANADA}).json() == before  # until the change is sent
    races_changed.send(sender=Race, race_ids=["2025_spain"])  # as the sync and the dump load do
    fresh = api.get(VERSTAPPEN, {"as_of": BEFORE_CANADA}).json()
    assert fresh["career"]["points"] > before["career"]["points"]
