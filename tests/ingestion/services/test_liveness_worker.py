"""Liveness with a real `celery worker` process (tests/workers.py): /health and jobs/status say the
worker is alive while it runs and missing once it has stopped — no mocks of Celery or Redis."""

from __future__ import annotations

import os
import uuid

import pytest
from rest_framework.test import APIClient

from ingestion.services import liveness
from tests.workers import celery_worker, wait_until

pytestmark = pytest.mark.slow
QUEUE = f"pitwall-test-live-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def clean(committing_db):
    from django.core.cache import cache

    def clear():
        liveness._redis().delete(liveness.WORKERS_KEY, liveness.BEAT_KEY)
        cache.clear()  # throttle counters of the anonymous client

    clear()
    yield
    clear()


def _staff() -> APIClient:
    """Hostnames are for staff only (anonymous callers get a redacted view)."""
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="liveness-staff", defaults={"is_staff": True})
    client = APIClient()
    client.force_authenticate(user)
    return client


def _worker_check() -> dict:
    return _staff().get("/api/v1/health").json()["checks"]["worker"]


def test_a_running_worker_is_ok_and_missing_once_stopped(clean):
    hostname = f"{QUEUE}@{os.uname().nodename}"
    assert _worker_check()["detail"]["state"] == "missing"  # no worker yet
    with celery_worker(queue=QUEUE, concurrency=1, env={"LIVENESS_HEARTBEAT_SECONDS": "1"}, show_log=True):
        check = wait_until(
            lambda: (c := _worker_check())["status"] == "ok" and c, timeout=15, what="the worker's heartbeat"
        )
        assert check["detail"]["name"] == hostname and check["detail"]["seconds_ago"] < 10
        first = check["detail"]["last_seen_at"]
        # the heartbeat keeps coming (every second in this worker), not only at start-up
        wait_until(
            lambda: _worker_check()["detail"]["last_seen_at"] != first, timeout=10, what="a later heartbeat"
        )
        status = _staff().get("/api/v1/jobs/status").json()["liveness"]
        assert status["worker"]["status"] == "ok"
        assert [w["name"] for w in status["worker"]["workers"] if w["status"] == "ok"] == [hostname]
    # stopped cleanly: its entry is marked stopped, so it is missing at once (a killed one after the
    # threshold) and says when it stopped
    response = APIClient().get("/api/v1/health")
    check = response.json()["checks"]["worker"]
    assert check["status"] == "degraded" and check["detail"]["state"] == "missing"
    assert check["detail"]["stopped_at"] is not None
    assert response.status_code == 200 and response.json()["status"] == "degraded"
