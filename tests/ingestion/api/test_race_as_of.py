"""GET races/{race_id}?as_of=: the race as it stood at a clock, by the race page's rules.

A Next.js demo built on the API at a past clock got the race as stored now: the status
`completed`, the classification and the observed weather of a race that, at the clock, had not
started. Real data: 2025 round 10, the Canadian Grand Prix (FP1 13 June 17:30, FP2 21:00, FP3
14 June 16:30, qualifying 20:00, race 15 June 18:00 UTC); expected rows from the dump's CSV files
read with plain Python (tests/drf_support.py), never from the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.models import Race, RaceWeather, WeatherForecast
from tests.drf_support import csv_race, csv_rows

pytestmark = pytest.mark.django_db

CANADA = "/api/v1/races/2025_canada"
BEFORE_START = "2025-06-15T17:00"  # race day, an hour before the start
AFTER_RESULTS = "2025-06-15T21:30"  # start + 3 h 30: its results known (start + 3 h)
BEFORE_QUALIFYING = "2025-06-14T12:00"  # FP1 and FP2 run, FP3 and qualifying still to come


def _canada() -> dict:
    race = csv_race(2025, 10)
    assert (race["name"], race["date"], race["time"]) == ("Canadian Grand Prix", "2025-06-15", "18:00:00")
    assert (race["quali_date"], race["quali_time"], race["fp3_time"]) == (
        "2025-06-14",
        "20:00:00",
        "16:30:00",
    )
    return race


def _rows(name: str, race_id: str) -> list[dict]:
    return [r for r in csv_rows(name) if r["raceId"] == race_id]


def _practice_counts(race_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in _rows("practice", race_id):
        counts[row["session"]] = counts.get(row["session"], 0) + 1
    return counts


def _practice(body: dict) -> dict[str, int]:
    return {s["session"]: len(s["results"]) for s in body["practice"]}


@pytest.fixture
def canada_weather(ergast_data):
    """The dump has no weather: an observed record and three race-session forecasts, issued before
    the start-hour clock, between it and the start, and after the after-start clock (a late fetch)."""
    race = Race.objects.get(season_id=2025, round=10)
    RaceWeather.objects.create(race=race, samples=120, air_temperature_mean=24.0, is_wet=False)
    for fetched, temperature in (
        (datetime(2025, 6, 12, 6, tzinfo=UTC), 21.0),
        (datetime(2025, 6, 15, 17, 30, tzinfo=UTC), 25.0),
        (datetime(2025, 6, 15, 22, 0, tzinfo=UTC), 23.0),
    ):
        WeatherForecast.objects.create(
            race=race, session="race", valid_at=datetime(2025, 6, 15, 18, tzinfo=UTC),
            fetched_at=fetched, air_temperature=temperature,
        )  # fmt: skip
    return race


def test_an_hour_before_the_start_the_race_has_no_result(api, canada_weather, django_assert_max_num_queries):
    race = _canada()
    with django_assert_max_num_queries(7):  # today's 9 less the results and the observed weather
        response = api.get(CANADA, {"as_of": BEFORE_START})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == "2025_canada" and body["round"] == 10
    assert body["status"] == "scheduled"  # race day, not started: the race lists' and the page's rule
    assert body["results"] == []
    assert body["weather"]["observed"] is None  # observed during the race, still to come
    (forecast,) = body["weather"]["forecasts"]
    assert forecast["fetched_at"] == "2025-06-12T06:00:00Z"  # the one issued since is hidden
    # qualifying (the 14th) and all three practice sessions had been run
    quali = sorted(_rows("qualifying", race["raceId"]), key=lambda q: int(q["position"]))
    assert len(quali) == 20
    assert [q["position"] for q in body["qualifying"]] == [int(q["position"]) for q in quali]
    assert _practice(body) == _practice_counts(race["raceId"]) and len(body["practice"]) == 3
    assert body["schedule"]["race"] == "2025-06-15T18:00:00Z"  # the calendar is the calendar

    # today the same race is completed, with its classification and observed weather
    today = api.get(CANADA).json()
    assert today["status"] == "completed" and len(today["results"]) == len(_rows("results", race["raceId"]))
    assert today["weather"]["observed"] is not None


def test_after_the_start_the_race_has_its_results(api, canada_weather, django_assert_max_num_queries):
    race = _canada()
    with django_assert_max_num_queries(9):  # as many as today's
        body = api.get(CANADA, {"as_of": AFTER_RESULTS}).json()
    expected = sorted(_rows("results", race["raceId"]), key=lambda r: int(r["positionOrder"]))
    assert body["status"] == "completed"
    assert [r["position_order"] for r in body["results"]] == [int(r["positionOrder"]) for r in expected]
    assert len(expected) == 20
    drivers = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    assert body["results"][0]["driver"]["id"] == drivers[expected[0]["driverId"]]
    assert body["results"][0]["points"] == float(expected[0]["points"])
    assert body["weather"]["observed"]["air_temperature_mean"] == 24.0
    (forecast,) = body["weather"]["forecasts"]
    assert forecast["fetched_at"] == "2025-06-15T17:30:00Z"  # not the one fetched since (22:00)
    assert api.get(CANADA).json()["weather"]["forecasts"][0]["fetched_at"] == "2025-06-15T22:00:00Z"
    # the round id answers the same race at the same clock
    assert api.get("/api/v1/races/2025_10", {"as_of": AFTER_RESULTS}).json() == body


def test_sessions_still_to_come_cost_no_query(api, canada_weather, django_assert_max_num_queries):
    race = _canada()
    with django_assert_max_num_queries(5):  # race, forecasts, practice, its drivers and teams
        body = api.get(CANADA, {"as_of": BEFORE_QUALIFYING}).json()
    assert body["status"] == "scheduled" and body["results"] == [] and body["qualifying"] == []
    counts = _practice_counts(race["raceId"])
    assert _practice(body) == {"FP1": counts["FP1"], "FP2": counts["FP2"]} and counts.get("FP3")
    assert body["weather"] == {"observed": None, "forecasts": [body["weather"]["forecasts"][0]]}
    # before FP1: the schedule and the forecast issued by then, nothing else, in 2 queries
    with django_assert_max_num_queries(2):
        early = api.get(CANADA, {"as_of": "2025-06-13"}).json()
    assert (early["practice"], early["qualifying"], early["sprint"], early["results"]) == ([], [], [], [])


def test_the_status_is_the_race_pages_at_every_clock(api, ergast_data):
    """`race_status(race=, as_of=)`: completed once started with results stored, awaiting results
    after race day without them (2026 round 10, whose results are not in the dump), else scheduled."""
    assert api.get(CANADA, {"as_of": "2025-06-16"}).json()["status"] == "completed"
    assert api.get(CANADA, {"as_of": "2025-06-01"}).json()["status"] == "scheduled"
    r10 = csv_race(2026, 10)
    assert not _rows("results", r10["raceId"])
    late = api.get("/api/v1/races/2026_10", {"as_of": "2026-11-26"}).json()
    assert late["date"] == r10["date"] < "2026-11-26" and late["status"] == "awaiting_results"
    early = api.get("/api/v1/races/2026_10", {"as_of": "2026-06-01"}).json()
    assert early["status"] == "scheduled"


# --- errors (the 400 / 404 every clock endpoint shares: tests/f1site/test_api_clock.py), cache ---------
def test_the_race_id_is_checked_first_then_the_clock_then_the_race(api, ergast_data):
    """A malformed id is its own 400 whatever the clock; a junk clock is refused before any lookup
    (an unknown race with one is the clock's 400, not a 404); a valid clock and an unknown race: 404."""
    malformed = api.get("/api/v1/races/2025-CANADA", {"as_of": "junk"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "bad_request"
    junk = api.get("/api/v1/races/2025_atlantis", {"as_of": "junk"})
    assert junk.status_code == 400 and list(junk.json()["error"]["details"]) == ["as_of"]
    assert api.get("/api/v1/races/2025_atlantis", {"as_of": BEFORE_START}).status_code == 404


def test_each_clock_has_its_own_cache_entry_and_a_race_change_retires_them(
    api, canada_weather, django_assert_max_num_queries
):
    before = api.get(CANADA, {"as_of": BEFORE_START}).json()
    after = api.get(CANADA, {"as_of": AFTER_RESULTS}).json()
    today = api.get(CANADA).json()
    assert before["results"] == [] and after["results"] and today["results"]
    with django_assert_max_num_queries(0):  # each its own warm entry
        assert api.get(CANADA, {"as_of": BEFORE_START}).json() == before
        assert api.get(CANADA, {"as_of": "2025-06-15T17:00:00Z"}).json() == before  # same moment
        assert api.get(CANADA, {"as_of": AFTER_RESULTS}).json() == after
        assert api.get(CANADA).json() == today

    from ingestion.models import QualifyingResult
    from ingestion.signals import races_changed

    QualifyingResult.objects.filter(race=canada_weather, position=1).update(q3="1:00.000")
    assert api.get(CANADA, {"as_of": BEFORE_START}).json() == before  # cached until the change is sent
    races_changed.send(sender=Race, race_ids=["2025_canada"])  # as the sync and the dump load do
    fresh = api.get(CANADA, {"as_of": BEFORE_START}).json()
    assert fresh["qualifying"][0]["q3"] == "1:00.000"


def test_a_date_only_race_is_unrun_at_its_race_day_clock(api, ergast_data):
    """Review finding: `?as_of=2004-10-24` (00:00 UTC) showed 2004 Brazil completed with its results
    but without Saturday's qualifying; a clock on the start stands before the race
    (tests/predictions/test_started_by.py)."""
    before = api.get("/api/v1/races/2004_brazil", {"as_of": "2004-10-24"})
    assert before.status_code == 200, before.content
    assert before.json()["status"] != "completed" and before.json()["results"] == []
    # started, being run: qualifying (held the day before: known from midnight UTC of race day,
    # `session_results_known_at`) but no results until the end of the day
    running = api.get("/api/v1/races/2004_brazil", {"as_of": "2004-10-24T00:01:00Z"}).json()
    assert running["status"] == "awaiting_results" and running["results"] == [] and running["qualifying"]
    after = api.get("/api/v1/races/2004_brazil", {"as_of": "2004-10-25"})
    classified = [r for r in csv_rows("results") if r["raceId"] == csv_race(2004, 18)["raceId"]]
    assert after.json()["status"] == "completed" and len(after.json()["results"]) == len(classified) == 20
    assert after.json()["qualifying"]
