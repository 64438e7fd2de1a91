"""Closing job runs nobody will finish: a RUNNING JobRun whose process died, or that no worker took.

Before, a JobRun whose worker was killed (SIGKILL, the OOM killer, a host lost) stayed `running`
forever unless the same job ran again (only `job_run_execute` marked its own job's old rows): the
admin's race resyncs and the API's background regenerations were never cleaned up, the admin and
jobs/status showed a job running for days, a dead regeneration held its race's dedupe, and the
`job_failing` alert never counted it. Now:

* **Heartbeat** (`run_heartbeat`): the process running a JobRun writes `heartbeat_at` on its row when
  it starts it and then every LIVENESS_HEARTBEAT_SECONDS from a daemon thread, until the run ends —
  in whatever process runs it (a worker's pool child, `run_job`, a web request's inline
  regeneration). A per-run heartbeat, not the worker's liveness entry: that one is written by the
  worker's main process, while the run's `worker` (host:pid) is the pool child that runs it — the
  OOM killer kills the child and the main process heartbeats on — and `run_job` or a web process
  is no worker at all. It is in the database, not Redis, so a Redis flush does not make live runs
  look dead.
* **Sweep** (`job_runs_stale_close`), the rule:
  - a RUNNING run with a worker whose last sign of life (`heartbeat_at`, else `started_at`) is older
    than LIVENESS_MAX_SILENCE_SECONDS is closed **interrupted**: "worker host:pid stopped
    heartbeating at …"; `finished_at` is that last sign of life;
  - a RUNNING run with no worker (queued: a background regeneration or a race resync no worker has
    picked up) older than JOB_QUEUED_MAX_SECONDS is closed **failed**: "never picked up by a worker
    …" (its message was lost, e.g. with a flushed broker, or is still waiting behind a backlog
    longer than a task time limit).
  Each row is closed by a conditional UPDATE (still running, same worker, same heartbeat), so a run
  that a redelivered task took over or that heartbeated meanwhile is left alone. A long run whose
  process is alive keeps heartbeating and is never closed, however long it takes.
* **Where it runs**: from the beat's tick (at most every LIVENESS_HEARTBEAT_SECONDS: the automatic
  path), and whenever runs are read — jobs/status, the admin's Job runs list, the `job_failing`
  alert (/health, /metrics), a regeneration request or status read (that race's runs only). One
  indexed query on the few running rows (`job_run_running_idx`) when nothing is stale.
* **Late messages**: a task that picks its run by id (`regeneration_run`, `races_resync_job`)
  claims it with a conditional UPDATE (`job_run_claim`), so a redelivered or re-sent message that
  arrives after the sweep closed its run does nothing and leaves the run closed; a scheduled job's
  redelivery records a new run, as before.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from ingestion.models import JobRun, JobStatus
from ingestion.services.periodic import Periodic, row_heartbeat

logger = logging.getLogger(__name__)

NEVER_PICKED_UP = (
    "never picked up by a worker within {bound} s (JOB_QUEUED_MAX_SECONDS) of being queued at {queued}: "
    "its message was lost (e.g. a flushed broker) or waited too long; not run — start it again"
)
WORKER_SILENT = (
    "worker {worker} stopped heartbeating at {at} (silent for {silence} s, more than "
    "LIVENESS_MAX_SILENCE_SECONDS={bound}): it was killed or lost mid-run; what it had not committed "
    "was rolled back, steps it had committed were kept"
)


def run_heartbeat(*, run_id: int) -> Periodic:
    """`with run_heartbeat(run_id=run.pk): ...` around the work of a run whose row already says RUNNING with
    this process as its worker and a fresh `heartbeat_at` (set when the run is created or claimed):
    writes `heartbeat_at` every LIVENESS_HEARTBEAT_SECONDS until the block ends."""
    return row_heartbeat(
        rows=JobRun.objects.filter(pk=run_id, status=JobStatus.RUNNING),
        name=f"jobrun-heartbeat:{run_id}",
        log_extra={"job_run": run_id},
    )


def job_run_claim(*, run_id: int, job_filter: Q, worker: str, now: datetime | None = None) -> JobRun | None:
    """Take a queued (or re-queued) RUNNING run for this process: worker, started_at and heartbeat_at
    set in one conditional UPDATE. None when the run is gone or no longer RUNNING (the sweep closed
    it, or another copy of the message finished it): the caller must then do nothing."""
    now = now or timezone.now()
    taken = (
        JobRun.objects.filter(job_filter, pk=run_id, status=JobStatus.RUNNING)
        .update(worker=worker, started_at=now, heartbeat_at=now)
    )  # fmt: skip
    return JobRun.objects.get(pk=run_id) if taken else None


def job_runs_stale_close(*, now: datetime | None = None, jobs: Q | None = None) -> dict:
    """Close the RUNNING runs nobody will finish (the module's rule); `jobs` narrows the runs looked
    at (e.g. one race's regenerations). Returns {"interrupted": [ids], "never_picked_up": [ids]}."""
    now = now or timezone.now()
    silence = settings.LIVENESS_MAX_SILENCE_SECONDS
    queued_max = settings.JOB_QUEUED_MAX_SECONDS
    running = JobRun.objects.filter(status=JobStatus.RUNNING)
    if jobs is not None:
        running = running.filter(jobs)
    stale = (
        running.annotate(seen_at=Coalesce("heartbeat_at", "started_at"))
        .filter(
            (~Q(worker="") & Q(seen_at__lt=now - timedelta(seconds=silence)))
            | (Q(worker="") & Q(started_at__lt=now - timedelta(seconds=queued_max)))
        )
        .only("pk", "job", "worker", "started_at", "heartbeat_at")
    )
    closed: dict[str, list[int]] = {"interrupted": [], "never_picked_up": []}
    for run in stale:
        same = JobRun.objects.filter(
            pk=run.pk, status=JobStatus.RUNNING, worker=run.worker, started_at=run.started_at
        )
        if run.worker:
            seen = run.heartbeat_at or run.started_at
            same = (
                same.filter(heartbeat_at=run.heartbeat_at)
                if run.heartbeat_at
                else same.filter(heartbeat_at=None)
            )
            error = WORKER_SILENT.format(
                worker=run.worker,
                at=seen.isoformat(timespec="seconds"),
                silence=round((now - seen).total_seconds()),
                bound=silence,
            )
            done = same.update(
                status=JobStatus.INTERRUPTED,
                finished_at=seen,
                duration_seconds=round(max(0.0, (seen - run.started_at).total_seconds()), 3),
                error=error,
            )
            key = "interrupted"
        else:
            error = NEVER_PICKED_UP.format(
                bound=queued_max, queued=run.started_at.isoformat(timespec="seconds")
            )
            done = same.update(status=JobStatus.FAILED, finished_at=now, error=error)
            key = "never_picked_up"
        if done:
            closed[key].append(run.pk)
            logger.warning("closed a stale job run", extra={"job": run.job, "job_run": run.pk, "reason": key})
    return closed


def job_runs_stale_close_quietly(**kwargs) -> dict | None:
    """`job_runs_stale_close` for read paths (status pages, alerts): a failure is logged, never raised
    — the page still shows what is stored."""
    try:
        with transaction.atomic():  # a savepoint when the caller is inside a transaction
            return job_runs_stale_close(**kwargs)
    except Exception:
        logger.warning("stale job run sweep failed", exc_info=True)
        return None
