"""Observed race weather from OpenF1 `/v1/weather`, summarised per race into RaceWeather.

Samples are fetched by the race's OpenF1 session key when we have it, else by a time window around
the race start (the live-timing feed has one session at a time, so the window picks out the race
session; the mirror serves 2018 on, the real API 2023 on). Only samples from lights out to the end
of the feed count: the feed opens about an hour before the start and pre-race showers are not race
weather.

`is_wet` — the track rain sensor is noisy (single-sample blips; two dry races, 2018 Spain and 2019
Monaco, report rain for most of the race at ~50 % humidity). A race is wet when rain was reported
  * in at least WET_MIN_SHARE (10 %) of its samples, and
  * for at least WET_MIN_RUN (5) consecutive samples (~5 minutes), and
  * the rain samples look like rain: mean humidity under rain >= 60 %, or the track under rain at
    least 2 °C cooler than when dry (a real shower cools the asphalt; a stuck sensor does not).
`rainfall_share` keeps the raw share of samples reporting rain, so consumers can apply their own rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from statistics import fmean

from django.db import DatabaseError, transaction
from django.utils import timezone

from ingestion.clients.openf1 import OpenF1Client, WeatherSample
from ingestion.models import OpenF1Session, Race, RaceWeather, SessionType, SyncSource, WeatherSource
from ingestion.services.sync_runs import sync_run_recorded
from ingestion.services.upsert import upsert_rows
from ingestion.signals import races_changed_send

WET_MIN_SHARE = 0.10
WET_MIN_RUN = 5
WET_MIN_HUMIDITY = 60.0
WET_MIN_TRACK_COOLING = 2.0


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(fmean(vals), 2) if vals else None


def weather_summarise(*, samples: Sequence[WeatherSample], race_start: datetime | None = None) -> dict | None:
    """Pure: per-minute samples -> RaceWeather fields (None when there is nothing to summarise)."""
    in_race = [s for s in samples if race_start is None or s.date >= race_start]
    if not in_race:
        in_race = list(samples)  # start time wrong/unknown: better the whole session than nothing
    if not in_race:
        return None
    in_race.sort(key=lambda s: s.date)
    rain = [bool(s.rainfall) for s in in_race if s.rainfall is not None]
    share = round(sum(rain) / len(rain), 4) if rain else None
    longest = run = 0
    for wet in rain:
        run = run + 1 if wet else 0
        longest = max(longest, run)
    rainy = [s for s in in_race if s.rainfall]
    dry = [s for s in in_race if s.rainfall is not None and not s.rainfall]
    humid = (_mean(s.humidity for s in rainy) or 0) >= WET_MIN_HUMIDITY
    dry_track, wet_track = _mean(s.track_temperature for s in dry), _mean(s.track_temperature for s in rainy)
    cooled = (
        dry_track is not None and wet_track is not None and dry_track - wet_track >= WET_MIN_TRACK_COOLING
    )
    is_wet = (
        None
        if share is None
        else bool(share >= WET_MIN_SHARE and longest >= WET_MIN_RUN and (humid or cooled))
    )
    return {
        "samples": len(in_race),
        "air_temperature_mean": _mean(s.air_temperature for s in in_race),
        "track_temperature_mean": _mean(s.track_temperature for s in in_race),
        "humidity_mean": _mean(s.humidity for s in in_race),
        "pressure_mean": _mean(s.pressure for s in in_race),
        "wind_speed_mean": _mean(s.wind_speed for s in in_race),
        "rainfall_share": share,
        "is_wet": is_wet,
    }


def _race_samples(*, race: Race, session_key: int | None, client: OpenF1Client) -> list[WeatherSample]:
    if session_key:
        return client.weather(session_key=session_key)
    if race.start is not None:
        first, last = race.start - timedelta(minutes=90), race.start + timedelta(hours=4)
    else:
        first = datetime.combine(race.date, datetime.min.time(), tzinfo=UTC)
        last = first + timedelta(days=1)
    samples = client.weather_between(start=first, end=last)
    # More than one session in the window (should not happen): keep the one with most samples.
    by_session: dict[int, list[WeatherSample]] = {}
    for s in samples:
        by_session.setdefault(s.session_key, []).append(s)
    return max(by_session.values(), key=len) if by_session else []


# The first season of the live-timing weather feed served as OpenF1's /v1/weather (README, "Weather"):
# earlier seasons have no samples, so they are not asked for (19 requests for 2010 found nothing).
OBSERVED_WEATHER_FIRST_SEASON = 2018


def weather_observed_sync(
    *,
    seasons: Iterable[int],
    race_ids: Iterable[str] | None = None,
    client: OpenF1Client | None = None,
    now: datetime | None = None,
    refresh: bool = False,
) -> dict:
    """Fetch + summarise race weather for finished races of `seasons` (optionally only the races with
    these public ids), skipping races already stored unless `refresh`. One request per race.

    Recorded as a SyncRun (source weather, params kind=observed); a source error fails the run (races
    stored before it stay, and the run's counts say how many) and is raised. A season before
    OBSERVED_WEATHER_FIRST_SEASON is not fetched: it is listed under `missing` (counts and the run's
    errors, as a warning)."""
    client = client or OpenF1Client()
    now = now or timezone.now()
    seasons = sorted(set(seasons))
    race_ids = None if race_ids is None else sorted(race_ids)
    params = {"kind": "observed", "seasons": seasons, "race_ids": race_ids, "refresh": refresh}
    counts = {"races": 0, "no_samples": [], "created": 0, "updated": 0, "unchanged": 0}
    early = [s for s in seasons if s < OBSERVED_WEATHER_FIRST_SEASON]
    if early:
        counts["missing"] = [
            f"season {s}: no observed weather (OpenF1's /v1/weather starts in {OBSERVED_WEATHER_FIRST_SEASON})"
            for s in early
        ]
    with sync_run_recorded(source=SyncSource.WEATHER, params=params) as record:
        record.errors = [{"level": "warning", "message": m} for m in counts.get("missing", [])]
        try:
            _observed_fetch(
                counts,
                seasons=[s for s in seasons if s >= OBSERVED_WEATHER_FIRST_SEASON],
                race_ids=race_ids,
                client=client,
                now=now,
                refresh=refresh,
            )
        finally:  # a failed run records what it stored before the failure too (was `{}`)
            record.requests_made = client.requests_made
            record.counts = counts
    return counts


def _observed_fetch(
    counts: dict, *, seasons: list[int], race_ids, client: OpenF1Client, now: datetime, refresh: bool
) -> None:
    """Fetch and store; `counts` is updated in place, race by race, so it is right after a failure."""
    session_keys = dict(
        OpenF1Session.objects.filter(
            session_type=SessionType.RACE, race__season_id__in=list(seasons)
        ).values_list("race_id", "session_key")
    )
    races = (
        Race.objects.on_calendar().filter(season_id__in=list(seasons), date__lte=now.date()).order_by("date")
    )
    if race_ids is not None:
        races = races.filter(slug__in=list(race_ids))
    if not refresh:
        races = races.exclude(weather__isnull=False)
    stored: list[str] = []
    try:
        for race in races:
            if race.start is not None and race.start > now:
                continue
            counts["races"] += 1
            summary = weather_summarise(
                samples=_race_samples(race=race, session_key=session_keys.get(race.pk), client=client),
                race_start=race.start,
            )
            if summary is None:
                counts["no_samples"].append(race.slug)
                continue
            result = None
            try:
                with transaction.atomic():
                    result = upsert_rows(
                        model=RaceWeather,
                        rows=[{"race_id": race.pk, "source": WeatherSource.OPENF1.value, **summary}],
                        key_fields=["race_id"],
                    )
            except DatabaseError:
                result = None  # the commit failed: rolled back, nothing of this race stored
                raise
            finally:
                # Counted once the block is left, also by an interrupt: Ctrl-C or a worker shutdown
                # landing while the COMMIT was in flight surfaces only after the server's answer
                # (psycopg waits for it), so the race is stored — it was left uncounted (the run
                # said 11 created, 12 were stored) and out of `stored` (its pages not refreshed).
                if result is not None:
                    for k in ("created", "updated", "unchanged"):
                        counts[k] += getattr(result, k)
                    if result.created or result.updated:
                        stored.append(race.slug)
    finally:  # the races stored before a failure too: their pages show the observed weather
        races_changed_send(sender=weather_observed_sync, race_ids=stored)
    counts["requests"] = client.requests_made
