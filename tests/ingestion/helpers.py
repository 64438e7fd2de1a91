"""Shared helpers for the ingestion tests (a plain module, not a conftest).

CSV tables of an edited copy of the Ergast dump: `csv_read`, `csv_write`, `race_insert` and the ids of
the races inserted (`IMOLA_RACE_ID`, `QATAR_RACE_ID`).

`fast_http` and `clean_breakers` are autouse fixtures: they apply to the tests of a module or conftest
that imports them (tests/ingestion/services/conftest.py, so every test there, and a few modules
elsewhere that test the same sources: tests/ingestion/api/test_jobs_status.py,
tests/ingestion/test_admin_pipeline.py, tests/ingestion/test_openf1_weather_clients.py).
"""

from __future__ import annotations

import csv

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fast_http(settings):
    """Fast HTTP retries and no OpenF1 rate budget to wait for."""
    settings.HTTP_MAX_RETRIES = 2
    settings.HTTP_BACKOFF_BASE = 0.01
    settings.HTTP_BACKOFF_MAX = 0.02
    settings.HTTP_READ_TIMEOUT = 2.0
    settings.OPENF1_RATE_LIMIT = "1000/s"


@pytest.fixture(autouse=True)
def clean_breakers():
    """The OpenF1 live breaker (and the tests' own) closed before and after each test."""
    cache.delete_many(["pitwall:breaker:openf1-live", "pitwall:breaker:test"])
    yield
    cache.delete_many(["pitwall:breaker:openf1-live", "pitwall:breaker:test"])


# --- CSV tables of an edited copy of the Ergast dump ----------------------------------------------
IMOLA_RACE_ID, QATAR_RACE_ID = "99001", "99002"


def csv_read(path) -> tuple[list[str], list[dict]]:
    """A dump CSV as (field names, rows)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def csv_write(path, fields, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def race_insert(races: list[dict], *, year: str, at: int, race_id: str, circuit: str, name: str, date: str):
    """Insert a race into `races` (rows of races.csv) as round `at` of `year`, the later rounds +1; the
    other fields are copied from the race that held round `at`."""
    template = next(r for r in races if r["year"] == year and r["round"] == str(at))
    for r in races:
        if r["year"] == year and int(r["round"]) >= at:
            r["round"] = str(int(r["round"]) + 1)
    races.append(
        {**template, "raceId": race_id, "round": str(at), "circuitId": circuit, "name": name, "date": date}
    )
