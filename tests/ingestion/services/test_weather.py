"""Observed race weather (OpenF1 /v1/weather -> RaceWeather) and Open-Meteo forecasts (-> WeatherForecast)."""

from __future__ import annotations

import csv
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from statistics import fmean

import pytest

from ingestion.clients.http import SourceError
from ingestion.clients.openf1 import WeatherSample
from ingestion.models import Race, RaceWeather, SyncRun, SyncSource, SyncStatus, WeatherForecast
from ingestion.services.weather_forecast import ForecastsFailed, race_session_starts, weather_forecasts_sync
from ingestion.services.weather_observed import weather_observed_sync, weather_summarise
from tests.conftest import DATA_DIR, ERGAST_DUMP_DIR

T0 = datetime(2024, 6, 1, 13, 0, tzinfo=UTC)


def samples(rain: list[int], *, humidity=80.0, track=30.0, wet_track=None, start=T0):
    return [
        WeatherSample(
            date=start + timedelta(minutes=i),
            session_key=1,
            air_temperature=20.0,
            track_temperature=(wet_track if (r and wet_track is not None) else track),
            humidity=humidity,
            pressure=1000.0,
            rainfall=r,
            wind_speed=2.0,
        )
        for i, r in enumerate(rain)
    ]


def test_summary_means_and_share():
    out = weather_summarise(samples=samples([0] * 80 + [1] * 20))
    assert out["samples"] == 100
    assert out["rainfall_share"] == 0.2
    assert out["air_temperature_mean"] == 20.0
    assert out["is_wet"] is True  # 20 % share, a 20-minute stretch, 80 % humidity


def test_blips_are_not_a_wet_race():
    rain = ([0] * 9 + [1]) * 10  # 10 % share, but never more than one sample in a row
    assert weather_summarise(samples=samples(rain))["is_wet"] is False


def test_a_stuck_sensor_in_dry_air_is_not_a_wet_race():
    # like 2018 Spain: rain reported for most of the race at ~50 % humidity, track not cooling
    assert weather_summarise(samples=samples([1] * 80 + [0] * 20, humidity=50.0))["is_wet"] is False
    # the same humidity but the track cools by 8 °C under the rain: a real shower (2023 Monaco)
    out = weather_summarise(samples=samples([0] * 80 + [1] * 20, humidity=50.0, wet_track=22.0))
    assert out["is_wet"] is True


def test_pre_race_samples_are_left_out():
    s = samples([1] * 30 + [0] * 100)  # rain in the hour before the start only
    out = weather_summarise(samples=s, race_start=T0 + timedelta(minutes=30))
    assert out["samples"] == 100 and out["rainfall_share"] == 0.0 and out["is_wet"] is False
    assert weather_summarise(samples=[]) is None


