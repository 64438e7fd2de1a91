"""Scheduled jobs: the registry, the per-job Redis lock, JobRun recording, beat seeding and maintenance.

Every Celery task in the pipeline is `job_run_execute(job=..., func=...)` around a service call:

* a lock per job (Redis `SET NX PX`, token-checked release) means a job never runs twice at once,
  whatever the number of workers; while the job runs a heartbeat thread renews the lock every
  TTL/3, so a worker killed mid-task frees the lock within `JOB_LOCK_TTL` seconds (no stale lock);
* every trigger leaves a JobRun: `succeeded` / `failed` with the error, or `skipped` when the lock is
  held by another live run (or the job found nothing to do); a RUNNING row left by a dead worker
  is marked `interrupted` by the next run that takes the lock, and a run stopped by a worker
  shutdown (SystemExit) is recorded `interrupted` itself. A Celery task that finds the lock held
  by a run that is gone (dead pid on this host, or the task is a redelivery after its worker
  died) retries once the lock expires instead of recording a skip (`JobLockStale`,
  `JobTask.run_job`). The exception is an idle tick of a
  frequent job (`idle_check`, e.g. the 30-second live-timing job outside sessions): it leaves no row
  (2,880 a day of noise otherwise), only the time of the last check in the cache (`job_checks_get`);
* the schedule is seeded into django-celery-beat's tables (UTC crontabs); a job's row is found by
  PeriodicTask.name or, once staff renamed it, by its task path, so re-running the seed (every
  deploy's `migrate`, `run_job --seed-schedule`) never duplicates and never overwrites a staff edit.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.core.cache import cache as django_cache
from django.utils import timezone

from f1site.errors import PicklableError
from ingestion.models import JobRun, JobStatus
from ingestion.services.job_guard import JobLockLost, job_lock_current, job_step_check
from ingestion.services.periodic import Periodic
from ingestion.services.stale_runs import job_runs_stale_close_quietly, run_heartbeat
from ingestion.services.sync_lock import LockWaitNotice
from ingestion.services.sync_runs import sync_interrupted_reason, sync_runs_stale_close_quietly

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class JobSpec:
    name: str
    task: str
    description: str
    crontab: dict = field(default_factory=dict)  # minute / hour / day_of_week (UTC)
    interval_seconds: int | None = None
    expires_seconds: int | None = None  # a message older than this is discarded, never replayed


def job_specs() -> tuple[JobSpec, ...]:
    """The seeded schedule (times UTC). Staff may edit the rows in admin afterwards."""
    return (
        JobSpec(
            name="daily_results_sync",
            task="ingestion.tasks.daily_results_sync",
            description="Incremental Jolpica results + standings sync, then the post-race step "
            "(score, retrain, refresh predictions, invalidate caches) for newly completed races, and "
            "the post-qualifying predictions the live job did not make",
            crontab={"minute": "0", "hour": "6"},
        ),
        JobSpec(
            name="weekly_full_sync",
            task="ingestion.tasks.weekly_full_sync",
            description="Full current-season sync, the post-qualifying predictions the live job did "
            "not make, model evaluation report, pruning of old job runs, expired live snapshots and "
            "old model artifacts",
            crontab={"minute": "0", "hour": "2", "day_of_week": "0"},
        ),
        JobSpec(
            name="live_timing",
            task="ingestion.tasks.live_timing_poll",
            description="OpenF1 live timing while a session of the current weekend is in progress; "
            "post-session results ingestion",
            interval_seconds=settings.LIVE_POLL_INTERVAL,
            expires_seconds=settings.LIVE_POLL_INTERVAL,
        ),
        JobSpec(
            name="weather_forecasts",
            task="ingestion.tasks.weather_forecasts",
            description="Open-Meteo forecasts for the upcoming races' circuits and session times",
            crontab={"minute": "15", "hour": "*/6"},
        ),
        JobSpec(
            name="cache_cleanup",
            task="ingestion.tasks.cache_cleanup",
            description="Clear expired entries the stores do not expire by themselves "
            "(sessions, skipped job runs)",
            crontab={"minute": "30", "hour": "3"},
        ),
    )


def job_name_for_task(*, task: str, default: str) -> str:
    """The job a PeriodicTask runs, by its task path: JobRun.job keeps the job's own name even when
    staff renamed the PeriodicTask in admin ("cache_cleanup" -> "Nightly cache cleanup")."""
    for spec in job_specs():
        if spec.task == task:
            return spec.name
    return default


def job_spec_get(*, name: str) -> JobSpec:
    for spec in job_specs():
        if spec.name == name:
            return spec
    raise KeyError(f"Unknown job {name!r}; known: {', '.join(s.name for s in job_specs())}")


# ---------------------------------------------------------------------------------------- locks
@cache
def redis_client_for(url: str, *, timeout: float = 5):
    """One client per URL (and timeout) per process (the job locks' and the liveness keys' Redis),
    short timeouts: 5 s for the locks and heartbeats of the worker and the beat; the liveness reads
    someone waits on (/health, jobs/status) pass a shorter one (`liveness.pipeline_liveness_get`)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
    "else return 0 end"
)


