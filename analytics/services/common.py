"""Helpers shared by the driver and team metrics: status classes, robust summaries, trends.

Every metric works on plain pandas DataFrames (see `analytics.selectors` for the frame layouts), so
it is unit-testable without the ORM.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ingestion.models.results import NON_START_POSITION_TEXTS, NON_STARTS

# Retirement reasons that are the car's fault. Accidents, collisions, disqualifications, illness and
# generic "Retired" / "Not classified" are deliberately left out: they say nothing certain about the car.
MECHANICAL_STATUSES = frozenset(
    {
        "Alternator", "Axle", "Battery", "Brake duct", "Brakes", "CV joint", "Chassis", "Clutch",
        "Cooling system", "Crankshaft", "Differential", "Distributor", "Driveshaft", "Drivetrain",
        "ERS", "Electrical", "Electronics", "Engine", "Engine fire", "Engine misfire", "Exhaust",
        "Fire", "Fuel", "Fuel leak", "Fuel pipe", "Fuel pressure", "Fuel pump", "Fuel system",
        "Gearbox", "Halfshaft", "Handling", "Heat shield fire", "Hydraulics", "Ignition", "Injection",
        "Launch control", "Magneto", "Mechanical", "Oil leak", "Oil line", "Oil pipe", "Oil pressure",
        "Oil pump", "Overheating", "Pneumatics", "Power Unit", "Power loss", "Radiator", "Spark plugs",
        "Steering", "Supercharger", "Suspension", "Technical", "Throttle", "Track rod", "Transmission",
        "Turbo", "Vibrations", "Water leak", "Water pipe", "Water pressure", "Water pump", "Wheel",
        "Wheel bearing", "Wheel nut", "Wheel rim",
    }
)  # fmt: skip


def started(results: pd.DataFrame) -> pd.Series:
    """Per result row: did the car take the start (`status` and `position_text` columns)."""
    return ~(results["status"].isin(NON_STARTS) | results["position_text"].isin(NON_START_POSITION_TEXTS))


# Pit-lane times above this are red-flag or repair stops, not tyre changes.
PIT_STOP_MAX_MS = 60_000

# Seasons (this one and the previous four) over which a circuit's overtaking difficulty is measured.
CIRCUIT_DIFFICULTY_SEASONS = 5


def clean(value, digits: int = 3):
    """A JSON-friendly number: None for NaN/inf/None, Python int/float otherwise."""
    if value is None:
        return None
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    if math.isnan(f) or math.isinf(f):
        return None
    return round(f, digits)


def best_lap_ms(quali: pd.DataFrame) -> pd.Series:
    """Each row's fastest qualifying lap over Q1/Q2/Q3 (NaN when no time was set)."""
    return quali[["q1_ms", "q2_ms", "q3_ms"]].astype("float").min(axis=1, skipna=True)


def slope(values) -> float | None:
    """Least-squares slope of `values` against 0, 1, 2, ... (per race); None with fewer than 3 points."""
    y = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    if len(y) < 3:
        return None
    x = np.arange(len(y), dtype=float)
    return float(np.polyfit(x, y, 1)[0])


def circuit_difficulty(field: pd.DataFrame) -> dict[int, float]:
    """circuit_id -> mean |grid - finish| of classified finishers who started from a grid slot.

    Low = positions rarely change there (hard to overtake, e.g. Monaco). `field` is a results frame
    covering the races the difficulty should be measured over.
    """
    ok = field[field["position"].notna() & (field["grid"].fillna(0) >= 1)]
    if ok.empty:
        return {}
    moved = (ok["grid"].astype(float) - ok["position"].astype(float)).abs()
    return moved.groupby(ok["circuit_id"]).mean().to_dict()


def teammate_pairs(frame: pd.DataFrame, *, driver_id: int) -> pd.DataFrame:
    """Rows of `driver_id` joined to the single team-mate in the same race and team.

    Races where the team ran more than two cars (or the driver had no team-mate) are dropped: the
    comparison is only meaningful one-on-one. Team-mate columns get the suffix `_tm`.
    """
    own = frame[frame["driver_id"] == driver_id]
    others = frame[frame["driver_id"] != driver_id]
    merged = own.merge(others, on=["race_id", "team_id"], suffixes=("", "_tm"))
    counts = merged.groupby("race_id")["driver_id_tm"].transform("count")
    return merged[counts == 1]


# The standings' letters of an entry excluded from the championship — drivers "D" (Schumacher 1997,
# stored at position 26), constructors "E" (McLaren 2007): it has no championship position.
EXCLUDED_POSITION_TEXTS = frozenset({"D", "E"})


def championship_trend(standings: pd.DataFrame) -> dict:
    """Championship position and points after each round (frame: round, position, points and,
    optionally, position_text). An excluded entry (position_text "D" / "E") has no position: the stored
    number (Schumacher 1997: 26) is a sort order, not a place; `excluded` says so."""
    rows = standings.sort_values("round")
    texts = rows["position_text"] if "position_text" in rows else pd.Series("", index=rows.index)
    per_round = [
        {
            "round": int(r.round),
            "position": None if pd.isna(r.position) or text in EXCLUDED_POSITION_TEXTS else int(r.position),
            "points": clean(r.points, 2),
            "excluded": text in EXCLUDED_POSITION_TEXTS,
        }
        for r, text in zip(rows.itertuples(), texts, strict=True)
    ]
    return {
        "per_round": per_round,
        "final_position": per_round[-1]["position"] if per_round else None,
        "best_position": min((r["position"] for r in per_round if r["position"]), default=None),
        "excluded": bool(per_round and per_round[-1]["excluded"]),
    }
