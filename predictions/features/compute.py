"""Vectorised, leak-free feature computation for every (race, driver) entry at once.

All history features are "prior" statistics: values are shifted by one race within each driver /
team / circuit group before any rolling or expanding window, so a row only ever sees earlier races.
The race's own qualifying, grid and practice feed only the features flagged for them in the registry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.services.common import PIT_STOP_MAX_MS
from predictions.features.clock import practice_before_qualifying
from predictions.features.frames import F1Frames, points_places
from predictions.features.lineage import team_outfits
from predictions.features.registry import FEATURES

KEY = ["race_id", "driver_id", "team_id"]
TARGETS = ["finish", "dnf", "in_points", "podium", "win"]


def _prior(df: pd.DataFrame, keys: list[str], col: str, window: int | None = None, how: str = "mean"):
    """Statistic of `col` over the group's earlier rows (df sorted in time order)."""
    shifted = df.groupby(keys, sort=False)[col].shift(1)
    grouped = shifted.groupby([df[k] for k in keys], sort=False)
    rolled = grouped.rolling(window, min_periods=1) if window else grouped.expanding(min_periods=1)
    out = getattr(rolled, how)()
    return out.reset_index(level=list(range(len(keys))), drop=True).reindex(df.index)


def _best_ms(q: pd.DataFrame) -> pd.Series:
    return q[["q1_ms", "q2_ms", "q3_ms"]].min(axis=1, skipna=True)


def _qualifying_frame(qualifying: pd.DataFrame) -> pd.DataFrame:
    q = qualifying.copy()
    q["best_ms"] = _best_ms(q)
    pole = q.groupby("race_id")["best_ms"].transform("min")
    q["quali_gap_to_pole_pct"] = ((q["best_ms"] / pole - 1) * 100).clip(upper=10)
    q["quali_reached_q3"] = q["q3_ms"].notna().astype(float)
    team = q.groupby(["race_id", "team_id"])
    n = team["position"].transform("count")
    q["teammate_position"] = (team["position"].transform("sum") - q["position"]) / (n - 1).replace(0, np.nan)
    q["quali_pos_gap_teammate"] = q["position"] - q["teammate_position"]
    best_sum = team["best_ms"].transform("sum")
    best_n = team["best_ms"].transform("count")
    mate_ms = (best_sum - q["best_ms"]) / (best_n - 1).replace(0, np.nan)
    q["quali_gap_teammate_pct"] = ((q["best_ms"] / mate_ms - 1) * 100).clip(-5, 5)
    return q.rename(columns={"position": "quali_position"})[
        [
            "race_id",
            "driver_id",
            "quali_position",
            "quali_gap_to_pole_pct",
            "quali_reached_q3",
            "quali_pos_gap_teammate",
            "quali_gap_teammate_pct",
        ]
    ]


# The practice features seen by the pre-qualifying stage: built from the FP sessions run before
# qualifying only. On the 2021-2022 sprint weekends FP2 was run on the Saturday, after qualifying —
# known before the race (the post-qualifying stage reads it) but not before qualifying.
PRACTICE_FEATURES = ["practice_gap_pct", "practice_rank", "practice_laps", "practice_missing"]
PRE_QUALIFYING_PRACTICE = {c: f"{c}__pre_qualifying" for c in PRACTICE_FEATURES}


def stage_rows(df: pd.DataFrame, stage: str) -> pd.DataFrame:
    """Pure: feature rows as a stage may read them — for the pre-qualifying stage, the practice
    features from the sessions run before qualifying (idempotent; rows without those columns, e.g.
    built before they existed, are returned as they are)."""
    if stage != "pre" or PRE_QUALIFYING_PRACTICE["practice_gap_pct"] not in df.columns:
        return df
    return df.assign(**{c: df[pre] for c, pre in PRE_QUALIFYING_PRACTICE.items()})


def _practice_frame(practice: pd.DataFrame) -> pd.DataFrame:
    p = practice.groupby(["race_id", "driver_id"]).agg(best=("milliseconds", "min"), laps=("laps", "sum"))
    p = p.reset_index()
    fastest = p.groupby("race_id")["best"].transform("min")
    p["practice_gap_pct"] = ((p["best"] / fastest - 1) * 100).clip(upper=10)
    p["practice_rank"] = p.groupby("race_id")["best"].rank(method="min")
    p["practice_laps"] = p["laps"]
    return p[["race_id", "driver_id", "practice_gap_pct", "practice_rank", "practice_laps"]]