def _csv_race(slug_season: int, rnd: int):
    with open(ERGAST_DUMP_DIR / "races.csv", newline="") as fh:
        race = next(r for r in csv.DictReader(fh) if int(r["year"]) == slug_season and int(r["round"]) == rnd)
    start = datetime.fromisoformat(f"{race['date']}T{race['time']}").replace(tzinfo=UTC)
    key = str(slug_season * 1000 + rnd * 10 + 7)
    with open(DATA_DIR / "openf1" / "weather.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["session_key"] == key]
    return [r for r in rows if datetime.fromisoformat(r["date"]) >= start]


@pytest.mark.django_db
def test_observed_sync_matches_the_csv_and_flags_the_known_wet_and_dry_races(mirror, ergast_data):
    wanted = ["2018_australia", "2018_spain", "2018_germany", "2021_belgium", "2021_emilia_romagna"]
    counts = weather_observed_sync(
        seasons=[2018, 2021], race_ids=wanted, now=datetime(2022, 1, 1, tzinfo=UTC)
    )
    assert counts["created"] == RaceWeather.objects.count() == 4
    assert counts["no_samples"] == ["2018_australia"]  # the feed has no samples for it

    belgium = RaceWeather.objects.get(race__slug="2021_belgium")
    expected = _csv_race(2021, 12)
    assert belgium.samples == len(expected)
    assert belgium.air_temperature_mean == pytest.approx(
        fmean(float(r["air_temperature"]) for r in expected), abs=0.01
    )
    assert belgium.rainfall_share == pytest.approx(
        sum(int(r["rainfall"]) for r in expected) / len(expected), abs=1e-4
    )
    assert belgium.is_wet is True  # the 2021 Belgian GP: rain throughout, no racing laps
    assert RaceWeather.objects.get(race__slug="2018_spain").is_wet is False  # stuck sensor, dry race
    assert RaceWeather.objects.get(race__slug="2018_germany").is_wet is True  # Hockenheim shower

    again = weather_observed_sync(
        seasons=[2018, 2021], race_ids=wanted, now=datetime(2022, 1, 1, tzinfo=UTC), refresh=True
    )
    assert again["created"] == again["updated"] == 0


@pytest.mark.django_db
def test_forecast_sync_stores_one_row_per_session_with_fetch_time(mirror, ergast_data):
    now = datetime(2024, 2, 26, 12, 0, tzinfo=UTC)
    counts = weather_forecasts_sync(now=now)
    assert counts["errors"] == {}
    bahrain = Race.objects.get(slug="2024_bahrain")
    rows = {f.session: f for f in WeatherForecast.objects.filter(race=bahrain)}
    # FP1 (11:30) and FP3 (12:30) fall in hours the mirror has no samples for: not stored (below)
    assert set(rows) == {"fp2", "qualifying", "race"}
    race_row = rows["race"]
    assert race_row.valid_at == bahrain.start.replace(minute=0) and race_row.fetched_at == now
    # the same hour straight from the mirror's JSON
    c = bahrain.circuit
    url = (
        f"{mirror.weather}/forecast?latitude={c.latitude:.4f}&longitude={c.longitude:.4f}"
        f"&hourly=temperature_2m,relative_humidity_2m&start_date={bahrain.date}&end_date={bahrain.date}"
        "&timezone=GMT&wind_speed_unit=ms"
    )
    with urllib.request.urlopen(url, timeout=10) as resp:
        hourly = json.loads(resp.read())["hourly"]
    i = hourly["time"].index(race_row.valid_at.strftime("%Y-%m-%dT%H:00"))
    assert race_row.air_temperature == hourly["temperature_2m"][i]
    assert race_row.humidity == hourly["relative_humidity_2m"][i]

    weather_forecasts_sync(now=now + timedelta(hours=6))  # history kept, latest distinguishable
    assert WeatherForecast.objects.filter(race=bahrain, session="race").count() == 2


def _mirror_hourly(mirror, race: Race) -> dict:
    """The mirror's Open-Meteo answer for the race weekend, as the client asks for it."""
    c = race.circuit
    url = (
        f"{mirror.weather}/forecast?latitude={c.latitude:.4f}&longitude={c.longitude:.4f}"
        "&hourly=temperature_2m,precipitation_probability,precipitation,wind_speed_10m,relative_humidity_2m"
        f"&start_date={race.date - timedelta(days=2)}&end_date={race.date}&timezone=GMT&wind_speed_unit=ms"
    )
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())["hourly"]


