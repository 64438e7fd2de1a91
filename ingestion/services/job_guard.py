"""The running job's lock, checked at step boundaries: a job whose lock was lost stops before its
next step.

A run frozen longer than `JOB_LOCK_TTL` (a SIGSTOPped or swapped-out worker, a long GC or VM pause)
loses its lock: it expires, and another trigger of the same job may take it and run. Before, the
first run logged "job lock lost while running" when it woke and carried on — both runs did the
post-race retrain and refresh, and only the PostgreSQL advisory lock kept their Jolpica syncs apart
(review). `job_run_execute` now makes its lock the current one (`job_lock_current`) while the body
runs, and the multi-step bodies (the daily and weekly jobs, the post-race step between its scoring,
retrain and refresh) call `job_step_check(step=...)` before each step: the lock is renewed there and
then, and when Redis says it is no longer ours the run re-takes it if nobody holds it (logged), or
stops with `JobLockLost` — recorded `interrupted`, "job lock lost: another run may have taken over
…". Redis not answering is no proof of loss: the step goes on (a Redis blip must not stop jobs,
see the worker blip test), and the next boundary asks again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from f1site.errors import PicklableError

logger = logging.getLogger(__name__)

_current = ContextVar("pitwall_job_lock", default=None)


class JobLockLost(PicklableError, RuntimeError):
    """The running job's lock is held by someone else: the job stopped before `step`. `job_counts`:
    what its earlier steps did, when the caller passed them."""

    def __init__(self, *, job: str, step: str, holder: str | None, counts: dict | None = None):
        super().__init__(
            f"job lock lost: another run may have taken over (lock now held by {holder or 'nobody'}); "
            f"stopped before the {step} step; steps it had committed were kept"
        )
        self.job = job
        self.step = step
        self.holder = holder
        if counts is not None:
            self.job_counts = counts


@contextlib.contextmanager
def job_lock_current(*, job: str, lock, run_id: int | None = None) -> Iterator[None]:
    """Make `lock` (a `jobs.JobLock` held by this run, JobRun `run_id`) the one `job_step_check`
    checks in the block."""
    token = _current.set((job, lock, run_id))
    try:
        yield
    finally:
        _current.reset(token)


def job_step_check(*, step: str, counts: dict | None = None) -> None:
    """Before a job's next step: go on if the run still holds its lock (renewing it), or re-took it
    because it had expired and nobody held it meanwhile (its JobRun still `running`); raise
    `JobLockLost` if another holder has it, or had it since. Outside a locked run (a body called
    directly, a test) nothing to check."""
    current = _current.get()
    if current is None:
        return
    job, lock, run_id = current
    try:
        if lock.extend():
            return
        # Free now is not "nobody held it meanwhile": a run that took the expired lock, did the
        # whole job and released it marked this run's row interrupted when it began (every run does,
        # `job_run_execute`) — taking the lock back then would do its work a second time (review).
        if not _run_still_running(run_id):
            holder = lock.holder() or "another run, since finished"
        elif lock.acquire():
            logger.warning(
                "job lock had expired and was free; re-taken before the next step",
                extra={"job": job, "step": step, "lock": lock.key},
            )
            return
        else:
            holder = lock.holder()
    except Exception as exc:  # Redis not answering: no proof the lock is lost; ask at the next step
        logger.warning(
            "job lock not checked (Redis or the database unreachable); going on",
            extra={"job": job, "step": step, "error": f"{type(exc).__name__}: {exc}"},
        )
        return
    logger.error(
        "job lock lost; stopping before the next step", extra={"job": job, "step": step, "holder": holder}
    )
    raise JobLockLost(job=job, step=step, holder=holder, counts=counts)


def _run_still_running(run_id: int | None) -> bool:
    """Is this run's JobRun still `running` (not marked interrupted by a run that took the lock)?"""
    if run_id is None:
        return True
    from ingestion.models import JobRun, JobStatus

    return JobRun.objects.filter(pk=run_id, status=JobStatus.RUNNING).exists()