def _spearman_grid_finish(df: pd.DataFrame) -> pd.Series:
    valid = df[df["grid"].notna() & df["finish"].notna()]
    ranks = valid.groupby("race_id")[["grid", "finish"]].rank()
    ranks["race_id"] = valid["race_id"]
    ranks["gf"] = ranks["grid"] * ranks["finish"]
    ranks["gg"] = ranks["grid"] ** 2
    ranks["ff"] = ranks["finish"] ** 2
    s = ranks.groupby("race_id").agg(
        n=("gf", "size"),
        g=("grid", "sum"),
        f=("finish", "sum"),
        gf=("gf", "sum"),
        gg=("gg", "sum"),
        ff=("ff", "sum"),
    )
    cov = s["gf"] - s["g"] * s["f"] / s["n"]
    var = np.sqrt((s["gg"] - s["g"] ** 2 / s["n"]) * (s["ff"] - s["f"] ** 2 / s["n"]))
    return (cov / var.replace(0, np.nan)).rename("race_grid_corr")


def _grid(df: pd.DataFrame) -> pd.Series:
    """The starting slot: a pit-lane start (grid 0) is the back of the field, an upcoming race
    without a grid starts as it qualified."""
    grid = df["grid"].astype(float)
    grid = grid.where(grid.isna() | (grid > 0), df["race_field_size"])  # pit-lane start = back
    return grid.fillna(df["quali_position"].where(df["is_target"]))  # upcoming race: grid = qualifying


# The columns of a target race's rows that its own qualifying and grid feed (`build_features`);
# every other column of a target row comes from earlier races or from this weekend's other sessions.
QUALIFYING_GRID_COLUMNS = [
    "quali_position",
    "quali_gap_to_pole_pct",
    "quali_reached_q3",
    "quali_gap_teammate_pct",
    "grid",
    "grid_penalty",
    "grid_x_overtaking",
]


def target_rows_with_grid(
    rows: pd.DataFrame, *, qualifying: pd.DataFrame, grid: pd.DataFrame
) -> pd.DataFrame:
    """Pure: `rows` (one target race's rows from `build_features`) with the columns of
    QUALIFYING_GRID_COLUMNS recomputed as `build_features` computes them from `qualifying` (that
    race's qualifying rows only) and `grid` (driver_id, grid). Every other column of a target row
    is independent of the race's own qualifying and grid (history features read earlier races
    only), so this equals `build_features` run with that qualifying and grid — the what-if's
    cheap path (`predictions.services.what_if`), checked against the full build by its tests."""
    q = _qualifying_frame(qualifying)
    out = rows.drop(columns=[c for c in (*q.columns, "grid") if c in rows.columns and c not in KEY])
    out = out.merge(q, on=["race_id", "driver_id"], how="left")
    out["grid"] = out["driver_id"].map(dict(zip(grid["driver_id"], grid["grid"], strict=True)))
    out["grid"] = _grid(out.assign(is_target=True))
    out["grid_penalty"] = out["grid"] - out["quali_position"]
    out["grid_x_overtaking"] = out["grid"] * out["circuit_overtaking_difficulty"]
    out[QUALIFYING_GRID_COLUMNS] = out[QUALIFYING_GRID_COLUMNS].astype(float)
    return out[list(rows.columns)]