class JobLock:
    """A lock with an expiry, in Redis (JOB_LOCK_REDIS_URL / REDIS_URL) or, embedded, the local cache.

    `heartbeat()` renews it in a daemon thread until the block exits; a process that dies stops
    renewing, so the lock expires `ttl` seconds later at most.
    """

    def __init__(self, name: str, *, ttl: int | None = None):
        self.key = f"pitwall:joblock:{name}"
        self.ttl = int(ttl or settings.JOB_LOCK_TTL)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        url = settings.JOB_LOCK_REDIS_URL
        self._redis = redis_client_for(url) if url else None

    def acquire(self) -> bool:
        if self._redis is not None:
            return bool(self._redis.set(self.key, self.token, nx=True, px=self.ttl * 1000))
        return django_cache.add(self.key, self.token, self.ttl)

    def take_over(self, *, from_holder: str) -> bool:
        """Acquire the lock if it is still held by `from_holder` (a holder known to be dead) or free."""
        if self._redis is not None:
            self._redis.eval(_RELEASE, 1, self.key, from_holder)
        elif django_cache.get(self.key) == from_holder:
            django_cache.delete(self.key)
        return self.acquire()

    def holder(self) -> str | None:
        if self._redis is not None:
            value = self._redis.get(self.key)
            return value.decode() if value else None
        return django_cache.get(self.key)

    def remaining_seconds(self) -> float:
        """Seconds until the lock expires (its full TTL if unknown, 0 if it is free)."""
        if self._redis is not None:
            ms = self._redis.pttl(self.key)
            if ms == -2:  # no such key
                return 0.0
            return ms / 1000 if ms >= 0 else float(self.ttl)
        ttl = getattr(django_cache, "ttl", None)  # django-redis has one; LocMemCache does not
        if callable(ttl):
            value = ttl(self.key)
            if isinstance(value, int | float) and value >= 0:
                return float(value)
        return float(self.ttl)

    def extend(self) -> bool:
        if self._redis is not None:
            return bool(self._redis.eval(_EXTEND, 1, self.key, self.token, self.ttl * 1000))
        if django_cache.get(self.key) == self.token:
            return django_cache.touch(self.key, self.ttl)
        return False

    def release(self) -> None:
        if self._redis is not None:
            self._redis.eval(_RELEASE, 1, self.key, self.token)
        elif django_cache.get(self.key) == self.token:
            django_cache.delete(self.key)

    def heartbeat(self) -> Periodic:
        """Renew the lock every third of its TTL while the job runs (`with lock.heartbeat(): ...`)."""

        def extend() -> None:
            if not self.extend():
                # the body's next step boundary re-takes it if free, else stops (job_guard)
                logger.error("job lock lost while running", extra={"lock": self.key})

        return Periodic(
            name=f"heartbeat:{self.key}",
            interval=max(0.5, self.ttl / 3),
            tick=extend,
            log_extra={"lock": self.key},
        )


# ------------------------------------------------------------------------------------ execution
def worker_name() -> str:
    """`host:pid`, as recorded on the job runs this process claims (and judged by the stale-run sweep)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_holder_alive(holder: str | None) -> bool | None:
    """Whether the process named by a lock token (`host:pid:uuid`) is alive: True / False, or None
    when that cannot be told from here (another host, or a token of another shape)."""
    parts = (holder or "").split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname():
        return None
    try:
        pid = int(parts[1])
    except ValueError:
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return None
    return True


def _holder_pid_is_ours(holder: str) -> bool:
    parts = holder.split(":")
    return len(parts) >= 3 and parts[0] == socket.gethostname() and parts[1] == str(os.getpid())


class JobLockStale(PicklableError):
    """The job's lock is held by a run that is gone (its process is dead, or this is the redelivery
    of a task whose worker died): the caller should try again once the lock has expired instead of
    recording a skip, or the interrupted run would not be redone until the next schedule."""

    def __init__(self, job: str, holder: str, retry_in: float):
        super().__init__(f"{job}: lock held by {holder}, which is gone; it expires in {retry_in:.1f}s")
        self.job = job
        self.holder = holder
        self.retry_in = retry_in


class JobLockUnavailable(PicklableError, RuntimeError):
    """The job lock's store (Redis) did not answer: the job is not run (it could run twice at once),
    and the trigger is recorded as a failed JobRun (`job_run`) so the status pages and the
    `job_failing` alert see it."""

    def __init__(self, job: str, error: BaseException, run_id: int | None):
        where = f"; recorded as JobRun {run_id}" if run_id else "; no JobRun recorded (database unavailable)"
        super().__init__(f"job lock unavailable, not run: {type(error).__name__}: {error}{where}")
        self.job = job
        self.run_id = run_id


# The error of a trigger recorded `skipped` because another run held the job's lock (`run_job`
# tells it from a run that skipped itself, e.g. nothing to do, by this prefix).
ALREADY_RUNNING = "already running"
JOB_LOCK_WAIT_POLL_SECONDS = 1.0

INTERRUPTED_BY_DEATH = (
    "the worker stopped before the run finished (killed or lost); what it had not committed was "
    "rolled back, steps it had committed (e.g. whole races of a sync) were kept"
)
# "{reason}" is `sync_runs.sync_interrupted_reason`: a worker's SIGTERM (SystemExit) or Ctrl-C at
# `run_job` (KeyboardInterrupt; a prefork pool child ignores SIGINT, so no worker sees one).
INTERRUPTED_BY_SHUTDOWN = "{reason}; steps it had committed were kept"


def job_check_key(job: str) -> str:
    """The cache key of a job's last check (`job_check_record`)."""
    return f"pitwall:jobcheck:{job}"


def job_check_record(*, job: str, at: datetime, reason: str) -> None:
    """Remember an idle check: one cache entry per job, overwritten by every check (never appended)."""
    django_cache.set(
        job_check_key(job),
        {"at": at.isoformat(), "reason": reason},
        timeout=settings.JOB_RUN_RETENTION_DAYS * 86400,
    )


def job_checks_get(*, jobs: list[str]) -> dict[str, datetime]:
    """When each job last found nothing to do (idle ticks leave no JobRun); jobs never idle are absent."""
    found = django_cache.get_many([job_check_key(j) for j in jobs]) or {}
    checks = {}
    for job in jobs:
        entry = found.get(job_check_key(job))
        if isinstance(entry, dict) and entry.get("at"):
            checks[job] = datetime.fromisoformat(entry["at"])
    return checks


