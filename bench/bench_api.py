"""API load test: gunicorn (sync workers) on a loopback port, wrk as the load generator in a second
process, bounded in time. Prints one JSON object (the last line) with requests/s, p50/p99 and error
counts per scenario and endpoint:

  warm            cache filled, closed loop (max throughput)
  warm_1000rps    cache filled, ~1,000 requests/s offered (wrk's per-connection delay), for p99
  redis_hung      the private redis-server SIGSTOPped (socket open, no answers)
  redis_killed    the private redis-server killed
  cold            cache disabled (DummyCache): every request computed from PostgreSQL

beside `bench/plain` — a plain Django view returning cached bytes — in every scenario.

Needs: `wrk` (apt-get install wrk), `redis-server`, and DATABASE_URL pointing at a database with
the Ergast dump loaded (e.g. `createdb pitwall_bench && manage.py migrate && manage.py load_ergast`).
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pitwall_bench python -m bench.bench_api --port 8001
`--scenarios cold` (any comma-separated subset of the names above) runs part of it.
gunicorn runs with the production gunicorn.conf.py (see Stack.start_gunicorn); settings such as
DATABASE_SERVER_SIDE_BINDING or GUNICORN_MAX_REQUESTS come from the environment, as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {
    "predictions_upcoming": "/api/v1/predictions/upcoming",
    "races_2025": "/api/v1/races?season=2025",
    "standings": "/api/v1/standings",
    "plain_cached_bytes": "/bench/plain",
}
SCENARIOS = ("warm", "warm_1000rps", "redis_hung", "redis_killed", "cold")
LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) err5 = 0; err4 = 0; pause = tonumber(args[1] or "0") end
function delay() return pause end
function response(status, headers, body)
  if status >= 500 then err5 = err5 + 1 elseif status >= 400 then err4 = err4 + 1 end
end
function done(summary, latency, requests)
  local e5, e4 = 0, 0
  for _, t in ipairs(threads) do e5 = e5 + t:get("err5"); e4 = e4 + t:get("err4") end
  io.write(string.format("BENCH_ERRORS %d %d\\n", e5, e4))
end
"""


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(url: str, *, duration: int, connections: int, pause_ms: int, script: str) -> dict:
    cmd = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        script,
        url,
        "--",
        str(pause_ms),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    latency = dict(re.findall(r"^\s*(50|75|90|99)%\s+([\d.]+[a-z]+)", out, re.M))
    if "50" not in latency:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{out}")
    errors = re.search(r"BENCH_ERRORS (\d+) (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), 1),
        "p50_ms": round(_ms(latency["50"]), 2),
        "p99_ms": round(_ms(latency["99"]), 2),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors_5xx": int(errors.group(1)) if errors else None,
        "errors_4xx": int(errors.group(2)) if errors else None,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


class Stack:
    """A private redis-server and gunicorn, both on loopback, killed on exit."""

    def __init__(self, *, port: int, redis_port: int, workers: int, database_url: str, tmp: Path):
        self.port, self.redis_port, self.workers, self.tmp = port, redis_port, workers, tmp
        self.redis: subprocess.Popen | None = None
        self.gunicorn: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.api_site",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_MANIFEST": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "ERROR",
            "API_THROTTLE_ANON": "100000000/min",
            "API_THROTTLE_USER": "100000000/min",
            "PAGE_THROTTLE": "100000000/min",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"),
        }
        (tmp / "prom").mkdir(exist_ok=True)

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.redis_port)

    def start_gunicorn(self, *, cache: str = "redis") -> None:
        env = {
            **self.env,
            "BENCH_CACHE": cache,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_THREADS": "1",
        }
        env.pop("GUNICORN_PIDFILE", None)
        # Production's gunicorn.conf.py (its post_worker_init GC freeze, keep-alive, worker
        # recycling, JSON access log), only the bind and the worker count set here; other
        # GUNICORN_* knobs pass through from the environment. The access log goes to stdout as in
        # production (formatted and written per request), here into /dev/null.
        self.gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_port(self.port)

    def stop_gunicorn(self) -> None:
        if self.gunicorn and self.gunicorn.poll() is None:
            self.gunicorn.send_signal(signal.SIGTERM)
            try:
                self.gunicorn.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.gunicorn.kill()
                self.gunicorn.wait(timeout=10)

    def stop(self) -> None:
        try:
            self.stop_gunicorn()
        finally:
            if self.redis and self.redis.poll() is None:
                self.redis.send_signal(signal.SIGCONT)
                self.redis.kill()
                self.redis.wait(timeout=10)

    def warm(self) -> None:
        for path in ENDPOINTS.values():
            for _ in range(3 * self.workers):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=120) as r:
                    r.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--redis-port", type=int, default=None, help="default: --port + 1")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per scenario and endpoint")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset, in this order: " + ",".join(SCENARIOS),
    )
    args = parser.parse_args(argv)
    wanted = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if unknown := wanted - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            print(json.dumps({"error": f"{tool} not installed (apt-get install {tool})"}))
            return 1
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print(json.dumps({"error": "set DATABASE_URL to a database with the Ergast dump loaded"}))
        return 1
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "setup": {
            "workers": args.workers,
            "worker_class": "sync",
            "gunicorn_config": "gunicorn.conf.py",
            "env": {
                k: os.environ[k]
                for k in ("GUNICORN_MAX_REQUESTS", "DATABASE_SERVER_SIDE_BINDING", "DB_CONN_MAX_AGE")
                if k in os.environ
            },
            "connections": args.connections,
            "duration_s": args.duration,
            "load_generator": "wrk -t2 (separate process)",
        },
        "scenarios": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmpdir:
        tmp = Path(tmpdir)
        script = tmp / "count.lua"
        script.write_text(LUA)
        stack = Stack(
            port=args.port,
            redis_port=args.redis_port or args.port + 1,
            workers=args.workers,
            database_url=database_url,
            tmp=tmp,
        )

        def run(name: str, *, pause_ms: int = 0, connections: int | None = None) -> None:
            results["scenarios"][name] = {
                key: wrk(
                    f"http://127.0.0.1:{args.port}{path}",
                    duration=args.duration,
                    connections=connections or args.connections,
                    pause_ms=pause_ms,
                    script=str(script),
                )
                for key, path in ENDPOINTS.items()
            }
            print(
                f"{name}: "
                + ", ".join(
                    f"{k} {v['requests_per_s']}/s p99 {v['p99_ms']}ms"
                    for k, v in results["scenarios"][name].items()
                ),
                file=sys.stderr,
                flush=True,
            )

        try:
            if wanted - {"cold"}:
                stack.start_redis()
                stack.start_gunicorn()
                stack.warm()
            if "warm" in wanted:
                run("warm")
            if "warm_1000rps" in wanted:
                # 20 connections each pausing 20 ms between requests: ~1,000 requests/s offered.
                run("warm_1000rps", pause_ms=20, connections=20)
            if "redis_hung" in wanted:
                stack.redis.send_signal(signal.SIGSTOP)
                run("redis_hung")
                stack.redis.send_signal(signal.SIGCONT)
                time.sleep(3)  # breakers close again (cooldown 2 s)
            if "redis_killed" in wanted:
                stack.redis.kill()
                stack.redis.wait(timeout=10)
                run("redis_killed")
            if "cold" in wanted:
                stack.stop_gunicorn()
                stack.start_gunicorn(cache="dummy")
                stack.warm()  # imports and connections, not data: nothing is cached in this mode
                run("cold")
        finally:
            stack.stop()
    results["machine"]["load_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
