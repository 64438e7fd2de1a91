"""Admin "Resync selected races" with a real Redis broker and a real `celery worker` process.

Before the fix the action ran the Jolpica sync inside the POST (46 races: 43.5 s at 4/s, past
gunicorn's 30 s timeout). Now the request records a JobRun and queues the sync on commit; the worker
runs it. The requests commit (no pytest-django transaction, `committing_db`): the send runs on
commit, and in a test transaction it would run only after the action had answered, hiding a refusal.
The tests clean up what they wrote (the user, the job runs, the sync runs).
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from f1site.celery import app
from ingestion.models import JobRun, JobStatus, Race, SyncRun
from tests.brokers import broker_url, closed_port
from tests.workers import celery_worker, wait_until

pytestmark = pytest.mark.slow


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


@pytest.fixture(scope="module")
def staff(committing_db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser(
        username=f"marshal-{uuid.uuid4().hex[:6]}", password="correct-horse-battery-staple"
    )
    sync_runs_before = SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    client = Client()
    client.force_login(user)
    try:
        yield client
    finally:
        JobRun.objects.filter(job="races_resync").delete()
        SyncRun.objects.filter(pk__gt=sync_runs_before).delete()
        user.delete()


@pytest.fixture(scope="module")
def worker(staff, mirror_server):
    """A worker on the default queue (this test Redis database's own), syncing from the mirror."""
    mirror_server.reset()
    with app.connection_for_write() as conn:
        conn.SimpleQueue(app.conf.task_default_queue).clear()
    with celery_worker(
        queue=app.conf.task_default_queue,
        concurrency=1,
        env={"ERGAST_API_BASE": mirror_server.ergast, "ERGAST_RATE_LIMIT": ""},
        show_log=True,
    ) as proc:
        yield proc


def test_resync_is_queued_and_the_worker_runs_the_sync(staff, worker):
    races = [Race.objects.get(slug="2021_uae"), Race.objects.get(season_id=2022, round=1)]
    response = staff.post(
        reverse("admin:ingestion_race_changelist"),
        {"action": "resync_race", "_selected_action": [r.pk for r in races]},
        follow=True,
    )
    assert response.status_code == 200
    run = JobRun.objects.get(job="races_resync")
    ((level, text),) = _messages(response)
    assert level == "success", text
    assert text.startswith("Queued: resync of 2021 rounds [22], 2022 rounds [1] from Jolpica. ")
    assert reverse("admin:ingestion_jobrun_change", args=[run.pk]) in text

    finished = wait_until(
        lambda: JobRun.objects.filter(pk=run.pk).exclude(status=JobStatus.RUNNING).first(),
        timeout=120,
        what="the worker to finish the resync",
    )
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.worker and not finished.worker.endswith(f":{os.getpid()}")  # not this process
    seasons = finished.counts["seasons"]
    assert {s: e["rounds"] for s, e in seasons.items()} == {"2021": [22], "2022": [1]}
    for season, entry in seasons.items():
        sync_run = SyncRun.objects.get(pk=entry["sync_run"])
        assert sync_run.params["seasons"] == [int(season)] and sync_run.status == entry["status"]
    assert staff.get(reverse("admin:ingestion_jobrun_change", args=[run.pk])).status_code == 200


def test_resync_with_the_broker_refusing_says_not_queued(staff):
    race = Race.objects.get(slug="2021_uae")
    before = set(JobRun.objects.filter(job="races_resync").values_list("pk", flat=True))
    port = closed_port()
    with broker_url(f"redis://127.0.0.1:{port}/0"):
        response = staff.post(
            reverse("admin:ingestion_race_changelist"),
            {"action": "resync_race", "_selected_action": [race.pk]},
            follow=True,
        )
    assert response.status_code == 200
    ((level, text),) = _messages(response)
    assert level == "error", text
    assert text.startswith(
        f"NOT queued: resync of 2021 rounds [22]: the broker (redis://127.0.0.1:{port}) did not take"
    ), text
    assert "Queued" not in text
    (run,) = JobRun.objects.filter(job="races_resync").exclude(pk__in=before)
    assert run.status == JobStatus.FAILED and run.error.startswith("could not queue the job: ")
