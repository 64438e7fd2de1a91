"""Hand-checked feature VALUES on small hand-built frames (pure pandas, no database).

Every expected number below is worked out by hand (the comment next to it says how) from the
registry's documented meaning (`predictions/features/registry.py`), never by calling feature code:
comparing `build_features` with `build_features` (the leakage and clock-cut tests) cannot catch a
wrong definition (QA audit F1: incident rate counting engine failures, a 4-race "form_5", the points
trend comparing overlapping windows, ... all passed).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from statistics import stdev

import numpy as np
import pandas as pd
import pytest

from predictions.features.compute import build_features
from predictions.features.frames import FORECAST_WEATHER_COLUMNS, F1Frames
from predictions.features.registry import FEATURES

POINTS = {1: 25.0, 2: 18.0, 3: 15.0, 4: 12.0, 5: 10.0, 6: 8.0, 7: 6.0, 8: 4.0, 9: 2.0, 10: 1.0}
# circuit id: (type, length_km)
CIRCUITS = {1: ("permanent", 5.0), 2: ("street", 3.3), 3: (None, None), 4: ("street", None)}
FIRST_RACE = date(2024, 3, 3)


def _weekends(races, *, circuit=None, seasons=None, wet=(), no_weather=(), sprints=(), practice=()):
    """Frames for `races`: one list of entries per race, in date order, race ids 1, 2, 3, ...

    An entry is (driver_id, team_id, grid, position_order, status[, quali]): status "" for a finish,
    "Engine" for a mechanical retirement (car failure), "Collision" for an incident; `quali` is the
    q1 lap in ms or a (q1, q2, q3) tuple (default: 90 s + 0.1 s per grid slot); the qualifying
    position is the grid slot. Finishers score 25-18-15-12-10-8-6-4-2-1 by position, retirements 0.
    `circuit`: race id -> circuit id (default 1, see CIRCUITS); `seasons`: race id -> season (default
    2024; rounds count up within a season, a week apart from 3 March); `wet`: race ids run in the
    wet (rain 60 % of the race); `no_weather`: race ids without any weather; `sprints`: (race_id,
    driver_id, points, position); `practice`: (race_id, session, driver_id, milliseconds, laps).
    """
    circuit, seasons = circuit or {}, seasons or {}
    race_rows, result_rows, quali_rows, rounds = [], [], [], {}
    for race_id, entries in enumerate(races, start=1):
        season = seasons.get(race_id, 2024)
        rounds[season] = rnd = rounds.get(season, 0) + 1
        circuit_id = circuit.get(race_id, 1)
        kind, length = CIRCUITS[circuit_id]
        day = date(season, FIRST_RACE.month, FIRST_RACE.day) + timedelta(weeks=rnd - 1)
        race_rows.append((race_id, season, rnd, pd.Timestamp(day), circuit_id, kind, length))
        for driver_id, team_id, grid, position, status, *quali in entries:
            finished = status == ""
            points = POINTS.get(position, 0.0) if finished else 0.0
            result_rows.append(
                (race_id, driver_id, team_id, grid, position, points, finished, status == "Engine")
            )
            laps = quali[0] if quali else 90_000 + 100 * grid
            q1, q2, q3 = laps if isinstance(laps, tuple) else (laps, np.nan, np.nan)
            quali_rows.append((race_id, driver_id, team_id, grid, q1, q2, q3))
    results = pd.DataFrame(
        result_rows,
        columns=[
            "race_id",
            "driver_id",
            "team_id",
            "grid",
            "position_order",
            "points",
            "finished",
            "car_failure",
        ],
    )
    weather = [
        (r, 25.0, 40.0, 50.0, 2.0, 0.6 if r in wet else 0.0, r in wet, pd.NaT)
        for r in range(1, len(races) + 1)
        if r not in no_weather
    ]
    teams = dict(zip(results["driver_id"], results["team_id"], strict=False))
    return F1Frames(
        races=pd.DataFrame(
            race_rows,
            columns=["race_id", "season", "round", "date", "circuit_id", "circuit_type", "length_km"],
        ),
        drivers=pd.DataFrame(
            {"driver_id": sorted(results["driver_id"].unique()), "date_of_birth": pd.Timestamp("1995-01-01")}
        ),
        results=results,
        sprints=pd.DataFrame(list(sprints), columns=["race_id", "driver_id", "points", "position_order"]),
        qualifying=pd.DataFrame(
            quali_rows, columns=["race_id", "driver_id", "team_id", "position", "q1_ms", "q2_ms", "q3_ms"]
        ),
        practice=pd.DataFrame(
            [(r, s, d, teams[d], ms, laps) for r, s, d, ms, laps in practice],
            columns=["race_id", "session", "driver_id", "team_id", "milliseconds", "laps"],
        ),
        pit_stops=pd.DataFrame(columns=["race_id", "driver_id", "milliseconds"]),
        weather=pd.DataFrame(weather, columns=list(FORECAST_WEATHER_COLUMNS)),
    )


def _at(features, race_id, driver_id):
    rows = features[(features["race_id"] == race_id) & (features["driver_id"] == driver_id)]
    assert len(rows) == 1
    return rows.iloc[0]


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- a driver's own history -------------------------------------------------------------------

# driver 1, alone (these features read only his own rows): (grid, finish) in races 1-11
SOLO = [(1, 20), (5, 1), (3, 3), (8, 5), (7, 7), (2, 9), (4, 2), (4, 4), (9, 6), (8, 8), (12, 10)]


def test_driver_form_consistency_rates_and_points_over_their_windows():
    races = [[(1, 10, grid, finish, "")] for grid, finish in SOLO] + [[(1, 10, 3, 3, "")]]
    sprints = [(9, 1, 3.0, 6)]  # a sprint in race 9: 6th, 3 points
    f = build_features(_weekends(races, sprints=sprints))
    row = _at(f, 12, 1)  # before race 12; his finishes in races 1-11: 20 1 3 5 7 9 2 4 6 8 10

    assert row["driver_form_5"] == pytest.approx(6.0)  # races 7-11: (2+4+6+8+10)/5 (race 6's 9 is out)
    assert row["driver_form_3"] == pytest.approx(8.0)  # races 9-11: (6+8+10)/3
    assert row["driver_form_10"] == pytest.approx(5.5)  # races 2-11: 55/10 (race 1's 20 is out)
    # sample std. dev. (n - 1) of 2 4 6 8 10: squares of the deviations from 6 sum to 40; sqrt(40/4)
    assert row["driver_consistency_5"] == pytest.approx(math.sqrt(10))
    assert row["driver_prev_finish"] == 10
    assert row["driver_experience"] == 11
    assert row["driver_win_rate"] == pytest.approx(1 / 11)  # won race 2
    assert row["driver_podium_rate"] == pytest.approx(3 / 11)  # P1, P3, P2 (races 2, 3, 7)
    assert row["driver_points_rate"] == pytest.approx(10 / 11)  # all but the 20th place (10 places in 2024)
    # grid - finish in races 7-11: (4-2) + (4-4) + (9-6) + (8-8) + (12-10) = 7
    assert row["driver_positions_gained_5"] == pytest.approx(7 / 5)
    assert row["driver_quali_form_5"] == pytest.approx((4 + 4 + 9 + 8 + 12) / 5)  # quali position = grid here
    # points in races 7-11: P2 18 + P4 12 + P6 8 + P8 4 + P10 1 = 43, plus race 9's sprint 3
    assert row["driver_points_form_5"] == pytest.approx(46 / 5)
    # every race: 0 + 25 + 15 + 10 + 6 + 2 + 18 + 12 + 8 + 4 + 1 = 101, plus the sprint's 3
    assert row["driver_season_points"] == pytest.approx(104)
    # race 12 is 77 days after 3 March 2024; born 1 January 1995
    assert row["driver_age"] == pytest.approx((date(2024, 5, 19) - date(1995, 1, 1)).days / 365.25)
    assert row["race_season_progress"] == pytest.approx(12 / 12)
    assert _at(f, 6, 1)["race_season_progress"] == pytest.approx(6 / 12)

    first, second = _at(f, 1, 1), _at(f, 2, 1)
    for col in [
        "driver_form_3",
        "driver_form_5",
        "driver_form_10",
        "driver_consistency_5",
        "driver_win_rate",
    ]:
        assert _nan(first[col]), col  # no earlier race: NaN, not 0
    assert first["driver_experience"] == 0
    assert second["driver_form_5"] == 20  # one earlier race: the mean of that one
    assert _nan(second["driver_consistency_5"])  # no spread from a single race (sample std. dev.)
    assert _at(f, 3, 1)["driver_consistency_5"] == pytest.approx(stdev([20, 1]))  # 13.435: sqrt(180.5)


def test_incidents_mechanical_failures_and_the_finisher_rank():
    """Drivers 1 and 2 drive for team 10, driver 3 for team 20.

    race 1: driver 1 retires with an engine failure (a car failure, not an incident)
    race 2: driver 1 retires after a collision (an incident)
    race 3: driver 3 is classified 1st but retired (engine, last lap): driver 1, 2nd, is the first finisher
    race 4: everyone finishes
    """
    races = [
        [(1, 10, 1, 3, "Engine"), (2, 10, 2, 1, ""), (3, 20, 3, 2, "")],
        [(1, 10, 1, 3, "Collision"), (2, 10, 2, 2, ""), (3, 20, 3, 1, "")],
        [(1, 10, 1, 2, ""), (2, 10, 2, 3, ""), (3, 20, 3, 1, "Engine")],
        [(1, 10, 1, 1, ""), (2, 10, 2, 2, ""), (3, 20, 3, 3, "")],
        [(1, 10, 1, 1, ""), (2, 10, 2, 2, ""), (3, 20, 3, 3, "")],
    ]
    f = build_features(_weekends(races))
    one = _at(f, 5, 1)  # before race 5
    assert one["driver_dnf_rate_10"] == pytest.approx(2 / 4)  # both retirements
    assert one["driver_incident_rate_20"] == pytest.approx(1 / 4)  # the collision only, not the engine
    # ranks among the finishers: races 1 and 2 none (retired), race 3 first of 2, race 4 first of 3
    assert one["driver_finisher_rank_5"] == pytest.approx((1 + 1) / 2)
    assert _nan(_at(f, 3, 1)["driver_finisher_rank_5"])  # finished none of his races so far: NaN
    assert _at(f, 4, 1)["driver_finisher_rank_5"] == 1  # race 3 only: 1st finisher, though 2nd overall
    assert _at(f, 5, 3)["driver_finisher_rank_5"] == pytest.approx((2 + 1 + 3) / 3)  # races 1, 2, 4
    assert _at(f, 5, 3)["driver_incident_rate_20"] == 0  # an engine failure is no incident

    # team 10 per race: share of its 2 entries not finished 1/2, 1/2, 0, 0; with a mechanical cause
    # 1/2, 0, 0, 0; mean finisher rank of its finishers 1 (d2), 2 (d2), (1+2)/2, (1+2)/2
    team = _at(f, 5, 2)
    assert team["team_dnf_rate_10"] == pytest.approx((0.5 + 0.5 + 0 + 0) / 4)
    assert team["team_car_failure_rate_10"] == pytest.approx(0.5 / 4)
    assert team["team_finisher_rank_3"] == pytest.approx((2 + 1.5 + 1.5) / 3)  # races 2-4 (race 1 is out)
    assert _at(f, 5, 3)["team_car_failure_rate_10"] == pytest.approx(1 / 4)  # team 20: race 3's engine


def test_retirement_rates_windows_end_at_10_and_20_races():
    """Driver 1 (team 10, with driver 2): a collision in race 1 (just outside the 20-race window of
    race 22), an engine failure in race 11 (just outside the 10-race window), a collision in race 12
    (the oldest race of that window); every other race finished."""
    status = {1: "Collision", 11: "Engine", 12: "Collision"}
    races = [
        [(1, 10, 1, 2 if r in status else 1, status.get(r, "")), (2, 10, 2, 1 if r in status else 2, "")]
        for r in range(1, 23)
    ]
    row = _at(build_features(_weekends(races)), 22, 1)
    assert row["driver_incident_rate_20"] == pytest.approx(1 / 20)  # races 2-21: race 12's collision
    assert row["driver_dnf_rate_10"] == pytest.approx(1 / 10)  # races 12-21: race 12's collision
    # team 10 per race: 1 of 2 entries out in races 1, 11, 12; races 12-21 for the 10-race window
    assert row["team_dnf_rate_10"] == pytest.approx(0.5 / 10)
    assert row["team_car_failure_rate_10"] == 0  # race 11's engine failure is 11 races back


# --- team history -----------------------------------------------------------------------------


def test_team_points_form_trend_and_championship():
    """Team 10 (drivers 1, 2), team 20 (drivers 3, 4), team 30 (driver 5), six races then race 7.

    team 10's places: (1,2) (1,3) (1,4) (2,3) (2,4) (3,5) -> points 43 40 37 33 30 25
    team 20 gets the other top-four places: 27 30 33 37 40 43 (race 6: 1st and 2nd); driver 5 is
    5th (10 points), in race 6 4th (12 points)."""
    places10 = [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 5)]
    races = []
    for a, b in places10:
        others = [p for p in (1, 2, 3, 4, 5) if p not in (a, b)]
        rest = [(3, 20, others[0], others[0], ""), (4, 20, others[1], others[1], "")]
        races.append([(1, 10, a, a, ""), (2, 10, b, b, ""), *rest, (5, 30, others[2], others[2], "")])
    races.append([(d, t, d, d, "") for d, t in ((1, 10), (2, 10), (3, 20), (4, 20), (5, 30))])
    f = build_features(_weekends(races))
    team10 = _at(f, 7, 1)
    assert team10["team_points_form_5"] == pytest.approx((40 + 37 + 33 + 30 + 25) / 5)  # races 2-6
    # last 3 races (4-6) minus the 3 before (1-3): (33+30+25)/3 - (43+40+37)/3 = 88/3 - 40
    assert team10["team_points_trend"] == pytest.approx(88 / 3 - 40)
    assert team10["team_season_points"] == 43 + 40 + 37 + 33 + 30 + 25  # 208
    assert _at(f, 7, 3)["team_season_points"] == 27 + 30 + 33 + 37 + 40 + 43  # 210
    assert _at(f, 7, 3)["team_championship_position"] == 1
    assert team10["team_championship_position"] == 2
    assert _at(f, 7, 5)["team_championship_position"] == 3  # 5 x 10 + 12 = 62
    # too short a history: NaN until there are 3 races before the last 3 ...
    assert _nan(_at(f, 4, 1)["team_points_trend"])  # races 1-3 only, nothing before them
    # ... then, like every window here (min_periods=1), "the 3 before" is what there is: race 5 sees
    # races 2-4 against race 1 alone: (40+37+33)/3 - 43
    assert _at(f, 5, 1)["team_points_trend"] == pytest.approx(110 / 3 - 43)
    assert _at(f, 1, 1)["team_season_points"] == 0 and _nan(_at(f, 1, 1)["team_points_form_5"])


def test_team_development_slope_and_quali_gap():
    """Team 20 (driver 2) always sets the fastest qualifying lap, 90.000 s; team 10's (driver 1) is
    2.0 1.8 1.6 1.0 0.8 0.6 % slower in races 1-6 (91.800 s ... 90.540 s); race 7 is checked."""
    laps = [91_800, 91_620, 91_440, 90_900, 90_720, 90_540, 91_000]
    # team 10's second car (driver 3) is always 3 % off: the team's gap is its best car's
    races = [[(1, 10, 2, 2, "", ms), (2, 20, 1, 1, "", 90_000), (3, 10, 3, 3, "", 92_700)] for ms in laps]
    f = build_features(_weekends(races))
    row = _at(f, 7, 1)
    # last 3 (races 4-6) mean gap 0.8 %, the 3 before (1-3) 1.8 %: (0.8 - 1.8) / 3 per race
    assert row["team_development_slope"] == pytest.approx(-1 / 3)
    assert row["team_quali_gap_5"] == pytest.approx((1.8 + 1.6 + 1.0 + 0.8 + 0.6) / 5)  # races 2-6
    assert _at(f, 7, 2)["team_quali_gap_5"] == 0 and _at(f, 7, 2)["team_development_slope"] == 0
    assert _nan(_at(f, 4, 1)["team_development_slope"])  # no race before the last 3 yet
    assert _nan(_at(f, 1, 1)["team_quali_gap_5"])
    # pace x reliability: a gap times a DNF rate of 0 (team 10 never retired)
    assert row["pace_x_reliability"] == 0


def test_pace_x_reliability_is_the_product_of_gap_and_dnf_rate():
    # team 10 (driver 1) is 1 % off the fastest lap in races 1 and 2 and retires in race 1 (a collision:
    # a DNF, not a car failure)
    races = [[(1, 10, 2, 2, r, 90_900), (2, 20, 1, 1, "", 90_000)] for r in ("Collision", "", "")]
    row = _at(build_features(_weekends(races)), 3, 1)
    assert row["team_quali_gap_5"] == pytest.approx(1.0)
    assert row["team_dnf_rate_10"] == pytest.approx(1 / 2)
    assert row["team_car_failure_rate_10"] == 0
    assert row["pace_x_reliability"] == pytest.approx(1.0 * 0.5)


# --- circuit history --------------------------------------------------------------------------


def _spearman(grid, finish):
    """Classic rank correlation without ties: 1 - 6 sum(d^2) / (n (n^2 - 1))."""
    n = len(grid)
    return 1 - 6 * sum((g - f) ** 2 for g, f in zip(grid, finish, strict=True)) / (n * (n * n - 1))


def test_circuit_statistics_average_the_last_10_races_there():
    """Circuit 1, visits 1-12 (visit 12 is checked), three cars starting 1 2 3 (driver = grid slot):

    visit 1: finish 3 2 1 (reversed), the two front cars retired -> just outside the 10-race window
    visit 2: finish 3 2 1 (reversed), the pole-sitter retired -> the oldest race of the window
    visits 3-11: finish 1 2 3, everyone finishes
    One race at circuit 2 (reversed, all three retired) runs just before visit 12: not "here"."""
    reversed_ = {1: ("Engine", "Engine", ""), 2: ("Engine", "", "")}
    races = []
    for visit in range(1, 12):
        if visit in reversed_:
            races.append([(d, 10 * d, d, 4 - d, reversed_[visit][d - 1]) for d in (1, 2, 3)])
        else:
            races.append([(d, 10 * d, d, d, "") for d in (1, 2, 3)])
    races.append([(d, 10 * d, d, 4 - d, "Engine") for d in (1, 2, 3)])  # race 12: circuit 2
    races.append([(d, 10 * d, d, d, "") for d in (1, 2, 3)])  # race 13: visit 12 of circuit 1
    f = build_features(_weekends(races, circuit={12: 2}))
    row = _at(f, 13, 1)

    assert _spearman([1, 2, 3], [3, 2, 1]) == -1 and _spearman([1, 2, 3], [1, 2, 3]) == 1
    # visits 2-11: one reversed race (-1) and nine in grid order (+1)
    assert row["circuit_overtaking_difficulty"] == pytest.approx((-1 + 9 * 1) / 10)
    # share of entries not finished, per race: visit 2 1/3, visits 3-11 0
    assert row["circuit_dnf_rate"] == pytest.approx((1 / 3) / 10)
    assert row["grid_x_overtaking"] == pytest.approx(1 * 0.8)  # driver 1 starts 1st
    assert _at(f, 13, 3)["grid_x_overtaking"] == pytest.approx(3 * 0.8)
    # driver 1 at circuit 1: 11 earlier visits, finishing 3 3 then 1 x 9
    assert row["circuit_driver_races"] == 11
    assert row["circuit_driver_avg_finish"] == pytest.approx((3 + 3 + 9 * 1) / 11)
    # form x circuit: last 5 races (visits 8-11 and circuit 2's race: 1 1 1 1 3) minus his circuit mean
    assert row["form_x_circuit"] == pytest.approx((1 + 1 + 1 + 1 + 3) / 5 - 15 / 11)
    first = _at(f, 1, 1)
    assert _nan(first["circuit_overtaking_difficulty"]) and _nan(first["circuit_dnf_rate"])
    assert _nan(_at(f, 12, 1)["circuit_overtaking_difficulty"])  # circuit 2's first race: no history
    assert _nan(first["circuit_driver_avg_finish"]) and first["circuit_driver_races"] == 0


def test_circuit_info_field_size_and_spearman_with_five_cars():
    """Circuit 2 is a 3.3 km street circuit, circuit 3 unknown, circuit 4 a street circuit of unknown
    length; race 1 five cars, the others four."""
    grid, finish = [1, 2, 3, 4, 5], [2, 1, 3, 5, 4]
    races = [
        [(d, 10 * d, g, p, "") for d, g, p in zip((1, 2, 3, 4, 5), grid, finish, strict=True)],
        [(d, 10 * d, d, d, "") for d in (1, 2, 3, 4)],
        [(d, 10 * d, d, d, "") for d in (1, 2, 3, 4)],
        [(d, 10 * d, d, d, "") for d in (1, 2, 3, 4)],
    ]
    f = build_features(_weekends(races, circuit={2: 2, 3: 3, 4: 4}))
    one, street, unknown = _at(f, 1, 1), _at(f, 2, 1), _at(f, 3, 1)
    assert (one["circuit_is_street"], one["circuit_length_km"], one["circuit_info_missing"]) == (0, 5.0, 0)
    assert (street["circuit_is_street"], street["circuit_length_km"], street["circuit_info_missing"]) == (
        1,
        3.3,
        0,
    )
    assert _nan(unknown["circuit_is_street"]) and _nan(unknown["circuit_length_km"])
    assert unknown["circuit_info_missing"] == 1
    half_known = _at(f, 4, 1)
    assert half_known["circuit_is_street"] == 1 and _nan(half_known["circuit_length_km"])
    assert half_known["circuit_info_missing"] == 1  # either one unknown is enough
    assert one["race_field_size"] == 5 and street["race_field_size"] == 4
    # a second visit to circuit 1 sees race 1's correlation: d^2 = 1+1+0+1+1 -> 1 - 6*4/(5*24) = 0.8
    again = build_features(_weekends([races[0], races[1]], circuit={2: 1}))
    assert _at(again, 2, 1)["circuit_overtaking_difficulty"] == pytest.approx(_spearman(grid, finish))
    assert _spearman(grid, finish) == pytest.approx(0.8)


# --- weather ----------------------------------------------------------------------------------


def test_wet_gain_counts_only_earlier_wet_races():
    """Driver 1, (grid, finish): race 1 dry 5 -> 1 (+4); race 2 wet 6 -> 1 (+5); race 3 no weather
    known 8 -> 1 (+7); race 4 dry 1 -> 4 (-3); race 5 wet; race 6 dry."""
    gf = [(5, 1), (6, 1), (8, 1), (1, 4), (2, 2), (2, 2)]
    races = [[(1, 10, g, p, ""), (2, 20, 9, 9, "")] for g, p in gf]
    f = build_features(_weekends(races, wet={2, 5}, no_weather={3}))
    assert _nan(_at(f, 1, 1)["driver_wet_gain"])  # no earlier wet race: NaN, not 0
    assert _nan(_at(f, 2, 1)["driver_wet_gain"])  # race 2's own wet result is not known before it
    assert _at(f, 3, 1)["driver_wet_gain"] == 5  # race 2: 6 - 1
    assert _at(f, 5, 1)["driver_wet_gain"] == 5  # the dry races and the unknown one do not count
    assert _at(f, 6, 1)["driver_wet_gain"] == pytest.approx((5 + 0) / 2)  # race 5: 2 - 2
    assert _at(f, 5, 1)["wet_x_wet_gain"] == 5  # wet race: 1 x 5
    assert _at(f, 4, 1)["wet_x_wet_gain"] == 0  # dry race: 0 x 5
    assert _nan(_at(f, 3, 1)["wet_x_wet_gain"])  # weather unknown
    wet, dry, unknown = _at(f, 2, 1), _at(f, 1, 1), _at(f, 3, 1)
    assert (wet["weather_is_wet"], wet["weather_rain"], wet["weather_missing"]) == (1, 0.6, 0)
    assert (dry["weather_is_wet"], dry["weather_rain"], dry["weather_missing"]) == (0, 0, 0)
    assert (dry["weather_air_temperature"], dry["weather_track_temperature"]) == (25, 40)
    assert (dry["weather_humidity"], dry["weather_wind_speed"]) == (50, 2)
    assert _nan(unknown["weather_is_wet"]) and unknown["weather_missing"] == 1


# --- this weekend: qualifying, grid, sprint, practice -----------------------------------------


def test_qualifying_grid_sprint_and_practice_of_the_weekend():
    """Race 3, teams 10 (drivers 1, 2) and 20 (drivers 3, 4). Qualifying laps (ms):
    driver 1: Q1 91 000, Q2 90 500, Q3 90 000 (fastest of all); driver 2: Q1 90 900;
    driver 3: Q1 90 450; driver 4: Q1 100 800 (12 % off). Driver 2 starts from the pit lane (grid 0).
    Races 1 and 2 (quali position = grid): 1 2 3 4, then 2 1 4 3."""
    races = [
        [(1, 10, 1, 1, ""), (2, 10, 2, 2, ""), (3, 20, 3, 3, ""), (4, 20, 4, 4, "")],
        [(1, 10, 2, 2, ""), (2, 10, 1, 1, ""), (3, 20, 4, 4, ""), (4, 20, 3, 3, "")],
        [
            (1, 10, 1, 1, "", (91_000, 90_500, 90_000)),
            (2, 10, 3, 3, "", 90_900),
            (3, 20, 2, 2, "", 90_450),
            (4, 20, 4, 4, "", 100_800),
        ],
    ]
    sprints = [(3, 1, 8.0, 1), (3, 3, 7.0, 2)]
    practice = [
        (3, "FP1", 1, 91_000, 10),
        (3, "FP2", 1, 90_000, 20),
        (3, "FP1", 2, 90_900, 25),
        (3, "FP1", 4, 100_800, 5),
    ]  # driver 3 ran no timed lap
    frames = _weekends(races, sprints=sprints, practice=practice)
    results = frames.results.copy()
    results.loc[(results["race_id"] == 3) & (results["driver_id"] == 2), "grid"] = 0
    f = build_features(replace(frames, results=results))
    d1, d2, d3, d4 = (_at(f, 3, d) for d in (1, 2, 3, 4))

    assert d1["quali_gap_to_pole_pct"] == 0
    assert d2["quali_gap_to_pole_pct"] == pytest.approx(1.0)  # 90 900 / 90 000 - 1
    assert d3["quali_gap_to_pole_pct"] == pytest.approx(0.5)
    assert d4["quali_gap_to_pole_pct"] == 10  # 12 %, capped at 10
    assert (d1["quali_reached_q3"], d2["quali_reached_q3"]) == (1, 0)
    assert d1["quali_gap_teammate_pct"] == pytest.approx((90_000 / 90_900 - 1) * 100)  # -0.99 %
    assert d2["quali_gap_teammate_pct"] == pytest.approx((90_900 / 90_000 - 1) * 100)  # +1.0 %
    assert (d3["quali_gap_teammate_pct"], d4["quali_gap_teammate_pct"]) == (-5, 5)  # -10.3 / +11.4, clipped
    assert d2["quali_position"] == 3 and d2["grid"] == 4  # pit lane: the back of the 4-car field
    assert d2["grid_penalty"] == 4 - 3 and d1["grid_penalty"] == 0
    assert (d1["sprint_position"], d3["sprint_position"]) == (1, 2)
    assert _nan(d2["sprint_position"]) and _nan(_at(f, 2, 1)["sprint_position"])
    # quali history: positions 1, 2 (driver 1) vs his teammate's 2, 1
    assert d1["driver_quali_form_5"] == pytest.approx(1.5)
    assert d1["driver_quali_gap_teammate_5"] == pytest.approx(((1 - 2) + (2 - 1)) / 2)
    assert d3["driver_quali_gap_teammate_5"] == pytest.approx(((3 - 4) + (4 - 3)) / 2)
    assert _at(f, 2, 4)["driver_quali_gap_teammate_5"] == 1  # race 1: 4th behind his teammate's 3rd
    # practice: best lap of any session, laps summed over the sessions
    assert (d1["practice_gap_pct"], d1["practice_rank"], d1["practice_laps"]) == (0, 1, 30)
    assert d2["practice_gap_pct"] == pytest.approx(1.0) and (d2["practice_rank"], d2["practice_laps"]) == (
        2,
        25,
    )
    assert d4["practice_gap_pct"] == 10 and d4["practice_rank"] == 3  # 12 % off, capped
    assert d1["practice_missing"] == 0 and d3["practice_missing"] == 1 and _nan(d3["practice_gap_pct"])


def test_championship_position_at_round_one_is_last_seasons_order():
    """2023 (races 1, 2): drivers 1 2 3 finish 1 2 3 twice (50, 36, 30 points); 2024 round 1 (race
    3): driver 4 is new, driver 3 wins; round 2 (race 4) is checked too."""
    order = [(1, 10), (2, 20), (3, 30)]
    races = [
        [(d, t, p, p, "") for p, (d, t) in enumerate(order, start=1)],
        [(d, t, p, p, "") for p, (d, t) in enumerate(order, start=1)],
        [(3, 30, 1, 1, ""), (2, 20, 2, 2, ""), (1, 10, 3, 3, ""), (4, 40, 4, 4, "")],
        [(3, 30, 1, 1, ""), (2, 20, 2, 2, ""), (1, 10, 3, 3, ""), (4, 40, 4, 4, "")],
    ]
    f = build_features(_weekends(races, seasons={1: 2023, 2: 2023}))
    # round 1: no points yet this season, so last season's order; the newcomer last
    assert [_at(f, 3, d)["driver_championship_position"] for d in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert [_at(f, 3, d)["driver_season_points"] for d in (1, 2, 3, 4)] == [0, 0, 0, 0]
    # round 2: this season's points, 15 18 25 12
    assert [_at(f, 4, d)["driver_championship_position"] for d in (1, 2, 3, 4)] == [3, 2, 1, 4]
    assert [_at(f, 4, d)["team_championship_position"] for d in (1, 2, 3, 4)] == [3, 2, 1, 4]
    assert _at(f, 3, 1)["team_championship_position"] == 1  # teams: all on 0 points before round 1


def test_every_registry_feature_has_a_value_check():
    """A new feature gets a hand-checked value: each registry name is asserted on in this module, or
    listed with the test elsewhere that pins its value."""
    elsewhere = {
        "driver_races_with_team": "test_feature_frames.py (lineage)",
        "team_experience": "test_feature_frames.py (lineage)",
        "team_form_5": "test_feature_frames.py (lineage)",
        "circuit_team_avg_finish": "test_feature_frames.py (lineage)",
        "team_pit_stop_ratio_5": "test_feature_frames.py (red-flag stops)",
    }
    source = Path(__file__).read_text()
    checked = set(re.findall(r'\["(\w+)"\]', source))
    missing = [f.name for f in FEATURES if f.name not in checked and f.name not in elsewhere]
    assert not missing
