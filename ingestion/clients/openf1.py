"""OpenF1 (`OPENF1_API_BASE`): meetings, sessions, results, grid, drivers, weather and live timing.

Built on the shared JsonHttpClient (timeouts, jittered retries, typed errors) with OpenF1's rate
limit (about 30 requests per 10 s, shared through Redis) and pydantic validation of every payload:
a body that is not a list of the expected records raises SourcePayloadError naming the URL.
`OPENF1_API_TOKEN`, when set, is sent as a bearer token (OpenF1 answers 401 to anonymous requests
while a session is live).

`live=True` clients are for the 30-second poll: one quick retry only (a stale poll is worthless) and
a fleet-wide SharedCircuitBreaker that counts outages and 401/403 as failures, opens after
OPENF1_BREAKER_THRESHOLD of them and then lets one probe through per OPENF1_BREAKER_PROBE_SECONDS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ingestion.clients.breaker import SharedCircuitBreaker
from ingestion.clients.http import (
    JsonHttpClient,
    SourceError,
    SourcePayloadError,
    SourceRateLimited,
    SourceUnavailable,
)
from ingestion.clients.ratelimit import rate_limiter_for


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Meeting(_Record):
    meeting_key: int
    meeting_name: str
    year: int
    date_start: datetime
    date_end: datetime | None = None
    location: str | None = None
    country_name: str | None = None
    circuit_short_name: str | None = None


class Session(_Record):
    session_key: int
    meeting_key: int
    session_name: str
    session_type: str | None = None
    date_start: datetime
    date_end: datetime
    year: int | None = None
    location: str | None = None
    country_name: str | None = None
    circuit_short_name: str | None = None
    is_cancelled: bool | None = False


class SessionResult(_Record):
    session_key: int
    driver_number: int
    position: int | None = None
    duration: float | list[float | None] | None = None
    gap_to_leader: float | str | list[float | str | None] | None = None
    number_of_laps: int | None = None
    dnf: bool | None = False
    dns: bool | None = False
    dsq: bool | None = False
    points: float | None = None


class GridSlot(_Record):
    session_key: int
    driver_number: int
    position: int
    lap_duration: float | None = None


class DriverInfo(_Record):
    session_key: int
    driver_number: int
    name_acronym: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    team_name: str | None = None


class WeatherSample(_Record):
    date: datetime
    session_key: int
    meeting_key: int | None = None
    air_temperature: float | None = None
    track_temperature: float | None = None
    humidity: float | None = None
    pressure: float | None = None
    rainfall: float | None = None
    wind_direction: float | None = None
    wind_speed: float | None = None


class Position(_Record):
    date: datetime
    session_key: int
    driver_number: int
    position: int


class Interval(_Record):
    date: datetime
    session_key: int
    driver_number: int
    gap_to_leader: float | str | None = None
    interval: float | str | None = None


class Lap(_Record):
    session_key: int
    driver_number: int
    lap_number: int
    lap_duration: float | None = None
    date_start: datetime | None = None


class RaceControl(_Record):
    date: datetime
    session_key: int
    category: str | None = None
    flag: str | None = None
    scope: str | None = None
    lap_number: int | None = None
    driver_number: int | None = None
    message: str


T = TypeVar("T", bound=_Record)
_ADAPTERS: dict[type, TypeAdapter] = {}


def _parse(model: type[T], data: Any, url: str) -> list[T]:
    adapter = _ADAPTERS.setdefault(model, TypeAdapter(list[model]))
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise SourcePayloadError(
            f"openf1: unexpected {model.__name__} payload ({exc.error_count()} errors: {str(exc)[:300]})",
            url=url,
        ) from None


def _since(field: str, since: datetime | None) -> dict:
    return {f"{field}>": since.isoformat()} if since else {}


class OpenF1Client:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        token: str | None = None,
        live: bool = False,
        breaker: SharedCircuitBreaker | None = None,
        clock: Callable[[], float] | None = None,
        **http_options,
    ):
        if live:
            http_options.setdefault("max_retries", 1)
            http_options.setdefault("backoff_max", 2.0)
            http_options.setdefault("retry_after_max", 5.0)
        self.http = JsonHttpClient(
            base_url or settings.OPENF1_API_BASE,
            name="openf1",
            auth_token=token if token is not None else settings.OPENF1_API_TOKEN,
            rate_limiter=rate_limiter_for("openf1", settings.OPENF1_RATE_LIMIT, max_wait=60),
            **http_options,
        )
        self.breaker = breaker
        if live and breaker is None:
            kwargs = {"clock": clock} if clock else {}
            self.breaker = SharedCircuitBreaker(
                "openf1-live",
                threshold=settings.OPENF1_BREAKER_THRESHOLD,
                probe_interval=settings.OPENF1_BREAKER_PROBE_SECONDS,
                **kwargs,
            )

    @property
    def requests_made(self) -> int:
        return self.http.requests_made

    def _get(self, model: type[T], path: str, params: dict) -> list[T]:
        url = self.http.url_for(path, params)
        if self.breaker is not None and not self.breaker.allow():
            raise SourceUnavailable("openf1: circuit breaker open (live data unavailable)", url=url)
        try:
            data = self.http.get_json(path, params)
            records = _parse(model, data, url)
        except SourceError as exc:
            outage = isinstance(exc, SourceUnavailable | SourceRateLimited) or exc.status in (401, 403)
            if self.breaker is not None and outage:
                self.breaker.record_failure()
            raise
        if self.breaker is not None:
            self.breaker.record_success()
        return records

    # -- calendar and results -------------------------------------------------------------
    def meetings(self, *, year: int) -> list[Meeting]:
        return self._get(Meeting, "meetings", {"year": year})

    def sessions(self, *, year: int | None = None, meeting_key: int | None = None) -> list[Session]:
        params = {k: v for k, v in {"year": year, "meeting_key": meeting_key}.items() if v is not None}
        return self._get(Session, "sessions", params)

    def session_result(self, *, session_key: int) -> list[SessionResult]:
        return self._get(SessionResult, "session_result", {"session_key": session_key})

    def starting_grid(self, *, session_key: int) -> list[GridSlot]:
        return self._get(GridSlot, "starting_grid", {"session_key": session_key})

    def drivers(self, *, session_key: int) -> list[DriverInfo]:
        return self._get(DriverInfo, "drivers", {"session_key": session_key})

    def weather(
        self, *, session_key: int | None = None, meeting_key: int | None = None
    ) -> list[WeatherSample]:
        params = {k: v for k, v in {"session_key": session_key, "meeting_key": meeting_key}.items() if v}
        return self._get(WeatherSample, "weather", params)

    def weather_between(self, *, start: datetime, end: datetime) -> list[WeatherSample]:
        """Samples of whatever session was running between `start` and `end` (no key needed)."""
        return self._get(WeatherSample, "weather", {"date>": start.isoformat(), "date<": end.isoformat()})

    # -- live (`since` = only records newer than the last poll) ----------------------------
    def position(self, *, session_key: int, since: datetime | None = None) -> list[Position]:
        return self._get(Position, "position", {"session_key": session_key, **_since("date", since)})

    def intervals(self, *, session_key: int, since: datetime | None = None) -> list[Interval]:
        return self._get(Interval, "intervals", {"session_key": session_key, **_since("date", since)})

    def laps(self, *, session_key: int, since: datetime | None = None) -> list[Lap]:
        return self._get(Lap, "laps", {"session_key": session_key, **_since("date_start", since)})

    def race_control(self, *, session_key: int, since: datetime | None = None) -> list[RaceControl]:
        return self._get(RaceControl, "race_control", {"session_key": session_key, **_since("date", since)})