@pytest.mark.django_db
def test_forecast_sessions_without_any_value_are_counted_not_stored(mirror, ergast_data):
    """QA: a session whose forecast hour the source answers with nulls only (the mirror for hours
    without samples, Open-Meteo where it has no data) was stored, and as the latest forecast it hid
    any earlier one. Only such all-null sessions are left out; some nulls are stored as they are."""
    now = datetime(2024, 2, 26, 12, 0, tzinfo=UTC)
    counts = weather_forecasts_sync(now=now)
    bahrain = Race.objects.get(slug="2024_bahrain")
    hourly = _mirror_hourly(mirror, bahrain)
    stored = {f.session: f for f in WeatherForecast.objects.filter(race=bahrain)}
    names = ["temperature_2m", "precipitation_probability", "precipitation", "wind_speed_10m"]
    names.append("relative_humidity_2m")
    empty = []
    for session, start in race_session_starts(race=bahrain).items():
        i = hourly["time"].index(start.replace(minute=0).strftime("%Y-%m-%dT%H:00"))
        values = [hourly[name][i] for name in names]
        if all(v is None for v in values):
            empty.append(session)
            assert session not in stored
        else:  # stored as answered: the mirror's precipitation (mm) is always null, the rest is not
            row = stored[session]
            assert [
                row.air_temperature,
                row.precipitation_probability,
                row.precipitation_mm,
                row.wind_speed,
                row.humidity,
            ] == values
            assert row.precipitation_mm is None and row.air_temperature is not None
    assert sorted(empty) == ["fp1", "fp3"] and sorted(stored) == ["fp2", "qualifying", "race"]

    run = SyncRun.objects.filter(source=SyncSource.WEATHER).latest("pk")
    assert run.status == SyncStatus.SUCCEEDED and run.errors == []  # nothing failed
    # Saudi Arabia (the other race due) has two such sessions too
    assert counts["empty"] == run.counts["empty"] == 4 and run.counts["races"] == 2
    assert run.counts["rows"] == WeatherForecast.objects.count() == 6
    assert run.counts["note"] == (
        "4 session forecast(s) with every value null not stored (the session's earlier forecast, "
        "if any, stays the latest): 2024_bahrain fp1, 2024_bahrain fp3, 2024_saudi_arabia fp1, "
        "2024_saudi_arabia fp3"
    )


@pytest.mark.django_db
def test_an_empty_later_forecast_leaves_the_earlier_one_the_latest(mirror, ergast_data, client):
    """A later fetch answering nulls only for the race hour must not replace the valid forecast
    before it, for the race detail (API) or the prediction features. The race start moves to an
    hour the mirror has no samples for, so the second fetch of that session is all null."""
    from rest_framework.test import APIClient

    from predictions.features.frames import forecast_weather_load

    first = datetime(2024, 2, 26, 12, 0, tzinfo=UTC)
    weather_forecasts_sync(now=first)
    bahrain = Race.objects.get(slug="2024_bahrain")
    valid = WeatherForecast.objects.get(race=bahrain, session="race")
    assert valid.air_temperature is not None

    Race.objects.filter(pk=bahrain.pk).update(start=bahrain.start.replace(hour=3))  # no samples at 03:00
    counts = weather_forecasts_sync(now=first + timedelta(hours=6))

    detail = APIClient().get("/api/v1/races/2024_bahrain").json()
    race = next(f for f in detail["weather"]["forecasts"] if f["session"] == "race")
    assert race["fetched_at"] == "2024-02-26T12:00:00Z" and race["air_temperature"] == valid.air_temperature
    assert all(
        any(
            f[k] is not None
            for k in ("air_temperature", "precipitation_probability", "wind_speed", "humidity")
        )
        for f in detail["weather"]["forecasts"]
    )
    features = forecast_weather_load(race_ids=[bahrain.pk])
    assert features["air_temperature"].tolist() == [valid.air_temperature]
    assert WeatherForecast.objects.filter(race=bahrain, session="race").count() == 1
    assert "2024_bahrain race" in counts["note"]


@pytest.mark.django_db
def test_forecast_source_down_fails_the_sync_and_records_every_race(mirror, ergast_data):
    mirror.set_faults({"prefix": "/v1/forecast", "status": 500})
    with pytest.raises(ForecastsFailed, match="no forecast for any of the 2 upcoming race") as raised:
        weather_forecasts_sync(now=datetime(2024, 2, 26, 12, 0, tzinfo=UTC))
    assert "2024_bahrain" in str(raised.value) and "HTTP 500" in str(raised.value)
    assert not WeatherForecast.objects.exists()
    run = SyncRun.objects.filter(source=SyncSource.WEATHER).latest("pk")
    assert run.status == SyncStatus.FAILED and run.params["kind"] == "forecast"
    assert [e.get("race") for e in run.errors] == ["2024_bahrain", "2024_saudi_arabia", None]
    assert run.errors[-1]["fatal"] is True and run.finished_at is not None
    assert run.requests_made == 6  # 2 races x (1 + HTTP_MAX_RETRIES 2)


