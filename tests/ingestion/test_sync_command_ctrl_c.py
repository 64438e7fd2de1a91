"""Ctrl-C at `sync_weather` and `sync_openf1`: one line and exit status 130, as `sync_f1` (its test is
tests/ingestion/test_sync_command.py; the mechanism is shared: ingestion/management/sync_exit.py),
the SyncRun `interrupted`, and the interrupted run's counts match what it stored. Against the
f1mirror over HTTP, into the real test database.

Before: a full KeyboardInterrupt traceback (through psycopg's wait), and an interrupt landing while a
race's COMMIT was in flight left that race stored but uncounted (QA: "created 11", 12 rows).
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ingestion.clients.openf1 import OpenF1Client
from ingestion.models import RaceWeather, SyncRun, SyncSource, SyncStatus

SEASON = 2021


def _call(*args) -> None:
    """call_command, with an escaping KeyboardInterrupt a test failure (it would stop pytest)."""
    try:
        call_command(*args)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped the command: a traceback at the terminal, not one line + 130")


def _last_run(source: str) -> SyncRun:
    return SyncRun.objects.filter(source=source).latest("pk")


def _assert_one_line_130(caught, run: SyncRun) -> None:
    message = str(caught.value)
    assert caught.value.returncode == 130
    assert message.startswith(f"Sync interrupted by Ctrl-C (SyncRun {run.pk}): ") and "rerun" in message
    assert "\n" not in message
    assert run.status == SyncStatus.INTERRUPTED and run.finished_at is not None
    assert run.errors[-1]["message"].startswith("interrupted: interrupted by the user (Ctrl-C / SIGINT)")


def test_sync_openf1_ctrl_c_is_one_line_exit_130_and_the_run_interrupted(mirror, ergast_data, monkeypatch):
    def ctrl_c(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(OpenF1Client, "meetings", ctrl_c)
    with pytest.raises(CommandError) as caught:
        _call("sync_openf1", "--seasons", "2024")
    _assert_one_line_130(caught, _last_run(SyncSource.OPENF1))


def test_sync_weather_ctrl_c_mid_commit_is_130_and_counts_what_was_stored(mirror, ergast_data, monkeypatch):
    """The Ctrl-C reaches Python while the third race's COMMIT is in flight: psycopg waits for the
    server's answer before raising it, so that race is stored. Here the commit is the weather
    block's savepoint release (the test runs in a transaction), which completes before the
    KeyboardInterrupt, as the real COMMIT does."""
    RaceWeather.objects.filter(race__season_id=SEASON).delete()
    real_commit = connection.savepoint_commit
    commits = []

    def commit_then_ctrl_c(sid):
        real_commit(sid)
        commits.append(sid)
        if len(commits) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(connection, "savepoint_commit", commit_then_ctrl_c)
    with pytest.raises(CommandError) as caught:
        _call("sync_weather", "--observed", "--seasons", str(SEASON))
    monkeypatch.undo()
    run = _last_run(SyncSource.WEATHER)
    _assert_one_line_130(caught, run)
    stored = RaceWeather.objects.filter(race__season_id=SEASON).count()
    assert stored == 3
    assert run.counts["created"] == stored and run.counts["races"] == stored  # was created 2, stored 3


def test_load_ergast_ctrl_c_is_one_line_exit_130_and_the_run_interrupted(ergast_data, monkeypatch):
    """Ctrl-C at `load_ergast` (here: inside a COPY, where a real one landed) printed a full
    KeyboardInterrupt traceback and left its SyncRun `running` (until the stale-run sweep called it
    "killed or lost" 90 s later). Now: one line, exit 130, the run `interrupted` with the reason;
    the load is one transaction, so nothing of it was written."""
    import psycopg

    from ingestion.models import RaceResult

    RaceResult.objects.filter(race__season_id=SEASON).delete()
    real_write_row = psycopg.Copy.write_row
    rows = []

    def write_row_then_ctrl_c(self, row):
        rows.append(row)
        if len(rows) == 50:
            raise KeyboardInterrupt
        return real_write_row(self, row)

    monkeypatch.setattr(psycopg.Copy, "write_row", write_row_then_ctrl_c)
    with pytest.raises(CommandError) as caught:
        _call("load_ergast", str(ergast_data), "--seasons", str(SEASON))
    monkeypatch.undo()
    run = _last_run(SyncSource.ERGAST_DUMP)
    message = str(caught.value)
    assert caught.value.returncode == 130
    assert message.startswith(
        f"Load interrupted by Ctrl-C (SyncRun {run.pk}): nothing of the load was written"
    )
    assert "\n" not in message and "rerun" in message
    assert run.status == SyncStatus.INTERRUPTED and run.finished_at is not None
    assert run.errors[-1]["message"].startswith("interrupted: interrupted by the user (Ctrl-C / SIGINT)")
    assert not RaceResult.objects.filter(race__season_id=SEASON).exists()  # rolled back
