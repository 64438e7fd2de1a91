"""OpenF1 / weather SyncRuns whose process died (ingestion.services.sync_runs): before, such a run stayed
`running` for ever — only the Jolpica sync, under its lock, closed its own dead runs. Now every run
`sync_run_recorded` writes heartbeats, and the stale-run sweep closes one silent for
LIVENESS_MAX_SILENCE_SECONDS as `interrupted` (status, finished_at and errors only).

The last test runs a real `manage.py sync_openf1` process against the test database (it commits, like
tests/ingestion/services/test_stale_runs.py's workers, and deletes its row after), holds its first request at
the mirror, checks that the sweep leaves it alone while it heartbeats, kills it with SIGKILL and
waits for the sweep to close its run.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from f1site.celery import app
from ingestion.models import SyncRun, SyncSource, SyncStatus
from ingestion.services.jobs import SingleBeatScheduler
from ingestion.services.jolpica_sync import jolpica_sync_lock_held
from ingestion.services.sync_runs import sync_runs_stale_close, sync_runs_stale_close_quietly
from tests.conftest import ROOT, start_mirror
from tests.workers import child_process_env, wait_until

SILENCE = 4  # this process's LIVENESS_MAX_SILENCE_SECONDS in the subprocess test: 4 missed heartbeats


def _run(source: str, *, silent_for: float, **fields) -> SyncRun:
    """A SyncRun as a sync process leaves it while running (or once killed): its last heartbeat
    `silent_for` seconds ago."""
    since = timezone.now() - timedelta(seconds=silent_for)
    run = SyncRun.objects.create(source=source, heartbeat_at=since, **fields)
    SyncRun.objects.filter(pk=run.pk).update(started_at=since - timedelta(seconds=30))  # auto_now_add
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_the_sweep_closes_silent_openf1_and_weather_runs_and_keeps_their_data():
    silence = settings.LIVENESS_MAX_SILENCE_SECONDS
    dead = _run(
        SyncSource.OPENF1,
        silent_for=silence + 5,
        params={"kind": "results", "seasons": [2024]},
        counts={"sessions": {"created": 3}},
        cursor={"done": ["x"]},
        requests_made=7,
        errors=[{"race": "2024_bahrain", "message": "rejected"}],
    )
    alive = _run(SyncSource.WEATHER, silent_for=silence - 30)  # a live run's last beat: recent
    # a weather run written before runs heartbeated: judged by when it started
    legacy = SyncRun.objects.create(source=SyncSource.WEATHER, params={"kind": "forecast"})
    SyncRun.objects.filter(pk=legacy.pk).update(started_at=timezone.now() - timedelta(seconds=silence + 5))
    # Jolpica runs are judged under the sync's lock (sync_runs_interrupt_stale), a dump load by hand
    jolpica = SyncRun.objects.create(source=SyncSource.JOLPICA)
    dump = SyncRun.objects.create(source=SyncSource.ERGAST_DUMP)
    SyncRun.objects.filter(pk__in=[jolpica.pk, dump.pk]).update(started_at=timezone.now() - timedelta(days=1))
    before = SyncRun.objects.filter(pk=dead.pk).values().get()

    assert sorted(sync_runs_stale_close()) == sorted([dead.pk, legacy.pk])
    assert sync_runs_stale_close() == []  # closed once

    after = SyncRun.objects.filter(pk=dead.pk).values().get()
    assert after["status"] == SyncStatus.INTERRUPTED
    assert after["finished_at"] == dead.heartbeat_at  # its last sign of life
    assert after["errors"][0] == {"race": "2024_bahrain", "message": "rejected"}
    note = after["errors"][1]
    assert note["fatal"] is True
    assert note["message"].startswith("interrupted: the process running it stopped heartbeating at ")
    assert f"LIVENESS_MAX_SILENCE_SECONDS={silence}" in note["message"]
    # nothing else changed
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"status", "finished_at", "errors"}

    legacy.refresh_from_db()
    assert legacy.status == SyncStatus.INTERRUPTED and legacy.finished_at == legacy.started_at
    for run in (alive, jolpica, dump):
        run.refresh_from_db()
        assert run.status == SyncStatus.RUNNING and run.finished_at is None
    # the bound is strict and read at call time: the live run is closed once it has been silent too long
    assert sync_runs_stale_close(now=timezone.now() + timedelta(seconds=31)) == [alive.pk]


@pytest.mark.django_db
def test_the_staff_pages_the_admin_and_the_beat_show_a_dead_sync_run_interrupted(admin_client):
    from django_celery_beat.models import PeriodicTask

    silence = settings.LIVENESS_MAX_SILENCE_SECONDS

    def dead(source=SyncSource.WEATHER):
        return _run(source, silent_for=silence + 5, params={"kind": "forecast"})

    def status(run):
        return SyncRun.objects.get(pk=run.pk).status

    # the staff freshness page: not among its failures as running, but interrupted with why
    run = dead()
    html = admin_client.get("/staff/freshness/").content.decode()
    assert status(run) == SyncStatus.INTERRUPTED
    failures = html.split('id="sync-failures"')[1].split("</ul>")[0]
    assert "stopped heartbeating" in failures

    # Admin → Sync runs
    run = dead()
    html = admin_client.get("/admin/ingestion/syncrun/").content.decode()
    assert status(run) == SyncStatus.INTERRUPTED
    assert f"/admin/ingestion/syncrun/{run.pk}/change/" in html

    # jobs/status without a beat schedule lists the latest sync run per source
    PeriodicTask.objects.all().delete()
    run = dead(SyncSource.OPENF1)
    jobs = {j["name"]: j for j in admin_client.get("/api/v1/jobs/status").json()["jobs"]}
    assert jobs["sync_openf1"]["last_status"] == "interrupted"
    assert "stopped heartbeating" in jobs["sync_openf1"]["last_error"]

    # the beat's tick: the automatic path, whether or not anyone reads a page
    run = dead()
    SingleBeatScheduler(app=app, lazy=True)._stale_runs_sweep()
    assert status(run) == SyncStatus.INTERRUPTED


# --- a real sync process, killed ----------------------------------------------------------------
@pytest.fixture
def sync_process(committing_db):
    """`manage.py sync_openf1 --seasons 2024` against the test database, heartbeating every second,
    its first OpenF1 request held for 45 s at a mirror of its own (so it writes nothing but its
    SyncRun). Not the shared mirror: the held request is answered, and logged, after the process is
    gone, and in the shared mirror's log it counted as a request of whichever test ran then."""

    mirror = start_mirror()
    mirror.set_faults({"prefix": "/v1/", "latency": 45_000})
    env = child_process_env(
        OPENF1_API_BASE=mirror.openf1,
        HTTP_READ_TIMEOUT="120",
        LIVENESS_HEARTBEAT_SECONDS="1",
        LOG_LEVEL="ERROR",
    )
    newest = SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sync_openf1", "--seasons", "2024", "--skip-checks"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        yield proc, newest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stderr.close()
        mirror.server.shutdown()  # the held request's thread ends on its own
        SyncRun.objects.filter(pk__gt=newest, source=SyncSource.OPENF1, params__seasons=[2024]).delete()


