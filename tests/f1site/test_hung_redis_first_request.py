"""A hung Redis (SIGSTOP: socket open, no answers) costs the first request ONE socket timeout: the
rate-limit count, the generation and the body are one script, and after that read fails the
request does not try the stampede lock too (f1site.cache._UNAVAILABLE)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from f1site.cache import breaker

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend"),
]


def test_first_request_on_a_hung_redis_waits_one_socket_timeout(
    api, ergast_data, private_redis, settings, monkeypatch
):
    settings.CACHE_BREAKER_FAILURES = 5  # keep the breaker closed: every command must try the socket
    path = "/api/v1/standings?season=2024"
    warm = api.get(path)
    assert warm.status_code == 200
    breaker.reset()
    # The breaker is the process's, and Django's cache handle is per thread: a daemon thread an
    # earlier test left running in this xdist worker (a health probe, a heartbeat) that touches the
    # cache now talks to this hung server too and feeds the same breaker — the likely cause of the 5
    # failures one loaded full run counted here (never reproduced alone, nor in 15 repeats under
    # load). Only this thread's failures are the request's.
    request_thread = threading.get_ident()
    failures = []
    record_failure = breaker.record_failure

    def record(*args, **kwargs):
        if threading.get_ident() == request_thread:
            failures.append(1)
        return record_failure(*args, **kwargs)

    monkeypatch.setattr(breaker, "record_failure", record)
    private_redis.send_signal(signal.SIGSTOP)
    response = api.get(path)
    assert response.status_code == 200 and response.content == warm.content  # this process's copy
    # Counted, not timed (wall time is the benchmark's job, and flaky on a shared box): every Redis
    # command that waited out the socket timeout is one breaker failure; before the fix there were
    # two (the body script, then the stampede lock).
    assert len(failures) == 1
