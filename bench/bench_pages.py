"""Benchmark: server time per dashboard page with a warm cache (Django test client, in-process).

    .venv/bin/python -m bench.bench_pages [--requests 20]

Uses a scratch PostgreSQL database `pw_bench_pages` (created, migrated and loaded with the full
Ergast dump on first use, then reused) plus one stored prediction set for the latest race, so the
race, why and home pages carry their prediction tables. The cache is Redis when REDIS_URL is set,
else the in-process cache. Fans' pages are cached whole (anonymous GETs, see `analytics.views._page_cache`),
the staff freshness page never is. Each page is requested once to warm the cache, then `--requests`
times; prints one JSON object with median / p95 / max milliseconds per page and the query count
of a warm request. Aim: every page under 100 ms.
Needs PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)
and the shared data (PITWALL_SHARED_DIR, default ../shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PITWALL_SHARED_DIR", ROOT.parent / "shared"))
DB_NAME = "pw_bench_pages"

PAGES = [
    ("home", "/?as_of=2026-06-20"),
    ("home_today", "/"),
    ("calendar", "/races/?season=2025"),
    ("race", "/races/{race}/"),
    ("why", "/races/{race}/why/{driver}/?stage=post"),
    ("driver", "/drivers/max_verstappen/?season=2025"),
    ("team", "/teams/mclaren/?season=2025"),
    ("standings", "/standings/"),
    ("standings_swap", "/standings/?season=2021&round=10"),
    ("model", "/model/"),
    ("championship", "/championship/"),
    ("what_if_form", "/races/2026_8/what-if/"),
    ("freshness", "/staff/freshness/"),
]


def _database_url() -> str:
    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return urlunsplit(urlsplit(base)._replace(path=f"/{DB_NAME}"))


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = _database_url()
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("STATIC_MANIFEST", "false")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ.setdefault("AXES_ENABLED", "false")
    os.environ.setdefault("PAGE_THROTTLE", "100000000/min")  # one client renders every page cold
    os.environ.setdefault("CACHE_KEY_PREFIX", "pitwall-bench-pages")  # its own keys in a shared Redis
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _prepare() -> dict:
    """Migrate, load the dump once, and store one prediction set for the latest race with results."""
    from django.core.management import call_command

    from ingestion.models import Race, RaceResult
    from ingestion.services.ergast_dump import ergast_dump_load
    from predictions.models import ModelVersion, Prediction

    call_command("migrate", verbosity=0)
    if not RaceResult.objects.exists():
        ergast_dump_load(directory=SHARED / "data" / "ergast")
    race = Race.objects.filter(results__isnull=False).order_by("-date").first()
    entrants = list(RaceResult.objects.filter(race=race, shared_car_index=0).order_by("grid", "id"))
    if not Prediction.objects.filter(race=race).exists():
        version, _ = ModelVersion.objects.get_or_create(
            label="bench-pages",
            defaults={
                "train_from_season": 2018,
                "train_until_season": 2025,
                "trained_until_date": race.date,
                "rows": 0,
                "data_fingerprint": "bench",
                "artifact_path": "/nonexistent",
            },
        )
        batch = uuid.uuid4()
        Prediction.objects.bulk_create(
            Prediction(
                batch=batch,
                race=race,
                driver_id=e.driver_id,
                team_id=e.team_id,
                stage="post",
                predicted_position=i,
                expected_position=float(i),
                win_probability=0.5 / i,
                podium_probability=min(1.0, 1.5 / i),
                points_probability=min(1.0, 5 / i),
                dnf_probability=0.1,
                confidence=0.6,
                low_confidence=i > 15,
                model_version=version,
                as_of=race.start or time.time(),
                explanation=[{"feature": "grid", "value": i, "contribution": i - 5}],
            )
            for i, e in enumerate(entrants, start=1)
        )
    return {"race": race.slug, "driver": entrants[0].driver.ref}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    _setup_django()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    ids = _prepare()
    # start cold: "first_render_ms" is a page with nothing cached (only this bench's keys go)
    cache.delete_pattern("*") if hasattr(cache, "delete_pattern") else cache.clear()
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    fan, staff_client = Client(), Client()
    staff_client.force_login(staff)
    queries = {"n": 0}

    def count(execute, sql, params, many, context):
        queries["n"] += 1
        return execute(sql, params, many, context)

    figures = {}
    for name, pattern in PAGES:
        url = pattern.format(**ids)
        client = staff_client if name == "freshness" else fan  # staff pages are never cached
        start = time.perf_counter()
        first = client.get(url, secure=True)  # warms the cache
        first_ms = (time.perf_counter() - start) * 1000
        if first.status_code != 200:
            figures[name] = {"url": url, "error": f"HTTP {first.status_code}"}
            continue
        queries["n"] = 0
        with connection.execute_wrapper(count):
            client.get(url, secure=True)
        times = []
        for _ in range(args.requests):
            start = time.perf_counter()
            client.get(url, secure=True)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        figures[name] = {
            "url": url,
            "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "max_ms": round(times[-1], 1),
            "queries_warm": queries["n"],
            "first_render_ms": round(first_ms, 1),
        }
    slowest = max((f.get("p95_ms", 0) for f in figures.values()), default=0)
    print(
        json.dumps(
            {
                "benchmark": "pages",
                "cpus": os.cpu_count(),
                "cache": "redis" if os.environ.get("REDIS_URL") else "locmem",
                "requests_per_page": args.requests,
                "slowest_p95_ms": slowest,
                "all_under_100ms": slowest < 100,
                "pages": figures,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