@pytest.mark.django_db
def test_forecast_one_race_failing_is_a_partial_sync(mirror, ergast_data):
    mirror.set_faults({"prefix": "/v1/forecast", "status": 500, "count": 3})  # Bahrain's 3 attempts
    counts = weather_forecasts_sync(now=datetime(2024, 2, 26, 12, 0, tzinfo=UTC))
    assert set(counts["errors"]) == {"2024_bahrain"} and counts["races"] == 1
    assert set(WeatherForecast.objects.values_list("race__slug", flat=True)) == {"2024_saudi_arabia"}
    run = SyncRun.objects.filter(source=SyncSource.WEATHER).latest("pk")
    assert run.status == SyncStatus.PARTIAL
    assert [e["race"] for e in run.errors] == ["2024_bahrain"]
    assert run.counts["races"] == 1 and run.counts["rows"] == counts["rows"] > 0


def _race_due_soon() -> Race:
    """A race with coordinates moved into the forecast window of the wall clock (commands use now)."""
    from django.utils import timezone

    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    Race.objects.filter(slug="2024_bahrain").update(date=start.date(), start=start)
    return Race.objects.get(slug="2024_bahrain")


@pytest.mark.django_db
def test_forecast_outage_fails_the_command_and_the_job(mirror, ergast_data):
    from django.core.management import CommandError, call_command

    from ingestion.models import JobRun, JobStatus

    _race_due_soon()
    mirror.set_faults({"prefix": "/v1/forecast", "status": 500})
    with pytest.raises(CommandError, match="weather source unavailable: no forecast for any"):
        call_command("sync_weather", "--forecast")  # manage.py exits 1, like --observed
    with pytest.raises(CommandError, match=r"weather_forecasts failed: .*no forecast for any"):
        call_command("run_job", "weather_forecasts")  # a clear message and exit 1, not a traceback
    job = JobRun.objects.filter(job="weather_forecasts").latest("started_at")
    # a ForecastsFailed the task retries (the source was unavailable)
    assert job.status == JobStatus.FAILED and "ForecastsUnavailable" in job.error
    runs = SyncRun.objects.filter(source=SyncSource.WEATHER, params__kind="forecast")
    assert list(runs.values_list("status", flat=True)) == [SyncStatus.FAILED] * 2


@pytest.mark.django_db
def test_observed_sync_is_recorded_as_a_weather_sync_run(mirror, ergast_data):
    wanted = ["2021_belgium", "2021_emilia_romagna"]
    counts = weather_observed_sync(seasons=[2021], race_ids=wanted, now=datetime(2022, 1, 1, tzinfo=UTC))
    run = SyncRun.objects.filter(source=SyncSource.WEATHER).latest("pk")
    assert run.status == SyncStatus.SUCCEEDED and run.finished_at is not None
    assert run.params == {"kind": "observed", "seasons": [2021], "race_ids": sorted(wanted), "refresh": False}
    assert run.counts["created"] == counts["created"] == 2 and run.requests_made == 2

    mirror.set_faults({"prefix": "/v1/weather", "status": 500})
    with pytest.raises(SourceError):
        weather_observed_sync(
            seasons=[2021], race_ids=wanted, now=datetime(2022, 1, 1, tzinfo=UTC), refresh=True
        )
    failed = SyncRun.objects.filter(source=SyncSource.WEATHER).latest("pk")
    assert failed.status == SyncStatus.FAILED and failed.errors[-1]["fatal"] is True
    assert "HTTP 500" in failed.errors[-1]["message"] and failed.requests_made == 3


