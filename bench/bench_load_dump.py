"""Benchmark: load the whole Ergast dump (1950-2026) into an empty scratch PostgreSQL database, then
load it again (idempotent: 0 created / 0 updated).

    .venv/bin/python -m bench.bench_load_dump [--seasons 2018-2026]

Prints one JSON object: wall and CPU seconds of both loads (CPU = this process, i.e. our Python;
the rest of the wall time is PostgreSQL, or waiting for a core on a busy machine), rows written,
rows per second and the load's per-table counts. Needs PostgreSQL (BENCH_DATABASE_URL or
DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres) and the dump
(PITWALL_SHARED_DIR, default ../shared). The scratch database is created and dropped here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PITWALL_SHARED_DIR", ROOT.parent / "shared"))


def _scratch_database(base_url: str) -> tuple[str, str]:
    import psycopg

    name = f"pw_bench_dump_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))


def _drop_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seasons", default=None, help="e.g. 2018-2026 (default: the whole dump)")
    args = parser.parse_args(argv)
    seasons = None
    if args.seasons:
        first, _, last = args.seasons.partition("-")
        seasons = range(int(first), int(last or first) + 1)

    base_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    base_url = base_url or "postgres://postgres@127.0.0.1:5432/postgres"
    if not base_url.startswith("postgres"):
        print(json.dumps({"error": "bench_load_dump needs PostgreSQL (BENCH_DATABASE_URL)"}))
        return 2
    dump = SHARED / "data" / "ergast"
    db_name, db_url = _scratch_database(base_url)
    os.environ.update(
        DATABASE_URL=db_url, DJANGO_SETTINGS_MODULE="f1site.settings", DEBUG="true", LOG_LEVEL="ERROR"
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from ingestion.services.ergast_dump import ergast_dump_load

        call_command("migrate", verbosity=0)
        runs = []
        for _ in range(2):
            started, cpu = time.perf_counter(), time.process_time()
            report = ergast_dump_load(directory=dump, seasons=seasons)
            runs.append((report, time.perf_counter() - started, time.process_time() - cpu))
        connection.close()
        (first, first_s, first_cpu), (second, second_s, second_cpu) = runs
        rows = first.created + first.updated
        print(
            json.dumps(
                {
                    "benchmark": "load_ergast: whole Ergast CSV dump into empty PostgreSQL, then again",
                    "seasons": args.seasons or "all (1950-2026)",
                    "machine_cpus": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                    "first_load_s": round(first_s, 2),
                    "first_load_cpu_s": round(first_cpu, 2),
                    "rows_written": rows,
                    "rows_per_s": round(rows / first_s),
                    "second_load_s": round(second_s, 2),
                    "second_load_cpu_s": round(second_cpu, 2),
                    "second_load_created_updated": [second.created, second.updated],
                    "rejected_messages": len(first.rejected),
                    "counts": first.counts,
                }
            )
        )
        return 0
    finally:
        _drop_database(base_url, db_name)


if __name__ == "__main__":
    sys.exit(main())
