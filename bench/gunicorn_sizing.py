"""Gunicorn sizing: requests/s and latency for several worker/thread layouts on this machine.

    .venv/bin/python -m bench.gunicorn_sizing [--database-url URL] [--seconds 8] [--clients 8]

Starts gunicorn with gunicorn.conf.py (production settings, DEBUG off) on 127.0.0.1:8172 once per
layout, drives it from separate client processes (plain http.client, one connection per request,
as a sync worker closes it anyway) and prints one JSON object. The clients share the machine's
CPUs with the server, so absolute figures understate a dedicated box; the comparison between
layouts is what chose the defaults in gunicorn.conf.py. DATABASE_URL must hold real data (e.g. a
copy of the test database with the Ergast dump); REDIS_URL the cache (default: Redis db 7).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 8172
LAYOUTS = [(2, 1), (3, 1), (5, 1), (3, 2), (3, 4)]  # (workers, threads)
PATHS = ["/api/v1/races?season=2025", "/api/v1/standings?season=2025", "/api/v1/drivers?season=2025"]


def _client(deadline: float, queue) -> None:
    latencies, errors, i = [], 0, 0
    while time.monotonic() < deadline:
        path = PATHS[i % len(PATHS)]
        i += 1
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            conn.request("GET", path, headers={"Host": "localhost", "X-Forwarded-Proto": "https"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status >= 500:
                errors += 1
        except OSError:
            errors += 1
            continue
        latencies.append(time.perf_counter() - started)
    queue.put((latencies, errors))


def _wait_ready(timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            conn.request("GET", "/api/v1/health", headers={"Host": "localhost"})
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not come up")


def measure(*, workers: int, threads: int, seconds: float, clients: int, env: dict) -> dict:
    with tempfile.TemporaryDirectory() as prom:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env={
                **env,
                "WEB_CONCURRENCY": str(workers),
                "GUNICORN_THREADS": str(threads),
                "PROMETHEUS_MULTIPROC_DIR": prom,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_ready()
            # Warm: every path cached once, every worker imported everything.
            warm_queue = multiprocessing.Queue()
            _client(time.monotonic() + 2, warm_queue)
            warm_queue.get()
            queue = multiprocessing.Queue()
            deadline = time.monotonic() + seconds
            procs = [multiprocessing.Process(target=_client, args=(deadline, queue)) for _ in range(clients)]
            for proc in procs:
                proc.start()
            results = [queue.get() for _ in procs]
            for proc in procs:
                proc.join()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
    latencies = sorted(lat for lats, _ in results for lat in lats)
    errors = sum(err for _, err in results)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [float("nan")] * 99
    return {
        "workers": workers,
        "threads": threads,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "errors_5xx": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7"))
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--layouts",
        default=",".join(f"{w}x{t}" for w, t in LAYOUTS),
        help="workers x threads, in run order (change the order to see drift in a busy machine)",
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) with real data is required")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnop"),
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_MANIFEST": "false",
        "HOST": "127.0.0.1",
        "PORT": str(PORT),
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "API_THROTTLE_ANON": "1000000/min",
        "PAGE_THROTTLE": "1000000/min",
    }
    layouts = [tuple(int(n) for n in item.split("x")) for item in args.layouts.split(",")]
    figures = [
        measure(workers=w, threads=t, seconds=args.seconds, clients=args.clients, env=env) for w, t in layouts
    ]
    print(
        json.dumps(
            {
                "bench": "gunicorn_sizing",
                "cpus": len(os.sched_getaffinity(0)),
                "load_average_at_end": os.getloadavg(),
                "clients": args.clients,
                "seconds_per_layout": args.seconds,
                "paths": PATHS,
                "layouts": figures,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
