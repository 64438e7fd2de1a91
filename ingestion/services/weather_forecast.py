"""Weather forecasts (Open-Meteo) for upcoming race weekends, per session time, history kept.

One request per upcoming race within the forecast horizon (Open-Meteo: 16 days) at the circuit's
coordinates, covering the weekend's days; each known session start (Race columns, or OpenF1 session
times when mapped) takes the forecast of the hour it starts in. Every fetch is stored with its
`fetched_at`, so the prediction features can use the latest and analysts can see how it evolved.
Each run is a SyncRun (source weather, params kind=forecast): `partial` when some races failed,
`failed` (and ForecastsFailed raised) when every race due a forecast failed — ForecastsUnavailable,
which the task retries, when the source was unavailable for any of them.

A session whose forecast hour has no value at all (Open-Meteo answers null for an hour it has no
data for) is not stored: stored, it would become that session's latest forecast and hide a valid
earlier one from the race page, the API and the prediction features. The run counts such sessions
in `counts["empty"]` and names them in `counts["note"]`. A forecast with only some values null is
stored as it is (missing values stay null; the features handle them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ingestion.clients.http import SourceError, SourceRateLimited, SourceUnavailable
from ingestion.clients.weather import HourlyWeather, OpenMeteoClient
from ingestion.models import OpenF1Session, Race, SyncSource, WeatherForecast
from ingestion.models.race import SESSION_START_FIELDS
from ingestion.services.sync_runs import sync_run_recorded
from ingestion.services.upsert import upsert_rows
from ingestion.signals import races_changed_send

FORECAST_HORIZON_DAYS = 16
FORECAST_VALUE_FIELDS = (
    "air_temperature",
    "precipitation_probability",
    "precipitation_mm",
    "wind_speed",
    "humidity",
)


def race_session_starts(*, race: Race, openf1: dict[str, datetime] | None = None) -> dict[str, datetime]:
    """Session -> UTC start, OpenF1 times first, then the Race columns, then race day noon as a last resort."""
    starts = {
        name: getattr(race, column) for name, column in SESSION_START_FIELDS.items() if getattr(race, column)
    }
    starts.update(openf1 or {})
    if "race" not in starts:
        starts["race"] = datetime.combine(race.date, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    return starts


def forecast_rows(
    *, race_id: int, starts: dict[str, datetime], hours: list[HourlyWeather], fetched_at: datetime
) -> list[dict]:
    """Pure: pick, for each session, the forecast hour its start falls in."""
    by_hour = {h.time: h for h in hours}
    rows = []
    for session, start in sorted(starts.items(), key=lambda kv: kv[1]):
        hour = by_hour.get(start.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
        if hour is None:
            continue
        rows.append(
            {
                "race_id": race_id,
                "session": session,
                "valid_at": hour.time,
                "fetched_at": fetched_at,
                "air_temperature": hour.air_temperature,
                "precipitation_probability": hour.precipitation_probability,
                "precipitation_mm": hour.precipitation_mm,
                "wind_speed": hour.wind_speed,
                "humidity": hour.humidity,
                "source": "open_meteo",
            }
        )
    return rows


def forecast_row_empty(row: dict) -> bool:
    """Pure: the row has no forecast value at all (every FORECAST_VALUE_FIELDS null)."""
    return all(row[name] is None for name in FORECAST_VALUE_FIELDS)


class ForecastsFailed(SourceError):
    """No upcoming race got a forecast: every one failed (the source is down or unusable)."""


class ForecastsUnavailable(ForecastsFailed, SourceUnavailable):
    """ForecastsFailed because the source was unavailable (5xx, timeouts, 429 after the client's own
    retries) for at least one of the races: a SourceUnavailable, so the Celery task retries it as it
    retries a Jolpica outage. A run that failed on payload errors alone stays a plain ForecastsFailed
    (a broken answer is not fixed by asking again minutes later)."""


def weather_forecasts_sync(*, now: datetime | None = None, client: OpenMeteoClient | None = None) -> dict:
    """Fetch forecasts for every race in [today, today + horizon], recorded as a SyncRun (weather).

    One failing race does not stop the rest: it is listed in `errors` and the run is `partial`. When
    races were due and every one of them failed, the sync fails: ForecastsFailed (a SourceError) is
    raised after the run is recorded as `failed`, so the job, the command and the alerts see it.
    """
    now = (now or timezone.now()).replace(microsecond=0)
    client = client or OpenMeteoClient()
    params = {"kind": "forecast", "now": now.isoformat(), "horizon_days": FORECAST_HORIZON_DAYS}
    with sync_run_recorded(source=SyncSource.WEATHER, params=params) as record:
        try:
            counts = _forecasts_fetch(now=now, client=client)
        finally:
            record.requests_made = client.requests_made
        outages = counts.pop("_unavailable")
        record.counts = {k: v for k, v in counts.items() if k != "errors"}
        record.errors = [{"race": slug, "message": message} for slug, message in counts["errors"].items()]
        if counts["errors"] and not counts["races"]:
            raise (ForecastsUnavailable if outages else ForecastsFailed)(
                f"no forecast for any of the {len(counts['errors'])} upcoming race(s): "
                + "; ".join(f"{slug}: {message}" for slug, message in list(counts["errors"].items())[:3]),
                url=client.http.base_url,
            )
    return counts


def races_forecast_due(*, now: datetime) -> list[Race]:
    """Races on the calendar (`Race.objects.on_calendar()`) from today to FORECAST_HORIZON_DAYS ahead."""
    return list(
        Race.objects.on_calendar()
        .select_related("circuit")
        .filter(date__gte=now.date(), date__lte=now.date() + timedelta(days=FORECAST_HORIZON_DAYS))
        .order_by("date")
    )


def _forecasts_fetch(*, now: datetime, client: OpenMeteoClient) -> dict:
    races = races_forecast_due(now=now)
    openf1: dict[int, dict[str, datetime]] = {}
    for race_id, session_type, start in OpenF1Session.objects.filter(race__in=races).values_list(
        "race_id", "session_type", "date_start"
    ):
        openf1.setdefault(race_id, {})[session_type] = start
    counts: dict = {"races": 0, "rows": 0, "empty": 0, "errors": {}, "_unavailable": 0}
    stored: list[str] = []
    empty: list[str] = []
    for race in races:
        if race.circuit.latitude is None or race.circuit.longitude is None:
            counts["errors"][race.slug] = "circuit has no coordinates"
            continue
        starts = {
            name: start
            for name, start in race_session_starts(race=race, openf1=openf1.get(race.pk)).items()
            if start >= now
        }
        if not starts:
            continue
        days = sorted(s.astimezone(UTC).date() for s in starts.values())
        try:
            hours = client.forecast(
                latitude=race.circuit.latitude, longitude=race.circuit.longitude, start=days[0], end=days[-1]
            )
        except SourceError as exc:
            counts["errors"][race.slug] = str(exc)[:300]
            counts["_unavailable"] += isinstance(exc, SourceUnavailable | SourceRateLimited)
            continue
        rows = []
        for row in forecast_rows(race_id=race.pk, starts=starts, hours=hours, fetched_at=now):
            if forecast_row_empty(row):
                empty.append(f"{race.slug} {row['session']}")
            else:
                rows.append(row)
        counts["races"] += 1
        if not rows:
            continue
        with transaction.atomic():
            upsert_rows(
                model=WeatherForecast,
                rows=rows,
                key_fields=["race_id", "session", "fetched_at"],
                scope={"race_id": race.pk, "fetched_at": now},
            )
        counts["rows"] += len(rows)
        stored.append(race.slug)
    counts["empty"] = len(empty)
    if empty:
        counts["note"] = (
            f"{len(empty)} session forecast(s) with every value null not stored "
            f"(the session's earlier forecast, if any, stays the latest): {', '.join(empty)}"
        )
    counts["requests"] = client.requests_made
    # the race pages, race detail and home page show the latest forecast: drop their cached copies
    races_changed_send(sender=weather_forecasts_sync, race_ids=stored)
    return counts
