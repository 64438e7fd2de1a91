"""Shared helpers for the f1site tests (a plain module, not a conftest): `private_redis`, a fixture
running a private redis-server (ports 8142-8149, never the shared one) as the default cache, for tests
that kill or SIGSTOP it mid-test (tests/f1site/test_cache.py, test_hung_redis_first_request.py)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

from f1site import cache as f1cache


def free_port() -> int:
    for port in range(8142, 8150):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip("no free port in 8142-8149")


@pytest.fixture
def private_redis(settings, tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    caches = {**settings.CACHES}
    caches["default"] = {**caches["default"], "LOCATION": f"redis://127.0.0.1:{port}/0"}
    settings.CACHES = caches
    settings.CACHE_BREAKER_COOLDOWN = 0.5
    f1cache.breaker.reset()
    yield proc
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGCONT)
    proc.kill()
    proc.wait(timeout=5)
