"""Shared helpers for the ingestion tests (a plain module, not a conftest).

- Jolpica syncs: `fast_client` (short backoffs), `check_deferred_constraints`.
- CSV tables of an edited copy of the Ergast dump: `csv_read`, `csv_write`, `race_insert` and the ids
  of the races inserted (`IMOLA_RACE_ID`, `QATAR_RACE_ID`); `edited_mirror`, a module-scoped fixture
  serving that copy (2019 and 2020 with a race inserted, 2021 round 3 without results).
- Jobs: `accuracy_marker` and `fake_post_race` (a stand-in post-race step), `jolpica_lock_held` (the
  Jolpica sync lock held by another database connection), `lock_held_by_psql` (held by a `psql`
  process for a few seconds, which then frees it).
- Admin: `admin_form_data` (a row's change-form POST body).
- A race weekend between qualifying and the race: `race_weekend_data` (a copy of the offline data as
  upstream stood then, for `start_mirror`) and `race_weekend_state` (the database as it stood then).

`fast_http` and `clean_breakers` are autouse fixtures: they apply to the tests of a module or conftest
that imports them (tests/ingestion/services/conftest.py, so every test there, and a few modules
elsewhere that test the same sources: tests/ingestion/api/test_jobs_status.py,
tests/ingestion/test_admin_pipeline.py, tests/ingestion/test_openf1_weather_clients.py).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from django.core.cache import cache
from django.db import connection

from ingestion.clients.jolpica import JolpicaClient
from tests.conftest import ERGAST_DUMP_DIR, start_mirror

if TYPE_CHECKING:
    from ingestion.models import Race


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


@pytest.fixture(scope="module")
def edited_mirror(tmp_path_factory):
    data = tmp_path_factory.mktemp("calendar_edited")
    shutil.copytree(ERGAST_DUMP_DIR, data / "ergast")
    (data / "openf1").mkdir()
    fields, races = csv_read(data / "ergast" / "races.csv")
    monaco_2019 = next(r["raceId"] for r in races if r["year"] == "2019" and r["name"] == "Monaco Grand Prix")
    portugal_2021 = next(r["raceId"] for r in races if r["year"] == "2021" and r["round"] == "3")
    race_insert(
        races, year="2019", at=6, race_id=IMOLA_RACE_ID, circuit="21", name="Emilia Romagna Grand Prix",
        date="2019-05-19",
    )  # fmt: skip
    race_insert(
        races, year="2020", at=16, race_id=QATAR_RACE_ID, circuit="78", name="Qatar Grand Prix",
        date="2020-12-01",
    )  # fmt: skip
    csv_write(data / "ergast" / "races.csv", fields, races)

    fields, results = csv_read(data / "ergast" / "results.csv")
    next_id = max(int(r["resultId"]) for r in results) + 1
    imola = [
        {**r, "resultId": str(next_id + i), "raceId": IMOLA_RACE_ID}
        for i, r in enumerate(r for r in results if r["raceId"] == monaco_2019)
    ]
    results = [r for r in results if r["raceId"] != portugal_2021] + imola
    csv_write(data / "ergast" / "results.csv", fields, results)

    mirror = start_mirror(data)
    yield mirror
    mirror.server.shutdown()


# --- Jolpica syncs ------------------------------------------------------------------------------
def fast_client(**kwargs) -> JolpicaClient:
    options = {"backoff_base": 0.01, "backoff_max": 0.05}
    options.update(kwargs)
    return JolpicaClient(**options)


def check_deferred_constraints() -> None:
    """The test transaction never commits: force PostgreSQL to check deferred constraints now."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# --- jobs ---------------------------------------------------------------------------------------
def accuracy_marker(race: Race) -> None:
    """The RaceAccuracy row a finished post-race step leaves (values irrelevant here)."""
    from predictions.models import RaceAccuracy

    RaceAccuracy.objects.create(
        race=race, stage="pre", batch=uuid.uuid4(), drivers=20, mae=1.0, winner_hit=False,
        podium_overlap=0.0, points_accuracy=0.0, brier_win=0.0, brier_podium=0.0, brier_points=0.0,
    )  # fmt: skip


def fake_post_race(monkeypatch) -> list[str]:
    """Stand-in post-race step that records the races and leaves their marker, as the real one does."""
    processed: list[str] = []

    def one(*, race, **_):
        processed.append(race.slug)
        accuracy_marker(race)
        return {"ok": 1}

    def many(*, races, **_):
        return {"races": {r.slug: one(race=r) for r in races}}

    monkeypatch.setattr("predictions.services.post_race.races_results_process", many)
    return processed


