"""Shared helpers for the f1site tests (a plain module, not a conftest): `private_redis`, a fixture
running a private redis-server (ports 8142-8149 for the first xdist worker, the next 8 for the next,
never the shared one) as the default cache, for tests that kill or SIGSTOP it mid-test
(tests/f1site/test_cache.py, test_hung_redis_first_request.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from f1site import cache as f1cache


def _worker_ports() -> range:
    """8 ports per xdist worker, so two workers' tests never pick the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return range(8142 + 8 * index, 8150 + 8 * index)


def _answers_as(port: int, proc: subprocess.Popen) -> bool:
    """True once the redis-server on `port` is `proc` itself: a server that failed to bind (the port
    taken meanwhile, e.g. by another test run on this machine) exits, and a connection that succeeds
    may reach someone else's server — which this test would then stop under the other's feet."""
    import redis

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return redis.Redis(port=port, socket_timeout=1).info("server")["process_id"] == proc.pid
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    return False


def _start_redis(tmp_path) -> tuple[subprocess.Popen, int]:
    for port in _worker_ports():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                continue  # taken
        proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(tmp_path)),
            ],
            stdout=subprocess.DEVNULL,
        )
        if _answers_as(port, proc):
            return proc, port
        proc.kill()
        proc.wait(timeout=5)
    pytest.skip(f"no port of {_worker_ports()} free for a private redis-server")


@pytest.fixture
def private_redis(settings, tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    proc, port = _start_redis(tmp_path)
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
