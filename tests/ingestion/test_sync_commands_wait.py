"""`sync_f1` and `load_ergast` with `--wait SECONDS` while another session holds the race-data lock:
a `psql` process holding it for a few seconds (the command waits, then runs), or another database
connection holding it throughout (the command gives up at its bound: exit 75, one line naming the
holder and saying it waited). Before, both refused at once, and a script had to loop on exit 75
itself; `run_job --wait` (tests/ingestion/test_run_job_busy.py) already waited.
"""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ingestion.models import Race, RaceResult, SyncRun, SyncSource, SyncStatus
from ingestion.services.sync_lock import race_data_lock_held
from tests.conftest import ERGAST_DUMP_DIR
from tests.ingestion.helpers import (  # noqa: F401 - fast_http: autouse fixture
    fast_http,
    jolpica_lock_held,
    lock_held_by_psql,
)

BUSY = 75
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory lock is PostgreSQL-only"),
]
SYNC = ["sync_f1", "--seasons", "2021", "--rounds", "1", "--only", "results", "--no-resume"]
LOAD = ["load_ergast", str(ERGAST_DUMP_DIR), "--seasons", "2021"]


def _holder_line(pid: int) -> str:
    return (
        f"another Jolpica sync or Ergast dump load (backend pid {pid}) is in progress "
        "(PostgreSQL advisory lock held)"
    )


def _call(*argv: str) -> tuple[str, float]:
    out = StringIO()
    started = time.monotonic()
    call_command(*argv, stdout=out)
    return out.getvalue(), time.monotonic() - started


def _runs(source: str) -> int:
    return SyncRun.objects.filter(source=source).count()


def test_sync_f1_waits_for_a_lock_held_a_few_seconds_then_syncs(mirror, ergast_data):
    bahrain = Race.objects.get(slug="2021_bahrain")
    RaceResult.objects.filter(race=bahrain).delete()  # what the sync puts back
    with lock_held_by_psql(3):
        out, took = _call(*SYNC, "--wait", "60")
    assert out.startswith("Sync succeeded") and "1 races written" in out, out
    assert RaceResult.objects.filter(race=bahrain).count() == 20
    assert 2 <= took < 60  # it did wait for psql (3 s after it took the lock, give or take its start)
    assert not race_data_lock_held()  # and released the lock it then took


def test_sync_f1_gives_up_at_its_bound_busy_75_saying_it_waited(mirror, ergast_data):
    syncs = _runs(SyncSource.JOLPICA)
    started = time.monotonic()
    with jolpica_lock_held() as pid, pytest.raises(CommandError) as busy:
        call_command(*SYNC, "--wait", "2")
    took = time.monotonic() - started
    assert busy.value.returncode == BUSY
    assert str(busy.value) == f"Sync not started (nothing written): {_holder_line(pid)}; waited 2s"
    assert 2 <= took < 10
    assert _runs(SyncSource.JOLPICA) == syncs  # refused before anything was recorded


def test_load_ergast_waits_for_a_lock_held_a_few_seconds_then_loads(ergast_data):
    bahrain = Race.objects.get(slug="2021_bahrain")
    rows = RaceResult.objects.filter(race=bahrain).count()
    RaceResult.objects.filter(race=bahrain).delete()  # what the load puts back
    with lock_held_by_psql(3):
        out, took = _call(*LOAD, "--wait", "60")
    assert out.startswith(f"Loaded {ERGAST_DUMP_DIR}"), out
    assert RaceResult.objects.filter(race=bahrain).count() == rows
    assert 2 <= took < 60
    assert not race_data_lock_held()


def test_load_ergast_gives_up_at_its_bound_busy_75_saying_it_waited(ergast_data):
    loads = _runs(SyncSource.ERGAST_DUMP)
    started = time.monotonic()
    with jolpica_lock_held() as pid, pytest.raises(CommandError) as busy:
        call_command(*LOAD, "--wait", "2")
    took = time.monotonic() - started
    assert busy.value.returncode == BUSY
    assert str(busy.value) == f"Dump not loaded (nothing written): {_holder_line(pid)}; waited 2s"
    assert 2 <= took < 10
    assert _runs(SyncSource.ERGAST_DUMP) == loads


@pytest.mark.parametrize("argv", [SYNC, LOAD], ids=["sync_f1", "load_ergast"])
@pytest.mark.parametrize("value", ["-1", "abc", "99999"])
def test_a_bad_wait_is_refused_by_the_parser_as_run_jobs(argv, value):
    with pytest.raises(CommandError, match="argument --wait"):
        call_command(*argv, "--wait", value)


# --- while it waits, one line on stderr (it printed nothing: a person at a terminal saw a hang) ----
WAITING = (
    "Waiting up to {wait}s for the race-data lock: {holder} is in progress (PostgreSQL advisory lock held)\n"
)


def test_sync_f1_waiting_says_so_on_stderr_naming_the_run_and_pid_json_stays_clean(mirror, ergast_data):
    """The holder's running SyncRun is named as the refusal names it (created here, uncommitted: the
    command reads it on the same connection)."""
    run = SyncRun.objects.create(
        source=SyncSource.JOLPICA, status=SyncStatus.RUNNING, params={"seasons": [2026]}
    )
    started = run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    out, err = StringIO(), StringIO()
    with jolpica_lock_held() as pid, pytest.raises(CommandError) as busy:
        call_command(*SYNC, "--wait", "2", "--json", stdout=out, stderr=err)
    holder = f"a Jolpica sync (SyncRun {run.pk}: seasons [2026], started {started}; backend pid {pid})"
    assert err.getvalue() == WAITING.format(wait=2, holder=holder)  # once, as the wait began
    assert busy.value.returncode == BUSY and str(busy.value).endswith("; waited 2s")
    assert out.getvalue() == ""


def test_load_ergast_waiting_says_so_on_stderr_then_loads_json_stays_one_object(ergast_data):
    out, err = StringIO(), StringIO()
    with lock_held_by_psql(3):
        call_command(*LOAD, "--wait", "60", "--json", stdout=out, stderr=err)
    (line,) = err.getvalue().splitlines()
    assert line.startswith(
        "Waiting up to 60s for the race-data lock: another Jolpica sync or Ergast dump load (backend pid "
    )
    assert line.endswith(") is in progress (PostgreSQL advisory lock held)")
    assert json.loads(out.getvalue())["status"] == "succeeded"


def test_no_wait_line_when_the_lock_is_free_or_without_wait(ergast_data):
    err = StringIO()
    call_command(*LOAD, "--wait", "60", "--json", stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""
    with jolpica_lock_held(), pytest.raises(CommandError):
        call_command(*LOAD, stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""
