"""The canonical DataFrames the feature code works on, and the one function that reads them from the ORM.

Feature computation is pure pandas over these frames (unit-testable without a database); only
`f1_frames_load` touches the ORM, with one query per table, whatever the number of races.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import pandas as pd

_FINISHED_STATUS = re.compile(r"^(Finished|\+\d+ Laps?)$")


def status_is_finished(status: pd.Series) -> pd.Series:
    """Finished on the lead lap or classified laps down; everything else (retired, DSQ, DNS) is a DNF."""
    return status.fillna("").str.match(_FINISHED_STATUS)


# Retirements the driver (or another driver) caused rather than the car; everything else that is not
# a finish (engine, gearbox, hydraulics, "Retired", ...) counts as a car failure.
_INCIDENT_STATUS = re.compile(
    r"^(Collision|Collision damage|Accident|Spun off|Disqualified|Withdrew|Illness|Did not start|"
    r"Did not qualify|Not classified|Excluded|Injured|Driver unwell|Fatal accident|Injury)$"
)


def status_is_car_failure(status: pd.Series) -> pd.Series:
    """A retirement blamed on the car (mechanical, hydraulic, power unit, ...), not on an incident."""
    status = status.fillna("")
    known = status != ""  # no status recorded: not evidence of a failure
    return known & ~status.str.match(_FINISHED_STATUS) & ~status.str.match(_INCIDENT_STATUS)


def points_places(season) -> np.ndarray | int:
    """Number of point-scoring places in a season (10 since 2010, 8 in 2003-2009, 6 before)."""
    season = np.asarray(season)
    return np.where(season >= 2010, 10, np.where(season >= 2003, 8, 6))


@dataclass
class F1Frames:
    """Columns (ids are database primary keys):

    races: race_id, season, round, date, circuit_id, circuit_type (permanent/street/None), length_km,
      and the session starts (start, fp1_start, …, qualifying_start; UTC, NaT when unknown) that
      `clock.frames_known_at` cuts a past clock with
    drivers: driver_id, date_of_birth
    results: race_id, driver_id, team_id, grid, position_order, points, finished (bool),
      car_failure (bool: retired with a mechanical cause)
    sprints: race_id, driver_id, points, position_order
    qualifying: race_id, driver_id, team_id, position, q1_ms, q2_ms, q3_ms
    practice: race_id, session, driver_id, team_id, milliseconds, laps
    pit_stops: race_id, driver_id, milliseconds
    weather: race_id, air_temperature, track_temperature, humidity, wind_speed, rain, is_wet,
      fetched_at (observed race weather for past races, fetched_at NaT; the latest forecast for
      races to predict, fetched_at = when it was issued)
    teams: team_id, team_ref (the constructor ref `lineage.TEAM_LINEAGE` is written in; empty:
      team history follows team ids alone)
    """

    races: pd.DataFrame
    drivers: pd.DataFrame
    results: pd.DataFrame
    sprints: pd.DataFrame
    qualifying: pd.DataFrame
    practice: pd.DataFrame
    pit_stops: pd.DataFrame
    weather: pd.DataFrame
    teams: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["team_id", "team_ref"]))
    meta: dict = field(default_factory=dict)


def _frame(qs, columns: dict[str, str]) -> pd.DataFrame:
    rows = list(qs.values_list(*columns.keys()))
    return pd.DataFrame(rows, columns=list(columns.values()))


def f1_frames_load(
    *, since_season: int = 1996, forecast_for: list[int] | None = None, as_of: datetime | None = None
) -> F1Frames:
    """Read everything the features need from the database (one query per table).

    `forecast_for`: race ids whose weather comes from the latest stored forecast (races to predict
    without observed weather); other races use the observed RaceWeather summary.
    `as_of`: a past clock — the frames as known then (`clock.frames_known_at`: sessions whose
    results were not known by then dropped) and the latest forecast issued before it.
    """
    from ingestion.models import (
        Driver,
        PitStop,
        PracticeResult,
        QualifyingResult,
        Race,
        RaceResult,
        RaceWeather,
        SprintResult,
        Team,
    )
    from ingestion.models.race import SESSION_START_FIELDS
    from predictions.features.clock import frames_known_at

    races = _frame(
        Race.objects.filter(season_id__gte=since_season),
        {
            "id": "race_id",
            "season_id": "season",
            "round": "round",
            "date": "date",
            "circuit_id": "circuit_id",
            "circuit__circuit_type": "circuit_type",
            "circuit__length_km": "length_km",
            **{f: f for f in SESSION_START_FIELDS.values()},
        },
    )
    races["date"] = pd.to_datetime(races["date"])
    for column in SESSION_START_FIELDS.values():
        races[column] = pd.to_datetime(races[column], utc=True)
    races.loc[~races["circuit_type"].isin(["permanent", "street"]), "circuit_type"] = None
    scope = {"race__season_id__gte": since_season}
    results = _frame(
        RaceResult.objects.filter(**scope, shared_car_index=0),
        {
            "race_id": "race_id",
            "driver_id": "driver_id",
            "team_id": "team_id",
            "grid": "grid",
            "position_order": "position_order",
            "points": "points",
            "status__status": "status",
        },
    )
    results["points"] = results["points"].astype(float)
    results["car_failure"] = status_is_car_failure(results["status"])
    results["finished"] = status_is_finished(results.pop("status"))
    results = results.drop_duplicates(["race_id", "driver_id"])
    sprints = _frame(
        SprintResult.objects.filter(**scope),
        {
            "race_id": "race_id",
            "driver_id": "driver_id",
            "points": "points",
            "position_order": "position_order",
        },
    )
    sprints["points"] = sprints["points"].astype(float)
    qualifying = _frame(
        QualifyingResult.objects.filter(**scope),
        {
            "race_id": "race_id",
            "driver_id": "driver_id",
            "team_id": "team_id",
            "position": "position",
            "q1_ms": "q1_ms",
            "q2_ms": "q2_ms",
            "q3_ms": "q3_ms",
        },
    )
    practice = _frame(
        PracticeResult.objects.filter(**scope),
        {
            "race_id": "race_id",
            "session": "session",
            "driver_id": "driver_id",
            "team_id": "team_id",
            "milliseconds": "milliseconds",
            "laps": "laps",
        },
    )
    pit_stops = _frame(
        PitStop.objects.filter(**scope),
        {"race_id": "race_id", "driver_id": "driver_id", "milliseconds": "milliseconds"},
    )
    drivers = _frame(
        Driver.objects.filter(
            id__in=results["driver_id"].unique().tolist() + _extra_driver_ids(practice, qualifying)
        ),
        {"id": "driver_id", "date_of_birth": "date_of_birth"},
    )
    drivers["date_of_birth"] = pd.to_datetime(drivers["date_of_birth"])
    observed = _frame(
        RaceWeather.objects.filter(**scope),
        {
            "race_id": "race_id",
            "air_temperature_mean": "air_temperature",
            "track_temperature_mean": "track_temperature",
            "humidity_mean": "humidity",
            "wind_speed_mean": "wind_speed",
            "rainfall_share": "rain",
            "is_wet": "is_wet",
        },
    )
    forecast_for = list(forecast_for or [])
    observed = observed[~observed["race_id"].isin(forecast_for)].assign(
        fetched_at=pd.Series(pd.NaT, index=observed.index, dtype="datetime64[ns, UTC]")
    )
    forecasts = forecast_weather_load(race_ids=forecast_for, issued_before=as_of)
    parts = [f for f in (observed, forecasts[observed.columns]) if len(f)]
    weather = pd.concat(parts, ignore_index=True) if parts else observed
    frames = F1Frames(
        races=races,
        drivers=drivers,
        results=results,
        sprints=sprints,
        qualifying=qualifying,
        practice=practice,
        pit_stops=pit_stops,
        weather=weather,
        teams=_frame(Team.objects.all(), {"id": "team_id", "ref": "team_ref"}),
    )
    return frames_known_at(frames, as_of)


# The columns of a race forecast as the weather frame holds it (`forecast_weather_load`).
FORECAST_WEATHER_COLUMNS = (
    "race_id",
    "air_temperature",
    "track_temperature",
    "humidity",
    "wind_speed",
    "rain",
    "is_wet",
    "fetched_at",
)


def forecast_weather_load(*, race_ids: list[int], issued_before: datetime | None = None) -> pd.DataFrame:
    """`F1Frames.weather` rows from each race's latest stored race forecast (issued before
    `issued_before` when given; fetched_at = when it was issued); a race without one has no row."""
    from ingestion.models import WeatherForecast

    issued = {"fetched_at__lt": issued_before} if issued_before is not None else {}
    forecasts = _frame(
        WeatherForecast.objects.filter(race_id__in=list(race_ids), session="race", **issued).order_by(
            "race_id", "-fetched_at"
        ),
        {
            "race_id": "race_id",
            "air_temperature": "air_temperature",
            "humidity": "humidity",
            "wind_speed": "wind_speed",
            "precipitation_probability": "rain",
            "fetched_at": "fetched_at",
        },
    ).drop_duplicates("race_id")
    forecasts["fetched_at"] = pd.to_datetime(forecasts["fetched_at"], utc=True)
    forecasts["rain"] = forecasts["rain"] / 100.0
    forecasts["track_temperature"] = np.nan
    forecasts["is_wet"] = forecasts["rain"].map(lambda p: None if pd.isna(p) else p >= 0.5)
    return forecasts[list(FORECAST_WEATHER_COLUMNS)]


def frames_with_pre_race_forecast(frames: F1Frames, *, race) -> F1Frames:
    """`frames` with `race`'s weather taken from the latest race forecast issued (fetched_at) before
    its start: a prediction of a race already run (a backfill) is a pre-race prediction, and the
    race's own observed weather was not known before it. Without such a forecast the race has no
    weather (NaN, `weather_missing` = 1), never the observed race weather — which a forecast never
    has in full either (track temperature). Training and the backtest keep the observed weather
    standing in for the forecast; this applies to the backfilled prediction only."""
    from ingestion.selectors import race_session_starts

    forecast = forecast_weather_load(race_ids=[race.id], issued_before=race_session_starts(race=race)["race"])
    return frames_with_race_weather(frames, race_id=race.id, weather=forecast)


def frames_with_race_weather(frames: F1Frames, *, race_id: int, weather: pd.DataFrame) -> F1Frames:
    """Pure: `frames` with race `race_id`'s weather rows replaced by `weather`'s (none: no weather)."""
    others = frames.weather[frames.weather["race_id"] != race_id]
    own = weather[weather["race_id"] == race_id].reindex(columns=others.columns)
    parts = [f for f in (others, own) if len(f)]
    return replace(frames, weather=pd.concat(parts, ignore_index=True) if parts else others)


def _extra_driver_ids(practice: pd.DataFrame, qualifying: pd.DataFrame) -> list[int]:
    return sorted(set(practice["driver_id"]).union(qualifying["driver_id"]))
