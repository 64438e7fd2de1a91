"""A Redis blip of a few seconds while a real worker runs a job: the job finishes and is recorded
once, as succeeded. QA: with `worker_cancel_long_running_tasks_on_connection_loss` on, Celery
killed the running task on the connection loss (JobRun "interrupted: worker shut down", its
SyncRun failed with no reason) and, the Redis transport being unable to restore the unacked
message while Redis was away, the message was gone: the job waited for its next schedule, and a
staff resync or a background regeneration never ran at all.

The worker (and its job lock, result backend and liveness writes) reach the real Redis through a
proxy the test cuts and restores; the test itself talks to Redis directly.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from ingestion.models import JobRun, JobStatus, Season
from tests.brokers import switchable_proxy
from tests.workers import celery_worker, wait_until

pytestmark = pytest.mark.slow
QUEUE = f"pitwall-blip-{uuid.uuid4().hex[:8]}"
JOB = "t-broker-blip"
YEARS = list(range(3031, 3039))


def _cleanup():
    JobRun.objects.filter(job=JOB).delete()
    Season.objects.filter(year__in=YEARS).delete()


def test_a_redis_blip_mid_job_lets_the_job_finish_and_records_it_succeeded(committing_db):
    from tests.ingestion.services.worker_tasks import slow_seasons

    redis = urlsplit(settings.REDIS_URL)
    _cleanup()
    try:
        with switchable_proxy(redis.hostname, redis.port or 6379) as proxy:
            through_proxy = redis._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
            with (
                celery_worker(
                    queue=QUEUE,
                    concurrency=2,  # the Procfile's; at -c 2 a blip could kill the worker (f1site/kombu_redis_fix.py)
                    env={"REDIS_URL": through_proxy, "JOB_LOCK_TTL": "30"},
                    args=("-I", "tests.ingestion.services.worker_tasks"),
                    stop_timeout=3,
                    show_log=True,
                ) as worker
            ):
                slow_seasons.apply_async((JOB, YEARS, 0.5), queue=QUEUE)  # ~4 s in one transaction
                running = wait_until(
                    lambda: JobRun.objects.filter(job=JOB, status=JobStatus.RUNNING).first(),
                    timeout=30,
                    what="the job to start",
                )
                time.sleep(0.5)
                proxy.cut(refuse=True)
                time.sleep(3)
                proxy.restore()
                finished = wait_until(
                    lambda: JobRun.objects.filter(pk=running.pk).exclude(status=JobStatus.RUNNING).first(),
                    timeout=60,
                    what="the run to end",
                )
                assert (finished.status, finished.error) == (JobStatus.SUCCEEDED, "")
                assert worker.poll() is None, "the worker exited over the blip"
                assert sorted(Season.objects.filter(year__in=YEARS).values_list("year", flat=True)) == YEARS
                assert list(JobRun.objects.filter(job=JOB).values_list("status", flat=True)) == [
                    JobStatus.SUCCEEDED
                ]
    finally:
        _cleanup()
