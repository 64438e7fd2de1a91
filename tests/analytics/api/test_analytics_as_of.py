"""GET analytics/driver/{id}?as_of= and analytics/team/{id}?as_of=: the season and career as they
stood at a clock, as the driver's and team's pages show them (tests/analytics/views/
test_driver_team_as_of.py).

Before, the API ignored `?as_of=`: a demo at a past clock got every result since (Verstappen's
2025 season with all 24 races and 421 points the day before the Canadian Grand Prix). Real data:
2025 round 10, Canada (2025-06-15, start 18:00 UTC); expected values from the dump's CSV files read
with plain Python (tests/drf_support.py), never from the code under test.
"""

from __future__ import annotations

import pytest

from tests.drf_support import csv_race, csv_rows

pytestmark = pytest.mark.django_db

DRIVER = "/api/v1/analytics/driver/max_verstappen"
TEAM = "/api/v1/analytics/team/red_bull"
BEFORE_CANADA = "2025-06-15T17:00"  # an hour before the start: rounds 1-9 had run
AFTER_CANADA_RESULTS = "2025-06-15T21:30"  # start + 3 h 30: its results known (start + 3 h)


def _race_ids(year: int, last_round: int) -> set[str]:
    return {
        r["raceId"] for r in csv_rows("races") if r["year"] == str(year) and int(r["round"]) <= last_round
    }


def _ids(table: str, key: str, ref_column: str, ref: str) -> str:
    return next(r[key] for r in csv_rows(table) if r[ref_column] == ref)


def _points(column: str, entity_id: str, race_ids: set[str]) -> float:
    rows = [r for name in ("results", "sprint_results") for r in csv_rows(name)]
    return sum(float(r["points"]) for r in rows if r[column] == entity_id and r["raceId"] in race_ids)


def _standing(table: str, column: str, entity_id: str, race_id: str) -> dict:
    return next(r for r in csv_rows(table) if r["raceId"] == race_id and r[column] == entity_id)


def test_a_driver_as_of_a_clock_has_no_result_after_it(api, ergast_data, django_assert_max_num_queries):
    canada = csv_race(2025, 10)
    assert (canada["name"], canada["date"], canada["time"]) == (
        "Canadian Grand Prix",
        "2025-06-15",
        "18:00:00",
    )
    ver = _ids("drivers", "driverId", "driverRef", "max_verstappen")
    run = _race_ids(2025, 9)
    points = _points("driverId", ver, run)
    assert points == 137  # as the driver's page at the same clock says
    wins = sum(
        r["driverId"] == ver and r["raceId"] in run and r["position"] == "1" for r in csv_rows("results")
    )
    with django_assert_max_num_queries(13):  # as many as today's answer: the cut is a subquery
        response = api.get(DRIVER, {"season": 2025, "as_of": BEFORE_CANADA})
    assert response.status_code == 200, response.content
    body = response.json()
    (season,) = body["seasons"]
    assert (season["season"], season["races"], season["wins"]) == (2025, 9, wins)
    assert season["points"] == pytest.approx(points)
    analytics = body["analytics"]
    assert analytics["available"] is True and analytics["season"] == 2025
    assert analytics["form"]["races"] == 9 and analytics["form"]["points"] == pytest.approx(points)
    assert "2025_canada" not in {r["race"] for r in analytics["form"]["per_race"]}
    # the championship as it stood after round 9 (third, 137), not after Canada
    last = analytics["championship"]["per_round"][-1]
    after_9 = _standing("driver_standings", "driverId", ver, csv_race(2025, 9)["raceId"])
    assert (last["round"], last["position"], last["points"]) == (9, int(after_9["position"]), 137)
    # today: the whole season (24 races, 421 points)
    today = api.get(DRIVER, {"season": 2025}).json()
    assert today["seasons"][0]["races"] == 24 and today["seasons"][0]["points"] == pytest.approx(
        _points("driverId", ver, _race_ids(2025, 24))
    )
    # the race-start rule, not the date: after the start Canada counts
    later = api.get(DRIVER, {"season": 2025, "as_of": AFTER_CANADA_RESULTS}).json()
    assert later["seasons"][0]["races"] == 10 and later["analytics"]["form"]["races"] == 10
    assert later["seasons"][0]["points"] == pytest.approx(_points("driverId", ver, _race_ids(2025, 10)))