def job_run_execute(
    *,
    job: str,
    func: Callable[[], dict | None],
    task_id: str = "",
    lock_ttl: int | None = None,
    idle_check: Callable[[], str | None] | None = None,
    redelivered: bool = False,
    retry_if_stale: bool = False,
    lock_wait: float = 0.0,
    on_lock_wait: LockWaitNotice | None = None,
) -> JobRun | None:
    """Run `func` under the job's lock and record it as a JobRun. Exceptions are recorded, then re-raised.

    `func` returns the counts to record; `{"skipped": "<reason>"}` records the run as skipped; a
    `"partial"` list of messages (work left undone, e.g. the live job's session with a car it could
    not place) is recorded as the run's `error` ("partial: …") on a `succeeded` run.
    `idle_check`, run under the lock before any row is written, returns why there is nothing to do
    (or None): then `func` is not called, no JobRun is created (None is returned) and only the time
    of the check is kept (`job_check_record`). A trigger that finds the lock held by a live run is
    recorded as skipped. With `retry_if_stale` (a Celery task that can still retry), a lock whose
    holder is gone — its process is dead on this host, or this is a redelivered message
    (`redelivered`: the worker that had it died) and the holder is not a live process here — raises
    `JobLockStale` (nothing recorded) so the task retries once the lock has expired.
    A SystemExit (the worker shutting down) or KeyboardInterrupt (Ctrl-C at `run_job`) is recorded as
    `interrupted`, with that reason (`sync_runs.sync_interrupted_reason`).
    When the lock's Redis does not answer, the job is not run: a `failed` JobRun records it (if the
    database answers) and `JobLockUnavailable` is raised.
    `lock_wait` (`run_job --wait`; the tasks never pass it, they retry instead): a lock held by
    another run is asked for again every JOB_LOCK_WAIT_POLL_SECONDS for up to that many seconds
    before the trigger is recorded as skipped; `on_lock_wait` is told when that wait begins (one line
    naming the holder's token and the bound: `run_job` prints it on stderr).
    """
    lock = JobLock(job, ttl=lock_ttl)
    started = timezone.now()
    deadline = time.monotonic() + lock_wait
    try:
        acquired = lock.acquire()
        if not acquired and lock_wait > 0 and on_lock_wait is not None:
            on_lock_wait(
                f"Waiting up to {round(lock_wait)}s for the {job} job lock: {ALREADY_RUNNING} "
                f"(lock held by {lock.holder() or '?'})"
            )
        while not acquired and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(JOB_LOCK_WAIT_POLL_SECONDS, left))
            acquired = lock.acquire()
    except Exception as exc:  # Redis down: record the failure where operators look, then raise
        raise _lock_unavailable(job=job, error=exc, task_id=task_id, started=started) from exc
    if lock_wait:
        started = timezone.now()  # the run starts when the wait ends
    if not acquired:
        holder = lock.holder() or "?"
        alive = lock_holder_alive(holder)
        gone = alive is False or (redelivered and (alive is None or _holder_pid_is_ours(holder)))
        if gone and retry_if_stale:
            retry_in = lock.remaining_seconds()
            logger.warning(
                "job lock held by a run that is gone; retrying after it expires",
                extra={"job": job, "holder": holder, "retry_in": retry_in, "redelivered": redelivered},
            )
            raise JobLockStale(job, holder, retry_in)
        logger.info("job already running; skipped", extra={"job": job, "holder": holder})
        return JobRun.objects.create(
            job=job,
            task_id=task_id or "",
            status=JobStatus.SKIPPED,
            started_at=started,
            finished_at=started,
            duration_seconds=0.0,
            error=f"{ALREADY_RUNNING} (lock held by {holder})"
            + (", but that run is gone: not retried (no retries left)" if gone else ""),
            worker=worker_name(),
        )
    clock = time.monotonic()
    run = None
    try:
        # We hold the lock, so any RUNNING row of this job belongs to a run whose worker died.
        JobRun.objects.filter(job=job, status=JobStatus.RUNNING).update(
            status=JobStatus.INTERRUPTED,
            finished_at=started,
            error=INTERRUPTED_BY_DEATH,
        )
        done = _succeeded_run_of(job=job, task_id=task_id)
        if done is not None:
            # The same message again after its run succeeded: its ack was lost with a broker
            # connection (the job finished through the blip, CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_
            # ON_CONNECTION_LOSS off) and Redis redelivered it after the visibility timeout. A retrain
            # or a refresh is not worth doing twice; a retry after a failure still runs (review).
            logger.info("redelivered message of a succeeded run; skipped", extra={"job": job, "run": done})
            return JobRun.objects.create(
                job=job,
                task_id=task_id,
                status=JobStatus.SKIPPED,
                started_at=started,
                finished_at=started,
                duration_seconds=0.0,
                error=f"already ran: this message was redelivered after JobRun {done} succeeded",
                worker=worker_name(),
            )
        reason = idle_check() if idle_check is not None else None
        if reason:
            job_check_record(job=job, at=started, reason=reason)
            return None
        run = JobRun.objects.create(
            job=job,
            task_id=task_id or "",
            status=JobStatus.RUNNING,
            started_at=started,
            worker=worker_name(),
            heartbeat_at=started,
        )
        # the run's heartbeat, for the stale-run sweep; the lock checked at the body's step boundaries
        with (
            lock.heartbeat(),
            run_heartbeat(run_id=run.pk),
            job_lock_current(job=job, lock=lock, run_id=run.pk),
        ):
            counts = func() or {}
        skipped = counts.get("skipped") if isinstance(counts, dict) else None
        run.status = JobStatus.SKIPPED if skipped else JobStatus.SUCCEEDED
        run.counts = counts
        partial = counts.get("partial") if isinstance(counts, dict) else None
        if partial and not skipped:  # done, but not all of it (JobStatus has no `partial`): say what
            run.error = ("partial: " + "; ".join(str(p) for p in partial))[:4000]
        return run
    except (SystemExit, KeyboardInterrupt) as exc:  # the worker shutting down (SIGTERM), ^C at run_job
        if run is not None:
            run.status = JobStatus.INTERRUPTED
            run.error = INTERRUPTED_BY_SHUTDOWN.format(reason=sync_interrupted_reason(exc))
            exc.job_run_id = run.pk
        raise
    except JobLockLost as exc:  # frozen past JOB_LOCK_TTL and another run took the lock: stopped
        if run is not None:
            run.status = JobStatus.INTERRUPTED
            run.error = str(exc)[:4000]
            if isinstance(getattr(exc, "job_counts", None), dict):  # steps that ran before it
                run.counts = exc.job_counts
            exc.job_run_id = run.pk
        raise
    except BaseException as exc:  # SoftTimeLimitExceeded is recorded too
        if run is not None:
            run.status = JobStatus.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:4000]
            if isinstance(getattr(exc, "job_counts", None), dict):  # steps that ran before it
                run.counts = exc.job_counts
            exc.job_run_id = run.pk
        raise
    finally:
        if run is not None:
            run.finished_at = timezone.now()
            run.duration_seconds = round(time.monotonic() - clock, 3)
            run.save(update_fields=["status", "counts", "error", "finished_at", "duration_seconds"])
        lock.release()


