"""A real `manage.py load_ergast` process killed with SIGKILL mid-load.

Before, its SyncRun stayed `running` for ever: the load writes its run on entry and finishes it on
exit, and a killed process runs no exit. Now the run heartbeats while the load runs (not on SQLite,
see `ergast_dump_load`), so the stale-run sweep closes it as `interrupted`; the load's one
transaction is rolled back, so nothing of it is written.

The process loads the full dump into the test database (already holding it: the load changes
nothing), committing like the real-worker tests, and its run is deleted after. A second connection
holds the pit-stop table in SHARE mode, so the load (seasons to practice written in its transaction)
waits at its pit stops, heartbeating, until it is killed: a whole load takes only a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.utils import timezone

from ingestion.models import PitStop, Race, RaceResult, SyncRun, SyncSource, SyncStatus
from ingestion.services.sync_runs import sync_runs_stale_close
from tests.conftest import ERGAST_DUMP_DIR, ROOT
from tests.workers import child_process_env, wait_until


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Race, RaceResult, PitStop, SyncRun)}


@pytest.fixture
def load_process(committing_db):
    env = child_process_env(LIVENESS_HEARTBEAT_SECONDS="1", LOG_LEVEL="ERROR")
    url = env["DATABASE_URL"]
    newest = SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    before = _counts()
    holder = psycopg.connect(url)  # a transaction until closed: the lock is held until then
    holder.execute(f"LOCK TABLE {PitStop._meta.db_table} IN SHARE MODE")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "load_ergast", str(ERGAST_DUMP_DIR), "--json", "--skip-checks"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        yield proc, newest, before, holder
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stderr.close()
        holder.close()
        SyncRun.objects.filter(pk__gt=newest, source=SyncSource.ERGAST_DUMP).delete()


def test_a_dump_load_killed_mid_load_is_closed_by_the_sweep_and_writes_nothing(load_process):
    proc, newest, before, holder = load_process
    bound = settings.LIVENESS_MAX_SILENCE_SECONDS

    def beating():
        assert proc.poll() is None, (
            "the load ended before it was killed: " + proc.stderr.read().decode()[-2000:]
        )
        run = SyncRun.objects.filter(pk__gt=newest, source=SyncSource.ERGAST_DUMP).first()
        return (
            run
            if run and run.heartbeat_at and run.heartbeat_at - run.started_at > timedelta(seconds=1.5)
            else None
        )

    run = wait_until(beating, timeout=60, what="the load to heartbeat")
    assert proc.poll() is None, (
        "the load ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
    )
    assert run.status == SyncStatus.RUNNING
    # alive and beating: not closed
    assert run.pk not in sync_runs_stale_close()

    os.killpg(proc.pid, signal.SIGKILL)  # no `except`, no `finally`: the row stays `running`
    proc.wait(timeout=10)
    killed_at = timezone.now()
    holder.rollback()  # the killed load's server session goes on, fails to answer, and rolls back
    assert SyncRun.objects.get(pk=run.pk).status == SyncStatus.RUNNING
    assert run.pk not in sync_runs_stale_close()  # not silent long enough yet

    closed = sync_runs_stale_close(now=killed_at + timedelta(seconds=bound + 2))
    assert run.pk in closed
    run = SyncRun.objects.get(pk=run.pk)
    assert run.status == SyncStatus.INTERRUPTED
    assert run.finished_at == run.heartbeat_at <= killed_at
    assert run.counts == {}
    assert [e["message"].split(" at ")[0] for e in run.errors] == [
        "interrupted: the process running it stopped heartbeating"
    ]
    assert run.errors[0]["message"].endswith(
        "its one transaction was rolled back: nothing of the load was written"
    )
    # the killed transaction was rolled back: the same rows as before, plus only its run
    after = _counts()
    assert after == {**before, "SyncRun": before["SyncRun"] + 1}


@pytest.mark.django_db
def test_the_sweep_judges_a_dump_run_only_by_its_heartbeat():
    """A running dump run without a heartbeat (loaded on SQLite, or written before loads heartbeated)
    is left alone however old: nothing says whether its process is alive. One whose heartbeat is
    older than the bound is closed; one beating recently is not."""
    bound = settings.LIVENESS_MAX_SILENCE_SECONDS
    long_ago = timezone.now() - timedelta(seconds=bound + 60)
    silent = SyncRun.objects.create(source=SyncSource.ERGAST_DUMP, heartbeat_at=long_ago)
    beating = SyncRun.objects.create(source=SyncSource.ERGAST_DUMP, heartbeat_at=timezone.now())
    unknown = SyncRun.objects.create(source=SyncSource.ERGAST_DUMP)
    SyncRun.objects.filter(pk__in=[silent.pk, unknown.pk]).update(started_at=long_ago)

    assert sync_runs_stale_close() == [silent.pk]
    statuses = dict(
        SyncRun.objects.filter(pk__in=[silent.pk, beating.pk, unknown.pk]).values_list("pk", "status")
    )
    assert statuses == {
        silent.pk: SyncStatus.INTERRUPTED,
        beating.pk: SyncStatus.RUNNING,
        unknown.pk: SyncStatus.RUNNING,
    }
