"""Record a sync as a SyncRun (what /staff/freshness/ and the SyncRun admin show).

    with sync_run_recorded(source=SyncSource.OPENF1, params={...}) as run:
        counts = ...                     # the sync itself
        run.counts = counts              # JSON-serialisable
        run.errors.append({"race": slug, "message": "..."})   # a unit that failed; the rest went on
        run.requests_made = client.requests_made

The row is created `running` on entry and finished on exit, with the same conventions as the Jolpica
sync (`jolpica_sync`): `succeeded`, `partial` when errors were recorded but the run completed, `failed`
when an exception escaped (the exception is added to `errors` as `{"message", "url"?, "fatal": True}`
and re-raised), `interrupted` on KeyboardInterrupt. Every error entry has a readable `message`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.utils import timezone

from ingestion.clients.http import SourceError
from ingestion.models import SyncRun, SyncSource, SyncStatus


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
    recorder = SyncRunRecorder(run=SyncRun.objects.create(source=source, params=params))
    status = SyncStatus.FAILED
    try:
        yield recorder
        status = SyncStatus.PARTIAL if recorder.errors else SyncStatus.SUCCEEDED
    except SourceError as exc:
        recorder.errors.append({"message": str(exc), "url": exc.url, "fatal": True})
        raise
    except KeyboardInterrupt:
        status = SyncStatus.INTERRUPTED
        recorder.errors.append({"message": "interrupted: KeyboardInterrupt", "fatal": True})
        raise
    except Exception as exc:
        recorder.errors.append({"message": f"{exc.__class__.__name__}: {exc}", "fatal": True})
        raise
    finally:
        SyncRun.objects.filter(pk=recorder.run.pk).update(
            status=status,
            finished_at=timezone.now(),
            counts=recorder.counts,
            errors=recorder.errors,
            requests_made=recorder.requests_made,
        )


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