def _succeeded_run_of(*, job: str, task_id: str) -> int | None:
    """The id of a succeeded run of this job for this Celery message, if any (no task id: none)."""
    if not task_id:
        return None
    return (
        JobRun.objects.filter(job=job, task_id=task_id, status=JobStatus.SUCCEEDED)
        .values_list("pk", flat=True)
        .first()
    )


def _lock_unavailable(*, job: str, error: Exception, task_id: str, started: datetime) -> JobLockUnavailable:
    """A failed JobRun for a trigger whose lock could not be asked for (when the database answers)."""
    run_id = None
    message = f"job lock unavailable, not run: {type(error).__name__}: {error}"
    try:
        run_id = JobRun.objects.create(
            job=job,
            task_id=task_id or "",
            status=JobStatus.FAILED,
            started_at=started,
            finished_at=timezone.now(),
            duration_seconds=0.0,
            error=message[:4000],
            worker=worker_name(),
        ).pk
    except Exception as db_error:  # the database is down too: the caller still gets the lock's error
        logger.error("could not record the failed job run", extra={"job": job, "error": str(db_error)})
    logger.error("job lock unavailable; job not run", extra={"job": job, "error": str(error)})
    return JobLockUnavailable(job, error, run_id)


# --------------------------------------------------------------------------------- beat seeding
def beat_schedule_seed(*, apps=None) -> dict:
    """Create the PeriodicTask rows of `job_specs()` that do not exist yet. Idempotent.

    A job's row is found by its name or by its task path (each job has its own task, which admin
    shows but staff have no reason to change): a row staff renamed ("cache_cleanup" -> "Nightly
    cache cleanup") is the job's row, not a missing one, so re-seeding does not add a second row
    sending the same task at the same time (`renamed` lists such rows). Existing rows are left
    alone so a staff edit survives deploys. `apps` is the migration state registry when called
    from a data migration.
    """
    from django.db.models import Q

    if apps is None:
        from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks
    else:
        CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
        IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    created, kept, renamed = [], [], {}
    for spec in job_specs():
        rows = PeriodicTask.objects.filter(Q(name=spec.name) | Q(task=spec.task))
        names = list(rows.order_by("id").values_list("name", flat=True))
        if names:
            kept.append(spec.name)
            if spec.name not in names:
                renamed[spec.name] = names[0]
            continue
        kwargs = {}
        if spec.interval_seconds:
            interval = IntervalSchedule.objects.filter(every=spec.interval_seconds, period="seconds").first()
            kwargs["interval"] = interval or IntervalSchedule.objects.create(
                every=spec.interval_seconds, period="seconds"
            )
        else:
            cron = {
                "minute": spec.crontab.get("minute", "0"),
                "hour": spec.crontab.get("hour", "*"),
                "day_of_week": spec.crontab.get("day_of_week", "*"),
                "day_of_month": "*",
                "month_of_year": "*",
                "timezone": "UTC",
            }
            row = CrontabSchedule.objects.filter(**cron).first()
            kwargs["crontab"] = row or CrontabSchedule.objects.create(**cron)
        PeriodicTask.objects.create(
            name=spec.name,
            task=spec.task,
            description=spec.description,
            expire_seconds=spec.expires_seconds,
            enabled=True,
            **kwargs,
        )
        created.append(spec.name)
    if created:
        # Tell a running DatabaseScheduler to reload (the model signal does not fire for
        # historical models inside migrations).
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
    result = {"created": created, "kept": kept}
    if renamed:
        result["renamed"] = renamed
    return result


# ------------------------------------------------------------------------------- single beat
def _beat_scheduler_base():
    from django_celery_beat.schedulers import DatabaseScheduler

    return DatabaseScheduler


class BeatAlreadyRunning(RuntimeError):
    pass


