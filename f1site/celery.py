"""The Celery app. Broker/result backend come from settings (REDIS_URL by default; eager without it).

Run a worker:  celery -A f1site worker -l info      (any number, on any machines)
Run the beat:  celery -A f1site beat -l info        (exactly one: a second one refuses to start)
"""

from __future__ import annotations

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")

import f1site.observability  # noqa: F401 - connects job metrics, task log context, worker logging

app = Celery("pitwall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class JobTask(Task):
    """Base for pipeline tasks: late ack + re-queue if the worker dies; retries (for the exceptions a
    task lists in `autoretry_for`) back off exponentially with jitter, 30 s up to 10 min. Time limits
    come from CELERY_TASK_(SOFT_)TIME_LIMIT unless a task sets its own."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    max_retries = 3
    retry_backoff = 30
    retry_backoff_max = 600
    retry_jitter = True

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
