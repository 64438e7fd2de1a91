"""JsonHttpClient against the f1mirror with injected faults (real HTTP, no mocks).

Sleeps are recorded instead of slept, so the retry schedule is asserted exactly and the tests run fast.
"""

from __future__ import annotations

import time

import pytest

from ingestion.clients.http import (
    CircuitBreaker,
    JsonHttpClient,
    SourceError,
    SourceNotFound,
    SourcePayloadError,
    SourceRateLimited,
    SourceUnavailable,
)

SEASONS = "seasons.json"


def make_client(mirror, **kwargs) -> tuple[JsonHttpClient, list[float]]:
    waits: list[float] = []
    options = {"max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05, "sleep": waits.append}
    options.update(kwargs)
    return JsonHttpClient(mirror.ergast, name="jolpica", **options), waits


def mirror_total(mirror) -> int:
    return mirror.requests()["total"]


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 502},
        {"reset": True},
        {"body": "truncate"},
        {"body": "short"},
        {"body": "malformed"},
        {"body": "empty"},
        {"body": "html"},
    ],
    ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()),
)
def test_transient_faults_are_retried_until_a_good_answer(mirror, fault):
    mirror.set_faults({"prefix": "/ergast/", "count": 2, **fault})
    client, waits = make_client(mirror)

    data = client.get_json(SEASONS, params={"limit": 5})

    assert data["MRData"]["SeasonTable"]["Seasons"][0]["season"] == "1950"
    assert client.requests_made == 3
    assert mirror.requests_settled(at_least=3)["total"] == 3
    assert len(waits) == 2
    # full jitter: each wait within [0, min(max, base * 2**attempt)]
    assert 0 <= waits[0] <= 0.01 and 0 <= waits[1] <= 0.02


def test_slow_response_beyond_read_timeout_is_retried(mirror):
    mirror.set_faults({"prefix": "/ergast/", "count": 1, "latency": 600})
    client, waits = make_client(mirror, read_timeout=0.2)

    data = client.get_json(SEASONS)

    assert data["MRData"]["total"] == "77"
    assert client.requests_made == 2 and len(waits) == 1
    # the abandoned slow answer is logged by the mirror only when it finishes: wait for it, so
    # it does not land in the next test's request count
    deadline = time.monotonic() + 5
    while mirror_total(mirror) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mirror_total(mirror) == 2


def test_retry_after_is_honoured_and_capped(mirror):
    mirror.set_faults({"prefix": "/ergast/", "count": 1, "status": 503, "retry_after": 3})
    client, waits = make_client(mirror)
    client.get_json(SEASONS)
    assert waits == [3.0]

    mirror.set_faults({"prefix": "/ergast/", "count": 1, "status": 429, "retry_after": 500})
    client, waits = make_client(mirror, retry_after_max=7)
    client.get_json(SEASONS)
    assert waits == [7.0]


def test_persistent_5xx_gives_source_unavailable_naming_the_url(mirror):
    mirror.set_faults({"prefix": "/ergast/", "status": 500})
    client, _ = make_client(mirror, max_retries=2)

    with pytest.raises(SourceUnavailable) as info:
        client.get_json("2021/results.json", params={"limit": 100})

    assert info.value.url == f"{mirror.ergast}/2021/results.json?limit=100"
    assert info.value.url in str(info.value) and "HTTP 500" in str(info.value)
    assert client.requests_made == 3 == mirror_total(mirror)


def test_persistent_429_gives_source_rate_limited(mirror):
    mirror.set_faults({"prefix": "/ergast/", "status": 429})
    client, _ = make_client(mirror, max_retries=1)
    with pytest.raises(SourceRateLimited):
        client.get_json(SEASONS)
    assert client.requests_made == 2


def test_persistently_broken_json_gives_payload_error(mirror):
    mirror.set_faults({"prefix": "/ergast/", "body": "malformed"})
    client, _ = make_client(mirror, max_retries=1)
    with pytest.raises(SourcePayloadError, match="not valid JSON"):
        client.get_json(SEASONS)


