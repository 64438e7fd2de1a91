"""JSON logs carry the request id (web) and the task id + the caller's request id (Celery)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from celery import current_app

from f1site.logging import ContextFilter, JsonFormatter, bind_log_context, log_context


@pytest.fixture
def json_lines():
    """Root-level JSON handler, configured like settings.LOGGING's console handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    watched = logging.getLogger("pitwall.observability")
    old_level = watched.level
    watched.setLevel(logging.INFO)
    root.addHandler(handler)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield read
    root.removeHandler(handler)
    watched.setLevel(old_level)


@pytest.mark.django_db
def test_a_log_line_written_during_a_request_carries_its_request_id(client, json_lines, settings):
    settings.METRICS_TOKEN = None
    response = client.get("/metrics", REMOTE_ADDR="198.51.100.4", HTTP_X_REQUEST_ID="trace-me-1")
    assert response.status_code == 403 and response["X-Request-ID"] == "trace-me-1"
    refused = [r for r in json_lines() if r["message"] == "metrics scrape refused"]
    assert refused and refused[0]["request_id"] == "trace-me-1"
    assert refused[0]["remote_addr"] == "198.51.100.4" and refused[0]["level"] == "WARNING"


@pytest.mark.django_db
def test_an_unsafe_incoming_id_is_replaced_and_the_generated_one_is_logged(client, json_lines, settings):
    settings.METRICS_TOKEN = None
    response = client.get("/metrics", REMOTE_ADDR="198.51.100.4", HTTP_X_REQUEST_ID="bad id\nwith newline")
    generated = response["X-Request-ID"]
    assert generated != "bad id\nwith newline" and len(generated) == 32
    assert [r["request_id"] for r in json_lines() if r["message"] == "metrics scrape refused"] == [generated]
    assert log_context.get() in (None, {})  # nothing leaks into the next request


def test_task_log_lines_carry_task_id_task_name_and_the_callers_request_id(json_lines):
    task = current_app.tasks["celery.accumulate"]
    token = bind_log_context(request_id="req-from-view")
    try:
        result = task.apply(args=(3,), task_id="task-abc-123")
    finally:
        log_context.reset(token)
    assert result.get() == (3,)
    lines = [r for r in json_lines() if r.get("task_id") == "task-abc-123"]
    assert [r["message"] for r in lines] == ["job started", "job finished"]
    for record in lines:
        assert record["task"] == "celery.accumulate" and record["request_id"] == "req-from-view"
    assert lines[1]["status"] == "success" and lines[1]["duration_ms"] >= 0
    assert log_context.get() in (None, {})  # the task's context is unbound afterwards


def test_publishing_a_task_adds_the_request_id_header():
    from f1site.observability import propagate_request_id

    headers: dict = {}
    token = bind_log_context(request_id="req-42")
    try:
        propagate_request_id(headers=headers)
    finally:
        log_context.reset(token)
    assert headers == {"request_id": "req-42"}
    untouched: dict = {}
    propagate_request_id(headers=untouched)  # no request in progress: nothing added
    assert untouched == {}