class SingleBeatScheduler(_beat_scheduler_base()):
    """django-celery-beat's DatabaseScheduler that holds a Redis lock while it runs.

    A second beat (e.g. started by mistake on another machine) finds the lock held and exits at
    start-up instead of sending every job twice. The lock is renewed every third of `lock_ttl`
    (JOB_LOCK_TTL, 60 s) and expires `lock_ttl` seconds after the beat process dies, so a
    replacement can take over; on the same host a replacement takes over at once when the holder's
    pid is gone.

    A Redis outage does not end the beat: a renewal that cannot reach Redis is logged, and from then
    on the beat sends nothing (the lock is not known to be held: another beat may take it over once
    it expires) and asks again every `LOCK_RETRY_SECONDS`; once Redis answers it confirms its lock
    (or takes it again if it expired and nobody took it) and resumes. A lock another beat holds by
    then ends this beat, as at start-up.
    """

    lock_ttl: int | None = None  # None: settings.JOB_LOCK_TTL
    LOCK_RETRY_SECONDS = 2.0

    def setup_schedule(self):
        self._beat_lock = JobLock("celery-beat", ttl=self.lock_ttl)
        self.lock_ttl = self._beat_lock.ttl
        self._beat_lock_renewed = 0.0
        self._beat_lock_held = True
        if not self._beat_lock.acquire():
            holder = self._beat_lock.holder() or ""
            # A beat killed uncleanly on this host leaves its lock for up to lock_ttl: a restart (e.g.
            # honcho bringing the stack back up) would refuse to start, and under honcho take the web
            # and worker down with it. A holder whose pid is gone here is dead: take its lock over.
            if not (lock_holder_alive(holder) is False and self._beat_lock.take_over(from_holder=holder)):
                raise BeatAlreadyRunning(
                    f"another celery beat holds the beat lock ({holder or '?'}); run exactly one beat"
                )
            logger.warning("took over the beat lock of a dead beat process", extra={"holder": holder})
        try:
            super().setup_schedule()
        except BaseException:
            self._beat_lock.release()
            raise
        self._liveness_written = 0.0
        self._liveness_beat()

    def _beat_lock_renew(self) -> bool:
        """Renew (or re-take) the beat lock: True when it is held. Redis unreachable: False, logged
        (the beat keeps running and sends nothing until a later tick gets an answer). Another beat
        holding it: BeatAlreadyRunning (exactly one beat)."""
        try:
            held = self._beat_lock.extend() or self._beat_lock.acquire()
        except Exception as exc:  # redis ConnectionError / TimeoutError: an outage, not a rival
            if self._beat_lock_held:
                logger.warning(
                    "beat lock not renewed: Redis unreachable; sending nothing until it answers",
                    extra={"lock": self._beat_lock.key, "error": f"{type(exc).__name__}: {exc}"},
                )
            self._beat_lock_held = False
            return False
        if not held:
            try:
                holder = self._beat_lock.holder() or "?"
            except Exception:
                holder = "?"
            raise BeatAlreadyRunning(f"lost the beat lock to another beat process ({holder})")
        if not self._beat_lock_held:
            logger.warning(
                "beat lock held again: Redis answers; resuming", extra={"lock": self._beat_lock.key}
            )
        self._beat_lock_held = True
        self._beat_lock_renewed = time.monotonic()
        return True

    def _liveness_beat(self) -> None:
        """The beat's heartbeat for /health and jobs/status, at most every LIVENESS_HEARTBEAT_SECONDS."""
        from ingestion.services.liveness import beat_heartbeat_record

        if time.monotonic() - self._liveness_written < settings.LIVENESS_HEARTBEAT_SECONDS:
            return
        try:
            beat_heartbeat_record(holder=self._beat_lock.token)
            self._liveness_written = time.monotonic()
        except Exception:  # Redis away: the lock renewal decides whether beat goes on; this is a report
            logger.warning("beat heartbeat not written", exc_info=True)

    def tick(self, *args, **kwargs):
        renew = not self._beat_lock_held or time.monotonic() - self._beat_lock_renewed > self.lock_ttl / 3
        if renew and not self._beat_lock_renew():
            return self.LOCK_RETRY_SECONDS  # nothing sent until the lock is known held again
        self._liveness_beat()
        self._stale_runs_sweep()
        self._cache_invalidations_replay()
        return min(super().tick(*args, **kwargs), self.lock_ttl / 3)

    def _stale_runs_sweep(self) -> None:
        """Close the job runs nobody will finish (ingestion.services.stale_runs) and the OpenF1 /
        weather sync runs whose process died (ingestion.services.sync_runs), at most every
        LIVENESS_HEARTBEAT_SECONDS: the automatic path, whether or not anyone reads the status."""
        if time.monotonic() - getattr(self, "_stale_swept", 0.0) < settings.LIVENESS_HEARTBEAT_SECONDS:
            return
        self._stale_swept = time.monotonic()
        job_runs_stale_close_quietly()
        sync_runs_stale_close_quietly()

    def _cache_invalidations_replay(self) -> None:
        """Replay the cache invalidations Redis refused during an outage (f1site.cache), at most every
        LIVENESS_HEARTBEAT_SECONDS, so the stale answers go once Redis is back rather than at the next
        data change. Here, not a scheduled task: no broker, worker or JobRun row needed for one
        indexed read of an empty table."""
        if time.monotonic() - getattr(self, "_cache_replayed", 0.0) < settings.LIVENESS_HEARTBEAT_SECONDS:
            return
        self._cache_replayed = time.monotonic()
        from f1site.cache import cache_invalidations_replay

        try:
            cache_invalidations_replay()  # logs its own failures; this guards the beat from the rest
        except Exception:
            logger.warning("cache invalidation replay failed", exc_info=True)

    def close(self):
        try:
            super().close()
        finally:
            lock = getattr(self, "_beat_lock", None)
            if lock is not None:
                try:
                    lock.release()
                except Exception:  # Redis away: the lock expires by itself within lock_ttl
                    logger.warning("beat lock not released", exc_info=True)
                from ingestion.services.liveness import beat_heartbeat_forget

                try:
                    beat_heartbeat_forget(holder=lock.token)
                except Exception:
                    logger.warning("beat heartbeat not marked stopped", exc_info=True)


# ---------------------------------------------------------------------------------- maintenance
def job_runs_prune(*, now: datetime | None = None) -> dict:
    """Delete job runs older than JOB_RUN_RETENTION_DAYS, and skipped no-op runs older than a day."""
    now = now or timezone.now()
    old, _ = JobRun.objects.filter(
        started_at__lt=now - timedelta(days=settings.JOB_RUN_RETENTION_DAYS)
    ).delete()
    skipped, _ = JobRun.objects.filter(
        status=JobStatus.SKIPPED, started_at__lt=now - timedelta(days=1)
    ).delete()
    return {"job_runs_deleted": old, "skipped_runs_deleted": skipped}


# ------------------------------------------------------------------------------- job bodies
def _current_season(now: datetime) -> int:
    return now.year


def _optional_step(counts: dict, name: str, func: Callable[[], dict]) -> None:
    """Run a step whose failure must not sink the whole job: recorded in counts['errors'] and said
    on the run (counts['partial'] -> its error "partial: <step> failed: …" on a succeeded run; it
    was in the counts alone, so a step failing every day showed nowhere staff look — review)."""
    from ingestion.clients.http import SourceError

    try:
        counts[name] = func()
    except SourceError as exc:
        counts.setdefault("errors", {})[name] = str(exc)[:500]
        counts.setdefault("partial", []).append(f"{name} failed: {str(exc)[:300]}")
        logger.warning("job step failed", extra={"step": name, "error": str(exc)[:500]})