@pytest.mark.django_db
def test_a_failed_observed_sync_records_the_races_it_stored_before_the_failure(mirror, ergast_data):
    """The first race's weather is stored, then OpenF1 fails: the failed run's counts say so (they
    were `{}`, although the race was stored and its pages show it)."""
    wanted = ["2021_belgium", "2021_emilia_romagna"]  # by date: Imola (April) first, then Spa
    RaceWeather.objects.filter(race__slug__in=wanted).delete()
    mirror.set_faults(
        [
            {"prefix": "/v1/weather", "latency": 1, "count": 1},  # the first request goes through
            {"prefix": "/v1/weather", "status": 500},
        ]
    )
    with pytest.raises(SourceError):
        weather_observed_sync(seasons=[2021], race_ids=wanted, now=datetime(2022, 1, 1, tzinfo=UTC))
    failed = SyncRun.objects.filter(source=SyncSource.WEATHER).latest("pk")
    assert failed.status == SyncStatus.FAILED and "HTTP 500" in failed.errors[-1]["message"]
    assert list(RaceWeather.objects.filter(race__slug__in=wanted).values_list("race__slug", flat=True)) == [
        "2021_emilia_romagna"
    ]
    assert failed.counts == {"races": 2, "no_samples": [], "created": 1, "updated": 0, "unchanged": 0}
    assert failed.requests_made == 4  # Imola once, Spa 1 + 2 retries


@pytest.mark.django_db
def test_a_forecast_sync_refreshes_the_cached_race_detail_and_pages(mirror, ergast_data, client):
    """The race detail (API) and the race page show the latest forecast: a sync that stores one drops
    their cached copies, as a results sync does (they stayed stale for the 5-minute TTL before)."""
    from django.core.cache import cache
    from rest_framework.test import APIClient

    cache.clear()
    api = APIClient()
    before = api.get("/api/v1/races/2024_bahrain").json()
    assert before["weather"]["forecasts"] == []
    page = client.get("/races/2024_bahrain/").content.decode()

    now = datetime(2024, 2, 26, 12, 0, tzinfo=UTC)
    weather_forecasts_sync(now=now)
    after = api.get("/api/v1/races/2024_bahrain").json()
    assert {f["session"] for f in after["weather"]["forecasts"]} == {"fp2", "qualifying", "race"}
    assert {f["fetched_at"] for f in after["weather"]["forecasts"]} == {"2024-02-26T12:00:00Z"}
    assert client.get("/races/2024_bahrain/").content.decode() != page


@pytest.mark.django_db
def test_an_observed_weather_sync_refreshes_the_cached_race_detail(mirror, ergast_data):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    cache.clear()
    api = APIClient()
    assert api.get("/api/v1/races/2021_belgium").json()["weather"]["observed"] is None  # cached now
    weather_observed_sync(seasons=[2021], race_ids=["2021_belgium"], now=datetime(2022, 1, 1, tzinfo=UTC))
    observed = api.get("/api/v1/races/2021_belgium").json()["weather"]["observed"]
    assert observed is not None and observed["is_wet"] is True  # the rain-soaked, two-lap 2021 race


@pytest.mark.parametrize(
    "argv",
    [
        ["--forecast", "--seasons", "2019"],
        ["--forecast", "--refresh"],
        [],
        ["--refresh"],
    ],
)
def test_sync_weather_options_of_observed_without_it_are_a_usage_error(argv):
    """`sync_weather --forecast --seasons 2019` fetched forecasts of the upcoming races and silently
    ignored --seasons (and --refresh), which only --observed reads; no mode at all exited 1, not as a
    usage error. Now exit 2 naming the option, nothing fetched (no database or mirror touched)."""
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as caught:
        call_command("sync_weather", *argv)
    assert caught.value.returncode == 2
    message = str(caught.value)
    if argv and argv[0] == "--forecast":
        assert message == f"{argv[1]} applies to --observed only (forecasts are for the upcoming races)"
    else:
        assert message == "choose --observed and/or --forecast"
