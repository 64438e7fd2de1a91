"""Celery tasks of the automated pipeline: thin wrappers that run a service under the job's lock and
record a JobRun (see ingestion.services.jobs). Each is idempotent, so a redelivery is harmless."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from f1site.celery import JobTask
from ingestion.clients.http import SourceRateLimited, SourceUnavailable
from ingestion.services import jobs, resync

TRANSIENT = (SourceUnavailable, SourceRateLimited, OperationalError, InterfaceError)


def _run(task, job: str, func, idle_check=None) -> dict:
    run = task.run_job(job, func, idle_check=idle_check)
    if run is None:  # an idle tick: nothing recorded but the time of the check
        return {"job_run": None, "status": "idle"}
    return {"job_run": run.pk, "status": run.status}


def _job_run_note(exc: BaseException, note: str) -> None:
    """Append `note` to the error of the JobRun that recorded `exc` (when one did)."""
    from django.db.models import Value
    from django.db.models.functions import Concat

    from ingestion.models import JobRun

    run_id = getattr(exc, "job_run_id", None)
    if run_id:
        JobRun.objects.filter(pk=run_id).update(error=Concat("error", Value(f"; {note}")))


def _run_sync_job(task, job: str, *, jolpica_only: bool) -> dict:
    """A scheduled job with a Jolpica sync (daily, weekly). Another Jolpica sync holding the lock no
    longer fails the whole job: its other steps run, the JobRun records `failed` with their counts,
    and the task retries the Jolpica part alone every RESYNC_LOCK_RETRY_SECONDS, as the admin's
    resync does (~10 min); a retry that still finds the lock held is put off again without a
    JobRun. Our own Jolpica rate budget used up (SourceRateLimited with `retry_in`) retries when its
    next slot frees rather than on the usual backoff, which would only fail again."""
    from ingestion.services.jolpica_sync import jolpica_sync_lock_held

    retries_left = not task.request.is_eager and task.request.retries < resync.RESYNC_LOCK_RETRIES
    if jolpica_only and retries_left and jolpica_sync_lock_held():
        raise task.retry(
            countdown=resync.RESYNC_LOCK_RETRY_SECONDS,
            max_retries=resync.RESYNC_LOCK_RETRIES,
            kwargs={"jolpica_only": True},
        )
    body = jobs.job_body_get(name=job)
    try:
        return _run(task, job, lambda: body(jolpica_only=jolpica_only))
    except jobs.JolpicaStepLocked as exc:
        if not retries_left:
            _job_run_note(exc, "not retried" if task.request.is_eager else "gave up waiting for the lock")
            raise
        _job_run_note(
            exc,
            f"the Jolpica sync is retried every {resync.RESYNC_LOCK_RETRY_SECONDS}s while the lock is "
            f"held (up to {resync.RESYNC_LOCK_RETRIES} retries)",
        )
        raise task.retry(
            exc=exc,
            countdown=resync.RESYNC_LOCK_RETRY_SECONDS,
            max_retries=resync.RESYNC_LOCK_RETRIES,
            kwargs={"jolpica_only": True},
        ) from None
    except SourceRateLimited as exc:
        wait = exc.retry_in
        if wait is None or task.request.is_eager or task.request.retries >= task.max_retries:
            raise
        countdown = min(max(wait + 1, float(task.retry_backoff)), float(settings.CELERY_TASK_TIME_LIMIT))
        _job_run_note(exc, f"retrying in {countdown:.0f}s")
        raise task.retry(exc=exc, countdown=countdown) from None


@shared_task(bind=True, base=JobTask, name="ingestion.tasks.daily_results_sync", autoretry_for=TRANSIENT)
def daily_results_sync(self, jolpica_only: bool = False):
    return _run_sync_job(self, "daily_results_sync", jolpica_only=jolpica_only)


@shared_task(bind=True, base=JobTask, name="ingestion.tasks.weekly_full_sync", autoretry_for=TRANSIENT)
def weekly_full_sync(self, jolpica_only: bool = False):
    return _run_sync_job(self, "weekly_full_sync", jolpica_only=jolpica_only)


@shared_task(
    bind=True,
    base=JobTask,
    name="ingestion.tasks.live_timing_poll",
    time_limit=60,
    soft_time_limit=50,
    max_retries=0,  # the next tick is 30 s away; a retried poll would be stale
    expires=30,
)
def live_timing_poll(self):
    from ingestion.services.live_timing import live_timing_idle_reason

    # Every 30 s, mostly outside sessions: an idle tick leaves no JobRun, only its check time.
    return _run(
        self, "live_timing", jobs.job_body_get(name="live_timing"), idle_check=live_timing_idle_reason
    )


@shared_task(bind=True, base=JobTask, name="ingestion.tasks.weather_forecasts", autoretry_for=TRANSIENT)
def weather_forecasts(self):
    return _run(self, "weather_forecasts", jobs.job_body_get(name="weather_forecasts"))


@shared_task(
    bind=True, base=JobTask, name="ingestion.tasks.cache_cleanup", time_limit=300, soft_time_limit=280
)
def cache_cleanup(self):
    return _run(self, "cache_cleanup", jobs.job_body_get(name="cache_cleanup"))


@shared_task(bind=True, base=JobTask, name="ingestion.tasks.weather_observed", autoretry_for=TRANSIENT)
def weather_observed(self, seasons: list[int]):
    from ingestion.services.weather_observed import weather_observed_sync

    return _run(self, "weather_observed", lambda: weather_observed_sync(seasons=seasons))


@shared_task(
    bind=True,
    base=JobTask,
    name="ingestion.tasks.races_resync",
    max_retries=resync.RESYNC_LOCK_RETRIES,  # waiting for another Jolpica sync to finish
)
def races_resync(self, race_ids: list[int], run_id: int | None = None):
    """Admin "Resync selected races": the Jolpica sync of these races (ingestion.services.resync)."""
    from ingestion.services.jolpica_sync import SyncAlreadyRunning

    try:
        return resync.races_resync_job(
            race_ids=race_ids,
            run_id=run_id,
            task_id=self.request.id or "",
            give_up=self.request.is_eager or self.request.retries >= self.max_retries,
        )
    except SyncAlreadyRunning as exc:  # another sync holds the Jolpica lock: wait for it
        raise self.retry(exc=exc, countdown=resync.RESYNC_LOCK_RETRY_SECONDS) from None


def job_enqueue(*, name: str):
    """Send a job's task now and return its AsyncResult; `QueueUnavailable` (f1site.celery) when the
    broker does not take it within the enqueue budget (a couple of seconds, not Celery's ~19 s).

    Sent at once, not on commit: the callers (admin "run now", `run_job --enqueue`) write nothing the
    job needs, and only a send made here can tell them whether it was queued (an on-commit send with
    `robust=True` swallowed the error and the admin said "Queued" anyway). A caller whose own
    uncommitted writes the job must see should call this from `transaction.on_commit` itself.

    Goes through the registered task's `apply_async`, which honours CELERY_TASK_ALWAYS_EAGER: in the
    embedded mode (no REDIS_URL, memory:// broker, no worker) the job then runs here, in-process,
    and leaves its JobRun; its exceptions propagate to the caller.
    """
    from f1site.celery import task_publish

    spec = jobs.job_spec_get(name=name)
    options = {"expires": spec.expires_seconds} if spec.expires_seconds else {}
    return task_publish(name=spec.task, **options)


def job_enqueue_runs_inline() -> bool:
    """True when job_enqueue runs the job here and now (CELERY_TASK_ALWAYS_EAGER, the embedded mode)."""
    from f1site.celery import app

    return bool(app.conf.task_always_eager)
