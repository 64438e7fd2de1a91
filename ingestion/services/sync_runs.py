"""Record a sync as a SyncRun (what /staff/freshness/ and the SyncRun admin show).

    with sync_run_recorded(source=SyncSource.OPENF1, params={...}) as run:
        counts = ...                     # the sync itself
        run.counts = counts              # JSON-serialisable
        run.errors.append({"race": slug, "message": "..."})   # a unit that failed; the rest went on
        run.requests_made = client.requests_made

The row is created `running` on entry and finished on exit, with the same conventions as the Jolpica
sync (`jolpica_sync`): `succeeded`, `partial` when errors were recorded but the run completed, `failed`
when an exception escaped (the exception is added to `errors` as `{"message", "url"?, "fatal": True}`
and re-raised), `interrupted` on KeyboardInterrupt (Ctrl-C at the command) and SystemExit (the worker
shutting down, SIGTERM, mid-run), with the reason `sync_interrupted_reason` gives, as the Jolpica sync
says it. Every error entry has a readable `message`, and the escaping exception carries the run's id as
`sync_run_id` (the commands name the run in their one-line message).

A process killed outright (SIGKILL, the OOM killer, a lost host) records nothing on exit, and the OpenF1
and weather syncs hold no lock a later run could judge it by (the Jolpica sync does:
`sync_runs_interrupt_stale`), so its row would stay `running` for ever. So the run heartbeats: its
`heartbeat_at` is set when the row is created and then written every LIVENESS_HEARTBEAT_SECONDS from a
daemon thread until the block ends (`sync_run_heartbeat`), and `sync_runs_stale_close` — run by the
beat's stale-run sweep and before the freshness page, the Sync runs admin and jobs/status read the
runs — closes a `running` OpenF1 / weather run silent for LIVENESS_MAX_SILENCE_SECONDS as
`interrupted`: `finished_at` its last heartbeat, a note appended to its errors, nothing else changed.
A run whose process is alive keeps heartbeating and is never closed, however long it takes. The same
read paths and the beat close a dead Jolpica run too, on PostgreSQL, when no sync holds its lock
(`jolpica_sync.jolpica_runs_dead_close`), rather than leaving it `running` until the next sync.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from ingestion.clients.http import SourceError
from ingestion.models import SyncRun, SyncSource, SyncStatus
from ingestion.services.periodic import Periodic, row_heartbeat

logger = logging.getLogger(__name__)

# The sources whose runs are recorded by `sync_run_recorded`, hence heartbeat. (Jolpica runs are
# judged under the sync's lock, `sync_runs_interrupt_stale`.) A dump load heartbeats too, except on
# SQLite (`ergast_dump_load`): its runs are judged only once they have a heartbeat.
HEARTBEAT_SOURCES = (SyncSource.OPENF1, SyncSource.WEATHER)

PROCESS_SILENT = (
    "interrupted: the process running it stopped heartbeating at {at} (silent for {silence} s, more than "
    "LIVENESS_MAX_SILENCE_SECONDS={bound}): it was killed or lost mid-run; {kept}"
)
# What a killed run leaves: a sync commits unit by unit; a dump load is one transaction.
PROCESS_SILENT_KEPT = {
    SyncSource.ERGAST_DUMP: "its one transaction was rolled back: nothing of the load was written",
}
PROCESS_SILENT_KEPT_DEFAULT = "rows it had committed were kept, its counts were never recorded"


class Terminated(SystemExit):
    """SIGTERM at a command (`timeout`, systemd, `docker stop`): raised by the handler the sync
    commands install (`ingestion.management.sync_exit`), so the run is recorded as Ctrl-C's is."""


