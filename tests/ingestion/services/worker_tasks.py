"""A task only the test worker loads (`celery worker -I tests.ingestion.services.worker_tasks`): writes a few
rows slowly inside one transaction, under the job lock, so tests can overlap it and kill it."""

from __future__ import annotations

import time

from celery import shared_task
from django.db import transaction

from f1site.celery import JobTask
from ingestion.models import Season


@shared_task(bind=True, base=JobTask, name="tests.ingestion.services.worker_tasks.slow_seasons")
def slow_seasons(self, job: str, years: list[int], delay: float):
    def body() -> dict:
        with transaction.atomic():
            for year in years:
                Season.objects.bulk_create([Season(year=year)], ignore_conflicts=True)
                time.sleep(delay)
        return {"seasons": len(years)}

    run = self.run_job(job, body)
    return {"job_run": run.pk, "status": run.status}


@shared_task(bind=True, base=JobTask, name="tests.ingestion.services.worker_tasks.sleeper")
def sleeper(self, job: str, seconds: float):
    """A long job that writes nothing: the stale-run sweep must leave it alone while its worker lives."""

    def body() -> dict:
        time.sleep(seconds)
        return {"slept": seconds}

    run = self.run_job(job, body)
    return {"job_run": run.pk, "status": run.status}
