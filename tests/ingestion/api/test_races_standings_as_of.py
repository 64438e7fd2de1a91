"""GET races?season=&as_of= and GET standings?as_of=: the race list and the standings as they stood at a
clock, read by the API's one clock reader (`f1site.api.clock_param`: same parser, 400 / 404 and cache
key part as races/{race_id}?as_of=).

Real data: the 2025 Canadian Grand Prix (round 10, 15 June 2025 18:00 UTC). An hour before its start
it is not completed and the standings are those after round 9; expected figures from the dump's CSV
files read with plain Python (tests/drf_support.py), never from the code under test.
"""

from __future__ import annotations

import pytest

from tests.drf_support import csv_race, csv_rows

pytestmark = pytest.mark.django_db

BEFORE_START = "2025-06-15T17:00"  # an hour before the Canadian GP
AFTER_RESULTS = "2025-06-15T21:30"  # start + 3 h 30: its results known (start + 3 h)


def _standings_after(year: int, round_number: int) -> list[tuple[str, float]]:
    race = csv_race(year, round_number)
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    rows = [s for s in csv_rows("driver_standings") if s["raceId"] == race["raceId"]]
    return [(refs[s["driverId"]], float(s["points"])) for s in sorted(rows, key=lambda s: int(s["position"]))]


def _statuses(api, as_of: str) -> dict[str, str]:
    response = api.get("/api/v1/races", {"season": 2025, "limit": 100, "as_of": as_of})
    assert response.status_code == 200, response.content
    return {r["id"]: r["status"] for r in response.json()["results"]}


# --- races?as_of= ---------------------------------------------------------------------------------
def test_the_race_list_at_a_clock_has_each_status_as_it_stood(
    api, ergast_data, django_assert_max_num_queries
):
    canada = csv_race(2025, 10)
    assert (canada["name"], canada["date"], canada["time"]) == (
        "Canadian Grand Prix",
        "2025-06-15",
        "18:00:00",
    )
    today = {
        r["id"]: r["status"]
        for r in api.get("/api/v1/races", {"season": 2025, "limit": 100}).json()["results"]
    }
    assert set(today.values()) == {"completed"}  # every 2025 race has its results today
    with django_assert_max_num_queries(3):  # as without a clock: the page in one query
        before = _statuses(api, BEFORE_START)
    assert list(before) == list(today)  # the same races, in the same order
    rounds = {f"2025_{r['round']}": r for r in csv_rows("races") if r["year"] == "2025"}
    ids = list(before)
    assert len(ids) == len(rounds) == 24
    assert [before[i] for i in ids[:9]] == ["completed"] * 9  # rounds 1-9, run with results stored
    assert before["2025_canada"] == "scheduled"  # not completed: it had not started
    assert set(before[i] for i in ids[10:]) == {"scheduled"}
    after = _statuses(api, AFTER_RESULTS)
    assert after["2025_canada"] == "completed" and after["2025_austria"] == "scheduled"
    # the rule of races/{race_id}?as_of= (race_status(race=, as_of=)), race by race
    for clock, listed in ((BEFORE_START, before), (AFTER_RESULTS, after)):
        for race_id in ("2025_spain", "2025_canada", "2025_austria"):
            assert api.get(f"/api/v1/races/{race_id}", {"as_of": clock}).json()["status"] == listed[race_id]


def test_the_race_list_at_a_clock_says_awaiting_results_for_a_race_started_without_them(api, ergast_data):
    """2026 round 10 has no results in the dump: at a clock after its start it awaits them."""
    r10 = csv_race(2026, 10)
    assert not [r for r in csv_rows("results") if r["raceId"] == r10["raceId"]]
    listed = api.get("/api/v1/races", {"season": 2026, "limit": 100, "as_of": "2026-11-26"}).json()["results"]
    by_round = {r["round"]: r["status"] for r in listed}
    assert by_round[10] == "awaiting_results" and by_round[1] == "completed"
    early = api.get("/api/v1/races", {"season": 2026, "limit": 100, "as_of": "2026-01-01"}).json()["results"]
    assert {r["status"] for r in early} == {"scheduled"}