def _jolpica_sync(
    *,
    season: int,
    full: bool,
    now: datetime,
    lock_wait: float = 0.0,
    on_lock_wait: LockWaitNotice | None = None,
) -> tuple[dict, list[str]]:
    """Run the Jolpica sync (incremental, or the whole season); return its summary and changed race ids.
    `now` is the job's clock: the incremental sync's rounds due are those due by it, not by the real
    date (a job run with `now=`, a replay, synced every round dated before today)."""
    from ingestion.services.jolpica_sync import jolpica_sync

    summary = jolpica_sync(
        seasons=[season], incremental=not full, lock_wait=lock_wait, on_lock_wait=on_lock_wait, now=now
    )
    return summary.as_dict(), list(summary.changed_race_ids)


class JolpicaStepLocked(PicklableError):
    """A scheduled job's Jolpica sync did not run: another Jolpica sync (an admin resync, `sync_f1`)
    or a dump load (`load_ergast`) held the sync lock. The job's other steps, which do not need that lock, ran; their counts are
    in `job_counts` and recorded on the JobRun (status failed: the job's main step is not done).
    The Celery task retries the Jolpica part (`jolpica_only=True`) while the lock is held."""

    def __init__(self, *, job: str, counts: dict, cause: str):
        steps = "it alone was retried" if counts.get("steps") else "the job's other steps ran (see counts)"
        super().__init__(f"Jolpica sync not run: {cause}; {steps}")
        self.job = job
        self.job_counts = counts


@dataclass
class _JolpicaStep:
    """How a job's Jolpica sync went: `changed` (the race ids it changed), None when it did not
    run — another sync held the lock, or it failed on a source error no retry mends (`failure`)."""

    changed: list[str] | None = None
    failure: Exception | None = None


def _jolpica_step(
    counts: dict,
    *,
    season: int,
    full: bool,
    now: datetime,
    lock_wait: float = 0.0,
    on_lock_wait: LockWaitNotice | None = None,
) -> _JolpicaStep:
    """The job's Jolpica sync: its summary in counts['jolpica'] and the changed race ids. When it
    does not run — another sync holds the lock, at once or after `lock_wait` seconds (`run_job
    --wait`; counts['jolpica'] = {'skipped': ...}), or it fails on a source error that no retry
    mends, a broken payload or a 404 (counts['jolpica'] = {'failed': ...}) — the caller runs the
    steps that do not need it, then `_jolpica_step_end` raises. A source that is down or rate
    limited raises at once: the task retries the whole job (its steps are idempotent)."""
    from ingestion.clients.http import SourceNotFound, SourcePayloadError
    from ingestion.services.jolpica_sync import SyncAlreadyRunning

    try:
        counts["jolpica"], changed = _jolpica_sync(
            season=season, full=full, now=now, lock_wait=lock_wait, on_lock_wait=on_lock_wait
        )
    except SyncAlreadyRunning as exc:
        logger.warning("job's Jolpica sync deferred: lock held", extra={"error": str(exc)})
        # names the holder: another Jolpica sync or, since it takes the same lock, a dump load
        counts["jolpica"] = {"skipped": "locked", "error": str(exc)}
        return _JolpicaStep()
    except (SourcePayloadError, SourceNotFound) as exc:
        # Before, such a failure ended the job at once: a broken Jolpica answer at 06:00 left the
        # OpenF1 sessions, the weather and the post-race step of the races already pending to the
        # next day (review). They run now; the job still fails, naming it (its SyncRun says more).
        logger.warning(
            "job's Jolpica sync failed; its other steps still run", extra={"error": str(exc)[:500]}
        )
        counts["jolpica"] = {"failed": f"{type(exc).__name__}: {exc}"[:500]}
        return _JolpicaStep(failure=exc)
    return _JolpicaStep(changed=changed)


def _jolpica_step_end(step: _JolpicaStep, *, job: str, counts: dict) -> None:
    """After the job's other steps: raise what kept its Jolpica sync from running, with the counts
    of the steps that ran (recorded on the JobRun, status failed)."""
    if step.failure is not None:
        step.failure.job_counts = counts
        raise step.failure
    if step.changed is None:
        raise JolpicaStepLocked(job=job, counts=counts, cause=counts["jolpica"]["error"])


def races_completed_among(*, race_ids: list[str]) -> list:
    """Races (by slug) among `race_ids` that now have a race classification."""
    from ingestion.models import Race

    return list(
        Race.objects.on_calendar()
        .filter(slug__in=race_ids, results__isnull=False)
        .distinct()
        .order_by("date")
    )


# How far back (besides the whole current season) the daily job looks for races whose post-race
# step or observed weather is missing: in January the previous season's last races still count.
CATCH_UP_DAYS = 60


def _catch_up_races(*, now: datetime):
    """Races run by `now` that have results, of the current season or of the last CATCH_UP_DAYS
    (bounded: the daily job never sweeps the whole history). Only races on the calendar: one
    upstream no longer lists gets no post-race step or observed weather."""
    from django.db.models import Exists, OuterRef, Q

    from ingestion.models import Race, RaceResult

    today = now.date()
    return (
        Race.objects.on_calendar()
        .filter(date__lte=today)
        .filter(Q(season_id=_current_season(now)) | Q(date__gte=today - timedelta(days=CATCH_UP_DAYS)))
        .filter(Exists(RaceResult.objects.filter(race=OuterRef("pk"))))
        .order_by("date", "round")
    )


def races_post_race_pending(*, now: datetime) -> list:
    """Completed races (see `_catch_up_races`) whose post-race step is not done, or must be done
    again. The marker is a RaceAccuracy row: the step always leaves one (it scores the stored
    pre-race prediction, or backfills an honest one first and scores that), so a race committed by a
    run that was then interrupted stays pending until a later run completes its step. A race whose
    result changed after it was scored (`races_rescore_due`: a correction that reached the database
    by any path) is pending again."""
    from django.db.models import Exists, OuterRef

    from predictions.models import RaceAccuracy
    from predictions.services.post_race import races_rescore_due

    races = _catch_up_races(now=now).annotate(scored=Exists(RaceAccuracy.objects.filter(race=OuterRef("pk"))))
    races = list(races)
    rescore = {race.pk for race in races_rescore_due(races=[race for race in races if race.scored])}
    return [race for race in races if not race.scored or race.pk in rescore]


