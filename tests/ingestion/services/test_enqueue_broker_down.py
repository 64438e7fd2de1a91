"""Enqueueing a job while the broker is down fails fast and says so (admin, `run_job --enqueue`).

Real unreachable brokers (tests/brokers.py): a closed local port (connection refused), a port that
accepts and never answers (a hung broker), and Redis down for both the broker and the result
backend (before the fix the web spent ~19 s in the result backend's reconnect loop). The bounds
(< 10 s) are correctness checks against Celery's default retries, not benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from f1site.celery import QueueUnavailable, app
from ingestion.models import JobRun, JobStatus
from tests.brokers import broker_url, closed_port, hung_port, run_bounded
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    settings.CELERY_TASK_ALWAYS_EAGER, reason="needs a real broker (REDIS_URL); eager mode never publishes"
)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


@pytest.mark.django_db
def test_run_now_with_the_broker_refusing_shows_an_error_not_queued(admin_client):
    run = JobRun.objects.create(job="cache_cleanup", status=JobStatus.SUCCEEDED)
    port = closed_port()
    with broker_url(f"redis://127.0.0.1:{port}/0"):
        clock = time.monotonic()
        response = admin_client.post(
            "/admin/ingestion/jobrun/", {"action": "run_now", "_selected_action": [run.pk]}, follow=True
        )
        elapsed = time.monotonic() - clock
    assert response.status_code == 200
    ((level, text),) = _messages(response)
    assert level == "error", text
    assert text.startswith(f"NOT queued: cache_cleanup: the broker (redis://127.0.0.1:{port}) did not take")
    assert "Connection refused" in text and "Queued" not in text
    assert elapsed < 10, f"the refused broker took {elapsed:.1f} s to be reported"


@pytest.mark.django_db
def test_periodic_task_run_selected_with_the_broker_refusing_shows_an_error(admin_client):
    from django_celery_beat.models import PeriodicTask

    from ingestion.services.jobs import beat_schedule_seed

    beat_schedule_seed()
    task = PeriodicTask.objects.get(name="weather_forecasts")
    port = closed_port()
    with broker_url(f"amqp://guest@127.0.0.1:{port}//"):
        clock = time.monotonic()
        response = admin_client.post(
            "/admin/django_celery_beat/periodictask/",
            {"action": "run_tasks", "_selected_action": [task.pk]},
            follow=True,
        )
        elapsed = time.monotonic() - clock
    assert response.status_code == 200
    ((level, text),) = _messages(response)
    assert level == "error" and text.startswith(
        f"NOT queued: weather_forecasts: the broker (amqp://127.0.0.1:{port}) did not take the message"
    ), text
    assert elapsed < 10


@pytest.mark.django_db
def test_run_selected_stops_at_the_first_refusal_and_reports_the_rest_not_queued(admin_client):
    """A hung broker costs JOB_ENQUEUE_TIMEOUT (2 s) per send: 15 tasks one after another outlasted
    gunicorn's 30 s timeout. The broker is down for all of them: the first refusal ends the action."""
    from django_celery_beat.models import PeriodicTask

    from ingestion.services.jobs import beat_schedule_seed

    beat_schedule_seed()
    tasks = list(PeriodicTask.objects.order_by("name"))
    assert len(tasks) >= 4
    with hung_port() as port, broker_url(f"redis://127.0.0.1:{port}/0"):
        clock = time.monotonic()
        response = admin_client.post(
            "/admin/django_celery_beat/periodictask/",
            {"action": "run_tasks", "_selected_action": [t.pk for t in tasks]},
            follow=True,
        )
        elapsed = time.monotonic() - clock
    assert response.status_code == 200
    first, *rest = (t.name for t in tasks)
    (level, text), (rest_level, rest_text) = _messages(response)
    assert level == "error" and text.startswith(f"NOT queued: {first}: the broker (redis://127.0.0.1:{port})")
    assert rest_level == "error" and rest_text == (
        f"NOT queued (not tried, the broker is down): {', '.join(rest)}"
    )
    # one send's budget, not one per task (> 2 s x 4 before)
    assert elapsed < settings.JOB_ENQUEUE_TIMEOUT * 2, f"{elapsed:.1f} s"


def test_a_hung_broker_is_tried_once_within_the_timeout_whatever_the_retries(settings):
    """What the README says: the connection is made once, bounded by JOB_ENQUEUE_TIMEOUT (kombu's
    connect budget); JOB_ENQUEUE_RETRIES retries only a publish failing on an established connection."""
    from ingestion.tasks import job_enqueue

    settings.JOB_ENQUEUE_TIMEOUT = 1.0
    settings.JOB_ENQUEUE_RETRIES = 3
    with hung_port() as port, broker_url(f"redis://127.0.0.1:{port}/0"):
        _, error, seconds = run_bounded(lambda: job_enqueue(name="cache_cleanup"), timeout=15)
    assert isinstance(error, QueueUnavailable), error
    assert 0.9 < seconds < 1.9, f"{seconds:.1f} s"  # not (3 + 1) x 1 s


@pytest.mark.django_db
def test_periodic_task_run_selected_queues_on_a_live_broker(admin_client):
    from django_celery_beat.models import PeriodicTask

    from ingestion.services.jobs import beat_schedule_seed

    beat_schedule_seed()
    task = PeriodicTask.objects.get(name="cache_cleanup")
    queue = app.conf.task_default_queue
    with app.connection_for_write() as conn:
        conn.SimpleQueue(queue).clear()
    response = admin_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "run_tasks", "_selected_action": [task.pk]},
        follow=True,
    )
    assert _messages(response) == [("success", "Queued: cache_cleanup")]
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue(queue).get(timeout=5)
        message.ack()
    assert message.headers["task"] == "ingestion.tasks.cache_cleanup"


def test_run_job_enqueue_with_the_broker_refusing_exits_non_zero_with_a_readable_message():
    port = closed_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "run_job", "weather_forecasts", "--enqueue"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"CommandError: weather_forecasts was not queued: the broker (redis://127.0.0.1:{port}) did not take"
    ), done.stderr
    assert "queued ingestion" not in done.stdout and "Traceback" not in done.stderr


def test_a_hung_broker_is_given_up_on_within_the_budget():
    """A broker that accepts the connection and never answers: Redis' transport would wait forever."""
    from ingestion.tasks import job_enqueue

    for scheme in ("redis", "amqp"):
        with hung_port() as port:
            url = f"redis://127.0.0.1:{port}/0" if scheme == "redis" else f"amqp://guest@127.0.0.1:{port}//"
            with broker_url(url):
                _, error, seconds = run_bounded(lambda: job_enqueue(name="cache_cleanup"), timeout=15)
        assert isinstance(error, QueueUnavailable), (scheme, error)
        assert f"{scheme}://127.0.0.1:{port}" in str(error)
        assert seconds < 10, f"{scheme}: {seconds:.1f} s"


def test_redis_down_for_broker_and_result_backend_fails_fast():
    """REDIS_URL down = broker and result backend down: the backend's reconnect loop took ~19 s."""
    from ingestion.tasks import job_enqueue

    url = f"redis://127.0.0.1:{closed_port()}/0"
    with broker_url(url, result_backend=url):
        _, error, seconds = run_bounded(lambda: job_enqueue(name="cache_cleanup"), timeout=40)
    assert isinstance(error, QueueUnavailable), error
    assert seconds < 10, f"{seconds:.1f} s"
