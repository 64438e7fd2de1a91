"""OpenF1 and Open-Meteo clients against the f1mirror over real HTTP, including every fault mode."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from ingestion.clients.breaker import SharedCircuitBreaker
from ingestion.clients.http import SourceError, SourceNotFound, SourcePayloadError, SourceUnavailable
from ingestion.clients.openf1 import OpenF1Client, Session
from ingestion.clients.weather import OpenMeteoClient
from tests.conftest import DATA_DIR
from tests.ingestion.helpers import clean_breakers, fast_http  # noqa: F401 - autouse fixtures

TRANSIENT_FAULTS = [
    {"status": 500},
    {"status": 503, "retry_after": 0},
    {"status": 429, "retry_after": 0},
    {"reset": True},
    {"body": "truncate"},
    {"body": "short"},
    {"body": "malformed"},
    {"body": "empty"},
    {"body": "html"},
]


def fault_id(fault: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in fault.items())


def test_openf1_sessions_and_results_are_parsed(mirror):
    client = OpenF1Client()
    sessions = client.sessions(meeting_key=202405)
    assert [s.session_name for s in sessions] == [
        "Practice 1",
        "Sprint Qualifying",
        "Sprint",
        "Qualifying",
        "Race",
    ]
    quali = client.session_result(session_key=2024056)
    pole = min(quali, key=lambda r: r.position)
    assert pole.driver_number == 1 and pole.duration == [94.742, 93.794, 93.66]
    grid = client.starting_grid(session_key=2024057)
    assert min(grid, key=lambda g: g.position).driver_number == 1
    drivers = client.drivers(session_key=2024056)
    assert {d.name_acronym for d in drivers if d.driver_number == 1} == {"VER"}


def test_openf1_weather_matches_the_csv(mirror):
    with open(DATA_DIR / "openf1" / "weather.csv", newline="") as fh:
        expected = [row for row in csv.DictReader(fh) if row["session_key"] == "2021127"]
    samples = OpenF1Client().weather(session_key=2021127)
    assert len(samples) == len(expected) > 100
    assert sum(int(s.rainfall) for s in samples) == sum(int(r["rainfall"]) for r in expected)


@pytest.mark.parametrize("fault", TRANSIENT_FAULTS, ids=fault_id)
def test_openf1_transient_faults_are_retried(mirror, fault):
    mirror.set_faults({"prefix": "/v1/sessions", "count": 2, **fault})
    client = OpenF1Client()
    sessions = client.sessions(meeting_key=202405)
    assert len(sessions) == 5
    assert client.requests_made == 3


@pytest.mark.parametrize("fault", TRANSIENT_FAULTS, ids=fault_id)
def test_openf1_persistent_faults_raise_a_typed_error_naming_the_url(mirror, fault):
    mirror.set_faults({"prefix": "/v1/sessions", **fault})
    client = OpenF1Client()
    with pytest.raises(SourceError) as info:
        client.sessions(meeting_key=202405)
    assert "/v1/sessions?meeting_key=202405" in str(info.value)
    assert client.requests_made == 3  # 1 + HTTP_MAX_RETRIES


def test_openf1_slow_answer_times_out_then_recovers(mirror, settings):
    settings.HTTP_READ_TIMEOUT = 0.3
    mirror.set_faults({"prefix": "/v1/meetings", "count": 1, "latency": 1000})
    meetings = OpenF1Client().meetings(year=2024)
    assert len(meetings) == 24


def test_openf1_client_errors_are_not_retried(mirror):
    client = OpenF1Client()
    with pytest.raises(SourceNotFound):
        client._get(Session, "nope", {})
    with pytest.raises(SourceError) as info:
        client._get(Session, "sessions", {"year!": 2024})  # a malformed filter: 422
    assert info.value.status == 422
    mirror.set_faults({"prefix": "/v1/position", "status": 401})
    with pytest.raises(SourceError) as info:
        client.position(session_key=2024057)
    assert info.value.status == 401
    assert mirror.requests()["paths"]["/v1/position"] == 1


def test_openf1_schema_drift_is_a_payload_error(mirror):
    # /v1/meetings answers meetings; asking it for sessions' schema must fail validation loudly
    with pytest.raises(SourcePayloadError, match="Session payload"):
        OpenF1Client()._get(Session, "meetings", {"year": 2024})


def test_openf1_token_is_sent_as_bearer(mirror):
    client = OpenF1Client(token="s3cret")
    assert client.http.session.headers["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in OpenF1Client(token="").http.session.headers


def test_live_breaker_opens_after_three_failures_and_probes_once_per_interval(mirror):
    now = [1_000_000.0]
    breaker = SharedCircuitBreaker("test", threshold=3, probe_interval=30, clock=lambda: now[0])
    client = OpenF1Client(live=True, breaker=breaker)
    mirror.set_faults({"prefix": "/v1/position", "status": 401})
    for _ in range(3):
        with pytest.raises(SourceError):
            client.position(session_key=2024057)
        now[0] += 1
    assert breaker.state == "open"
    sent = mirror.requests()["paths"]["/v1/position"]
    assert sent == 3
    for _ in range(29):  # open: nothing goes out for 30 s
        with pytest.raises(SourceUnavailable, match="circuit breaker open"):
            client.position(session_key=2024057)
        now[0] += 1
    assert mirror.requests()["paths"]["/v1/position"] == 3
    now[0] += 1
    with pytest.raises(SourceError):  # the probe: one request, still 401
        client.position(session_key=2024057)
    with pytest.raises(SourceUnavailable):
        client.position(session_key=2024057)
    assert mirror.requests()["paths"]["/v1/position"] == 4
    mirror.clear_faults()
    now[0] += 30
    assert client.position(session_key=2024057) == []  # probe succeeds -> closed
    assert breaker.state == "closed"


def test_open_meteo_forecast_hourly_rows(mirror):
    hours = OpenMeteoClient().forecast(
        latitude=26.0325, longitude=50.5106, start=date(2024, 3, 2), end=date(2024, 3, 2)
    )
    assert len(hours) == 24
    assert hours[0].time.isoformat() == "2024-03-02T00:00:00+00:00"
    assert any(h.air_temperature is not None for h in hours)


def test_open_meteo_key_is_sent_when_set(mirror):
    client = OpenMeteoClient(api_key="k123")
    client.forecast(latitude=26.0325, longitude=50.5106, start=date(2024, 3, 2), end=date(2024, 3, 2))
    assert any("apikey=k123" in url for url in mirror.requests_settled(at_least=1)["urls"])


@pytest.mark.parametrize(
    "fault", [{"status": 503, "retry_after": 0}, {"body": "malformed"}, {"reset": True}], ids=fault_id
)
def test_the_open_meteo_key_stays_out_of_errors_and_logs(mirror, fault, caplog):
    """The key is a query parameter: every retry warning and every SourceError named the full URL,
    and requests' connection-error text repeats it, so it reached the logs and SyncRun.errors."""
    mirror.set_faults({"prefix": "/v1/forecast", **fault})
    client = OpenMeteoClient(api_key="s3cr3t-key", max_retries=1)
    with caplog.at_level("WARNING"), pytest.raises(SourceError) as raised:
        client.forecast(latitude=26.0325, longitude=50.5106, start=date(2024, 3, 2), end=date(2024, 3, 2))
    assert any("apikey=s3cr3t-key" in url for url in mirror.requests_settled(at_least=2)["urls"])  # sent
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert "retrying request" in logged and "apikey=***" in logged
    assert "s3cr3t" not in logged and "s3cr3t" not in str(raised.value) and "s3cr3t" not in raised.value.url
    assert "apikey=***" in str(raised.value) and "latitude=26.0325" in raised.value.url


