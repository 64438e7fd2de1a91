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
