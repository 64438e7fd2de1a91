"""Open-Meteo forecast client (`WEATHER_API_BASE`; `WEATHER_API_KEY` sent as `apikey` when set).

Asks for hourly air temperature, precipitation probability and amount, wind (m/s) and humidity in
UTC, validates Open-Meteo's column layout (every hourly column as long as `time`) and returns one
HourlyWeather per hour. Timeouts/retries/typed errors come from the shared JsonHttpClient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings
from pydantic import BaseModel, ConfigDict, ValidationError

from ingestion.clients.http import JsonHttpClient, SourcePayloadError

HOURLY = (
    "temperature_2m",
    "precipitation_probability",
    "precipitation",
    "wind_speed_10m",
    "relative_humidity_2m",
)


class _Forecast(BaseModel):
    model_config = ConfigDict(extra="ignore")
    latitude: float
    longitude: float
    hourly: dict[str, list[float | None] | list[str]]


@dataclass(frozen=True)
class HourlyWeather:
    time: datetime  # UTC, start of the hour
    air_temperature: float | None
    precipitation_probability: float | None
    precipitation_mm: float | None
    wind_speed: float | None  # m/s
    humidity: float | None


class OpenMeteoClient:
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, **http_options):
        self.http = JsonHttpClient(base_url or settings.WEATHER_API_BASE, name="open-meteo", **http_options)
        self.api_key = api_key if api_key is not None else settings.WEATHER_API_KEY

    @property
    def requests_made(self) -> int:
        return self.http.requests_made

    def forecast(self, *, latitude: float, longitude: float, start: date, end: date) -> list[HourlyWeather]:
        params = {
            "latitude": f"{latitude:.4f}",
            "longitude": f"{longitude:.4f}",
            "hourly": ",".join(HOURLY),
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "timezone": "GMT",
            "wind_speed_unit": "ms",
        }
        if self.api_key:
            params["apikey"] = self.api_key
        url = self.http.url_for("forecast", params)
        data = self.http.get_json("forecast", params)
        try:
            parsed = _Forecast.model_validate(data)
            times = parsed.hourly["time"]
            columns = {name: parsed.hourly.get(name) for name in HOURLY}
            for name, column in columns.items():
                if column is None or len(column) != len(times):
                    raise ValueError(f"hourly.{name} missing or not as long as hourly.time")
            return [
                HourlyWeather(
                    time=datetime.fromisoformat(str(t)).replace(tzinfo=UTC),
                    air_temperature=columns["temperature_2m"][i],
                    precipitation_probability=columns["precipitation_probability"][i],
                    precipitation_mm=columns["precipitation"][i],
                    wind_speed=columns["wind_speed_10m"][i],
                    humidity=columns["relative_humidity_2m"][i],
                )
                for i, t in enumerate(times)
            ]
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            raise SourcePayloadError(
                f"open-meteo: unexpected forecast payload ({str(exc)[:300]})", url=url
            ) from None