# The daily job asks for a race's observed weather again only while the race is this recent: a feed
# that is still empty after that (2026 Australia, China and Japan have no samples) was asked for
# every morning for the rest of the season. The weekly job asks for the older ones, once a week.
WEATHER_DAILY_RETRY_DAYS = 14


def races_weather_missing(*, now: datetime) -> list:
    """Completed races (see `_catch_up_races`) with no observed weather yet: a fetch that failed
    (or found no samples) is retried by a later run (the daily job's while the race is recent,
    WEATHER_DAILY_RETRY_DAYS, else the weekly job's)."""
    return list(_catch_up_races(now=now).filter(weather__isnull=True))


def _weather_observed_step(counts: dict, *, season: int, races: list, now: datetime) -> None:
    from ingestion.services.weather_observed import weather_observed_sync

    _optional_step(
        counts,
        "weather_observed",
        lambda: weather_observed_sync(
            seasons=sorted({season, *(r.season_id for r in races)}),
            race_ids=[r.slug for r in races],
            now=now,
        ),
    )


def job_daily_results(
    *,
    now: datetime | None = None,
    jolpica_only: bool = False,
    lock_wait: float = 0.0,
    on_lock_wait: LockWaitNotice | None = None,
) -> dict:
    """06:00 UTC: incremental results + standings, observed weather of the completed races that lack
    it, then one post-race step for the newly completed races plus any whose step is still pending
    (an earlier run stopped after committing their results); with no race due, the retrain /
    refresh a step stopped after scoring left undone (`post_race_follow_up`); last, the
    post-qualifying set the live job did not make (`_post_qualifying_step`).

    When another Jolpica sync holds the lock, the other steps still run (OpenF1 sessions, weather and
    the post-race step of the races already pending) and `JolpicaStepLocked` is raised at the end;
    so when the sync fails on a broken payload or a 404, and that error is raised at the end.
    `jolpica_only` (the task's retry of that step): the Jolpica sync and what depends on it — the
    observed weather and post-race step of the races it completed — not the OpenF1 sessions again.
    `lock_wait`: seconds the Jolpica step may wait for the lock first (`run_job --wait`; the task
    retries instead), `on_lock_wait` told when that wait begins. `now` is the job's clock throughout, also for the rounds its incremental sync
    finds due."""
    from ingestion.services.openf1_sessions import openf1_sessions_sync
    from predictions.services.post_race import post_race_follow_up, races_results_process

    now = now or timezone.now()
    season = _current_season(now)
    counts: dict = {"steps": "jolpica_only (retry)"} if jolpica_only else {}
    jolpica = _jolpica_step(
        counts, season=season, full=False, now=now, lock_wait=lock_wait, on_lock_wait=on_lock_wait
    )
    changed = jolpica.changed
    completed = races_completed_among(race_ids=changed or [])
    pending = races_post_race_pending(now=now)
    if not jolpica_only:
        job_step_check(step="openf1_sessions", counts=counts)
        _optional_step(counts, "openf1_sessions", lambda: openf1_sessions_sync(seasons=[season]))
    # the races just completed and the recent ones still without it; older ones: the weekly job
    just_completed = {r.pk for r in completed}
    recent = now.date() - timedelta(days=WEATHER_DAILY_RETRY_DAYS)
    no_weather = [r for r in races_weather_missing(now=now) if r.pk in just_completed or r.date >= recent]
    job_step_check(step="weather_observed", counts=counts)
    _weather_observed_step(counts, season=season, races=no_weather, now=now)
    todo = {r.pk: r for r in [*completed, *pending]}
    counts["post_race_pending"] = [r.slug for r in pending if r.slug not in (changed or [])]
    job_step_check(step="post_race", counts=counts)
    try:
        if todo:  # the whole step, whose retrain and refresh cover any left over from an earlier run
            counts["post_race"] = races_results_process(
                races=sorted(todo.values(), key=lambda r: (r.date, r.round)), as_of=now
            )
        else:
            # A step stopped after scoring (its RaceAccuracy marker is written first) leaves no race
            # pending, yet its retrain / refresh were never done: catch those up ({} when none is due).
            counts["post_race"] = post_race_follow_up(as_of=now)
    except JobLockLost as exc:  # stopped inside the step, before its retrain or refresh
        if not hasattr(exc, "job_counts"):  # the steps before it, recorded on the run
            exc.job_counts = counts
        raise
    job_step_check(step="post_qualifying", counts=counts)
    _post_qualifying_step(counts, now=now, changed=changed)
    _jolpica_step_end(jolpica, job="daily_results_sync", counts=counts)
    return counts


def _post_qualifying_step(counts: dict, *, now: datetime, changed: list[str] | None) -> None:
    """The post-qualifying set the live job did not make (OpenF1 down or late over qualifying):
    queued for the races not started whose qualifying is stored — on a race day this job's sync has
    just brought it — and that have none since qualifying, or whose rows the sync changed
    (`post_qualifying_refresh_catch_up`; {} when none is due). After the post-race step, whose
    refresh of the upcoming races may have made the set already."""
    from predictions.services.refresh import post_qualifying_refresh_catch_up

    counts["post_qualifying"] = post_qualifying_refresh_catch_up(now=now, changed_race_ids=changed or [])


