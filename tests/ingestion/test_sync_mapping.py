"""Pure mapping of Jolpica payloads to rows (no database, no HTTP): hand-written payloads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ingestion.clients.jolpica_schemas import PitStop, QualifyingResult, Race, Result
from ingestion.services.jolpica_sync import classification_rows, parse_only, pitstop_rows, race_row

CIRCUIT = {"circuitId": "x", "circuitName": "X", "Location": {"country": "Y"}}
PEOPLE = {
    "Driver": {"driverId": "a", "givenName": "A", "familyName": "B"},
    "Constructor": {"constructorId": "t", "name": "T"},
}


def _race(season, **sessions):
    return Race.model_validate(
        {
            "season": str(season),
            "round": "3",
            "raceName": "X GP",
            "Circuit": CIRCUIT,
            "date": "2024-05-05",
            "time": "14:00:00Z",
            **sessions,
        }
    )


def test_race_row_times_and_sprint_weekend_slots():
    utc = dt.UTC
    row = race_row(
        _race(
            2024,
            FirstPractice={"date": "2024-05-03", "time": "10:30:00Z"},
            SprintQualifying={"date": "2024-05-03", "time": "14:30:00Z"},
            Sprint={"date": "2024-05-04"},
        ),
        circuit_pk=9,
    )
    assert row["start"] == dt.datetime(2024, 5, 5, 14, 0, tzinfo=utc)
    assert row["fp1_start"] == dt.datetime(2024, 5, 3, 10, 30, tzinfo=utc)
    assert row["sprint_qualifying_start"] == dt.datetime(2024, 5, 3, 14, 30, tzinfo=utc)
    assert row["fp2_start"] is None and row["sprint_start"] is None  # a date without a time is unknown
    assert (row["season_id"], row["round"], row["circuit_id"]) == (2024, 3, 9)

    # 2021-2022 sprint weekends: the second session is still FP2
    row = race_row(
        _race(
            2021,
            SecondPractice={"date": "2021-07-17", "time": "11:00:00Z"},
            Sprint={"date": "2021-07-17", "time": "14:30:00Z"},
        ),
        circuit_pk=1,
    )
    assert (
        row["fp2_start"] == dt.datetime(2021, 7, 17, 11, 0, tzinfo=utc)
        and row["sprint_qualifying_start"] is None
    )
    # 2023: the sprint shootout
    row = race_row(
        _race(
            2023,
            SprintShootout={"date": "2023-04-29", "time": "10:00:00Z"},
            Sprint={"date": "2023-04-29", "time": "14:30:00Z"},
        ),
        circuit_pk=1,
    )
    assert row["sprint_qualifying_start"] == dt.datetime(2023, 4, 29, 10, 0, tzinfo=utc)


def test_classification_rows_take_position_from_position_text():
    items = [
        Result.model_validate(
            {
                **PEOPLE,
                "number": "1",
                "position": "1",
                "positionText": "1",
                "points": "25",
                "grid": "2",
                "laps": "57",
                "status": "Finished",
                "Time": {"millis": "5400000", "time": "1:30:00.000"},
                "FastestLap": {
                    "rank": "1",
                    "lap": "44",
                    "Time": {"time": "1:32.100"},
                    "AverageSpeed": {"speed": "210.5"},
                },
            }
        ),
        Result.model_validate(
            {
                **PEOPLE,
                "Driver": {**PEOPLE["Driver"], "driverId": "b"},
                "number": "2",
                "position": "2",
                "positionText": "R",
                "points": "0.5",
                "laps": "3",
                "status": "Engine",
            }
        ),
    ]
    first, second = classification_rows("results", items)
    assert (first["position"], first["position_order"], first["points"], first["milliseconds"]) == (
        1,
        1,
        Decimal("25"),
        5400000,
    )
    assert (first["fastest_lap"], first["fastest_lap_rank"], first["fastest_lap_speed"]) == (
        44,
        1,
        Decimal("210.5"),
    )
    assert (second["position"], second["position_text"], second["position_order"]) == (None, "R", 2)
    assert (second["grid"], second["time_text"], second["fastest_lap_time"]) == (None, "", "")
    assert [r["shared_car_index"] for r in (first, second)] == [0, 0]


def test_qualifying_and_pit_stop_times_in_milliseconds():
    (q,) = classification_rows(
        "qualifying",
        [
            QualifyingResult.model_validate(
                {**PEOPLE, "number": "4", "position": "1", "Q1": "1:30.123", "Q2": ""}
            )
        ],
    )
    assert (q["q1_ms"], q["q2_ms"], q["q3_ms"], q["q3"]) == (90123, None, None, "")
    (p,) = pitstop_rows(
        [PitStop.model_validate({"driverId": "a", "lap": "12", "stop": "1", "duration": "22.456"})]
    )
    assert (p["milliseconds"], p["time_of_day"], p["lap"]) == (22456, "", 12)


def test_parse_only():
    assert parse_only("standings,results") == ("results", "driver_standings", "team_standings")
    assert parse_only(None)[0] == "results" and len(parse_only(None)) == 6
    with pytest.raises(ValueError, match="unknown kind 'laps'"):
        parse_only("laps")


def test_parse_only_races_is_the_calendar_only_and_empty_is_an_error():
    assert parse_only("races") == ()
    assert parse_only(parse_only("races")) == ()  # the command parses, then jolpica_sync again
    for value in (None, "results,standings", "pitstops"):
        assert parse_only(parse_only(value)) == parse_only(value)
    for empty in (",", "", " , "):
        with pytest.raises(ValueError, match="no kind given"):
            parse_only(empty)