def test_a_sync_killed_with_sigkill_is_closed_by_the_sweep_and_a_live_one_is_not(sync_process, settings):
    proc, newest = sync_process
    settings.LIVENESS_MAX_SILENCE_SECONDS = SILENCE
    running = wait_until(
        lambda: SyncRun.objects.filter(
            pk__gt=newest, source=SyncSource.OPENF1, status=SyncStatus.RUNNING
        ).first(),
        timeout=30,
        what="the sync to start its run",
    )
    # Alive, waiting on its first request for three silence bounds: heartbeating, never closed.
    beats = {running.heartbeat_at}
    until = time.monotonic() + 3 * SILENCE
    while time.monotonic() < until:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert running.pk not in sync_runs_stale_close()
        row = SyncRun.objects.get(pk=running.pk)
        assert row.status == SyncStatus.RUNNING
        beats.add(row.heartbeat_at)
        time.sleep(0.5)
    beats = sorted(beats)
    assert len(beats) >= 2 * SILENCE
    assert max(b - a for a, b in itertools.pairwise(beats)) < timedelta(seconds=SILENCE)

    os.killpg(proc.pid, signal.SIGKILL)  # nothing runs its `finally`: the row stays `running`
    proc.wait(timeout=10)
    killed_at = timezone.now()
    assert SyncRun.objects.get(pk=running.pk).status == SyncStatus.RUNNING
    assert running.pk not in sync_runs_stale_close()  # not silent long enough yet
    wait_until(
        lambda: running.pk in sync_runs_stale_close(), timeout=SILENCE + 10, what="the sweep to close the run"
    )
    run = SyncRun.objects.get(pk=running.pk)
    assert run.status == SyncStatus.INTERRUPTED
    assert run.finished_at == run.heartbeat_at <= killed_at
    assert timezone.now() - run.heartbeat_at > timedelta(seconds=SILENCE)
    assert run.params == {"kind": "sessions", "seasons": [2024]} and run.counts == {}
    assert [e["message"].split(" at ")[0] for e in run.errors] == [
        "interrupted: the process running it stopped heartbeating"
    ]
    assert running.pk not in sync_runs_stale_close()  # closed once


# --- Jolpica runs: judged by the sync's lock, not by a heartbeat ----------------------------------
@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the sync lock is a PostgreSQL advisory lock")
def test_a_dead_jolpica_run_is_closed_when_no_sync_holds_the_lock_and_a_live_one_is_not(admin_client):
    """Before, a Jolpica run whose process was SIGKILLed stayed `running` on the freshness page until
    the next Jolpica sync took the lock (the daily job: up to a day). The lock is the truth: held by
    another connection, the run is alive; free, it is dead."""
    from tests.ingestion.helpers import jolpica_lock_held

    run = SyncRun.objects.create(
        source=SyncSource.JOLPICA, params={"seasons": [2026]}, cursor={"done": ["2026:1"]}
    )
    with jolpica_lock_held():  # a live sync in another process
        admin_client.get("/staff/freshness/")
        assert SyncRun.objects.get(pk=run.pk).status == SyncStatus.RUNNING
        assert sync_runs_stale_close_quietly() == []
        assert jolpica_sync_lock_held()  # the sweep's own try did not take it over
    assert not jolpica_sync_lock_held()

    html = admin_client.get("/staff/freshness/").content.decode()
    closed = SyncRun.objects.get(pk=run.pk)
    assert closed.status == SyncStatus.INTERRUPTED and closed.finished_at is not None
    assert closed.cursor == {"done": ["2026:1"]}  # a later sync still resumes from it
    assert "ended without recording it" in html.split('id="sync-failures"')[1].split("</ul>")[0]
    assert not jolpica_sync_lock_held()  # the sweep released the lock it took
    assert sync_runs_stale_close_quietly() == []  # closed once
