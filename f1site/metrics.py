"""Prometheus metrics shared by every part of Pitwall (exposed at /metrics).

Call sites use these helpers rather than prometheus_client directly so names and labels stay
consistent. Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes the registry multi-process safe.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUEST_LATENCY = Histogram(
    "pitwall_request_latency_seconds",
    "Request latency per view",
    ["view", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CACHE_EVENTS = Counter("pitwall_cache_events_total", "Cache lookups by tier and outcome", ["tier", "outcome"])
JOB_DURATION = Histogram("pitwall_job_duration_seconds", "Celery job durations", ["job", "status"])
JOB_RUNS = Counter("pitwall_job_runs_total", "Celery job runs by outcome", ["job", "status"])
SYNC_ROWS = Counter("pitwall_sync_rows_total", "Rows changed by syncs", ["source", "table", "change"])
LAST_SYNC_SUCCESS = Gauge(
    "pitwall_last_successful_sync_timestamp_seconds",
    "Unix time of the last successful sync",
    ["source"],
    multiprocess_mode="max",
)


def record_cache(*, tier: str, hit: bool) -> None:
    CACHE_EVENTS.labels(tier=tier, outcome="hit" if hit else "miss").inc()


def record_sync_rows(*, source: str, table: str, created: int, updated: int) -> None:
    if created:
        SYNC_ROWS.labels(source=source, table=table, change="created").inc(created)
    if updated:
        SYNC_ROWS.labels(source=source, table=table, change="updated").inc(updated)
