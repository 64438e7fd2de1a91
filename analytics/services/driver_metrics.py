"""Driver metrics over DataFrames (layouts in `analytics.selectors`); docs in docs/analytics.md.

Every function takes the frames it needs plus `driver_id` and returns a JSON-serialisable dict.
"""

from __future__ import annotations

import pandas as pd

from analytics.services.common import (
    PIT_STOP_MAX_MS,
    circuit_difficulty,
    clean,
    slope,
    started,
    teammate_pairs,
)


def qualifying_gap_to_teammate(quali: pd.DataFrame, *, driver_id: int) -> dict:
    """Median lap-time gap (%) to the team-mate, in the deepest session both set a time.

    Q3 if both set a Q3 time, else Q2, else Q1. Negative = faster than the team-mate. Also counts
    qualifying head-to-heads by classified position.
    """
    pairs = teammate_pairs(quali, driver_id=driver_id)
    per_race = []
    for row in pairs.sort_values(["season", "round"]).itertuples():
        gap = None
        session = None
        for name in ("q3_ms", "q2_ms", "q1_ms"):
            own, theirs = getattr(row, name), getattr(row, f"{name}_tm")
            if pd.notna(own) and pd.notna(theirs) and theirs:
                gap = (float(own) - float(theirs)) / float(theirs) * 100
                session = name[:2].upper()
                break
        per_race.append(
            {
                "race": row.race_slug,
                "round": int(row.round),
                "teammate_id": int(row.driver_id_tm),
                "session": session,
                "gap_pct": clean(gap),
                "ahead": bool(row.position < row.position_tm),
            }
        )
    gaps = [r["gap_pct"] for r in per_race if r["gap_pct"] is not None]
    return {
        "races": len(per_race),
        "median_gap_pct": clean(pd.Series(gaps).median()) if gaps else None,
        "ahead": sum(r["ahead"] for r in per_race),
        "behind": sum(not r["ahead"] for r in per_race),
        "per_race": per_race,
    }


def race_pace_consistency(results: pd.DataFrame, *, driver_id: int) -> dict:
    """Spread (sample standard deviation) of classified finishing positions.

    There is no lap-time data in the sources, so finishing-position spread stands in for lap-time
    spread. Lower = more consistent. Retirements are excluded (they are reliability, not pace).
    """
    own = results[(results["driver_id"] == driver_id) & results["position"].notna()]
    positions = own["position"].astype(float)
    return {
        "method": "finishing_position_spread",
        "finishes": len(positions),
        "mean_position": clean(positions.mean()) if len(positions) else None,
        "position_stdev": clean(positions.std(ddof=1)) if len(positions) > 1 else None,
    }


def overtaking_score(results: pd.DataFrame, field: pd.DataFrame, *, driver_id: int) -> dict:
    """Positions gained (grid - finish) per race, each divided by the circuit's difficulty.

    A circuit's difficulty is the mean |grid - finish| there over `field` (see
    `common.circuit_difficulty`); a gain of 2 at Monaco (little movement) counts for more than a gain
    of 2 at Bahrain. Only classified finishes from a grid slot (grid >= 1) count.
    """
    difficulty = circuit_difficulty(field)
    own = results[
        (results["driver_id"] == driver_id) & results["position"].notna() & (results["grid"].fillna(0) >= 1)
    ].sort_values(["season", "round"])
    per_race = []
    for row in own.itertuples():
        gained = int(row.grid) - int(row.position)
        typical = difficulty.get(row.circuit_id)
        per_race.append(
            {
                "race": row.race_slug,
                "round": int(row.round),
                "grid": int(row.grid),
                "finish": int(row.position),
                "gained": gained,
                "circuit_mean_change": clean(typical),
                "weighted": clean(gained / typical) if typical else None,
            }
        )
    weighted = [r["weighted"] for r in per_race if r["weighted"] is not None]
    gains = [r["gained"] for r in per_race]
    return {
        "races": len(per_race),
        "mean_positions_gained": clean(sum(gains) / len(gains)) if gains else None,
        "score": clean(sum(weighted) / len(weighted)) if weighted else None,
        "per_race": per_race,
    }


def wet_weather_rating(results: pd.DataFrame, wet: dict[int, bool], *, driver_id: int) -> dict:
    """Finishing-order gain over the team-mate in wet races minus the same in dry races.

    Per race: team-mate's position_order - driver's (positive = beat the team-mate). Only races
    whose observed weather is known (RaceWeather.is_wet not null) count. The car is the same for
    both drivers, so the difference isolates how much better the driver copes with rain.
    """
    pairs = teammate_pairs(results, driver_id=driver_id)
    # .loc with a bool mask: on an empty frame, `frame[mask]` would read an empty object-typed mask
    # as a list of column labels and drop every column
    pairs = pairs.loc[pairs["race_id"].map(lambda r: wet.get(r) is not None).astype(bool)]
    delta = pairs["position_order_tm"].astype(float) - pairs["position_order"].astype(float)
    is_wet = pairs["race_id"].map(wet).astype(bool)
    wet_delta, dry_delta = delta[is_wet], delta[~is_wet]
    wet_mean = wet_delta.mean() if len(wet_delta) else None
    dry_mean = dry_delta.mean() if len(dry_delta) else None
    return {
        "wet_races": len(wet_delta),
        "dry_races": len(dry_delta),
        "wet_delta_vs_teammate": clean(wet_mean),
        "dry_delta_vs_teammate": clean(dry_mean),
        "rating": clean(wet_mean - dry_mean) if wet_mean is not None and dry_mean is not None else None,
        # deprecated: internal primary keys, which no endpoint takes; `wet_race_list` has the race ids
        "wet_race_ids": [int(r) for r in pairs.loc[is_wet, "race_id"]],
        "wet_race_list": [str(r) for r in pairs.loc[is_wet, "race_slug"]],
    }


