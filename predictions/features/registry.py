"""The feature catalogue: one registry that the model, the docs (docs/features.md) and the API read.

Every feature is computed from information available before its cut-off: "pre" features only from
earlier races (plus this weekend's practice and the weather forecast); "post" features add this
race's qualifying and grid. Missing inputs stay NaN (the models handle NaN natively or impute
explicitly) and have "is missing" indicators where absence itself means something.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Feature:
    name: str
    group: str
    description: str
    source: str
    available_pre_qualifying: bool = True


_R = "race results (earlier races)"
_Q = "qualifying (earlier races)"
_QN = "qualifying of this race"
_P = "free practice of this weekend (pre-qualifying stage: the sessions run before qualifying)"
_W = (
    "race weather: observed (OpenF1) for training and the backtest; the latest forecast (Open-Meteo) at"
    " prediction time (a backfill of a race run: the latest issued before its start, else none)"
)
_C = "circuit data"

# Bumped when a feature's computation changes what it means (not only its name or its column), so a
# model fitted on the old definitions is known for what it is: every ModelVersion records the format
# it was trained on (params["features_format"]) and the quick start retrains an active version of
# another. 2: 2026-11-27 — team history through rebrands (lineage), pit-stop ratio without red-flag
# stops.
FEATURES_FORMAT = 2

FEATURES: list[Feature] = [
    # driver
    Feature("driver_experience", "driver", "Number of earlier Grand Prix starts (entries) in the data", _R),
    Feature("driver_age", "driver", "Age in years on race day", "driver profile"),
    Feature("driver_win_rate", "driver", "Share of earlier races won (career)", _R),
    Feature("driver_podium_rate", "driver", "Share of earlier races finished in the top 3 (career)", _R),
    Feature("driver_points_rate", "driver", "Share of earlier races finished in the points (career)", _R),
    Feature("driver_form_3", "driver", "Mean finishing position over the last 3 races", _R),
    Feature("driver_form_5", "driver", "Mean finishing position over the last 5 races", _R),
    Feature("driver_form_10", "driver", "Mean finishing position over the last 10 races", _R),
    Feature("driver_consistency_5", "driver", "Std. dev. of finishing position over the last 5 races", _R),
    Feature(
        "driver_points_form_5",
        "driver",
        "Mean points scored per race (Grand Prix + sprint) over the last 5 races",
        _R,
    ),
    Feature("driver_dnf_rate_10", "driver", "Share of the last 10 races not finished", _R),
    Feature(
        "driver_incident_rate_20",
        "driver",
        "Share of the last 20 races retired through an incident (collision, accident, spin, DSQ)",
        _R,
    ),
    Feature(
        "driver_finisher_rank_5",
        "driver",
        "Mean rank among the finishers over the races he finished within his last 5 races (race pace"
        " without retirements; NaN when he finished none of them)",
        _R,
    ),
    Feature("driver_positions_gained_5", "driver", "Mean (grid - finish) over the last 5 races", _R),
    Feature("driver_quali_form_5", "driver", "Mean qualifying position over the last 5 races", _Q),
    Feature(
        "driver_quali_gap_teammate_5",
        "driver",
        "Mean qualifying-position difference to the teammate over the last 5 races (negative = ahead)",
        _Q,
    ),
    Feature("driver_prev_finish", "driver", "Finishing position in the previous race", _R),
    Feature("driver_season_points", "driver", "Championship points (race + sprint) before this race", _R),
    Feature(
        "driver_championship_position",
        "driver",
        "Rank by championship points before this race (round 1: previous season's points)",
        _R,
    ),
    Feature(
        "driver_races_with_team", "driver", "Earlier races with the current team (through its rebrands)", _R
    ),
    # team
    Feature(
        "team_experience",
        "team",
        "Earlier race entries of the team, through its rebrands (0 for a new team)",
        _R,
    ),
    Feature(
        "team_quali_gap_5",
        "team",
        "Car pace: mean gap of the team's best qualifying lap to the race's fastest qualifying lap, %"
        " (capped at 10 per race), over the last 5 races",
        _Q,
    ),
    Feature("team_form_5", "team", "Mean finishing position of the team's cars over the last 5 races", _R),
    Feature(
        "team_dnf_rate_10", "team", "Reliability: share of the team's entries not finished, last 10 races", _R
    ),
    Feature(
        "team_car_failure_rate_10",
        "team",
        "Car reliability: share of the team's entries retired with a mechanical cause, last 10 races",
        _R,
    ),
    Feature(
        "team_finisher_rank_3",
        "team",
        "Race pace: mean rank among the finishers of the team's cars that finished, over the last 3 races",
        _R,
    ),
    Feature("team_points_form_5", "team", "Team points per race over the last 5 races", _R),
    Feature(
        "team_points_trend",
        "team",
        "Team points per race over the last 3 races minus the 3 before (points trend)",
        _R,
    ),
    Feature(
        "team_development_slope",
        "team",
        "In-season development: change in the qualifying gap to the fastest lap per race (last 3 vs."
        " the 3 before, /3)",
        _Q,
    ),
    Feature(
        "team_pit_stop_ratio_5",
        "team",
        "Median pit-stop time relative to the race's median, last 5 races (< 1 = faster crew); pit-lane"
        " times of 60 s or more (red-flag suspensions, repairs) left out",
        "pit stops (earlier races)",
    ),
    Feature("team_season_points", "team", "Team championship points before this race", _R),
    Feature("team_championship_position", "team", "Team rank by championship points before this race", _R),
    # circuit / race
    Feature("circuit_driver_races", "circuit", "Driver's earlier races at this circuit", _R),
    Feature("circuit_driver_avg_finish", "circuit", "Driver's mean finishing position at this circuit", _R),
    Feature(
        "circuit_team_avg_finish",
        "circuit",
        "Team's mean finishing position at this circuit (through its rebrands)",
        _R,
    ),
    Feature(
        "circuit_overtaking_difficulty",
        "circuit",
        "Spearman correlation of grid and finish per race, averaged over the last 10 earlier races here"
        " (high = hard to overtake)",
        _R,
    ),
    Feature(
        "circuit_dnf_rate",
        "circuit",
        "Share of entries not finishing per race, averaged over the last 10 earlier races here",
        _R,
    ),
    Feature("circuit_is_street", "circuit", "1 = street circuit, 0 = permanent, NaN = unknown", _C),
    Feature(
        "circuit_length_km",
        "circuit",
        "Lap length in km of the circuit's current layout, also for races on an older one (NaN if unknown)",
        _C,
    ),
    Feature("circuit_info_missing", "circuit", "1 when the circuit type or length is unknown", _C),
    Feature("race_field_size", "circuit", "Number of cars entered in this race", "entry list"),
    Feature("race_season_progress", "circuit", "Round number / rounds in the season", "calendar"),
    # practice
    Feature(
        "practice_gap_pct",
        "practice",
        "Best FP lap gap to the weekend's fastest FP lap, % (capped at 10)",
        _P,
    ),
    Feature("practice_rank", "practice", "Rank of the driver's best FP lap among the field", _P),
    Feature("practice_laps", "practice", "Laps run in free practice (reliability / running)", _P),
    Feature("practice_missing", "practice", "1 when no practice lap time is known", _P),
    # weather
    Feature("weather_air_temperature", "weather", "Air temperature, °C", _W),
    Feature(
        "weather_track_temperature",
        "weather",
        "Track temperature, °C (observed only: NaN with a forecast)",
        _W,
    ),
    Feature("weather_humidity", "weather", "Relative humidity, %", _W),
    Feature("weather_wind_speed", "weather", "Wind speed, m/s", _W),
    Feature(
        "weather_rain", "weather", "Share of the race with rain (forecast: precipitation probability)", _W
    ),
    Feature("weather_is_wet", "weather", "Wet-race flag (1 wet, 0 dry, NaN unknown)", _W),
    Feature("weather_missing", "weather", "1 when no weather (observed or forecast) is available", _W),
    Feature(
        "driver_wet_gain",
        "weather",
        "Driver's mean positions gained (grid - finish) in earlier wet races",
        _R + " + " + _W,
    ),
    # qualifying (post-qualifying stage only)
    Feature("grid", "qualifying", "Starting grid slot (pit-lane start = back of the field)", _QN, False),
    Feature("quali_position", "qualifying", "Qualifying classification", _QN, False),
    Feature(
        "quali_gap_to_pole_pct",
        "qualifying",
        "Best qualifying lap (of Q1/Q2/Q3) gap to the fastest lap of any qualifying session of this race"
        " (not necessarily the pole-sitter's Q3 lap), % (capped at 10)",
        _QN,
        False,
    ),
    Feature(
        "quali_reached_q3",
        "qualifying",
        "1 when the driver set a Q3 time (0 without one, and for everyone before Q3 existed: 2005 and earlier)",
        _QN,
        False,
    ),
    Feature(
        "quali_gap_teammate_pct",
        "qualifying",
        "Best qualifying lap gap to the teammate's, % (clipped to ±5)",
        _QN,
        False,
    ),
    Feature(
        "grid_penalty",
        "qualifying",
        "Grid slot minus qualifying position (penalties, pit-lane starts)",
        _QN,
        False,
    ),
    Feature(
        "sprint_position",
        "qualifying",
        "Finishing position in this weekend's sprint (missing on weekends without one)",
        "sprint of this race weekend",
        False,
    ),
    # interactions
    Feature(
        "grid_x_overtaking",
        "interaction",
        "Grid slot × circuit overtaking difficulty (grid matters more where passing is hard)",
        _QN + " + " + _R,
        False,
    ),
    Feature(
        "form_x_circuit",
        "interaction",
        "Recent form (last 5) minus the driver's average at this circuit (circuit affinity)",
        _R,
    ),
    Feature(
        "pace_x_reliability",
        "interaction",
        "Team qualifying gap × team DNF rate (fast-but-fragile vs. slow-but-solid)",
        _R + " + " + _Q,
    ),
    Feature(
        "wet_x_wet_gain",
        "interaction",
        "Wet-race flag × driver's wet-race positions gained",
        _W + " + " + _R,
    ),
]

STAGES = ("pre", "post")


def feature_names(stage: str) -> list[str]:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    return [f.name for f in FEATURES if stage == "post" or f.available_pre_qualifying]


def feature_catalogue_rows() -> list[dict]:
    return [asdict(f) for f in FEATURES]


def feature_catalogue_markdown() -> str:
    lines = [
        "# Feature catalogue",
        "",
        "Generated from `predictions/features/registry.py` by `python manage.py train_models --write-catalogue`"
        " (do not edit by hand).",
        "",
        f"{len(FEATURES)} features; {len(feature_names('pre'))} available before qualifying.",
        "",
        "Team history (`team_*`, `circuit_team_avg_finish`, `driver_races_with_team`) follows the outfit"
        " through its rebrands (`predictions/features/lineage.py`: Toro Rosso → AlphaTauri → RB, Renault"
        " → Alpine, Force India → Racing Point → Aston Martin, Sauber → Alfa Romeo → Sauber → Audi, …);"
        " a constructor id raced again after a season or more away, with no lineage entry, starts afresh.",
        "",
        "| name | group | description | source | pre-qualifying |",
        "|---|---|---|---|---|",
    ]
    for f in FEATURES:
        lines.append(
            f"| `{f.name}` | {f.group} | {f.description} | {f.source} | "
            f"{'yes' if f.available_pre_qualifying else 'no (post-qualifying only)'} |"
        )
    return "\n".join(lines) + "\n"