@contextmanager
def jolpica_lock_held():
    """Another process's sync: the advisory lock held by a second database connection (yields its
    backend pid, which the refusal names)."""
    import psycopg

    from ingestion.services.jolpica_sync import SYNC_LOCK_KEY

    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port")}
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [SYNC_LOCK_KEY])
        try:
            yield other.info.backend_pid
        finally:
            other.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])


@contextmanager
def lock_held_by_psql(seconds: float):
    """A `psql` process holding the race-data lock for `seconds`, then exiting (which frees it).
    Its server session is ended after the block: killing psql alone leaves it in pg_sleep, holding
    the lock for the rest of the sleep."""
    from ingestion.services.sync_lock import SYNC_LOCK_KEY, race_data_lock_held
    from tests.workers import wait_until

    db = connection.settings_dict
    name = f"pitwall-test-lock-holder-{os.getpid()}"
    where = [
        "-h",
        db["HOST"] or "127.0.0.1",
        "-p",
        str(db["PORT"] or 5432),
        "-U",
        db["USER"],
        "-d",
        db["NAME"],
    ]
    sql = ["-c", f"SELECT pg_advisory_lock({SYNC_LOCK_KEY})", "-c", f"SELECT pg_sleep({seconds})"]
    proc = subprocess.Popen(
        ["psql", "-X", "-q", *where, *sql],
        env={**os.environ, "PGAPPNAME": name},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(race_data_lock_held, timeout=20, what="psql to take the lock")
        yield proc
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [name]
            )
        proc.kill()
        proc.wait(timeout=10)


# --- a race weekend between qualifying and the race ---------------------------------------------
# Tables upstream fills only once a race is run (their rows of that race and of the later rounds go).
_RUN_TABLES = ("results", "pit_stops", "driver_standings", "constructor_standings", "constructor_results")
# Tables of the weekend's sessions before the race (the later rounds' rows go).
_WEEKEND_TABLES = ("qualifying", "sprint_results", "practice")


def race_weekend_data(directory, *, season: int, round_: int):
    """A copy of the offline data (Ergast tables and OpenF1 directory) in `directory` as upstream
    stood after `season` round `round_`'s qualifying and before its race: that race has its
    practice, qualifying and sprint but no result, pit stops or standings; the season's later rounds
    have nothing. Returns the directory, for `start_mirror(directory)`."""
    shutil.copytree(ERGAST_DUMP_DIR, directory / "ergast")
    shutil.copytree(ERGAST_DUMP_DIR.parent / "openf1", directory / "openf1")
    _, races = csv_read(directory / "ergast" / "races.csv")
    rounds = {r["raceId"]: int(r["round"]) for r in races if r["year"] == str(season)}
    for table, first in [*((t, round_) for t in _RUN_TABLES), *((t, round_ + 1) for t in _WEEKEND_TABLES)]:
        path = directory / "ergast" / f"{table}.csv"
        fields, rows = csv_read(path)
        csv_write(path, fields, [r for r in rows if rounds.get(r["raceId"], 0) < first])
    return directory


def race_weekend_state(*, season: int, round_: int, qualifying: bool) -> Race:
    """The database as it stood between `season` round `round_`'s qualifying and its race (what
    `race_weekend_data` serves): no result, pit stops or standings of that race nor anything of the
    later rounds; its qualifying stored (`qualifying`: the live job ingested it) or not (OpenF1 was
    down or late). Returns the race."""
    from ingestion.models import (
        DriverStanding,
        PitStop,
        PracticeResult,
        QualifyingResult,
        Race,
        RaceResult,
        SprintResult,
        TeamStanding,
    )

    race = Race.objects.get(season_id=season, round=round_)
    run = Race.objects.filter(season_id=season, round__gte=round_)
    later = run.exclude(pk=race.pk)
    for model in (RaceResult, PitStop, DriverStanding, TeamStanding):
        model.objects.filter(race__in=run).delete()
    for model in (SprintResult, PracticeResult):
        model.objects.filter(race__in=later).delete()
    QualifyingResult.objects.filter(race__in=later if qualifying else run).delete()
    return race


def admin_form_data(row, **changes) -> dict:
    """The admin change form's POST body for `row` (every editable field but `manually_corrected`,
    which the admin sets itself; None as an empty field), with `changes` applied."""
    data = {
        f.name: "" if getattr(row, f.attname) is None else getattr(row, f.attname)
        for f in type(row)._meta.concrete_fields
        if f.editable and not f.primary_key and f.name != "manually_corrected"
    }
    return {**data, **changes}
