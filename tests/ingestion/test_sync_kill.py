"""A real `manage.py sync_f1` process killed with SIGKILL mid-season, then run again.

The process writes to a scratch PostgreSQL database (schema copied from the test database with
pg_dump) so its commits are real; the result is compared with the test database's 2021 rows
(the full dump, which the sync reproduces exactly — see test_sync_jolpica).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from django.db import connection

from tests.conftest import ROOT
from tests.workers import scratch_database

QUERIES = {
    "results": """
        SELECT ra.round, d.ref, t.ref, rr.number, rr.grid, rr.position, rr.position_text,
               rr.position_order, rr.points, rr.laps, s.status, rr.time_text, rr.milliseconds
        FROM ingestion_raceresult rr JOIN ingestion_race ra ON ra.id = rr.race_id
        JOIN ingestion_driver d ON d.id = rr.driver_id JOIN ingestion_team t ON t.id = rr.team_id
        JOIN ingestion_status s ON s.id = rr.status_id WHERE ra.season_id = 2021""",
    "qualifying": """
        SELECT ra.round, d.ref, q.position, q.q1, q.q2, q.q3 FROM ingestion_qualifyingresult q
        JOIN ingestion_race ra ON ra.id = q.race_id JOIN ingestion_driver d ON d.id = q.driver_id
        WHERE ra.season_id = 2021""",
    "pit_stops": """
        SELECT ra.round, d.ref, p.stop, p.lap, p.milliseconds FROM ingestion_pitstop p
        JOIN ingestion_race ra ON ra.id = p.race_id JOIN ingestion_driver d ON d.id = p.driver_id
        WHERE ra.season_id = 2021""",
    "driver_standings": """
        SELECT ra.round, d.ref, s.position, s.points, s.wins FROM ingestion_driverstanding s
        JOIN ingestion_race ra ON ra.id = s.race_id JOIN ingestion_driver d ON d.id = s.driver_id
        WHERE ra.season_id = 2021""",
}


ROUNDS = 8
# Each Ergast answer is held this long while a run is to be killed: 36 requests take ~4 s, so the
# signal lands mid-season even when the runner is slow to notice the count (a fast local mirror
# let a whole sync finish between the read and the signal once in CI: exit 0, nothing to resume).
SLOW = {"prefix": "/ergast/", "latency": 100}


def _served(mirror) -> int:
    """Requests answered so far: one raw read (`Mirror.requests()` waits for the count to settle,
    which takes most of a second while a sync is running)."""
    return mirror._call("GET", "/__requests")["total"]


def _rows(cursor) -> dict[str, set]:
    out = {}
    for name, sql in QUERIES.items():
        cursor.execute(sql)
        out[name] = {row for row in cursor.fetchall() if row[0] <= ROUNDS}
    return out


@pytest.fixture
def scratch_db():
    if connection.vendor != "postgresql" or not shutil.which("pg_dump"):
        pytest.skip("needs PostgreSQL and pg_dump")
    with scratch_database(suffix="_kill") as url:
        yield url


def _sync_command(url: str, mirror) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TEST_DATABASE_NAME")}
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="f1site.settings",
        DEBUG="true",
        ERGAST_API_BASE=mirror.ergast,
        ERGAST_RATE_LIMIT="",
        LOG_LEVEL="ERROR",
    )
    args = [sys.executable, "manage.py", "sync_f1", "--seasons", "2021", "--rounds", f"1-{ROUNDS}", "--json"]
    args.append("--skip-checks")
    return args, env


def test_sigkilled_sync_resumes_and_ends_identical(mirror, ergast_data, scratch_db):
    args, env = _sync_command(scratch_db, mirror)
    mirror.set_faults(SLOW)
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # 1 calendar + 11 season-wide pages, then 3 per-round requests per race: kill after ~4 races
    _wait(lambda: _served(mirror) >= 12 + 3 * 4, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    mirror.clear_faults()

    with psycopg.connect(scratch_db) as conn:
        run_id, status, cursor = conn.execute(
            "SELECT id, status, cursor FROM ingestion_syncrun ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert status == "running" and cursor["done"]  # what a kill leaves behind
        per_race = conn.execute(
            """SELECT ra.round,
                      (SELECT count(*) FROM ingestion_raceresult x WHERE x.race_id = ra.id),
                      (SELECT count(*) FROM ingestion_qualifyingresult x WHERE x.race_id = ra.id),
                      (SELECT count(*) FROM ingestion_pitstop x WHERE x.race_id = ra.id),
                      (SELECT count(*) FROM ingestion_driverstanding x WHERE x.race_id = ra.id)
               FROM ingestion_race ra WHERE ra.season_id = 2021"""
        ).fetchall()
    written = [r for r in per_race if any(r[1:])]
    assert 0 < len(written) < ROUNDS
    assert all(all(r[1:]) for r in written), f"a half-written race: {written}"

    finished = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["resumed_from"] == run_id
    assert summary["races_written"] == ROUNDS - len(written)

    with psycopg.connect(scratch_db) as conn, conn.cursor() as cur:
        resumed = _rows(cur)
    with connection.cursor() as cur:
        reference = _rows(cur)
    assert resumed == reference


def test_ctrl_c_prints_one_line_exits_130_and_the_run_resumes(mirror, ergast_data, scratch_db):
    """SIGINT (Ctrl-C) at the real command: no traceback, exit status 130, the SyncRun is
    `interrupted` by the user, and the same command resumes after the committed races."""
    args, env = _sync_command(scratch_db, mirror)
    mirror.set_faults(SLOW)
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as at a terminal: a runner started in the background (`cmd &` without job control)
        # ignores SIGINT, the child would inherit that and never see the Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait(lambda: _served(mirror) >= 12 + 3 * 3, proc)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    mirror.clear_faults()

    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and out == ""
    (line,) = err.strip().splitlines()
    with psycopg.connect(scratch_db) as conn:
        run_id, status, errors = conn.execute(
            "SELECT id, status, errors FROM ingestion_syncrun ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert f"Sync interrupted by Ctrl-C (SyncRun {run_id})" in line and "resume" in line
    assert status == "interrupted"
    assert any("interrupted by the user" in e.get("message", "") for e in errors)

    finished = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["resumed_from"] == run_id


def test_sigterm_prints_one_line_exits_143_and_the_run_is_interrupted_not_left_running(
    mirror, ergast_data, scratch_db
):
    """SIGTERM at the real command (`timeout`, systemd, `docker stop`, a CI cancel) killed it on the
    spot: exit 143 with nothing said, the SyncRun left `running` until the next sync or the stale-run
    sweep called it "killed?". Now as Ctrl-C: one line, exit 143, the run `interrupted` "stopped by
    SIGTERM", and the same command resumes after the committed races."""
    args, env = _sync_command(scratch_db, mirror)
    mirror.set_faults(SLOW)
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait(lambda: _served(mirror) >= 12 + 3 * 3, proc)
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    mirror.clear_faults()

    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err and out == ""
    (line,) = err.strip().splitlines()
    with psycopg.connect(scratch_db) as conn:
        run_id, status, errors, finished_at = conn.execute(
            "SELECT id, status, errors, finished_at FROM ingestion_syncrun ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert f"Sync stopped by SIGTERM (SyncRun {run_id})" in line and "resume" in line
    assert status == "interrupted" and finished_at is not None
    assert any("stopped by SIGTERM" in e.get("message", "") for e in errors), errors

    finished = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["resumed_from"] == run_id


def _wait(predicate, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sync finished before it could be signalled"


def _runs(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, status, cursor, finished_at FROM ingestion_syncrun ORDER BY id"
        ).fetchall()


def test_a_resumed_run_killed_before_its_first_race_keeps_the_chain(mirror, ergast_data, scratch_db):
    """Kill 1 after ~4 races; kill 2 while the resumed run still waits for its season-wide reads
    (slow source): the second run must carry the inherited cursor, the third resumes from it, and
    no run stays `running`."""
    args, env = _sync_command(scratch_db, mirror)
    mirror.set_faults(SLOW)
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait(lambda: _served(mirror) >= 12 + 3 * 4, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    (first_id, status, first_cursor, _) = _runs(scratch_db)[-1]
    assert status == "running" and first_cursor["done"]

    mirror.set_faults({"prefix": "/ergast/", "latency": 1500})
    second = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait(lambda: len(_runs(scratch_db)) == 2, second)
    time.sleep(1.0)  # inside its first (slow) request: no race can have committed
    os.kill(second.pid, signal.SIGKILL)
    second.wait(10)
    runs = _runs(scratch_db)
    assert [r[1] for r in runs] == ["interrupted", "running"]  # the killed first run was closed
    second_id, _, second_cursor, _ = runs[-1]
    assert second_cursor["done"] == first_cursor["done"]  # saved at start, not at the first commit

    mirror.clear_faults()
    finished = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["resumed_from"] == second_id
    assert summary["skipped_steps"] == len(first_cursor["done"])
    assert [r[1] for r in _runs(scratch_db)] == ["interrupted", "interrupted", "succeeded"]
    assert all(r[3] is not None for r in _runs(scratch_db))
    assert first_id < second_id
