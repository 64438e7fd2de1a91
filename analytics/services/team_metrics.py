"""Team (constructor) metrics over DataFrames (layouts in `analytics.selectors`); docs in docs/analytics.md."""

from __future__ import annotations

import pandas as pd

from analytics.services.common import (
    MECHANICAL_STATUSES,
    PIT_STOP_MAX_MS,
    best_lap_ms,
    clean,
    slope,
    started,
)


def qualifying_gaps(quali: pd.DataFrame) -> pd.DataFrame:
    """Per race and team: the team's fastest qualifying lap and its gap (%) to the fastest team.

    Columns: race_id, round, team_id, best_ms, gap_pct.
    """
    q = quali.assign(best_ms=best_lap_ms(quali)).dropna(subset=["best_ms"])
    per_team = q.groupby(["race_id", "round", "team_id"], as_index=False)["best_ms"].min()
    fastest = per_team.groupby("race_id")["best_ms"].transform("min")
    return per_team.assign(gap_pct=(per_team["best_ms"] - fastest) / fastest * 100)


def qualifying_pace_ranking(quali: pd.DataFrame) -> list[dict]:
    """Teams ranked by their median qualifying gap to the fastest car over the season (car pace)."""
    gaps = qualifying_gaps(quali)
    summary = gaps.groupby("team_id")["gap_pct"].agg(["median", "count"]).sort_values("median")
    return [
        {
            "rank": i,
            "team_id": int(team_id),
            "median_gap_pct": clean(row["median"]),
            "races": int(row["count"]),
        }
        for i, (team_id, row) in enumerate(summary.iterrows(), start=1)
    ]


def development_trajectory(quali: pd.DataFrame, *, team_id: int) -> dict:
    """The team's qualifying gap to the fastest car race by race and its trend (%-points per race).

    Negative slope = the car is closing on the front over the season.
    """
    gaps = qualifying_gaps(quali)
    own = gaps[gaps["team_id"] == team_id].sort_values("round")
    series = own["gap_pct"].tolist()
    half = len(series) // 2
    return {
        "races": len(series),
        "slope_pct_per_race": clean(slope(series), 4),
        "first_half_mean_gap_pct": clean(pd.Series(series[:half]).mean()) if half else None,
        "second_half_mean_gap_pct": clean(pd.Series(series[half:]).mean()) if half else None,
        "per_race": [
            {"round": int(r), "gap_pct": clean(g)} for r, g in zip(own["round"], series, strict=True)
        ],
    }


def strategy_effectiveness(results: pd.DataFrame, pits: pd.DataFrame, *, team_id: int) -> dict:
    """Positions gained (grid - finish) by the team's cars that pitted, minus the field's mean, per race.

    Without lap data the exact pit-window effect is unknowable; net places gained by cars that made
    stops, relative to every other car that made stops in the same race, is the proxy.
    """
    stopped = set(map(tuple, pits[["race_id", "driver_id"]].drop_duplicates().to_numpy()))
    ok = results[results["position"].notna() & (results["grid"].fillna(0) >= 1)]
    ok = ok[[(r, d) in stopped for r, d in zip(ok["race_id"], ok["driver_id"], strict=True)]]
    ok = ok.assign(gained=ok["grid"].astype(float) - ok["position"].astype(float))
    per_race = []
    for race_id, group in ok.groupby("race_id"):
        own = group[group["team_id"] == team_id]
        if own.empty:
            continue
        per_race.append(
            {
                "race_id": int(race_id),  # deprecated: the internal primary key; `race` is the race id
                "race": str(own["race_slug"].iloc[0]),
                "round": int(own["round"].iloc[0]),
                "team_gained": clean(own["gained"].mean()),
                "field_gained": clean(group["gained"].mean()),
                "relative": clean(own["gained"].mean() - group["gained"].mean()),
            }
        )
    rel = [r["relative"] for r in per_race]
    return {
        "races": len(per_race),
        "mean_relative_gain": clean(sum(rel) / len(rel)) if rel else None,
        "per_race": sorted(per_race, key=lambda r: r["round"]),
    }


def pit_stop_efficiency(pits: pd.DataFrame, results: pd.DataFrame, *, team_id: int) -> dict:
    """Median and spread (interquartile range) of the team's pit-lane times, stops under 60 s.

    `results` maps each stop's (race, driver) to the team that driver drove for in that race.
    Also ranks the team by median among all teams with stops in `pits`.
    """
    team_of = results[["race_id", "driver_id", "team_id"]].drop_duplicates(["race_id", "driver_id"])
    stops = pits.merge(team_of, on=["race_id", "driver_id"])
    stops = stops[stops["milliseconds"].notna() & (stops["milliseconds"] < PIT_STOP_MAX_MS)]
    medians = stops.groupby("team_id")["milliseconds"].median().sort_values()
    own = stops.loc[stops["team_id"] == team_id, "milliseconds"].astype(float)
    if own.empty:
        return {"stops": 0, "median_ms": None, "iqr_ms": None, "rank": None, "teams_ranked": len(medians)}
    return {
        "stops": len(own),
        "median_ms": clean(own.median(), 0),
        "iqr_ms": clean(own.quantile(0.75) - own.quantile(0.25), 0),
        "rank": int(list(medians.index).index(team_id)) + 1,
        "teams_ranked": len(medians),
    }


def reliability(results: pd.DataFrame, *, team_id: int) -> dict:
    """Mechanical DNF rate: the team's cars that retired for a mechanical reason / its cars that
    took the start.

    A car is one classification slot: a 1950s shared car (one car, a result row per driver, all
    with its status) is its starter's row (`shared_car_index` 0), counted once. The status decides
    a mechanical retirement (`MECHANICAL_STATUSES`), classified or not: a car that stopped in the
    last laps is still classified (Red Bull, 2022 Bahrain: Pérez 18th and Verstappen 19th, "Fuel
    pressure"), yet it retired; a finisher's status is "Finished" / "+N Laps", never a failure.
    """
    cars = results[(results["team_id"] == team_id) & (results["shared_car_index"] == 0)]
    own = cars[started(cars)]
    mechanical = own[own["status"].isin(MECHANICAL_STATUSES)]
    starts = len(own)
    return {
        "entries": len(cars),  # cars entered, non-qualifiers' too: `starts` of them were started
        "starts": starts,
        "mechanical_dnfs": len(mechanical),
        "mechanical_dnf_rate": clean(len(mechanical) / starts) if starts else None,
        "reasons": mechanical["status"].value_counts().sort_index().to_dict(),
    }