def sync_interrupted_reason(exc: BaseException) -> str:
    """Why a sync stopped short, for its SyncRun's errors (this recorder and the Jolpica sync):
    KeyboardInterrupt is Ctrl-C at the command, Terminated SIGTERM at the command, any other
    SystemExit the worker shutting down (SIGTERM)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the user (Ctrl-C / SIGINT)"
    if isinstance(exc, Terminated):
        return "stopped by SIGTERM"
    if isinstance(exc, SystemExit):
        return "worker shut down during the run"
    return f"aborted: {exc.__class__.__name__}"


@dataclass
class SyncRunRecorder:
    run: SyncRun
    counts: dict = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    requests_made: int = 0

    @property
    def pk(self) -> int:
        return self.run.pk


@contextmanager
def sync_run_recorded(*, source: SyncSource, params: dict) -> Iterator[SyncRunRecorder]:
    run = SyncRun.objects.create(source=source, params=params, heartbeat_at=timezone.now())
    recorder = SyncRunRecorder(run=run)
    status = SyncStatus.FAILED
    try:
        with sync_run_heartbeat(run_id=run.pk):
            yield recorder
        # warnings (`level: warning`, e.g. a season upstream does not have) leave the run succeeded
        failed_some = any(not (isinstance(e, dict) and e.get("level") == "warning") for e in recorder.errors)
        status = SyncStatus.PARTIAL if failed_some else SyncStatus.SUCCEEDED
    except SourceError as exc:
        recorder.errors.append({"message": str(exc), "url": exc.url, "fatal": True})
        exc.sync_run_id = run.pk
        raise
    except (SystemExit, KeyboardInterrupt) as exc:
        # SystemExit (a BaseException) went past every handler here: the run was recorded `failed`
        # with no error at all (QA rel #4)
        status = SyncStatus.INTERRUPTED
        recorder.errors.append(
            {
                "message": f"interrupted: {sync_interrupted_reason(exc)}; what it had committed was kept",
                "fatal": True,
            }
        )
        exc.sync_run_id = run.pk
        raise
    except BaseException as exc:  # an Exception, or another BaseException: failed, never without a reason
        recorder.errors.append({"message": f"{exc.__class__.__name__}: {exc}", "fatal": True})
        exc.sync_run_id = run.pk
        raise
    finally:
        SyncRun.objects.filter(pk=recorder.run.pk).update(
            status=status,
            finished_at=timezone.now(),
            counts=recorder.counts,
            errors=recorder.errors,
            requests_made=recorder.requests_made,
        )


def sync_run_heartbeat(*, run_id: int) -> Periodic:
    """`with sync_run_heartbeat(run_id=run.pk): ...` around the work of a `running` run created with a
    fresh `heartbeat_at`: writes `heartbeat_at` every LIVENESS_HEARTBEAT_SECONDS until the block ends."""
    return row_heartbeat(
        rows=SyncRun.objects.filter(pk=run_id, status=SyncStatus.RUNNING),
        name=f"syncrun-heartbeat:{run_id}",
        log_extra={"sync_run": run_id},
    )


def sync_runs_stale_close(*, now: datetime | None = None) -> list[int]:
    """Close the `running` OpenF1 / weather runs, and dump loads that heartbeat, whose process died: last
    sign of life (`heartbeat_at`, else `started_at` for a row written before runs heartbeated) older than
    LIVENESS_MAX_SILENCE_SECONDS. Each becomes `interrupted`, `finished_at` = that last sign of life,
    with a note appended to `errors`; its counts, cursor and params stay. A conditional UPDATE (still
    running, same heartbeat) leaves a run that heartbeated meanwhile alone. Returns the closed ids."""
    now = now or timezone.now()
    bound = settings.LIVENESS_MAX_SILENCE_SECONDS
    stale = (
        SyncRun.objects.filter(
            Q(source__in=HEARTBEAT_SOURCES) | Q(source=SyncSource.ERGAST_DUMP, heartbeat_at__isnull=False),
            status=SyncStatus.RUNNING,
        )
        .annotate(seen_at=Coalesce("heartbeat_at", "started_at"))
        .filter(seen_at__lt=now - timedelta(seconds=bound))
        .only("pk", "source", "started_at", "heartbeat_at", "errors")
    )
    closed = []
    for run in stale:
        seen = run.heartbeat_at or run.started_at
        note = {
            "message": PROCESS_SILENT.format(
                at=seen.isoformat(timespec="seconds"),
                silence=round((now - seen).total_seconds()),
                bound=bound,
                kept=PROCESS_SILENT_KEPT.get(run.source, PROCESS_SILENT_KEPT_DEFAULT),
            ),
            "fatal": True,
        }
        same = Q(heartbeat_at=run.heartbeat_at) if run.heartbeat_at else Q(heartbeat_at=None)
        done = SyncRun.objects.filter(same, pk=run.pk, status=SyncStatus.RUNNING).update(
            status=SyncStatus.INTERRUPTED, finished_at=seen, errors=[*(run.errors or []), note]
        )
        if done:
            closed.append(run.pk)
            logger.warning("closed a stale sync run", extra={"source": run.source, "sync_run": run.pk})
    return closed


def sync_runs_stale_close_quietly() -> list[int] | None:
    """`sync_runs_stale_close`, and the dead Jolpica runs closed when no sync holds its lock
    (`jolpica_sync.jolpica_runs_dead_close`), for read paths (the freshness page, admin, jobs/status) and the beat: a
    failure is logged, never raised — the page still shows what is stored."""
    from ingestion.services.jolpica_sync import jolpica_runs_dead_close  # it imports this module

    try:
        with transaction.atomic():  # a savepoint when the caller is inside a transaction
            return sync_runs_stale_close() + jolpica_runs_dead_close()
    except Exception:
        logger.warning("stale sync run sweep failed", exc_info=True)
        return None


def sync_runs_interrupt_stale(*, source: SyncSource) -> list[int]:
    """Mark every `running` run of `source` as `interrupted` (finished now) and return their ids.

    Call it only while holding the source's one-sync-at-a-time lock (the Jolpica sync's PostgreSQL
    advisory lock): a run still `running` then cannot be alive — its process was killed (SIGKILL,
    OOM, a lost machine) before it could record how it ended. Whatever its parameters, it is closed
    so the freshness page and the resume chain stop treating it as in progress; its cursor is kept.
    """
    stale = list(SyncRun.objects.filter(source=source, status=SyncStatus.RUNNING).values_list("pk", "errors"))
    now = timezone.now()
    for pk, errors in stale:
        note = {"message": "interrupted: the process ended without recording it (killed?)", "fatal": True}
        SyncRun.objects.filter(pk=pk, status=SyncStatus.RUNNING).update(
            status=SyncStatus.INTERRUPTED, finished_at=now, errors=[*(errors or []), note]
        )
    return [pk for pk, _ in stale]
