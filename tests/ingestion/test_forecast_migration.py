"""ingestion/migrations/0008: the all-null session forecasts stored before the sync left them out
are deleted; a forecast with some values (some null) stays."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.db import models

from ingestion.models import Race, WeatherForecast
from ingestion.services.weather_forecast import FORECAST_VALUE_FIELDS

pytestmark = pytest.mark.django_db

migration = importlib.import_module("ingestion.migrations.0008_weather_forecast_drop_all_null")


def test_all_null_forecasts_are_deleted_partial_ones_kept(ergast_data):
    race = Race.objects.get(slug="2024_bahrain")
    valid_at = race.start.replace(minute=0)

    def forecast(session: str, hour: int, **values) -> WeatherForecast:
        return WeatherForecast.objects.create(
            race=race,
            session=session,
            valid_at=valid_at,
            fetched_at=datetime(2024, 2, 26, hour, 0, tzinfo=UTC),
            **values,
        )

    kept = [
        forecast("race", 6, air_temperature=21.5, humidity=40.0),  # precipitation etc. null
        forecast("qualifying", 6, precipitation_probability=0.0),  # 0 is a value, not a null
    ]
    forecast("race", 12)  # every value null: it was the race's latest forecast
    forecast("fp1", 12)

    migration.forecasts_all_null_delete(apps, None)

    assert sorted(WeatherForecast.objects.values_list("pk", flat=True)) == sorted(f.pk for f in kept)


def test_the_migration_and_the_sync_agree_on_what_a_value_is():
    values = {f.name for f in WeatherForecast._meta.fields if isinstance(f, models.FloatField)}
    assert set(migration.VALUE_FIELDS) == set(FORECAST_VALUE_FIELDS) == values