def test_an_unreachable_open_meteo_does_not_leak_the_key():
    client = OpenMeteoClient(base_url="http://127.0.0.1:9/v1", api_key="s3cr3t-key", max_retries=0)
    with pytest.raises(SourceUnavailable) as raised:
        client.forecast(latitude=26.0325, longitude=50.5106, start=date(2024, 3, 2), end=date(2024, 3, 2))
    assert "connection error" in str(raised.value) and "s3cr3t" not in str(raised.value)


@pytest.mark.parametrize("fault", TRANSIENT_FAULTS, ids=fault_id)
def test_open_meteo_transient_faults_are_retried(mirror, fault):
    mirror.set_faults({"prefix": "/v1/forecast", "count": 2, **fault})
    client = OpenMeteoClient()
    hours = client.forecast(latitude=26.0325, longitude=50.5106, start=date(2024, 3, 2), end=date(2024, 3, 2))
    assert len(hours) == 24 and client.requests_made == 3


def test_open_meteo_bad_request_is_a_clear_error(mirror):
    with pytest.raises(SourceError) as info:
        OpenMeteoClient().forecast(latitude=0.0, longitude=0.0, start=date(2024, 3, 2), end=date(2024, 3, 2))
    assert info.value.status == 400 and "forecast" in str(info.value)
