"""The race-data lock: one writer of the races and their results at a time.

The Jolpica sync (`sync_f1`, the daily / weekly jobs, the admin's resync) and the Ergast dump load
(`load_ergast`) write the same tables (seasons, races, results, qualifying, pit stops, standings…)
and reconcile the same calendars, so they take the same PostgreSQL session-level advisory lock
(`SYNC_LOCK_KEY`, unchanged since it was the Jolpica sync's alone, so code of either age excludes the
other during a rolling deploy). The second comer is refused with `SyncAlreadyRunning`, which names
the holder — its running SyncRun and the holding backend's pid — before it writes anything, and
records no SyncRun (as a refused sync never has).

The lock is released on exit, or by PostgreSQL when a killed process's connection closes. SQLite —
the single-machine default — has no such lock: there the dump load's one write transaction holds the
database's only write lock, so two writers do not interleave, but do not start two at once there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

from f1site.errors import PicklableError
from ingestion.models import SyncRun, SyncSource, SyncStatus

logger = logging.getLogger(__name__)

# PostgreSQL advisory lock key (any constant bigint works; this one spells "pitjol").
SYNC_LOCK_KEY = 0x706974_6A6F6C

# How often a caller that may wait (`run_job … --wait`) asks for the lock again.
WAIT_POLL_SECONDS = 1.0

# Told once, when a caller starts waiting for a lock another run holds: one line naming the holder
# and how long the caller waits at most (the commands print it on stderr: a person at a terminal saw
# a silent hang for up to --wait seconds). The services compose the line; the commands only show it.
LockWaitNotice = Callable[[str], None]

_HOLDERS = {SyncSource.JOLPICA: "a Jolpica sync", SyncSource.ERGAST_DUMP: "an Ergast dump load"}


class SyncAlreadyRunning(PicklableError):
    """Another Jolpica sync or dump load holds the race-data lock. `holder` names it (its SyncRun and
    backend pid when they can be found); nothing was written by the refused caller."""

    def __init__(self, holder: str):
        super().__init__(f"{holder} is in progress (PostgreSQL advisory lock held)")
        self.holder = holder


def _try_lock(cursor) -> bool:
    cursor.execute("SELECT pg_try_advisory_lock(%s)", [SYNC_LOCK_KEY])
    return bool(cursor.fetchone()[0])


@contextmanager
def race_data_lock(
    *, wait: float = 0.0, name_holder: bool = True, on_wait: LockWaitNotice | None = None
) -> Iterator[None]:
    """Hold the race-data lock for the block (PostgreSQL; SQLite runs without it).

    Held by another session: `SyncAlreadyRunning` at once, or — with `wait` seconds — after asking
    again every WAIT_POLL_SECONDS until then (a try, not a blocking `pg_advisory_lock`, so Ctrl-C
    and SIGTERM still end the wait at once). `on_wait` is told once, when the wait begins, who holds
    the lock and for how long the caller waits (`race_data_lock_wait_line`). `name_holder=False`
    spares the two queries that name the holder, for a caller that only wants to know (the
    stale-run sweep)."""
    if connection.vendor != "postgresql":
        yield
        return
    deadline = time.monotonic() + max(0.0, wait)
    with connection.cursor() as cursor:
        acquired = _try_lock(cursor)
        if not acquired and wait > 0:
            holder = race_data_lock_holder() if name_holder else "another Jolpica sync or Ergast dump load"
            logger.info("race-data lock held; waiting", extra={"wait_seconds": wait, "holder": holder})
            if on_wait is not None:
                on_wait(race_data_lock_wait_line(holder=holder, wait=wait))
        while not acquired and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(WAIT_POLL_SECONDS, left))
            acquired = _try_lock(cursor)
    if not acquired:
        raise SyncAlreadyRunning(
            race_data_lock_holder() if name_holder else "another Jolpica sync or Ergast dump load"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])


def race_data_lock_wait_line(*, holder: str, wait: float) -> str:
    """The line a command shows when it starts waiting: "Waiting up to 900s for the race-data lock:
    a Jolpica sync (SyncRun 812: …; backend pid 4242) is in progress (PostgreSQL advisory lock held)"."""
    return f"Waiting up to {round(wait)}s for the race-data lock: {SyncAlreadyRunning(holder)}"


def race_data_lock_held() -> bool:
    """Whether another session holds the lock now (False on SQLite, which has none). A snapshot:
    the lock may be taken or freed right after; the writers still decide for themselves."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        acquired = _try_lock(cursor)
        if acquired:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])
    return not acquired


def race_data_lock_holder() -> str:
    """Who holds the lock, for the refusal's one line: "a Jolpica sync (SyncRun 42: seasons [2026],
    started 2026-11-28 06:00:01 UTC; backend pid 1234)".

    The backend comes from pg_locks. The SyncRun is the newest `running` run of the two sources: the
    holder creates its run right after taking the lock, and a run left `running` by a killed process
    is older than the live holder's (its lock died with its connection). In the moment between the
    lock and the run's row, the line names the backend only."""
    pid = None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [SYNC_LOCK_KEY >> 32, SYNC_LOCK_KEY & 0xFFFFFFFF],
        )
        row = cursor.fetchone()
        pid = row[0] if row else None
    backend = f"backend pid {pid}" if pid else "its backend gone: it may have just finished"
    run = (
        SyncRun.objects.filter(source__in=list(_HOLDERS), status=SyncStatus.RUNNING)
        .order_by("-started_at", "-pk")
        .only("pk", "source", "params", "started_at")
        .first()
    )
    if run is None:
        return f"another Jolpica sync or Ergast dump load ({backend})"
    params = run.params or {}
    if run.source == SyncSource.ERGAST_DUMP:
        span = params.get("seasons")
        what = str(params.get("directory", "?")) + (f", seasons {span[0]}-{span[-1]}" if span else "")
    else:
        what = f"seasons {params.get('seasons')}"
    started = run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{_HOLDERS[run.source]} (SyncRun {run.pk}: {what}, started {started}; {backend})"
