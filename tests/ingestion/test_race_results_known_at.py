"""`race_results_known_at`: the moment a race's results count as known at a clock — its start plus
three hours (the FIA's cap on a race's total time, suspensions included), or the end of race day
(midnight UTC of the next day) when the calendar has no start time. Pure: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from ingestion.selectors import RACE_RESULTS_DELAY, race_results_known_at, race_started_at
from predictions.features.clock import results_known_times


def test_a_race_with_a_start_time_is_known_three_hours_after_it():
    start = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
    assert timedelta(hours=3) == RACE_RESULTS_DELAY
    assert race_results_known_at(race_date=date(2025, 6, 15), start=start) == datetime(
        2025, 6, 15, 21, 0, tzinfo=UTC
    )
    # after its start, never before: the race is being run in between
    assert race_started_at(race_date=date(2025, 6, 15), start=start) == start


def test_a_race_without_a_start_time_is_known_at_the_end_of_race_day():
    assert race_results_known_at(race_date=date(1999, 10, 31), start=None) == datetime(
        1999, 11, 1, 0, 0, tzinfo=UTC
    )
    # the last day of a year, and of a leap February
    assert race_results_known_at(race_date=date(1995, 12, 31), start=None) == datetime(1996, 1, 1, tzinfo=UTC)
    assert race_results_known_at(race_date=date(1996, 2, 28), start=None) == datetime(1996, 2, 29, tzinfo=UTC)


def test_the_frames_vectorised_form_agrees_with_the_function():
    races = pd.DataFrame(
        {
            "race_id": [1, 2, 3],
            "date": pd.to_datetime(["2025-06-15", "1999-10-31", "2023-11-18"]),
            "start": pd.to_datetime([datetime(2025, 6, 15, 18, tzinfo=UTC), None, None], utc=True),
        }
    )
    known = results_known_times(races)
    assert known[1] == pd.Timestamp("2025-06-15 21:00", tz="UTC")
    assert known[2] == pd.Timestamp("1999-11-01 00:00", tz="UTC")
    assert known[3] == pd.Timestamp("2023-11-19 00:00", tz="UTC")
    # no `start` column at all: every race by its day
    assert results_known_times(races.drop(columns="start"))[1] == pd.Timestamp("2025-06-16", tz="UTC")
