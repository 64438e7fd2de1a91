"""The Celery app. Broker/result backend come from settings (REDIS_URL by default; eager without it).

Run a worker:  celery -A f1site worker -l info      (any number, on any machines)
Run the beat:  celery -A f1site beat -l info        (exactly one: a second one refuses to start)
"""

from __future__ import annotations

import os
import time

from celery import Celery, Task
from celery.result import AsyncResult
from django.conf import settings
from kombu.exceptions import KombuError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")

import f1site.observability  # noqa: F401 - connects job metrics, task log context, worker logging
from f1site.kombu_redis_fix import kombu_redis_restore_fix

kombu_redis_restore_fix()  # a worker losing Redis mid-task must not die (f1site/kombu_redis_fix.py)

app = Celery("pitwall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def task_wait_budget(*, task: Task, request) -> float | None:
    """Seconds a task may spend waiting for rate-limit slots (ingestion.clients.ratelimit): its time
    limit (the message's, the task's, else CELERY_TASK_(SOFT_)TIME_LIMIT; the soft one first) less a
    reserve for the work after the last wait — a tenth of it, at least 60 s, at most half. None when
    no limit applies (eager mode runs in-process, unkilled: `run_job`, the embedded set-up)."""
    if getattr(request, "is_eager", False):
        return None
    hard, soft = tuple(getattr(request, "timelimit", None) or (None, None))
    limit = (
        soft
        or getattr(task, "soft_time_limit", None)
        or app.conf.task_soft_time_limit
        or hard
        or getattr(task, "time_limit", None)
        or app.conf.task_time_limit
    )
    if not limit:
        return None
    limit = float(limit)
    return limit - min(max(60.0, limit / 10), limit / 2)


class JobTask(Task):
    """Base for pipeline tasks: late ack + re-queue if the worker dies; retries (for the exceptions a
    task lists in `autoretry_for`) back off exponentially with jitter, 30 s up to 10 min. Time limits
    come from CELERY_TASK_(SOFT_)TIME_LIMIT unless a task sets its own, and bound every rate-limit
    wait inside the task (`task_wait_budget`): a source whose budget is used up fails the task fast
    with the time of its next free slot instead of sleeping until SoftTimeLimitExceeded."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    max_retries = 3
    retry_backoff = 30
    retry_backoff_max = 600
    retry_jitter = True

    def __call__(self, *args, **kwargs):
        from ingestion.clients.ratelimit import rate_wait_deadline

        with rate_wait_deadline(task_wait_budget(task=self, request=self.request)):
            return super().__call__(*args, **kwargs)

    def run_job(self, job: str, func, idle_check=None):
        """`jobs.job_run_execute` for this task. If the job's lock is held by a run that is gone (the
        worker that had this very message was killed: the message is redelivered within a second
        while the dead run's lock lives on for up to JOB_LOCK_TTL), retry once the lock expires
        instead of recording a skip — otherwise the killed run would never be redone."""
        from ingestion.services import jobs

        delivery = self.request.delivery_info or {}
        try:
            return jobs.job_run_execute(
                job=job,
                func=func,
                task_id=self.request.id or "",
                idle_check=idle_check,
                redelivered=bool(delivery.get("redelivered")),
                retry_if_stale=not self.request.is_eager and self.request.retries < (self.max_retries or 0),
            )
        except jobs.JobLockStale as exc:
            raise self.retry(exc=exc, countdown=max(1.0, exc.retry_in + 0.5)) from None


class QueueUnavailable(RuntimeError):
    """The broker did not take a message within the enqueue budget (`task_publish`)."""


def _enqueue_retry_policy() -> dict:
    return {
        "max_retries": settings.JOB_ENQUEUE_RETRIES,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }


def broker_connection_bounded(*, timeout: float | None = None):
    """A broker connection for a caller waiting on the answer (`task_publish`, the health check's
    broker probe), not yet connected. `timeout` (default JOB_ENQUEUE_TIMEOUT) is kombu's
    connect_timeout, which bounds the TCP connect (and AMQP's handshake), and the Redis transport's
    socket_timeout / socket_connect_timeout, which bound each of its reads: without them a broker that
    accepts connections but never answers (a hung Redis) held the caller forever."""
    timeout = settings.JOB_ENQUEUE_TIMEOUT if timeout is None else timeout
    return app.connection_for_write(
        connect_timeout=timeout,
        transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )


def task_publish(*, name: str, args: tuple | list = (), kwargs: dict | None = None, **options) -> AsyncResult:
    """Send task `name` now, for a caller waiting on the answer (admin action, `run_job --enqueue`, an
    API request): fail fast with `QueueUnavailable` instead of hanging in Celery's retries.

    Celery's defaults suit the worker and beat, which can wait (publish retried 3 times, 4 s connect
    timeout each), but with Redis down the web spent ~19 s in the Redis result backend's reconnect
    loop (20 retries, 1 s apart) before failing. Here the publish goes over its own connection with
    JOB_ENQUEUE_TIMEOUT as kombu's connect budget — so the connection is tried once: refused at once,
    hung after the timeout; kombu does not retry its own connection error — and JOB_ENQUEUE_RETRIES
    publish retries (only for a publish failing on an established connection), with `ignore_result`, which
    skips the result-backend subscription altogether: these tasks record their outcome in a JobRun,
    nobody reads their Celery result. The eager mode (CELERY_TASK_ALWAYS_EAGER, the embedded set-up)
    runs the task here as before; its exceptions propagate (CELERY_TASK_EAGER_PROPAGATES).
    """
    task = app.tasks.get(name)
    if app.conf.task_always_eager:
        if task is None:
            # A web process registers a task only once its module is imported (autodiscovery runs
            # at a worker's start): import the apps' task modules, as a worker does, and look again.
            app.loader.import_default_modules()
            task = app.tasks.get(name)
        if task is None:  # send_task would drop it into a broker nobody reads
            raise QueueUnavailable(
                f"{name} is not registered in this process and no worker runs in eager mode"
            )
        return task.apply_async(args, kwargs, **options)
    started = time.monotonic()
    conn = broker_connection_bounded()
    broker = f"{conn.transport_cls}://{conn.host}"  # no credentials in the message
    try:
        with conn:
            send_options = {
                **options,
                "connection": conn,
                "retry": True,
                "retry_policy": _enqueue_retry_policy(),
                "ignore_result": True,
            }
            if task is None:  # not registered in this process: only a worker knows it
                return app.send_task(name, args=args, kwargs=kwargs, **send_options)
            return task.apply_async(args, kwargs, **send_options)
    except (KombuError, OSError) as exc:  # connection refused / timed out, wrapped by kombu or not
        raise QueueUnavailable(
            f"the broker ({broker}) did not take the message "
            f"(gave up after {time.monotonic() - started:.1f} s): {exc}"
        ) from exc
