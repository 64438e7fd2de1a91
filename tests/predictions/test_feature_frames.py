"""Feature computation on small hand-built frames (pure pandas, no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictions.features.compute import build_features
from predictions.features.frames import F1Frames

WEATHER_COLUMNS = [
    "race_id",
    "air_temperature",
    "track_temperature",
    "humidity",
    "wind_speed",
    "rain",
    "is_wet",
    "fetched_at",
]


def _frames(entries, *, pit_stops=(), teams=None, weather=None) -> F1Frames:
    """`entries`: (season, driver_id, team_id, position); one race per season, round 1, in order."""
    results = pd.DataFrame(entries, columns=["season", "driver_id", "team_id", "position_order"])
    results["race_id"] = results["season"] - 2000
    results["grid"] = results["position_order"]
    results["points"] = np.where(results["position_order"] == 1, 25.0, 0.0)
    results["finished"] = True
    results["car_failure"] = False
    seasons = sorted(results["season"].unique())
    races = pd.DataFrame(
        {
            "race_id": [s - 2000 for s in seasons],
            "season": seasons,
            "round": 1,
            "date": [pd.Timestamp(f"{s}-06-01") for s in seasons],
            "circuit_id": 1,
            "circuit_type": "permanent",
            "length_km": 5.0,
        }
    )
    drivers = pd.DataFrame(
        {"driver_id": sorted(results["driver_id"].unique()), "date_of_birth": pd.Timestamp("1995-01-01")}
    )
    qualifying = results[["race_id", "driver_id", "team_id"]].assign(
        position=results["position_order"],
        q1_ms=90_000 + 100 * results["position_order"],
        q2_ms=np.nan,
        q3_ms=np.nan,
    )
    weather = (
        weather
        if weather is not None
        else pd.DataFrame(
            [(r, 25.0, 40.0, 50.0, 2.0, 0.0, False, pd.NaT) for r in races["race_id"]],
            columns=WEATHER_COLUMNS,
        )
    )
    return F1Frames(
        races=races,
        drivers=drivers,
        results=results[
            ["race_id", "driver_id", "team_id", "grid", "position_order", "points", "finished", "car_failure"]
        ],
        sprints=pd.DataFrame(columns=["race_id", "driver_id", "points", "position_order"]),
        qualifying=qualifying,
        practice=pd.DataFrame(columns=["race_id", "session", "driver_id", "team_id", "milliseconds", "laps"]),
        pit_stops=pd.DataFrame(list(pit_stops), columns=["race_id", "driver_id", "milliseconds"]),
        weather=weather,
        **({"teams": pd.DataFrame(teams, columns=["team_id", "team_ref"])} if teams is not None else {}),
    )


def _row(features, season, driver_id):
    rows = features[(features["season"] == season) & (features["driver_id"] == driver_id)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_a_red_flag_stoppage_is_not_a_pit_stop():
    """Audit: red-flag suspensions are recorded as pit "stops" (2024 Brazil: ~23.7 min), which gave
    team pit-stop ratios of 12-24. Pit-lane times of a minute or more (`PIT_STOP_MAX_MS`, shared
    with the analytics app) are left out of the ratio and of the race median it is relative to."""
    from analytics.services.common import PIT_STOP_MAX_MS
    from predictions.features import compute

    assert compute.PIT_STOP_MAX_MS is PIT_STOP_MAX_MS == 60_000
    entries = [(s, d, t, p) for s in (2021, 2022, 2023) for d, t, p in ((1, 10, 1), (2, 20, 2))]
    stops = [
        (21, 1, 22_000),
        (21, 1, 23_000),
        (21, 2, 24_000),
        (21, 2, 25_000),
        (22, 1, 22_000),
        (22, 1, 1_422_000),  # red flag: the whole suspension in the pit lane
        (22, 2, 24_000),
        (22, 2, 1_424_000),
    ]
    f = build_features(_frames(entries, pit_stops=stops))
    team_a, team_b = _row(f, 2023, 1), _row(f, 2023, 2)
    assert team_a["team_pit_stop_ratio_5"] == pytest.approx((22.5 / 23.5 + 22 / 23) / 2)
    assert team_b["team_pit_stop_ratio_5"] == pytest.approx((24.5 / 23.5 + 24 / 23) / 2)
    # a race whose only stops are red-flag ones has no ratio (NaN), not one of ~1
    only_red = build_features(_frames(entries, pit_stops=[(21, 1, 1_400_000), (21, 2, 1_401_000)]))
    assert np.isnan(_row(only_red, 2022, 1)["team_pit_stop_ratio_5"])
