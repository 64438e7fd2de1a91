"""Prometheus metrics shared by every part of Pitwall (exposed at /metrics by f1site.ops_views).

Call sites use these helpers rather than prometheus_client directly so names and labels stay
consistent. Under gunicorn (and for the Celery worker on the same host) PROMETHEUS_MULTIPROC_DIR
makes the registry multi-process safe: every process writes its own mmap files and a scrape sums
them. Series that describe the state of the database (sync age, active model, alerts) are not
recorded here but computed at scrape time by f1site.observability.PitwallStateCollector.
"""

from __future__ import annotations

import os
import re
import socket

from prometheus_client import values

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_UNSAFE = re.compile(r"[^A-Za-z0-9-]")


def process_identifier(pid: int | None = None) -> str:
    """`<host>-<pid>`: names this process's metric files.

    The plain pid prometheus_client uses by default collides when containers on one host share the
    directory (every container has its own pid 1, 7, ...); the host name (= container id) does not.
    Only [A-Za-z0-9-]: the multiprocess collector splits file names on "_".
    """
    host = _UNSAFE.sub("-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid() if pid is None else pid}"


if os.environ.get(MULTIPROC_DIR_ENV):
    # Must run before the first metric below is created: the value class is fixed per metric.
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)

from prometheus_client import Counter, Gauge, Histogram  # noqa: E402 - after the value class is chosen

REQUEST_LATENCY = Histogram(
    "pitwall_request_latency_seconds",
    "Request latency per view",
    ["view", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CACHE_EVENTS = Counter("pitwall_cache_events_total", "Cache lookups by tier and outcome", ["tier", "outcome"])
JOB_DURATION = Histogram(
    "pitwall_job_duration_seconds",
    "Celery job durations",
    ["job", "status"],
    buckets=(0.05, 0.25, 1, 5, 15, 60, 300, 900, 1800, 3600),
)
JOB_RUNS = Counter("pitwall_job_runs_total", "Celery job runs by outcome", ["job", "status"])
SYNC_ROWS = Counter("pitwall_sync_rows_total", "Rows changed by syncs", ["source", "table", "change"])
LAST_SYNC_SUCCESS = Gauge(
    "pitwall_last_successful_sync_timestamp_seconds",
    "Unix time of the last successful sync",
    ["source"],
    multiprocess_mode="max",
)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_DIR_ENV))


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn child_exit, Celery worker_process_shutdown)."""
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(process_identifier(pid))


def record_request(*, view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(view=view, method=method, status=str(status)).observe(seconds)


def record_cache(*, tier: str, hit: bool) -> None:
    CACHE_EVENTS.labels(tier=tier, outcome="hit" if hit else "miss").inc()


def record_job(*, job: str, status: str, seconds: float | None) -> None:
    """status: success | failure | retry, or for a pipeline job the JobRun outcome (success | skipped | idle); one per Celery task execution."""
    JOB_RUNS.labels(job=job, status=status).inc()
    if seconds is not None:
        JOB_DURATION.labels(job=job, status=status).observe(seconds)


def record_sync_rows(*, source: str, table: str, created: int, updated: int) -> None:
    if created:
        SYNC_ROWS.labels(source=source, table=table, change="created").inc(created)
    if updated:
        SYNC_ROWS.labels(source=source, table=table, change="updated").inc(updated)
