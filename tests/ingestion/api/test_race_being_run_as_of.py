"""The API at a clock while a race is being run: started, its results not yet known.

A race counted as run from its start: at `?as_of=` 30 minutes after lights-out of the 2025 Canadian
GP (2025-06-15 18:00 UTC) the race, the standings, a driver's career, the analytics and the
home page's "last three" gave its final classification and the standings after it — the future
leaking into the clock. Its results now count as known from the start plus three hours (the FIA's
cap on a race's total time), or the end of race day when the calendar has no start time (the 1999
Japanese GP, 31 October, no time in the dump). Expected figures from the dump's CSV files read
with plain Python (tests/drf_support.py) and the published 1999 title fight (Irvine 70, Häkkinen
66 before Suzuka; Häkkinen champion on 76 to Irvine's 74), never from the code under test.
"""

from __future__ import annotations

import pytest

from tests.drf_support import clean_cache, csv_race, csv_rows  # noqa: F401 - clean_cache: autouse fixture

pytestmark = pytest.mark.django_db

BEING_RUN = "2025-06-15T18:30"  # 30 minutes after the start
KNOWN = "2025-06-15T21:01"  # start + 3 h + 1 min
SUZUKA_EVENING = "1999-10-31T18:00"  # race day of a race with no start time
SUZUKA_NEXT_DAY = "1999-11-01T00:01"


def _race_ids_before(date: str) -> set[str]:
    return {r["raceId"] for r in csv_rows("races") if r["date"] < date}


def _standings_after(year: int, round_number: int) -> list[tuple[str, float]]:
    race = csv_race(year, round_number)
    drivers = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    rows = [s for s in csv_rows("driver_standings") if s["raceId"] == race["raceId"]]
    return [
        (drivers[s["driverId"]], float(s["points"])) for s in sorted(rows, key=lambda s: int(s["position"]))
    ]


def _verstappen_career(race_ids: set[str]) -> dict:
    me = next(d["driverId"] for d in csv_rows("drivers") if d["driverRef"] == "max_verstappen")
    rows = [r for r in csv_rows("results") if r["driverId"] == me and r["raceId"] in race_ids]
    sprints = [r for r in csv_rows("sprint_results") if r["driverId"] == me and r["raceId"] in race_ids]
    points = sum(float(r["points"]) for r in rows) + sum(float(r["points"]) for r in sprints)
    return {"races": len(rows), "wins": sum(r["position"] == "1" for r in rows), "points": round(points, 2)}


def _canada_results() -> list[dict]:
    return [r for r in csv_rows("results") if r["raceId"] == csv_race(2025, 10)["raceId"]]


def test_the_race_being_run_awaits_its_results(api, ergast_data, django_assert_max_num_queries):
    race = csv_race(2025, 10)
    assert (race["date"], race["time"]) == ("2025-06-15", "18:00:00")
    with django_assert_max_num_queries(9):
        body = api.get("/api/v1/races/2025_canada", {"as_of": BEING_RUN}).json()
    assert body["status"] == "awaiting_results"
    assert body["results"] == [] and body["weather"]["observed"] is None
    assert len(body["qualifying"]) == 20  # Saturday's qualifying had been run

    known = api.get("/api/v1/races/2025_canada", {"as_of": KNOWN}).json()
    assert known["status"] == "completed"
    expected = sorted(_canada_results(), key=lambda r: int(r["positionOrder"]))
    assert [r["position_order"] for r in known["results"]] == [int(r["positionOrder"]) for r in expected]
    assert len(expected) == 20
    # the race list says the same at each clock
    listed = {
        clock: {
            r["id"]: r["status"]
            for r in api.get("/api/v1/races", {"season": 2025, "limit": 100, "as_of": clock}).json()[
                "results"
            ]
        }["2025_canada"]
        for clock in (BEING_RUN, KNOWN)
    }
    assert listed == {BEING_RUN: "awaiting_results", KNOWN: "completed"}