def test_without_a_season_the_clock_picks_the_latest_season_by_then(api, ergast_data):
    body = api.get(DRIVER, {"as_of": BEFORE_CANADA}).json()
    ver = _ids("drivers", "driverId", "driverRef", "max_verstappen")
    years = {
        r["year"]
        for r in csv_rows("races")
        if r["raceId"] in {x["raceId"] for x in csv_rows("results") if x["driverId"] == ver}
    }
    assert "2026" in years  # today he has 2026 results
    assert [s["season"] for s in body["seasons"]] == sorted(int(y) for y in years if y != "2026")
    assert body["season"] is None and body["analytics"]["season"] == 2025
    assert body["seasons"][-1]["races"] == 9
    assert api.get(DRIVER).json()["analytics"]["season"] == 2026


def test_a_team_as_of_a_clock_has_no_result_after_it(api, ergast_data, django_assert_max_num_queries):
    team_id = _ids("constructors", "constructorId", "constructorRef", "red_bull")
    run = _race_ids(2025, 9)
    entries = sum(r["constructorId"] == team_id and r["raceId"] in run for r in csv_rows("results"))
    with django_assert_max_num_queries(9):  # as many as today's
        body = api.get(TEAM, {"season": 2025, "as_of": BEFORE_CANADA}).json()
    (season,) = body["seasons"]
    assert (season["races"], season["entries"]) == (9, entries) and entries == 18
    assert season["points"] == pytest.approx(_points("constructorId", team_id, run))
    last = body["analytics"]["championship"]["per_round"][-1]
    after_9 = _standing("constructor_standings", "constructorId", team_id, csv_race(2025, 9)["raceId"])
    assert (last["round"], last["position"], last["points"]) == (
        9,
        int(after_9["position"]),
        float(after_9["points"]),
    )
    assert max(r["round"] for r in body["analytics"]["development"]["per_race"]) == 9


# --- errors (the 400 / 404 every clock endpoint shares: tests/f1site/test_api_clock.py), cache ---------
def test_each_clock_has_its_own_cache_entry_and_a_result_change_retires_them(
    api, ergast_data, django_assert_max_num_queries
):
    before = api.get(DRIVER, {"season": 2025, "as_of": BEFORE_CANADA}).json()
    after = api.get(DRIVER, {"season": 2025, "as_of": AFTER_CANADA_RESULTS}).json()
    latest = api.get(DRIVER, {"as_of": BEFORE_CANADA}).json()
    today = api.get(DRIVER, {"season": 2025}).json()
    assert (
        len({before["seasons"][0]["races"], after["seasons"][0]["races"], today["seasons"][0]["races"]}) == 3
    )
    with django_assert_max_num_queries(0):  # each its own warm entry
        assert api.get(DRIVER, {"season": 2025, "as_of": BEFORE_CANADA}).json() == before
        assert api.get(DRIVER, {"season": 2025, "as_of": "2025-06-15T19:00+02:00"}).json() == before
        assert api.get(DRIVER, {"season": 2025, "as_of": AFTER_CANADA_RESULTS}).json() == after
        assert api.get(DRIVER, {"as_of": BEFORE_CANADA}).json() == latest
        assert api.get(DRIVER, {"season": 2025}).json() == today

    from ingestion.models import Race, RaceResult
    from ingestion.signals import races_changed

    spain = Race.objects.get(season_id=2025, round=9)
    RaceResult.objects.filter(race=spain, driver__ref="max_verstappen").update(points=100)
    assert api.get(DRIVER, {"season": 2025, "as_of": BEFORE_CANADA}).json() == before  # until sent
    races_changed.send(sender=Race, race_ids=[spain.slug])  # as the sync and the dump load do
    fresh = api.get(DRIVER, {"season": 2025, "as_of": BEFORE_CANADA}).json()
    assert fresh["seasons"][0]["race_points"] != before["seasons"][0]["race_points"]