def job_weekly_full(
    *,
    now: datetime | None = None,
    jolpica_only: bool = False,
    lock_wait: float = 0.0,
    on_lock_wait: LockWaitNotice | None = None,
) -> dict:
    """Sunday 02:00 UTC: full current-season sync, observed weather of the completed races still
    without it, the post-qualifying set the live job did not make (`_post_qualifying_step`), model
    evaluation report, maintenance (old job runs, live snapshots, model artifacts beyond
    MODEL_ARTIFACTS_KEEP).

    When another Jolpica sync holds the lock (or the sync fails on a broken payload or a 404), the
    other steps still run and `JolpicaStepLocked` (that error) is raised at the end; `jolpica_only` (the task's retry of that step) runs the sync alone. `lock_wait`
    and `on_lock_wait` as for the daily job."""
    from ingestion.services.live_timing import live_snapshots_prune
    from ingestion.services.openf1_sessions import openf1_sessions_sync
    from predictions.services.backtest import model_evaluation_run

    now = now or timezone.now()
    season = _current_season(now)
    counts: dict = {"steps": "jolpica_only (retry)"} if jolpica_only else {}
    jolpica = _jolpica_step(
        counts, season=season, full=True, now=now, lock_wait=lock_wait, on_lock_wait=on_lock_wait
    )
    changed = jolpica.changed
    if changed is not None:
        counts["races_changed"] = len(changed)
    if jolpica_only:
        _jolpica_step_end(jolpica, job="weekly_full_sync", counts=counts)
        job_step_check(step="post_qualifying", counts=counts)
        _post_qualifying_step(counts, now=now, changed=changed)
        return counts
    job_step_check(step="openf1_sessions", counts=counts)
    _optional_step(counts, "openf1_sessions", lambda: openf1_sessions_sync(seasons=[season]))
    # every completed race of the catch-up window still without observed weather (the daily job
    # asks only the recent ones): a feed filled in late, or an outage longer than the daily window
    job_step_check(step="weather_observed", counts=counts)
    _weather_observed_step(counts, season=season, races=races_weather_missing(now=now), now=now)
    # Sunday 02:00 is before the start of the races the daily job cannot help (a race at 04:00 or
    # 05:00 UTC: Australia, Japan, Las Vegas), and the full sync has just read their qualifying.
    job_step_check(step="post_qualifying", counts=counts)
    _post_qualifying_step(counts, now=now, changed=changed)
    job_step_check(step="maintenance", counts=counts)
    counts["maintenance"] = {
        **job_runs_prune(now=now),
        **live_snapshots_prune(now=now),
        **_model_artifacts_prune(),
    }
    # Last: a backtest that crashes fails the job (its BacktestRun says why), after the upkeep ran.
    job_step_check(step="evaluation", counts=counts)
    counts["evaluation"] = model_evaluation_run(season=season)
    _jolpica_step_end(jolpica, job="weekly_full_sync", counts=counts)
    return counts


def _model_artifacts_prune() -> dict:
    """The weekly share of model-artifact pruning, as counts (the JobRun keeps counts, not lists):
    cheap — a hash of the kept files, an unlink per old one."""
    from predictions.services.pruning import model_artifacts_prune

    summary = model_artifacts_prune()
    counts = {
        "model_artifacts_pruned": len(summary["pruned"]),
        "model_artifact_bytes_freed": summary["bytes_freed"],
    }
    if summary["errors"]:
        counts["model_artifact_errors"] = summary["errors"]
    return counts


def job_cache_cleanup(*, now: datetime | None = None) -> dict:
    """Daily: what no store expires by itself — expired Django sessions and day-old no-op job runs."""
    from django.contrib.sessions.models import Session

    now = now or timezone.now()
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    skipped, _ = JobRun.objects.filter(
        status=JobStatus.SKIPPED, started_at__lt=now - timedelta(days=1)
    ).delete()
    return {"expired_sessions_deleted": sessions, "skipped_runs_deleted": skipped}


# The jobs whose body takes the race-data lock for a step (their Jolpica sync) and so a `lock_wait`.
SYNC_LOCK_JOBS = ("daily_results_sync", "weekly_full_sync")


class JobBusy(PicklableError):
    """`run_job <job>` did not do its work because another run held a lock it needs: the job's own
    lock (another run of the job; the trigger recorded `skipped`), or — the daily / weekly job — the
    race-data lock of its Jolpica sync (another sync or a dump load; the job's other steps ran, the
    run recorded `failed` with their counts, as the task records its last try). `run` is that JobRun."""

    def __init__(self, *, job: str, run: JobRun, reason: str):
        super().__init__(f"{job} not done: {reason} (JobRun {run.pk}, {run.status})")
        self.job = job
        self.run = run
        self.reason = reason


def job_run_by_hand(*, job: str, wait: float = 0.0, on_wait: LockWaitNotice | None = None) -> JobRun:
    """Run a job here and now as `run_job <job>` does: under its lock, recorded as a JobRun, as a
    worker runs it — but a person at a terminal gets no retry, so a lock held by another run raises
    `JobBusy` (at once, or once `wait` seconds have passed: one bound for both the job lock and the
    daily / weekly job's sync lock; `on_wait` is told when a wait for either begins, one line naming
    the holder and what is left of the bound). Other failures raise as `job_run_execute` raises them."""
    deadline = time.monotonic() + wait
    body = job_body_get(name=job)

    def func():
        if job in SYNC_LOCK_JOBS:  # what the job-lock wait left of the bound
            return body(lock_wait=max(0.0, deadline - time.monotonic()), on_lock_wait=on_wait)
        return body()

    try:
        run = job_run_execute(job=job, func=func, lock_wait=wait, on_lock_wait=on_wait)
    except JolpicaStepLocked as exc:
        run = JobRun.objects.get(pk=exc.job_run_id)
        raise JobBusy(job=job, run=run, reason=str(exc)) from exc
    if run.status == JobStatus.SKIPPED and run.error.startswith(ALREADY_RUNNING):
        raise JobBusy(job=job, run=run, reason=run.error)
    return run


def job_body_get(*, name: str) -> Callable[[], dict]:
    """The service function a scheduled job runs (shared by the Celery tasks and `run_job`)."""
    from ingestion.services.live_timing import live_timing_tick
    from ingestion.services.weather_forecast import weather_forecasts_sync

    bodies = {
        "daily_results_sync": job_daily_results,
        "weekly_full_sync": job_weekly_full,
        "live_timing": live_timing_tick,
        "weather_forecasts": weather_forecasts_sync,
        "cache_cleanup": job_cache_cleanup,
    }
    job_spec_get(name=name)  # KeyError naming the known jobs
    return bodies[name]