def test_the_standings_while_the_race_is_run_are_those_after_the_round_before(api, ergast_data):
    before = _standings_after(2025, 9)
    assert dict(before)["max_verstappen"] == 137.0  # README: third on 137 after Spain
    body = api.get("/api/v1/standings", {"season": 2025, "as_of": BEING_RUN}).json()
    assert body["round"] == 9
    assert [(d["driver"]["id"], d["points"]) for d in body["drivers"]] == before
    late = api.get("/api/v1/standings", {"season": 2025, "round": 10, "as_of": BEING_RUN})
    assert late.status_code == 404 and "latest then is round 9" in late.json()["error"]["message"]
    after = api.get("/api/v1/standings", {"season": 2025, "as_of": KNOWN}).json()
    assert after["round"] == 10
    assert [(d["driver"]["id"], d["points"]) for d in after["drivers"]] == _standings_after(2025, 10)


def test_a_drivers_career_and_analytics_while_the_race_is_run(api, ergast_data):
    before = _verstappen_career(_race_ids_before("2025-06-15"))
    assert before["wins"] == 65  # the README's figure an hour before the start
    career = api.get("/api/v1/drivers/max_verstappen", {"as_of": BEING_RUN}).json()
    assert {k: career["career"][k] for k in before} == before
    assert career["latest_race"]["id"] == "2025_spain"
    season = api.get("/api/v1/analytics/driver/max_verstappen", {"season": 2025, "as_of": BEING_RUN}).json()
    (row,) = [s for s in season["seasons"] if s["season"] == 2025]
    assert (row["races"], row["points"]) == (9, 137.0)

    after = _verstappen_career(_race_ids_before("2025-06-16"))
    assert after["races"] == before["races"] + 1
    known = api.get("/api/v1/drivers/max_verstappen", {"as_of": KNOWN}).json()
    assert {k: known["career"][k] for k in after} == after
    assert known["latest_race"]["id"] == "2025_canada"


def test_the_overview_keeps_the_race_being_run_out_of_the_last_three(api, ergast_data):
    body = api.get("/api/v1/predictions/overview", {"as_of": BEING_RUN}).json()
    recent = [i["race"]["id"] for i in body["recent"]]
    assert "2025_canada" not in recent and recent[0] == "2025_spain"
    (canada,) = [i for i in body["upcoming"] if i["race"]["id"] == "2025_canada"]  # its day's card
    assert canada["race"]["status"] == "awaiting_results"
    assert "2025_canada" not in [i["race"]["id"] for i in body["awaiting_results"]]  # never in both
    known = api.get("/api/v1/predictions/overview", {"as_of": KNOWN}).json()
    assert next(i["race"]["id"] for i in known["recent"]) == "2025_canada"
    assert "2025_canada" not in [i["race"]["id"] for i in known["upcoming"]]


def test_a_race_without_a_start_time_is_known_at_the_end_of_its_day(api, ergast_data):
    suzuka = csv_race(1999, 16)
    assert (suzuka["name"], suzuka["date"], suzuka["time"]) == ("Japanese Grand Prix", "1999-10-31", None)
    evening = api.get("/api/v1/races/1999_16", {"as_of": SUZUKA_EVENING}).json()
    assert evening["status"] == "awaiting_results" and evening["results"] == []
    standings = api.get("/api/v1/standings", {"season": 1999, "as_of": SUZUKA_EVENING}).json()
    assert standings["round"] == 15
    points = {d["driver"]["id"]: d["points"] for d in standings["drivers"]}
    assert (points["irvine"], points["hakkinen"]) == (70.0, 66.0)  # published: Irvine led by 4

    next_day = api.get("/api/v1/races/1999_16", {"as_of": SUZUKA_NEXT_DAY}).json()
    assert next_day["status"] == "completed"
    assert len(next_day["results"]) == len(
        [r for r in csv_rows("results") if r["raceId"] == suzuka["raceId"]]
    )
    final = api.get("/api/v1/standings", {"season": 1999, "as_of": SUZUKA_NEXT_DAY}).json()
    assert final["round"] == 16
    top = [(d["driver"]["id"], d["points"]) for d in final["drivers"][:2]]
    assert top == [("hakkinen", 76.0), ("irvine", 74.0)]  # published: Häkkinen champion by 2