def build_features(frames: F1Frames, *, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per entry (history results plus `targets`, the entries of races to predict).

    `targets`: columns race_id, driver_id, team_id and optionally grid. Returns KEY columns, season,
    round, date, every registry feature, the pre-qualifying stage's practice columns
    (`PRE_QUALIFYING_PRACTICE`, read through `stage_rows`) and the outcome columns (NaN for target
    rows).
    """
    races = frames.races.copy()
    rounds = races.groupby("season")["round"].transform("max")
    races["race_season_progress"] = races["round"] / rounds
    races["circuit_is_street"] = races["circuit_type"].map({"street": 1.0, "permanent": 0.0})
    races["circuit_length_km"] = races["length_km"].astype(float)
    races["circuit_info_missing"] = (
        races["circuit_is_street"].isna() | races["circuit_length_km"].isna()
    ).astype(float)

    hist = frames.results.copy()
    hist["finish"] = hist["position_order"].astype(float)
    hist["dnf"] = (~hist["finished"].astype(bool)).astype(float)
    hist["car_failure"] = hist["car_failure"].astype(float)
    hist["incident"] = hist["dnf"] * (1.0 - hist["car_failure"])
    # rank among the cars that finished: race pace without the noise of who retired
    hist["finisher_rank"] = hist[hist["dnf"] == 0].groupby("race_id")["finish"].rank()
    sprint_pts = frames.sprints.groupby(["race_id", "driver_id"])["points"].sum()
    hist["all_points"] = (
        hist["points"].astype(float)
        + hist.set_index(["race_id", "driver_id"]).index.map(sprint_pts).fillna(0).to_numpy()
    )
    hist["is_target"] = False
    if targets is not None and len(targets):
        t = targets.copy()
        if "grid" not in t:
            t["grid"] = np.nan
        t["is_target"] = True
        hist = hist[~hist["race_id"].isin(t["race_id"].unique())]
        df = pd.concat([hist, t[["race_id", "driver_id", "team_id", "grid", "is_target"]]], ignore_index=True)
    else:
        df = hist.reset_index(drop=True)
    df = df.merge(
        races[
            [
                "race_id",
                "season",
                "round",
                "date",
                "circuit_id",
                "race_season_progress",
                "circuit_is_street",
                "circuit_length_km",
                "circuit_info_missing",
            ]
        ],
        on="race_id",
        how="inner",
    )
    df = df.sort_values(["date", "race_id", "driver_id"], kind="stable").reset_index(drop=True)
    # the team's outfit: one history through rebrands, none from a ref reused years later (lineage.py)
    df["outfit"] = team_outfits(df[["team_id", "season"]], frames.teams)
    df["race_field_size"] = df.groupby("race_id")["driver_id"].transform("size").astype(float)
    places = points_places(df["season"].to_numpy())
    df["in_points"] = np.where(df["finish"].notna(), (df["finish"] <= places).astype(float), np.nan)
    df["podium"] = np.where(df["finish"].notna(), (df["finish"] <= 3).astype(float), np.nan)
    df["win"] = np.where(df["finish"].notna(), (df["finish"] == 1).astype(float), np.nan)

    # this race's qualifying (used directly post-qualifying; history via the prior windows)
    q = _qualifying_frame(frames.qualifying)
    df = df.merge(q, on=["race_id", "driver_id"], how="left")
    df["grid"] = _grid(df)
    df["grid_penalty"] = df["grid"] - df["quali_position"]
    df["gained"] = df["grid"] - df["finish"]

    # driver history
    d = ["driver_id"]
    df["driver_experience"] = df.groupby("driver_id").cumcount().astype(float)
    dob = df["driver_id"].map(frames.drivers.set_index("driver_id")["date_of_birth"])
    df["driver_age"] = (df["date"] - dob).dt.days / 365.25
    df["driver_win_rate"] = _prior(df, d, "win")
    df["driver_podium_rate"] = _prior(df, d, "podium")
    df["driver_points_rate"] = _prior(df, d, "in_points")
    df["driver_form_3"] = _prior(df, d, "finish", 3)
    df["driver_form_5"] = _prior(df, d, "finish", 5)
    df["driver_form_10"] = _prior(df, d, "finish", 10)
    df["driver_consistency_5"] = _prior(df, d, "finish", 5, "std")
    df["driver_points_form_5"] = _prior(df, d, "all_points", 5)
    df["driver_dnf_rate_10"] = _prior(df, d, "dnf", 10)
    df["driver_incident_rate_20"] = _prior(df, d, "incident", 20)
    df["driver_finisher_rank_5"] = _prior(df, d, "finisher_rank", 5)
    df["driver_positions_gained_5"] = _prior(df, d, "gained", 5)
    df["driver_quali_form_5"] = _prior(df, d, "quali_position", 5)
    df["driver_quali_gap_teammate_5"] = _prior(df, d, "quali_pos_gap_teammate", 5)
    df["driver_prev_finish"] = df.groupby("driver_id")["finish"].shift(1)
    df["driver_races_with_team"] = df.groupby(["driver_id", "outfit"]).cumcount().astype(float)

    # championship points before the race (race + sprint points of earlier rounds this season)
    df["driver_season_points"] = _prior(df, ["driver_id", "season"], "all_points", how="sum").fillna(0.0)
    season_total = df.groupby(["driver_id", "season"])["all_points"].sum().rename("prev_total").reset_index()
    season_total["season"] += 1
    df = df.merge(season_total, on=["driver_id", "season"], how="left")
    df["_champ_key"] = df["driver_season_points"] * 1e4 + df["prev_total"].fillna(0)
    df["driver_championship_position"] = df.groupby("race_id")["_champ_key"].rank(
        ascending=False, method="min"
    )

    # team history, from one row per (race, team)
    team_race = (
        df.groupby(["race_id", "team_id"], sort=False)
        .agg(
            date=("date", "first"),
            season=("season", "first"),
            outfit=("outfit", "first"),
            circuit_id=("circuit_id", "first"),
            t_finish=("finish", "mean"),
            t_dnf=("dnf", "mean"),
            t_fail=("car_failure", "mean"),
            t_frank=("finisher_rank", "mean"),
            t_points=("all_points", "sum"),
            t_gap=("quali_gap_to_pole_pct", "min"),
        )
        .reset_index()
    )
    # tyre stops only: a red-flag stoppage is recorded as a "stop" of the whole suspension (2024
    # Brazil: ~23.7 min), and repair stops are no measure of the crew either
    pits = frames.pit_stops.dropna(subset=["milliseconds"])
    pits = pits[pits["milliseconds"] < PIT_STOP_MAX_MS]
    if len(pits):
        pits = pits.merge(frames.results[["race_id", "driver_id", "team_id"]], on=["race_id", "driver_id"])
        race_median = pits.groupby("race_id")["milliseconds"].median()
        team_pit = pits.groupby(["race_id", "team_id"])["milliseconds"].median().reset_index()
        team_pit["t_pit"] = team_pit["milliseconds"] / team_pit["race_id"].map(race_median)
        team_race = team_race.merge(
            team_pit[["race_id", "team_id", "t_pit"]], on=["race_id", "team_id"], how="left"
        )
    else:
        team_race["t_pit"] = np.nan
    team_race = team_race.sort_values(["date", "race_id"], kind="stable").reset_index(drop=True)
    t = ["outfit"]
    team_race["team_experience"] = team_race.groupby("outfit").cumcount().astype(float)
    team_race["team_quali_gap_5"] = _prior(team_race, t, "t_gap", 5)
    team_race["team_form_5"] = _prior(team_race, t, "t_finish", 5)
    team_race["team_dnf_rate_10"] = _prior(team_race, t, "t_dnf", 10)
    team_race["team_car_failure_rate_10"] = _prior(team_race, t, "t_fail", 10)
    team_race["team_finisher_rank_3"] = _prior(team_race, t, "t_frank", 3)
    team_race["team_points_form_5"] = _prior(team_race, t, "t_points", 5)
    pts3 = _prior(team_race, t, "t_points", 3)
    team_race["team_points_trend"] = pts3 - team_race.assign(p=pts3).groupby("outfit")["p"].shift(3)
    gap3 = _prior(team_race, t, "t_gap", 3)
    team_race["team_development_slope"] = (
        gap3 - team_race.assign(g=gap3).groupby("outfit")["g"].shift(3)
    ) / 3
    team_race["team_pit_stop_ratio_5"] = _prior(team_race, t, "t_pit", 5)
    team_race["team_season_points"] = _prior(team_race, ["outfit", "season"], "t_points", how="sum").fillna(
        0.0
    )
    team_race["team_championship_position"] = team_race.groupby("race_id")["team_season_points"].rank(
        ascending=False, method="min"
    )
    team_race["circuit_team_avg_finish"] = _prior(team_race, ["outfit", "circuit_id"], "t_finish")
    team_cols = [
        "team_experience",
        "team_quali_gap_5",
        "team_form_5",
        "team_dnf_rate_10",
        "team_car_failure_rate_10",
        "team_finisher_rank_3",
        "team_points_form_5",
        "team_points_trend",
        "team_development_slope",
        "team_pit_stop_ratio_5",
        "team_season_points",
        "team_championship_position",
        "circuit_team_avg_finish",
    ]
    df = df.merge(team_race[["race_id", "team_id", *team_cols]], on=["race_id", "team_id"], how="left")

    # circuit history
    dc = ["driver_id", "circuit_id"]
    df["circuit_driver_races"] = df.groupby(dc).cumcount().astype(float)
    df["circuit_driver_avg_finish"] = _prior(df, dc, "finish")
    circuit_race = df.groupby("race_id", sort=False).agg(
        date=("date", "first"), circuit_id=("circuit_id", "first"), c_dnf=("dnf", "mean")
    )
    circuit_race = circuit_race.join(_spearman_grid_finish(df)).reset_index()
    circuit_race = circuit_race.sort_values(["date", "race_id"], kind="stable").reset_index(drop=True)
    circuit_race["circuit_overtaking_difficulty"] = _prior(circuit_race, ["circuit_id"], "race_grid_corr", 10)
    circuit_race["circuit_dnf_rate"] = _prior(circuit_race, ["circuit_id"], "c_dnf", 10)
    df = df.merge(
        circuit_race[["race_id", "circuit_overtaking_difficulty", "circuit_dnf_rate"]],
        on="race_id",
        how="left",
    )

    # practice: every FP session of this weekend (all run before the race), and apart, for the
    # pre-qualifying stage, only those run before qualifying (see `stage_rows`)
    df = df.merge(_practice_frame(frames.practice), on=["race_id", "driver_id"], how="left")
    before_quali = practice_before_qualifying(
        frames.practice, frames.races, frames.sprints["race_id"].unique()
    )
    df = df.merge(
        _practice_frame(before_quali).rename(columns=lambda c: PRE_QUALIFYING_PRACTICE.get(c, c)),
        on=["race_id", "driver_id"],
        how="left",
    )
    df["practice_missing"] = df["practice_gap_pct"].isna().astype(float)
    df["practice_missing__pre_qualifying"] = df["practice_gap_pct__pre_qualifying"].isna().astype(float)

    # this weekend's sprint (run before the Grand Prix; NaN on weekends without one)
    sprint = frames.sprints[["race_id", "driver_id", "position_order"]].drop_duplicates(
        ["race_id", "driver_id"]
    )
    df = df.merge(
        sprint.rename(columns={"position_order": "sprint_position"}), on=["race_id", "driver_id"], how="left"
    )

    # weather
    w = frames.weather.rename(
        columns={
            "air_temperature": "weather_air_temperature",
            "track_temperature": "weather_track_temperature",
            "humidity": "weather_humidity",
            "wind_speed": "weather_wind_speed",
            "rain": "weather_rain",
            "is_wet": "weather_is_wet",
        }
    )
    df = df.merge(w.drop_duplicates("race_id"), on="race_id", how="left")
    df["weather_is_wet"] = df["weather_is_wet"].map({True: 1.0, False: 0.0})
    weather_cols = ["weather_air_temperature", "weather_humidity", "weather_rain"]
    df["weather_missing"] = df[weather_cols].isna().all(axis=1).astype(float)
    df["wet_gained"] = df["gained"].where(df["weather_is_wet"] == 1.0)
    df["driver_wet_gain"] = _prior(df, d, "wet_gained")

    # interactions
    df["grid_x_overtaking"] = df["grid"] * df["circuit_overtaking_difficulty"]
    df["form_x_circuit"] = df["driver_form_5"] - df["circuit_driver_avg_finish"]
    df["pace_x_reliability"] = df["team_quali_gap_5"] * df["team_dnf_rate_10"]
    df["wet_x_wet_gain"] = df["weather_is_wet"] * df["driver_wet_gain"]

    names = [f.name for f in FEATURES] + list(PRE_QUALIFYING_PRACTICE.values())
    out = df[[*KEY, "season", "round", "date", "is_target", *names, *TARGETS]].copy()
    out[names] = out[names].astype(float)
    return out