def test_404_is_not_retried(mirror):
    client, waits = make_client(mirror)
    with pytest.raises(SourceNotFound) as info:
        client.get_json("no_such_endpoint.json")
    assert info.value.status == 404 and "no_such_endpoint" in info.value.url
    assert client.requests_made == 1 and waits == []


def test_other_4xx_is_a_plain_source_error_without_retry(mirror):
    client, _ = make_client(mirror)
    with pytest.raises(SourceError) as info:
        client.get_json("seasons.json", params={"limit": "x"})
    assert type(info.value) is SourceError and info.value.status == 400
    assert client.requests_made == 1


def test_auth_token_header_and_absolute_urls(mirror):
    client, _ = make_client(mirror, auth_token="abc123")
    assert client.session.headers["Authorization"] == "Bearer abc123"
    data = client.get_json(f"{mirror.ergast}/2021/1.json")
    assert data["MRData"]["RaceTable"]["Races"][0]["raceName"] == "Bahrain Grand Prix"


def test_rate_limiter_hook_is_called_before_every_attempt(mirror):
    class Counting:
        calls = 0

        def acquire(self):
            Counting.calls += 1

    mirror.set_faults({"prefix": "/ergast/", "count": 1, "status": 500})
    client, _ = make_client(mirror, rate_limiter=Counting())
    client.get_json(SEASONS)
    assert Counting.calls == 2 == client.requests_made


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_circuit_breaker_opens_and_probes_once_per_timeout(mirror):
    clock = FakeClock()
    breaker = CircuitBreaker(name="test", failure_threshold=2, reset_timeout=30, clock=clock)
    mirror.set_faults({"prefix": "/ergast/", "status": 500})
    client, _ = make_client(mirror, max_retries=0, circuit_breaker=breaker)

    for _ in range(2):
        with pytest.raises(SourceUnavailable, match="HTTP 500"):
            client.get_json(SEASONS)
    assert breaker.state == "open"
    with pytest.raises(SourceUnavailable, match="circuit breaker open"):
        client.get_json(SEASONS)
    assert mirror_total(mirror) == 2  # the open breaker sent nothing

    clock.now += 30
    assert breaker.state == "half-open"
    with pytest.raises(SourceUnavailable, match="HTTP 500"):  # the one probe goes out and fails
        client.get_json(SEASONS)
    assert mirror_total(mirror) == 3
    with pytest.raises(SourceUnavailable, match="circuit breaker open"):
        client.get_json(SEASONS)

    mirror.clear_faults()
    clock.now += 30
    assert client.get_json(SEASONS)["MRData"]["total"] == "77"  # the probe succeeds and closes it
    assert breaker.state == "closed"
    client.get_json(SEASONS)
    assert mirror_total(mirror) == 5


def test_404s_and_payload_errors_do_not_open_the_circuit_breaker(mirror):
    """QA finding 7: a 404 (a season's results not published yet) or a broken payload is the source
    answering, not an outage: failure_threshold of them in a row leave the breaker closed and the
    next good call is sent."""
    breaker = CircuitBreaker(name="test", failure_threshold=2, reset_timeout=30, clock=FakeClock())
    client, _ = make_client(mirror, max_retries=0, circuit_breaker=breaker)

    for _ in range(2):
        with pytest.raises(SourceNotFound):
            client.get_json("no_such_endpoint.json")
    assert breaker.state == "closed"
    assert client.get_json(SEASONS)["MRData"]["total"] == "77"
    assert mirror_total(mirror) == 3  # the good call went out

    mirror.set_faults({"prefix": "/ergast/", "body": "malformed"})
    for _ in range(2):
        with pytest.raises(SourcePayloadError):
            client.get_json(SEASONS)
    assert breaker.state == "closed"
    mirror.clear_faults()
    assert client.get_json(SEASONS)["MRData"]["total"] == "77"
    assert mirror_total(mirror) == 6


def test_circuit_breaker_allows_only_one_concurrent_probe():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=30, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 31
    assert breaker.allow() is True
    assert breaker.allow() is False  # a second caller while the probe is in flight
    breaker.record_success()
    assert breaker.allow() and breaker.allow()
