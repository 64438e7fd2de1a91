"""Delete stored session forecasts whose every value is null.

The forecast sync no longer stores them (ingestion.services.weather_forecast): one stored before
stays its session's latest forecast, hiding a valid earlier one from the race page, the API and the
prediction features, until a fetch with values comes (with the offline mirror, never: an hour
without samples is null at every fetch). They carry no value to keep; the SyncRun of their fetch
still records it. Nothing to undo on the way back.
"""

from django.db import migrations

VALUE_FIELDS = ("air_temperature", "precipitation_probability", "precipitation_mm", "wind_speed", "humidity")


def forecasts_all_null_delete(apps, schema_editor):
    WeatherForecast = apps.get_model("ingestion", "WeatherForecast")
    WeatherForecast.objects.filter(**{f"{name}__isnull": True for name in VALUE_FIELDS}).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0007_sync_run_heartbeat"),
    ]

    operations = [migrations.RunPython(forecasts_all_null_delete, migrations.RunPython.noop)]
