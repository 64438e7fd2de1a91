"""Benchmark: a full 2018-2026 Jolpica sync from the f1mirror (rate limit off) into a scratch
PostgreSQL database, then the same sync again (idempotent: nothing to write).

    .venv/bin/python -m bench.bench_sync [--seasons 2018-2026]

Prints one JSON object: wall times, requests made vs the minimum number of pages (from the
mirror's MRData totals: ceil(total / 100) per season-wide endpoint, and per round with results
for pit stops and standings, which Jolpica only serves per round), and rows per table.
Needs PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)
and the shared data (PITWALL_SHARED_DIR, default ../shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PITWALL_SHARED_DIR", ROOT.parent / "shared"))


def _start_mirror():
    """The mirror in its own process, so this process's CPU time is our code alone."""
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
    line = proc.stdout.readline().strip()  # "f1mirror listening on http://HOST:PORT"
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"f1mirror did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1] + "/ergast/f1"


def _scratch_database(base_url: str) -> tuple[str, str]:
    import psycopg

    name = f"pw_bench_sync_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base_url)
    return name, urlunsplit(parts._replace(path=f"/{name}"))


def _drop_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def minimum_pages(client, seasons: list[int]) -> dict:
    """The fewest requests that can read these seasons, from MRData totals (limit=1 probes)."""
    out = {"season_wide": 0, "per_round": 0}
    for season in seasons:
        out["season_wide"] += client.pages_for(client.total(f"{season}/races.json"))
        results_total = client.total(f"{season}/results.json")
        for endpoint in ("results", "qualifying", "sprint"):
            total = results_total if endpoint == "results" else client.total(f"{season}/{endpoint}.json")
            out["season_wide"] += client.pages_for(total)
        if results_total == 0:
            continue
        rounds = {int(r) for r in _rounds_with_results(client, season)}
        for rnd in sorted(rounds):
            for endpoint in ("pitstops", "driverStandings", "constructorStandings"):
                out["per_round"] += client.pages_for(client.total(f"{season}/{rnd}/{endpoint}.json"))
    out["total"] = out["season_wide"] + out["per_round"]
    return out


def _rounds_with_results(client, season: int) -> set[str]:
    rounds = set()
    for _url, entry in client.fetch_all(f"{season}/results.json", "results")[0]:
        rounds.add(entry["round"])
    return rounds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seasons", default="2018-2026")
    args = parser.parse_args(argv)
    first, _, last = args.seasons.partition("-")
    seasons = list(range(int(first), int(last or first) + 1))

    base_url = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or ("postgres://postgres@127.0.0.1:5432/postgres")
    )
    if not base_url.startswith("postgres"):
        print(json.dumps({"error": "bench_sync needs PostgreSQL (BENCH_DATABASE_URL)"}))
        return 2
    server, ergast = _start_mirror()
    db_name, db_url = _scratch_database(base_url)
    os.environ.update(
        DATABASE_URL=db_url,
        DJANGO_SETTINGS_MODULE="f1site.settings",
        DEBUG="true",
        ERGAST_API_BASE=ergast,
        ERGAST_RATE_LIMIT="",  # the benchmark measures our code, not the limit
        LOG_LEVEL="ERROR",
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from ingestion.clients.jolpica import JolpicaClient
        from ingestion.services.jolpica_sync import jolpica_sync

        call_command("migrate", verbosity=0)
        started, cpu = time.perf_counter(), time.process_time()
        first_run = jolpica_sync(seasons=seasons, client=JolpicaClient())
        first_s, first_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        second_run = jolpica_sync(seasons=seasons, client=JolpicaClient())
        second_s, second_cpu = time.perf_counter() - started, time.process_time() - cpu

        minimum = minimum_pages(JolpicaClient(), seasons)
        rows = {}
        with connection.cursor() as cursor:
            for table in (
                "race",
                "raceresult",
                "qualifyingresult",
                "sprintresult",
                "pitstop",
                "driverstanding",
                "teamstanding",
                "driver",
                "team",
                "circuit",
                "status",
            ):
                cursor.execute(f"SELECT count(*) FROM ingestion_{table}")  # noqa: S608 - fixed names
                rows[table] = cursor.fetchone()[0]
        connection.close()
        out = {
            "benchmark": "sync_f1 full sync from the mirror (rate limit off), PostgreSQL",
            "seasons": f"{seasons[0]}-{seasons[-1]}",
            "machine_cpus": os.cpu_count(),
            "first_run_s": round(first_s, 2),
            "first_run_cpu_s": round(first_cpu, 2),
            "first_run_status": str(first_run.status),
            "requests_made": first_run.requests_made,
            "minimum_requests": minimum["total"],
            "minimum_detail": minimum,
            "requests_vs_minimum": round(first_run.requests_made / minimum["total"], 3),
            "rows_written": first_run.created + first_run.updated,
            "rows_per_s": round((first_run.created + first_run.updated) / first_s),
            "second_run_s": round(second_s, 2),
            "second_run_cpu_s": round(second_cpu, 2),
            "second_run_created_updated": [second_run.created, second_run.updated],
            "second_run_requests": second_run.requests_made,
            "errors": len(first_run.errors),
            "rows": rows,
        }
        print(json.dumps(out))
        return 0
    finally:
        server.terminate()
        server.wait(10)
        _drop_database(base_url, db_name)


if __name__ == "__main__":
    sys.exit(main())
