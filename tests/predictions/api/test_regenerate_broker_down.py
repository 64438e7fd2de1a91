"""POST predictions/race/{id} {"background": true} with the Celery broker really down: 503 queue_unavailable.

The broker URL is pointed at a closed local port (a port found free, with nothing listening), so the
publish meets a real connection refusal, not a mock. Like test_regenerate_worker.py the requests
commit (no pytest-django transaction): `send` runs on commit, and in a test transaction it would run
only after the view had answered, hiding the failure; here it runs as in production, inside the
request. The test cleans up what it wrote (staff user, JobRuns, the queued message, the race).
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from django.conf import settings

from f1site.celery import app
from tests.brokers import closed_port
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles
from tests.predictions.api.conftest import committed_staff_client, future_race

TASK = "predictions.tasks.race_predictions_regenerate"
QUEUE = f"pitwall-test-broker-down-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def staff_api(committing_db):
    with committed_staff_client() as client:
        yield client


def _drop_broker_pools(*, close: bool) -> None:
    """Make the next publish connect to the broker URL now configured.

    The app caches its connection and producer pools, built from the URL on first use. kombu keeps
    them in a process-wide registry keyed by URL, so the live broker's pool must be left open when
    switching away (the restore finds it again), and only the dead broker's pool is closed.
    """
    if close and app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker(committing_db):
    """Switch the broker: `broker.down()` points it at a closed port, `broker.up()` restores it.

    The task goes to a queue of its own, deleted afterwards, so no later worker picks the message up.
    """
    import redis

    original = {
        "broker_url": app.conf.broker_url,
        "task_routes": app.conf.task_routes,
        "task_always_eager": app.conf.task_always_eager,
    }
    assert original["broker_url"].startswith("redis://"), "the test needs the Redis broker"

    class Switch:
        is_down = False

        def down(self) -> int:
            port = closed_port()
            url = f"redis://127.0.0.1:{port}/0"
            settings.CELERY_BROKER_URL = url
            app.conf.broker_url = url
            _drop_broker_pools(close=False)
            self.is_down = True
            return port

        def up(self) -> None:
            settings.CELERY_BROKER_URL = original["broker_url"]
            app.conf.broker_url = original["broker_url"]
            _drop_broker_pools(close=True)
            self.is_down = False

    # No publish timeout or retry policy is shortened here: the enqueue budget the endpoint uses in
    # production (JOB_ENQUEUE_TIMEOUT / JOB_ENQUEUE_RETRIES, f1site.celery.task_publish) is under test.
    app.conf.update(
        task_routes={TASK: {"queue": QUEUE}},
        task_always_eager=False,
    )
    switch = Switch()
    try:
        yield switch
    finally:
        if switch.is_down:
            switch.up()
        app.conf.update(**original)
        live = redis.Redis.from_url(original["broker_url"])
        stale = list(live.scan_iter(match=f"*{QUEUE}*"))  # the queue and kombu's binding of it
        if stale:
            live.delete(*stale)


@pytest.mark.django_db
def test_the_app_takes_its_broker_from_settings_and_the_closed_port_refuses():
    # (the django_db mark also makes pytest-django set up the test database when this module runs alone)
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=1)


@pytest.fixture
def race(committing_db):
    """A race still to come on any date (the calendar's last race would get a 409 cannot_predict,
    not a queued job, once it has started)."""
    with future_race() as race:
        yield race


def test_background_post_with_the_broker_down_is_503_recorded_failed_then_succeeds_when_it_is_back(
    staff_api, broker, race
):
    import redis

    from ingestion.models import JobRun, JobStatus

    url = f"/api/v1/predictions/race/{race.slug}"
    runs = JobRun.objects.filter(job=f"predictions_regenerate:{race.pk}")
    before = set(runs.values_list("pk", flat=True))
    try:
        dead_port = broker.down()
        clock = time.monotonic()
        response = staff_api.post(url, {"background": True}, format="json")
        elapsed = time.monotonic() - clock
        assert response.status_code == 503, response.content
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == "queue_unavailable"
        assert body["error"]["message"].startswith("Could not queue the job: ")
        assert elapsed < 10, f"the dead broker took {elapsed:.1f} s to be reported"

        failed = runs.exclude(pk__in=before).get()  # exactly one new job, committed, marked failed
        assert failed.status == JobStatus.FAILED and failed.finished_at is not None
        assert failed.error.startswith("could not queue the job: ")
        assert f"127.0.0.1:{dead_port}" in failed.error  # the refusal came from the dead broker
        assert staff_api.get(f"/api/v1/predictions/jobs/{failed.task_id}").json()["status"] == "failed"

        # The broker is back: the claim was released, so a retry at once is queued (202), not a duplicate.
        broker.up()
        again = staff_api.post(url, {"background": True}, format="json")
        assert again.status_code == 202, again.content
        job = again.json()["job"]
        assert (
            again.json()["duplicate"] is False and job["status"] == "queued" and job["id"] != failed.task_id
        )
        queued = runs.get(task_id=job["id"])
        assert queued.status == JobStatus.RUNNING and not queued.worker and not queued.error
        # The message really reached the (live) broker, on this test's queue.
        assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(QUEUE) == 1
    finally:
        runs.exclude(pk__in=before).delete()
