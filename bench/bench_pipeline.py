"""Benchmark: the automated pipeline's steady-state costs, against the f1mirror (rate limits off)
and a scratch PostgreSQL database holding the 2023-2026 dump.

    .venv/bin/python -m bench.bench_pipeline

Prints one JSON object:
* live_tick_idle — the 30-second beat tick outside sessions (DB only, zero requests): ms per tick, queries;
* live_tick_polling — a tick during a session (4 OpenF1 requests + upserts): ms per tick;
* live_status_get — the race page's live read: ms, queries;
* openf1_sessions_sync — 4 seasons (2023-2026): seconds, requests;
* weather_observed_sync — every 2023-2026 race: seconds, requests, races/s;
* weather_summarise — the pure summary of one 250-sample race: microseconds.
Needs PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL) and the shared data (PITWALL_SHARED_DIR).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PITWALL_SHARED_DIR", ROOT.parent / "shared"))


def _start_mirror() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SHARED / "tools" / "f1mirror.py"),
            "--data",
            str(SHARED / "data"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"f1mirror did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1]


def main() -> None:
    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    name = f"pw_bench_pipeline_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    mirror, url = _start_mirror()
    try:
        os.environ.update(
            DATABASE_URL=urlunsplit(urlsplit(base)._replace(path=f"/{name}")),
            DJANGO_SETTINGS_MODULE="f1site.settings",
            DEBUG="true",
            OPENF1_API_BASE=f"{url}/v1",
            WEATHER_API_BASE=f"{url}/v1",
            OPENF1_RATE_LIMIT="",
            LOG_LEVEL="ERROR",
        )
        os.environ.pop("REDIS_URL", None)  # local cache + in-process locks: measure our code, not Redis
        print(json.dumps(_run(), indent=2))
    finally:
        mirror.kill()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _run() -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from ingestion.clients.openf1 import OpenF1Client
    from ingestion.models import OpenF1Session, SessionType
    from ingestion.services.ergast_dump import ergast_dump_load
    from ingestion.services.live_timing import live_status_get, live_timing_tick
    from ingestion.services.openf1_sessions import openf1_sessions_sync
    from ingestion.services.weather_observed import weather_observed_sync, weather_summarise

    call_command("migrate", verbosity=0)
    ergast_dump_load(directory=SHARED / "data" / "ergast", seasons=range(2023, 2027))
    out: dict = {"machine": {"cpus": os.cpu_count()}}

    t = time.perf_counter()
    client = OpenF1Client()
    counts = openf1_sessions_sync(seasons=[2023, 2024, 2025, 2026], client=client)
    out["openf1_sessions_sync"] = {
        "seconds": round(time.perf_counter() - t, 2),
        "requests": client.requests_made,
        "sessions": counts["sessions"]["created"],
    }

    OpenF1Session.objects.update(results_ingested_at=timezone.now())  # no post-session work: pure ticks
    quali = OpenF1Session.objects.filter(session_type=SessionType.QUALIFYING).order_by("date_start").first()
    idle = quali.date_start - timedelta(days=2)
    n = 500
    with CaptureQueriesContext(connection) as ctx:
        t = time.perf_counter()
        for i in range(n):
            live_timing_tick(now=idle + timedelta(seconds=30 * i))
        elapsed = time.perf_counter() - t
    out["live_tick_idle"] = {"ms_per_tick": round(1000 * elapsed / n, 3), "queries_per_tick": len(ctx) / n}

    n = 60
    t = time.perf_counter()
    for i in range(n):
        live_timing_tick(now=quali.date_start + timedelta(seconds=30 * i))
    out["live_tick_polling"] = {
        "ms_per_tick": round(1000 * (time.perf_counter() - t) / n, 2),
        "requests_per_tick": 4,
    }

    with CaptureQueriesContext(connection) as ctx:
        t = time.perf_counter()
        for _ in range(200):
            live_status_get(race=quali.race, now=quali.date_start + timedelta(minutes=29))
        elapsed = time.perf_counter() - t
    out["live_status_get"] = {"ms": round(1000 * elapsed / 200, 3), "queries": len(ctx) / 200}

    client = OpenF1Client()
    t = time.perf_counter()
    counts = weather_observed_sync(seasons=[2023, 2024, 2025, 2026], client=client)
    elapsed = time.perf_counter() - t
    out["weather_observed_sync"] = {
        "seconds": round(elapsed, 2),
        "requests": client.requests_made,
        "races_stored": counts["created"],
        "races_per_second": round(counts["races"] / elapsed, 1),
    }

    samples = client.weather(session_key=2022187) or client.weather(session_key=2024217)
    t = time.perf_counter()
    for _ in range(200):
        weather_summarise(samples=samples)
    out["weather_summarise"] = {
        "samples": len(samples),
        "us": round(1e6 * (time.perf_counter() - t) / 200, 1),
    }
    return out


if __name__ == "__main__":
    main()