def test_the_race_list_at_a_clock_has_no_season_after_the_clocks(api, ergast_data):
    """Review finding: `races?season=2026&as_of=2020-01-01` listed the 2026 calendar, all scheduled,
    where the calendar page at that clock is a 404: a later season's calendar is not taken to have
    existed then (the page's `calendar_seasons(as_of=)` rule)."""
    later = api.get("/api/v1/races", {"season": 2026, "as_of": "2020-01-01"})
    assert later.status_code == 404, later.content
    assert "its calendar came later" in later.json()["error"]["message"]
    everything = api.get("/api/v1/races", {"as_of": "2020-01-01", "limit": 100, "offset": 1000}).json()
    assert everything["count"] == sum(1 for r in csv_rows("races") if int(r["year"]) <= 2020)
    assert {r["season"] for r in everything["results"]} <= set(range(1950, 2021))
    assert api.get("/api/v1/races", {"season": 2020, "as_of": "2020-01-01"}).status_code == 200


def test_each_clock_is_its_own_entry_of_the_list_family(api, ergast_data, django_assert_max_num_queries):
    from ingestion.models import Race
    from ingestion.signals import races_changed

    before, after = _statuses(api, BEFORE_START), _statuses(api, AFTER_RESULTS)
    assert (before["2025_canada"], after["2025_canada"]) == ("scheduled", "completed")
    today = api.get("/api/v1/races", {"season": 2025, "limit": 100}).json()
    with django_assert_max_num_queries(0):
        assert _statuses(api, BEFORE_START) == before
        assert _statuses(api, "2025-06-15T17:00:00Z") == before  # the same moment, the same entry
        assert _statuses(api, AFTER_RESULTS) == after
        assert api.get("/api/v1/races", {"season": 2025, "limit": 100}).json() == today
    races_changed.send(sender=Race, race_ids=["2025_canada"])  # as a sync does: the family's bump
    with django_assert_max_num_queries(3):
        assert _statuses(api, BEFORE_START) == before


# --- standings?as_of= -----------------------------------------------------------------------------
def test_standings_an_hour_before_canada_are_after_round_9(api, ergast_data, django_assert_max_num_queries):
    expected = _standings_after(2025, 9)
    assert ("max_verstappen", 137.0) in expected
    with django_assert_max_num_queries(6):  # as without a clock
        body = api.get("/api/v1/standings", {"as_of": BEFORE_START}).json()
    assert (body["season"], body["round"], body["race"]["id"]) == (2025, 9, "2025_spain")
    assert [(d["driver"]["id"], d["points"]) for d in body["drivers"]] == expected
    verstappen = next(d for d in body["drivers"] if d["driver"]["id"] == "max_verstappen")
    assert (verstappen["points"], verstappen["position"]) == (137.0, 3)
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/standings", {"season": 2025, "as_of": BEFORE_START}).json() == body
    assert api.get("/api/v1/standings", {"season": 2025, "round": 9, "as_of": BEFORE_START}).json() == body
    after = api.get("/api/v1/standings", {"season": 2025, "as_of": AFTER_RESULTS}).json()
    assert after["round"] == 10
    assert [(d["driver"]["id"], d["points"]) for d in after["drivers"]] == _standings_after(2025, 10)


def test_standings_of_a_round_run_after_the_clock_are_a_404(api, ergast_data):
    late = api.get("/api/v1/standings", {"season": 2025, "round": 10, "as_of": BEFORE_START})
    assert late.status_code == 404, late.content
    assert "latest then is round 9" in late.json()["error"]["message"]
    future = api.get("/api/v1/standings", {"season": 2026, "as_of": BEFORE_START})
    assert future.status_code == 404 and "season 2026" in future.json()["error"]["message"]
    # a round without a season: the latest season with standings by the clock
    assert api.get("/api/v1/standings", {"round": 5, "as_of": BEFORE_START}).json()["season"] == 2025


def test_standings_each_clock_is_its_own_entry(api, ergast_data, django_assert_max_num_queries):
    before = api.get("/api/v1/standings", {"as_of": BEFORE_START}).json()
    today = api.get("/api/v1/standings").json()
    assert today["round"] != before["round"]
    with django_assert_max_num_queries(0):
        assert api.get("/api/v1/standings", {"as_of": "2025-06-15T17:00:00+00:00"}).json() == before
        assert api.get("/api/v1/standings").json() == today
