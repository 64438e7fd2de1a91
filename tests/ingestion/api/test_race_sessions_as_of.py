"""GET races/{race_id}?as_of= during a session: its rows only once its results were known
(`ingestion.selectors.session_results_known`: start + 1 h for practice, + 2 h for sprint qualifying,
the sprint and qualifying), not from its start. A reviewer's probe: 10 minutes into the 2025
Chinese GP's sprint the endpoint returned all 20 sprint rows, its final classification.

Real data: 2025 round 2, China (sprint 2025-03-22 03:00 UTC, qualifying 07:00), and round 10,
Canada (FP3 2025-06-14 16:30 UTC); expected rows from the dump's CSV files (tests/drf_support.py).
"""

from __future__ import annotations

import pytest

from tests.drf_support import csv_race, csv_rows

pytestmark = pytest.mark.django_db

CHINA = "/api/v1/races/2025_2"


def _rows(name: str, race_id: str) -> list[dict]:
    return [r for r in csv_rows(name) if r["raceId"] == race_id]


def test_during_the_sprint_and_qualifying_their_rows_are_not_known(
    api, ergast_data, django_assert_max_num_queries
):
    race = csv_race(2025, 2)
    assert (race["sprint_date"], race["sprint_time"]) == ("2025-03-22", "03:00:00")
    assert (race["quali_date"], race["quali_time"]) == ("2025-03-22", "07:00:00")
    sprint = sorted(_rows("sprint_results", race["raceId"]), key=lambda r: int(r["positionOrder"]))
    quali = sorted(_rows("qualifying", race["raceId"]), key=lambda q: int(q["position"]))
    assert len(sprint) == len(quali) == 20

    with django_assert_max_num_queries(5):  # race, forecasts, FP1 and its drivers and teams: no sprint
        during_sprint = api.get(CHINA, {"as_of": "2025-03-22T03:10"}).json()  # sprint start + 10 min
    assert during_sprint["sprint"] == [] and during_sprint["qualifying"] == []
    assert [s["session"] for s in during_sprint["practice"]] == ["FP1"]  # Friday's, known
    assert during_sprint["status"] == "scheduled"

    after_sprint = api.get(CHINA, {"as_of": "2025-03-22T05:01"}).json()  # + 2 h 01: past its cap
    assert [r["position_order"] for r in after_sprint["sprint"]] == [int(r["positionOrder"]) for r in sprint]
    assert after_sprint["qualifying"] == []

    during_quali = api.get(CHINA, {"as_of": "2025-03-22T07:05"}).json()  # qualifying start + 5 min
    assert during_quali["qualifying"] == [] and len(during_quali["sprint"]) == 20
    after_quali = api.get(CHINA, {"as_of": "2025-03-22T09:01"}).json()
    assert [q["position"] for q in after_quali["qualifying"]] == [int(q["position"]) for q in quali]


def test_during_a_practice_session_its_rows_are_not_known(api, ergast_data):
    race = csv_race(2025, 10)
    assert (race["fp3_date"], race["fp3_time"]) == ("2025-06-14", "16:30:00")
    fp3 = _rows("practice", race["raceId"])
    fp3 = [p for p in fp3 if p["session"] == "FP3"]
    assert fp3
    during = api.get("/api/v1/races/2025_canada", {"as_of": "2025-06-14T17:00"}).json()  # FP3 + 30 min
    assert {s["session"] for s in during["practice"]} == {"FP1", "FP2"}
    after = api.get("/api/v1/races/2025_canada", {"as_of": "2025-06-14T17:31"}).json()  # + 1 h 01
    (shown,) = [s for s in after["practice"] if s["session"] == "FP3"]
    assert len(shown["results"]) == len(fp3)
