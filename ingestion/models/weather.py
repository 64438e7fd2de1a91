"""Race weather: observed (OpenF1 /v1/weather, per race, summarised) and forecast (Open-Meteo).

The prediction features read RaceWeather for training (observed weather stands in for the
forecast) and WeatherForecast at prediction time. Missing values stay null — never zero.
"""

from django.db import models


class WeatherSource(models.TextChoices):
    OPENF1 = "openf1", "OpenF1 live-timing weather"
    OPEN_METEO_ARCHIVE = "open_meteo_archive", "Open-Meteo archive"


class RaceWeather(models.Model):
    """Observed race-session weather summarised from per-minute samples."""

    race = models.OneToOneField("ingestion.Race", on_delete=models.CASCADE, related_name="weather")
    source = models.CharField(max_length=24, choices=WeatherSource.choices, default=WeatherSource.OPENF1)
    samples = models.PositiveIntegerField(default=0)
    air_temperature_mean = models.FloatField(null=True, blank=True)
    track_temperature_mean = models.FloatField(null=True, blank=True)
    humidity_mean = models.FloatField(null=True, blank=True)
    pressure_mean = models.FloatField(null=True, blank=True)
    wind_speed_mean = models.FloatField(null=True, blank=True, help_text="m/s")
    rainfall_share = models.FloatField(null=True, blank=True, help_text="Share of samples with rain, 0..1")
    is_wet = models.BooleanField(null=True, blank=True, help_text="Rain over a meaningful share of the race")
    fetched_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.race_id} weather ({self.samples} samples)"


class WeatherForecast(models.Model):
    """One forecast for one session of an upcoming race, as fetched at `fetched_at` (history kept)."""

    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="forecasts")
    session = models.CharField(
        max_length=24, help_text="race, qualifying, sprint, fp1..fp3, sprint_qualifying"
    )
    valid_at = models.DateTimeField(help_text="The hour the forecast is for (UTC)")
    fetched_at = models.DateTimeField()
    air_temperature = models.FloatField(null=True, blank=True)
    precipitation_probability = models.FloatField(null=True, blank=True, help_text="%")
    precipitation_mm = models.FloatField(null=True, blank=True)
    wind_speed = models.FloatField(null=True, blank=True, help_text="m/s")
    humidity = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=24, default="open_meteo")

    class Meta:
        ordering = ["race_id", "valid_at", "-fetched_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["race", "session", "fetched_at"], name="weather_forecast_unique_race_session_fetch"
            ),
        ]
        indexes = [models.Index(fields=["race", "-fetched_at"], name="weather_forecast_latest_idx")]

    def __str__(self) -> str:
        return f"{self.race_id} {self.session} forecast @ {self.fetched_at:%Y-%m-%d %H:%M}"