def pit_stop_proxy(results: pd.DataFrame, pits: pd.DataFrame, *, driver_id: int) -> dict:
    """Tyre-management proxy: stops made minus the median stops of classified finishers, per race.

    Negative = the driver made a set of tyres last longer than the field. Races without any pit
    data are skipped. Also the median pit-lane time of the driver's stops (< 60 s).
    """
    races_with_pits = set(pits["race_id"].unique())
    stops = pits.groupby(["race_id", "driver_id"]).size()
    finishers = results[results["position"].notna() & results["race_id"].isin(races_with_pits)]
    deltas = []
    for race_id, group in finishers.groupby("race_id"):
        if driver_id not in set(group["driver_id"]):
            continue
        counts = [int(stops.get((race_id, d), 0)) for d in group["driver_id"]]
        own = int(stops.get((race_id, driver_id), 0))
        deltas.append(own - float(pd.Series(counts).median()))
    own_ms = pits.loc[
        (pits["driver_id"] == driver_id) & (pits["milliseconds"] < PIT_STOP_MAX_MS), "milliseconds"
    ].astype(float)
    return {
        "races": len(deltas),
        "stops": int((pits["driver_id"] == driver_id).sum()),
        "mean_stops_vs_field": clean(sum(deltas) / len(deltas)) if deltas else None,
        "median_stop_ms": clean(own_ms.median(), 0) if len(own_ms) else None,
    }


def circuit_performance(results: pd.DataFrame, *, driver_id: int) -> list[dict]:
    """Per circuit: `races` entered (a non-qualifier's too), `starts` (races with a row without a
    non-start status or result letter, `common.started`), mean classified finish, best finish, wins,
    podiums (best circuits first).

    `races` and `starts` count races, not result rows: a 1950s driver who took over a team-mate's car
    has two rows in that race (Fangio: 58 rows in 51 races; Monaco 5 rows in 4 races). Wins,
    podiums and the mean finish are per row (each car he brought home), as the records count them."""
    own = results[results["driver_id"] == driver_id]
    out = []
    for (circuit_ref, circuit_name), group in own.groupby(["circuit_ref", "circuit_name"]):
        finishes = group["position"].dropna().astype(int)
        out.append(
            {
                "circuit": circuit_ref,
                "name": circuit_name,
                "races": int(group["race_id"].nunique()),
                "starts": int(group.loc[started(group), "race_id"].nunique()),
                "mean_finish": clean(finishes.mean(), 2) if len(finishes) else None,
                "best_finish": int(finishes.min()) if len(finishes) else None,
                "wins": int((finishes == 1).sum()),
                "podiums": int((finishes <= 3).sum()),
                "points": clean(group["points"].astype(float).sum(), 2),
            }
        )
    return sorted(out, key=lambda r: (r["mean_finish"] is None, r["mean_finish"] or 0, -r["races"]))


def season_form(
    results: pd.DataFrame, sprints: pd.DataFrame | None = None, *, driver_id: int, window: int = 3
) -> dict:
    """Points and finishing order race by race, a rolling mean of points and its trend (slope/race).

    A round's `points` are the weekend's: the Grand Prix plus the sprint of that weekend (`sprints`:
    race_id, driver_id, points), as the championship counts them, so the season's `points` match
    the standings; `race_points` and `sprint_points` keep the two parts apart (per round and for the
    season). A sprint scored at a weekend without a Grand Prix result still counts in the season's
    totals (no such case in the data so far). `races` counts the season's result rows (entries: a
    non-qualifier's too), `starts` the races actually started (`common.started`) and
    `non_starts` the races entered but not started.
    """
    own = results[results["driver_id"] == driver_id].sort_values(["round", "position_order"])
    own_sprints = (
        sprints[sprints["driver_id"] == driver_id]
        if sprints is not None and not sprints.empty
        else pd.DataFrame({"race_id": [], "points": []})
    )
    sprint_by_race = own_sprints.groupby("race_id")["points"].sum().astype(float)
    race_points = own["points"].astype(float)
    # a weekend's sprint counts once, on the driver's first row of that race (1950s shared cars)
    first_row = ~own["race_id"].duplicated()
    sprint_points = own["race_id"].map(sprint_by_race).fillna(0.0).where(first_row, 0.0).astype(float)
    points = race_points + sprint_points
    rolling = points.rolling(window, min_periods=1).mean()
    per_race = [
        {
            "race": row.race_slug,
            "round": int(row.round),
            "name": row.race_name,
            "position_order": int(row.position_order),
            "classified": pd.notna(row.position),
            "points": clean(p, 2),
            "race_points": clean(gp, 2),
            "sprint_points": clean(sp, 2),
            "rolling_points": clean(r, 2),
        }
        for row, p, gp, sp, r in zip(
            own.itertuples(), points, race_points, sprint_points, rolling, strict=True
        )
    ]
    season_sprint_points = float(own_sprints["points"].astype(float).sum())
    started_races = int(own.loc[started(own), "race_id"].nunique())
    return {
        "races": len(per_race),
        "starts": started_races,
        "non_starts": int(own["race_id"].nunique()) - started_races,  # entered, never started
        "points": clean(race_points.sum() + season_sprint_points, 2),
        "race_points": clean(race_points.sum(), 2),
        "sprint_points": clean(season_sprint_points, 2),
        "points_slope": clean(slope(points.tolist())),
        "per_race": per_race,
    }
