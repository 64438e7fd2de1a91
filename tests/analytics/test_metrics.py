"""Pure metric functions on small frames built from real rows of the Ergast dump, checked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analytics.services import driver_metrics, team_metrics
from analytics.services.common import circuit_difficulty, slope, started

VER, PER, HAM, BOT = 830, 815, 1, 822
RED_BULL, MERCEDES = 9, 131


def _quali(rows):
    cols = [
        "race_id",
        "season",
        "round",
        "race_slug",
        "driver_id",
        "team_id",
        "position",
        "q1_ms",
        "q2_ms",
        "q3_ms",
    ]
    return pd.DataFrame(rows, columns=cols).astype({"q1_ms": float, "q2_ms": float, "q3_ms": float})


def _results(rows):
    cols = [
        "race_id", "season", "round", "race_slug", "race_name", "circuit_id", "circuit_ref", "circuit_name",
        "driver_id", "team_id", "grid", "position", "position_order", "points", "status",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=cols)
    if "position_text" not in frame:  # the sheet's letter as a classified finisher / retirement has it
        frame["position_text"] = [
            "R" if pd.isna(pos) else str(int(pos)) for pos in frame["position"].astype(float)
        ]
    if "shared_car_index" not in frame:  # one driver per car, as since the 1960s
        frame["shared_car_index"] = 0
    return frame.astype({"grid": float, "position": float, "points": float})


# 2021 Abu Dhabi GP (raceId 1073) qualifying.csv: VER 1:23.322 / 1:22.800 / 1:22.109 (P1),
# PER 1:23.350 / 1:23.135 / 1:22.947 (P4).
ABU_2021_QUALI = [
    (1073, 2021, 22, "2021_abu_dhabi", VER, RED_BULL, 1, 83322, 82800, 82109),
    (1073, 2021, 22, "2021_abu_dhabi", PER, RED_BULL, 4, 83350, 83135, 82947),
]


def test_qualifying_gap_uses_q3_when_both_set_one():
    out = driver_metrics.qualifying_gap_to_teammate(_quali(ABU_2021_QUALI), driver_id=VER)
    # (82109 - 82947) / 82947 * 100 = -838 / 829.47 = -1.0103 %
    assert out["races"] == 1
    assert out["per_race"][0]["session"] == "Q3"
    assert out["median_gap_pct"] == pytest.approx(-1.010, abs=0.001)
    assert (out["ahead"], out["behind"]) == (1, 0)
    # and from the team-mate's side the gap is positive, head-to-head reversed
    other = driver_metrics.qualifying_gap_to_teammate(_quali(ABU_2021_QUALI), driver_id=PER)
    assert other["median_gap_pct"] == pytest.approx(838 / 82109 * 100, abs=0.001)
    assert (other["ahead"], other["behind"]) == (0, 1)


def test_qualifying_gap_falls_back_to_the_deepest_shared_session():
    # PER out in Q2 (no Q3 time): compare Q2 times, 82800 vs 83135 -> -335 / 831.35 = -0.403 %
    rows = [ABU_2021_QUALI[0], (1073, 2021, 22, "2021_abu_dhabi", PER, RED_BULL, 11, 83350, 83135, None)]
    out = driver_metrics.qualifying_gap_to_teammate(_quali(rows), driver_id=VER)
    assert out["per_race"][0]["session"] == "Q2"
    assert out["median_gap_pct"] == pytest.approx(-0.403, abs=0.001)


def test_qualifying_gap_without_teammate_is_empty_not_an_error():
    out = driver_metrics.qualifying_gap_to_teammate(_quali(ABU_2021_QUALI[:1]), driver_id=VER)
    assert out == {"races": 0, "median_gap_pct": None, "ahead": 0, "behind": 0, "per_race": []}


def _abu_2021_results():
    # results.csv, raceId 1073: VER grid 1 -> 1st (26 pts), HAM grid 2 -> 2nd (18), PER grid 4 ->
    # not classified, order 15 (statusId 5 = "Engine" in status.csv); BOT simplified to grid 6 -> 6th.
    base = (1073, 2021, 22, "2021_abu_dhabi", "Abu Dhabi Grand Prix", 24, "yas_marina", "Yas Marina Circuit")
    return _results(
        [
            (*base, VER, RED_BULL, 1, 1, 1, 26, "Finished"),
            (*base, HAM, MERCEDES, 2, 2, 2, 18, "Finished"),
            (*base, BOT, MERCEDES, 6, 6, 6, 8, "Finished"),
            (*base, PER, RED_BULL, 4, None, 15, 0, "Engine"),
        ]
    )


def test_circuit_difficulty_is_mean_absolute_places_changed_by_classified_finishers():
    # classified: |1-1| + |2-2| + |6-6| = 0 -> difficulty 0 (PER retired, excluded)
    assert circuit_difficulty(_abu_2021_results()) == {24: 0.0}


def test_overtaking_score_weights_gains_by_circuit_difficulty():
    base = (1, 2021, 1, "2021_x", "X GP", 7, "x", "X")
    field = _results(
        [
            (*base, VER, RED_BULL, 5, 1, 1, 25, "Finished"),  # +4
            (*base, HAM, MERCEDES, 1, 2, 2, 18, "Finished"),  # -1
            (*base, BOT, MERCEDES, 2, 3, 3, 15, "Finished"),  # -1
            (*base, PER, RED_BULL, 3, None, 4, 0, "Gearbox"),  # retired: not counted
        ]
    )
    # difficulty = (4 + 1 + 1) / 3 = 2; VER gained 4 -> weighted 4 / 2 = 2
    out = driver_metrics.overtaking_score(field, field, driver_id=VER)
    assert out["races"] == 1
    assert out["mean_positions_gained"] == 4
    assert out["per_race"][0]["circuit_mean_change"] == 2
    assert out["score"] == 2
    assert driver_metrics.overtaking_score(field, field, driver_id=PER)["score"] is None


def test_race_pace_consistency_is_sample_stdev_of_classified_finishes():
    base = (1, 2021, 1, "2021_x", "X GP", 7, "x", "X")
    frame = _results(
        [
            (*base[:2], 1, *base[3:], VER, RED_BULL, 1, 1, 1, 25, "Finished"),
            (2, 2021, 2, "2021_y", "Y GP", 8, "y", "Y", VER, RED_BULL, 1, 3, 3, 15, "Finished"),
            (3, 2021, 3, "2021_z", "Z GP", 9, "z", "Z", VER, RED_BULL, 1, None, 18, 0, "Engine"),
        ]
    )
    out = driver_metrics.race_pace_consistency(frame, driver_id=VER)
    # finishes 1 and 3: mean 2, sample stdev sqrt(((1-2)^2 + (3-2)^2) / 1) = sqrt(2)
    assert out["finishes"] == 2
    assert out["mean_position"] == 2
    assert out["position_stdev"] == pytest.approx(math.sqrt(2), abs=0.001)


def test_wet_weather_rating_compares_teammate_deltas_wet_vs_dry():
    dry = (1, 2021, 1, "a", "A", 1, "a", "A")
    wet = (2, 2021, 2, "b", "B", 2, "b", "B")
    unknown = (3, 2021, 3, "c", "C", 3, "c", "C")
    frame = _results(
        [
            (*dry, VER, RED_BULL, 1, 2, 2, 18, "Finished"),
            (*dry, PER, RED_BULL, 2, 1, 1, 25, "Finished"),  # dry: VER lost by 1 -> delta -1
            (*wet, VER, RED_BULL, 1, 1, 1, 25, "Finished"),
            (*wet, PER, RED_BULL, 2, 5, 5, 10, "Finished"),  # wet: VER beat him by 4 -> +4
            (*unknown, VER, RED_BULL, 1, 9, 9, 2, "Finished"),
            (*unknown, PER, RED_BULL, 2, 1, 1, 25, "Finished"),  # weather unknown: ignored
        ]
    )
    out = driver_metrics.wet_weather_rating(frame, {1: False, 2: True}, driver_id=VER)
    assert (out["wet_races"], out["dry_races"]) == (1, 1)
    assert out["wet_delta_vs_teammate"] == 4
    assert out["dry_delta_vs_teammate"] == -1
    assert out["rating"] == 5


def test_wet_weather_rating_without_a_teammate_race_is_empty_not_an_error():
    # a driver who never shared a team in a race (here: the only car of his team) has no pairs; an
    # empty frame filtered by an empty mask used to lose its columns and raise KeyError (HTTP 500)
    dry = (1, 2021, 1, "a", "A", 1, "a", "A")
    frame = _results([(*dry, VER, RED_BULL, 1, 2, 2, 18, "Finished")])
    out = driver_metrics.wet_weather_rating(frame, {1: False}, driver_id=VER)
    assert (out["wet_races"], out["dry_races"]) == (0, 0)
    assert out["rating"] is None


def test_pit_stop_proxy_and_team_efficiency_on_abu_dhabi_2021():
    results = _abu_2021_results()
    # pit_stops.csv raceId 1073: VER stops 21152 (lap 13) and 21871 (lap 36); HAM 21595 (lap 14);
    # PER 21471 (lap 21) and 21413 (lap 36); BOT: none in this excerpt.
    pits = pd.DataFrame(
        [
            (1073, VER, 1, 13, 21152.0),
            (1073, VER, 2, 36, 21871.0),
            (1073, HAM, 1, 14, 21595.0),
            (1073, PER, 1, 21, 21471.0),
            (1073, PER, 2, 36, 21413.0),
        ],
        columns=["race_id", "driver_id", "stop", "lap", "milliseconds"],
    )
    out = driver_metrics.pit_stop_proxy(results, pits, driver_id=VER)
    # classified finishers' stops: VER 2, HAM 1, BOT 0 -> median 1; VER 2 - 1 = +1
    assert out["mean_stops_vs_field"] == 1
    assert out["median_stop_ms"] == pytest.approx((21152 + 21871) / 2, abs=0.5)  # whole ms
    team = team_metrics.pit_stop_efficiency(pits, results, team_id=RED_BULL)
    # Red Bull stops: 21152, 21413, 21471, 21871 -> median (21413 + 21471) / 2 = 21442
    assert team["stops"] == 4
    assert team["median_ms"] == 21442
    # quartiles (linear interpolation): q1 = 21152 + 0.75*(21413-21152) = 21347.75,
    # q3 = 21471 + 0.25*(21871-21471) = 21571 -> IQR 223.25 -> 223
    assert team["iqr_ms"] == 223
    # Mercedes median 21595 > Red Bull 21442: Red Bull ranks 1st of 2
    assert (team["rank"], team["teams_ranked"]) == (1, 2)


def test_reliability_counts_only_mechanical_retirements():
    results = _abu_2021_results()
    extra = results.iloc[[3]].assign(race_id=1074, driver_id=VER, status="Collision")
    out = team_metrics.reliability(pd.concat([results, extra]), team_id=RED_BULL)
    # Red Bull: VER finished, PER retired (Engine, mechanical), VER retired (Collision, not mechanical)
    assert out == {
        "entries": 3,
        "starts": 3,
        "mechanical_dnfs": 1,
        "mechanical_dnf_rate": 0.333,
        "reasons": {"Engine": 1},
    }


def test_reliability_counts_a_classified_car_that_retired_mechanically():
    """A car that stops in the last laps can still be classified (2022 Bahrain: Pérez 18th,
    "Fuel pressure"): it retired all the same, and the status says why."""
    results = _abu_2021_results()
    per = results.index[results["driver_id"] == PER][0]
    results.loc[per, ["position", "position_text", "status"]] = [15.0, "15", "Fuel pressure"]
    out = team_metrics.reliability(results, team_id=RED_BULL)
    assert (out["starts"], out["mechanical_dnfs"], out["reasons"]) == (2, 1, {"Fuel pressure": 1})


def test_reliability_counts_a_shared_car_once():
    """A 1950s car driven in turn by two drivers has a result row per driver (its starter's with
    `shared_car_index` 0): one car entered, started and retired, not two."""
    results = _abu_2021_results()
    per = results[results["driver_id"] == PER]
    co_driver = per.assign(driver_id=HAM, shared_car_index=1)
    out = team_metrics.reliability(pd.concat([results, co_driver]), team_id=RED_BULL)
    assert (out["entries"], out["starts"], out["mechanical_dnfs"]) == (2, 2, 1)


def test_a_did_not_start_row_is_entered_not_started():
    """A non-start whose status names its reason (position_text "W", status "Driveshaft": Leclerc at
    Monaco 2021) or a non-qualifier ("F") is an entry, not a start, in every count."""
    results = _abu_2021_results()
    # two copies of a row, then made a non-starter and a non-qualifier (concatenating all-NA
    # positions is deprecated in pandas)
    frame = pd.concat([results, results.iloc[[0, 0]]], ignore_index=True)
    dns, dnq = len(results), len(results) + 1
    frame.loc[[dns, dnq], "position"] = None
    frame.loc[dns, ["race_id", "status", "position_text"]] = [1074, "Driveshaft", "W"]
    frame.loc[dnq, ["race_id", "status", "position_text"]] = [1075, "Injury", "F"]
    assert list(started(frame)) == [True] * len(results) + [False, False]
    out = team_metrics.reliability(frame, team_id=RED_BULL)
    assert (out["entries"], out["starts"], out["mechanical_dnfs"]) == (4, 2, 1)  # PER's engine only


def test_qualifying_pace_ranking_and_development_trajectory():
    rows = [
        # race 1: RBR best 80000, MER best 80400 (+0.5 %)
        (1, 2021, 1, "a", VER, RED_BULL, 1, 81000, 80500, 80000),
        (1, 2021, 1, "a", HAM, MERCEDES, 2, 81000, 80600, 80400),
        # race 2: MER 90000 fastest, RBR 90900 (+1 %)
        (2, 2021, 2, "b", HAM, MERCEDES, 1, 91000, 90500, 90000),
        (2, 2021, 2, "b", VER, RED_BULL, 2, 91000, 91000, 90900),
        # race 3: MER 70000, RBR 70700 (+1 %)
        (3, 2021, 3, "c", HAM, MERCEDES, 1, 71000, 70500, 70000),
        (3, 2021, 3, "c", VER, RED_BULL, 2, 71000, 71000, 70700),
    ]
    ranking = team_metrics.qualifying_pace_ranking(_quali(rows))
    # medians: MER of (0.5, 0, 0) = 0; RBR of (0, 1, 1) = 1
    assert [(r["team_id"], r["median_gap_pct"]) for r in ranking] == [(MERCEDES, 0.0), (RED_BULL, 1.0)]
    dev = team_metrics.development_trajectory(_quali(rows), team_id=RED_BULL)
    # gaps 0, 1, 1 -> least-squares slope 0.5 % per race
    assert dev["slope_pct_per_race"] == pytest.approx(0.5)


def test_strategy_effectiveness_relative_to_field():
    results = _abu_2021_results()
    pits = pd.DataFrame(
        [(1073, VER, 1, 13, 21152.0), (1073, HAM, 1, 14, 21595.0), (1073, BOT, 1, 20, 22000.0)],
        columns=["race_id", "driver_id", "stop", "lap", "milliseconds"],
    )
    # cars that stopped and were classified: VER 1->1 (0), HAM 2->2 (0), BOT 6->6 (0): field mean 0
    out = team_metrics.strategy_effectiveness(results, pits, team_id=MERCEDES)
    assert out["races"] == 1 and out["mean_relative_gain"] == 0


def test_slope_needs_three_points():
    assert slope([1, 2]) is None
    assert slope([0, 1, 2, 3]) == pytest.approx(1.0)


def test_season_form_rolling_points():
    frame = _results(
        [
            (i, 2021, i, f"r{i}", f"R{i}", i, f"c{i}", f"C{i}", VER, RED_BULL, 1, pos, pos, pts, "Finished")
            for i, (pos, pts) in enumerate([(1, 25), (2, 18), (10, 1), (1, 25)], start=1)
        ]
    )
    out = driver_metrics.season_form(frame, driver_id=VER)
    assert out["points"] == 69
    # rolling 3: 25, 21.5, 14.667, 14.667
    assert [r["rolling_points"] for r in out["per_race"]] == [25, 21.5, 14.67, 14.67]


def test_season_form_counts_each_weekends_sprint_points():
    """Verstappen's 2021 rounds 10, 13 and 14 (British GP: out, sprint 3 points; Dutch GP: won, no
    sprint; Italian GP: out, sprint 2 points): a round's points are the weekend's, the season's
    match the standings, the Grand Prix part stays apart, another driver's sprint is not counted."""
    frame = _results(
        [
            (
                i,
                2021,
                rnd,
                f"r{rnd}",
                f"R{rnd}",
                i,
                f"c{i}",
                f"C{i}",
                VER,
                RED_BULL,
                1,
                pos,
                order,
                pts,
                status,
            )
            for i, (rnd, pos, order, pts, status) in enumerate(
                [(10, None, 20, 0, "Accident"), (13, 1, 1, 25, "Finished"), (14, None, 19, 0, "Collision")],
                start=1,
            )
        ]
    )
    sprints = pd.DataFrame(
        [(1, VER, RED_BULL, 3.0), (3, VER, RED_BULL, 2.0), (3, HAM, MERCEDES, 1.0)],
        columns=["race_id", "driver_id", "team_id", "points"],
    )
    out = driver_metrics.season_form(frame, sprints, driver_id=VER)
    assert (out["points"], out["race_points"], out["sprint_points"]) == (30, 25, 5)
    assert [(r["points"], r["race_points"], r["sprint_points"]) for r in out["per_race"]] == [
        (3, 0, 3),
        (25, 25, 0),
        (2, 0, 2),
    ]
    # without sprint results (a season before 2021): Grand Prix points only, as before
    assert driver_metrics.season_form(frame, driver_id=VER)["points"] == 25
