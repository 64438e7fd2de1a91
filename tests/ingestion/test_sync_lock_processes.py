"""`manage.py load_ergast` and `manage.py sync_f1` as two real concurrent processes: whichever comes
second is refused at once — one line naming the first (its SyncRun and backend pid), exit status 75,
nothing written, no SyncRun — and the first finishes as usual.

Before, the load took no lock: it and a sync wrote the same tables at the same time (here the second
one hung on the first's uncommitted rows). Both processes work on a scratch database (the test
database's schema, empty) so their commits are real. A second connection holding a table the first
process writes in SHARE mode keeps that process inside its run — lock taken, SyncRun `running` —
until the test lets it go: a 2021 load or a one-round sync is over in seconds otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from ingestion.models import PitStop, RaceResult, Season
from tests.conftest import ERGAST_DUMP_DIR, ROOT
from tests.workers import scratch_database, wait_until

BUSY_EXIT = 75

LOAD = ["load_ergast", str(ERGAST_DUMP_DIR), "--seasons", "2021", "--json"]
SYNC = ["sync_f1", "--seasons", "2021", "--rounds", "1", "--only", "results", "--json"]


@pytest.fixture
def scratch_db():
    if connection.vendor != "postgresql" or not shutil.which("pg_dump"):
        pytest.skip("needs PostgreSQL and pg_dump")
    with scratch_database(suffix="_lock") as url:
        yield url


def _env(url: str, mirror) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TEST_DATABASE_NAME")}
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="f1site.settings",
        DEBUG="true",
        ERGAST_API_BASE=mirror.ergast,
        ERGAST_RATE_LIMIT="",
        LOG_LEVEL="ERROR",
    )
    return env


def _manage(args: list[str]) -> list[str]:
    return [sys.executable, "manage.py", *args, "--skip-checks"]


def _pinned_holder(db, proc) -> int:
    """The backend pid of `proc`'s session once it holds the race-data lock and waits for the table
    the test holds (so it is inside its run, its SyncRun written)."""

    def pinned():
        assert proc.poll() is None, f"the first command ended early: {proc.communicate()[1][-2000:]}"
        # pg_locks lists the whole cluster: another xdist worker's test database has its own holders
        row = db.execute(
            """SELECT a.pid FROM pg_locks a JOIN pg_locks w ON w.pid = a.pid AND NOT w.granted
               WHERE a.locktype = 'advisory' AND a.granted
                 AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
        ).fetchone()
        return row[0] if row else None

    return wait_until(pinned, timeout=90, what="the first command to hold the lock and wait")


def _runs(db) -> dict[str, list[tuple]]:
    runs: dict[str, list[tuple]] = {}
    for pk, source, status in db.execute("SELECT id, source, status FROM ingestion_syncrun ORDER BY id"):
        runs.setdefault(source, []).append((pk, status))
    return runs


def _second(args: list[str], env: dict) -> subprocess.CompletedProcess:
    # refused at once when the lock works; without it the second command waits on the first's rows
    return subprocess.run(_manage(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _first(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        _manage(args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_sync_f1_during_a_dump_load_is_refused_naming_the_load(mirror, ergast_data, scratch_db):
    env = _env(scratch_db, mirror)
    with psycopg.connect(scratch_db, autocommit=True) as db, psycopg.connect(scratch_db) as table:
        table.execute(f"LOCK TABLE {PitStop._meta.db_table} IN SHARE MODE")  # the load waits at pit stops
        load = _first(LOAD, env)
        try:
            pid = _pinned_holder(db, load)
            ((run_id, status),) = _runs(db)["ergast_dump"]
            assert status == "running"

            refused = _second(SYNC, env)

            assert refused.returncode == BUSY_EXIT, refused.stderr[-2000:]
            assert refused.stdout == "" and "Traceback" not in refused.stderr
            (line,) = refused.stderr.strip().splitlines()
            assert line.startswith(
                "CommandError: Sync not started (nothing written): an Ergast dump load "
                f"(SyncRun {run_id}: {ERGAST_DUMP_DIR}, seasons 2021-2021, started "
            )
            assert line.endswith(
                f"; backend pid {pid}) is in progress (PostgreSQL advisory lock held); "
                "rerun when it has finished, or add --wait SECONDS"
            )
            assert "jolpica" not in _runs(db)  # refused before its run was recorded
        finally:
            table.rollback()  # let the load go on
            out, err = load.communicate(timeout=120)
        assert load.returncode == 0, err[-2000:]
        report = json.loads(out)
        assert report["sync_run_id"] == run_id and report["status"] in ("succeeded", "partial")
        assert _runs(db) == {"ergast_dump": [(run_id, report["status"])]}
        results = db.execute(
            "SELECT count(*) FROM ingestion_raceresult r JOIN ingestion_race ra ON ra.id = r.race_id"
            " WHERE ra.season_id = 2021"
        ).fetchone()[0]
    assert results == RaceResult.objects.filter(race__season_id=2021).count() > 0  # the whole 2021 dump


def test_load_ergast_during_a_sync_is_refused_naming_the_sync(mirror, ergast_data, scratch_db):
    env = _env(scratch_db, mirror)
    with psycopg.connect(scratch_db, autocommit=True) as db, psycopg.connect(scratch_db) as table:
        table.execute(f"LOCK TABLE {Season._meta.db_table} IN SHARE MODE")  # the sync waits at its calendar
        sync = _first(SYNC, env)
        try:
            pid = _pinned_holder(db, sync)
            ((run_id, status),) = _runs(db)["jolpica"]
            assert status == "running"

            refused = _second(LOAD, env)

            assert refused.returncode == BUSY_EXIT, refused.stderr[-2000:]
            assert refused.stdout == "" and "Traceback" not in refused.stderr
            (line,) = refused.stderr.strip().splitlines()
            assert line.startswith(
                f"CommandError: Dump not loaded (nothing written): a Jolpica sync (SyncRun {run_id}: "
                "seasons [2021], started "
            )
            assert line.endswith(
                f"; backend pid {pid}) is in progress (PostgreSQL advisory lock held); "
                "rerun when it has finished, or add --wait SECONDS"
            )
            assert "ergast_dump" not in _runs(db)
        finally:
            table.rollback()
            out, err = sync.communicate(timeout=120)
        assert sync.returncode == 0, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["run_id"] == run_id and summary["status"] == "succeeded"
        assert _runs(db) == {"jolpica": [(run_id, "succeeded")]}
        # only the sync's rows: one round of results, none of the dump's other 2021 rounds
        rounds = db.execute(
            "SELECT DISTINCT ra.round FROM ingestion_raceresult r JOIN ingestion_race ra ON ra.id = r.race_id"
        ).fetchall()
    assert rounds == [(1,)]
