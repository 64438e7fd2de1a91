"""Observability glue: request metrics, Celery job metrics and log context, alert evaluation.

- `RequestMetricsMiddleware` times every request per view (Prometheus) and counts requests / 5xx
  per minute in the shared cache, so the 5xx-rate alert sees every web process on every machine.
- Celery signals (connected when `f1site.celery` imports this module): JSON logging in the worker,
  `task_id` / `task` / the caller's `request_id` bound to every log line a task writes, job
  durations and outcomes recorded, dead worker processes' metric files cleaned up, the worker's
  liveness heartbeat started and stopped (ingestion.services.liveness).
- `alerts_evaluate()` reads the database and the cache once (`ops_state_get`) and applies the
  thresholds in settings (`ALERT_*`) with the pure `alerts_from_state`. The health endpoint shows the
  result in its detail; `/metrics` exports the same state through `PitwallStateCollector`.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
import os
import threading
import time
from dataclasses import dataclass, field

from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from f1site.logging import bind_log_context, log_context
from f1site.metrics import mark_process_dead, record_job, record_request

logger = logging.getLogger("pitwall.observability")

# Views whose requests are not recorded: scrapes would otherwise dominate the request metrics.
UNRECORDED_VIEWS = frozenset({"metrics"})
UNMATCHED_VIEW = "<unmatched>"  # 404s from the resolver and static files served by whitenoise


# --- requests --------------------------------------------------------------------------------------
class RequestWindow:
    """Requests and 5xx responses per UTC minute, summed across processes in the shared cache.

    Counts are buffered in process memory and flushed every `flush_seconds`, so a request costs no
    cache round trip; if the cache fails, flushing pauses for `backoff_seconds` (Redis down or hung
    must not slow the API) and the buffered counts are dropped: the alert is approximate meanwhile.
    """

    KEY = "obs:http:{minute}:{kind}"

    def __init__(self, *, flush_seconds: float = 5.0, backoff_seconds: float = 30.0) -> None:
        self.flush_seconds = flush_seconds
        self.backoff_seconds = backoff_seconds
        self._lock = threading.Lock()
        self._pending: dict[int, list[int]] = {}
        self._last_flush = time.monotonic()
        self._paused_until = 0.0

    def add(self, status: int) -> None:
        minute = int(time.time() // 60)
        with self._lock:
            counts = self._pending.setdefault(minute, [0, 0])
            counts[0] += 1
            if status >= 500:
                counts[1] += 1
            due = time.monotonic() - self._last_flush >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        from django.core.cache import cache

        now = time.monotonic()
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = now
        if not pending or now < self._paused_until:
            return
        ttl = 60 * (settings.ALERT_API_WINDOW_MINUTES + 2)
        try:
            for minute, (total, errors) in pending.items():
                for kind, amount in (("total", total), ("5xx", errors)):
                    if amount:
                        key = self.KEY.format(minute=minute, kind=kind)
                        cache.add(key, 0, timeout=ttl)
                        cache.incr(key, amount)
        except Exception:  # any cache failure: never let bookkeeping break a request
            self._paused_until = now + self.backoff_seconds
            logger.warning("request window flush failed; paused", exc_info=True)

    def read(self, *, minutes: int) -> tuple[int, int]:
        """(requests, 5xx) over the current and the previous `minutes - 1` minutes, all processes."""
        from django.core.cache import cache

        self.flush()
        current = int(time.time() // 60)
        keys = [
            self.KEY.format(minute=m, kind=kind)
            for m in range(current - minutes + 1, current + 1)
            for kind in ("total", "5xx")
        ]
        try:
            found = cache.get_many(keys) or {}
        except Exception:
            logger.warning("request window read failed", exc_info=True)
            return 0, 0
        total = sum(int(v) for k, v in found.items() if k.endswith(":total"))
        errors = sum(int(v) for k, v in found.items() if k.endswith(":5xx"))
        return total, errors


request_window = RequestWindow()


class RequestMetricsMiddleware:
    """Latency per view (Prometheus histogram) and the shared request/5xx window.

    Sits right after RequestIdMiddleware so it measures the whole stack, including whitenoise.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match else UNMATCHED_VIEW
        if view not in UNRECORDED_VIEWS:
            record_request(
                view=view,
                method=request.method,
                status=response.status_code,
                seconds=time.perf_counter() - started,
            )
            request_window.add(response.status_code)
        return response


# --- Celery ----------------------------------------------------------------------------------------
_running_tasks: dict[str, tuple[float, object]] = {}
_CELERY_STATES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}
# A pipeline task that returns normally reports the JobRun's outcome ({"status": ...}, see
# ingestion.tasks._run): a run recorded as skipped must not count as a success.
_JOB_RUN_STATES = {"succeeded": "success", "skipped": "skipped", "idle": "idle", "interrupted": "interrupted"}


def _job_status(state: str | None, retval) -> str:
    status = _CELERY_STATES.get(state or "", (state or "unknown").lower())
    if status == "success" and isinstance(retval, dict):
        return _JOB_RUN_STATES.get(str(retval.get("status")), status)
    return status


@setup_logging.connect
def _worker_logging(**kwargs) -> None:
    """Connected = Celery leaves the root logger alone; the worker logs with Django's JSON config."""
    logging.config.dictConfig(settings.LOGGING)


@before_task_publish.connect
def propagate_request_id(headers=None, **kwargs) -> None:
    """A task queued while serving a request carries that request's id (header `request_id`)."""
    request_id = (log_context.get() or {}).get("request_id")
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs) -> None:
    request_id = getattr(task.request, "request_id", None) if task is not None else None
    token = bind_log_context(task_id=task_id, task=getattr(task, "name", None), request_id=request_id)
    _running_tasks[task_id] = (time.perf_counter(), token)
    logger.info("job started")


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, retval=None, **kwargs) -> None:
    started, token = _running_tasks.pop(task_id, (None, None))
    seconds = time.perf_counter() - started if started is not None else None
    status = _job_status(state, retval)
    record_job(job=getattr(task, "name", "unknown"), status=status, seconds=seconds)
    logger.info(
        "job finished",
        extra={"status": status, "duration_ms": round(seconds * 1000, 1) if seconds is not None else None},
    )
    if token is not None:
        log_context.reset(token)


@worker_process_shutdown.connect
def _worker_process_exit(**kwargs) -> None:
    mark_process_dead(os.getpid())


@worker_ready.connect
def _worker_liveness_start(sender=None, **kwargs) -> None:
    """The worker's heartbeat for /health and jobs/status (ingestion.services.liveness)."""
    from ingestion.services.liveness import worker_heartbeat_start

    worker_heartbeat_start(hostname=getattr(sender, "hostname", None) or f"celery@{os.uname().nodename}")


@worker_shutdown.connect
def _worker_liveness_stop(**kwargs) -> None:
    from ingestion.services.liveness import worker_heartbeat_stop

    worker_heartbeat_stop()


# --- alerts ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertThresholds:
    sync_stale_hours: float = 26.0
    job_failure_streak: int = 2
    api_5xx_ratio: float = 0.05
    api_min_requests: int = 20
    api_window_minutes: int = 5
    accuracy_races: int = 5
    cache_outbox_minutes: float = 10.0

    @classmethod
    def from_settings(cls) -> AlertThresholds:
        return cls(
            sync_stale_hours=settings.ALERT_SYNC_STALE_HOURS,
            job_failure_streak=settings.ALERT_JOB_FAILURE_STREAK,
            api_5xx_ratio=settings.ALERT_API_5XX_RATIO,
            api_min_requests=settings.ALERT_API_MIN_REQUESTS,
            api_window_minutes=settings.ALERT_API_WINDOW_MINUTES,
            accuracy_races=settings.ALERT_ACCURACY_RACES,
            cache_outbox_minutes=settings.ALERT_CACHE_OUTBOX_MINUTES,
        )


@dataclass(frozen=True)
class RaceScore:
    """One recent race: the live model's MAE (RaceAccuracy) and the grid-order baseline's MAE."""

    race_id: int
    model_mae: float
    grid_mae: float | None
    winner_hit: bool
    podium_overlap: float
    points_accuracy: float


@dataclass(frozen=True)
class OpsState:
    sync_age_seconds: dict[str, float] = field(default_factory=dict)  # source -> age of last success
    # (source, table, created|updated) -> rows changed by that source's last successful run
    sync_rows: dict[tuple[str, str, str], int] = field(default_factory=dict)
    job_failure_streaks: dict[str, int] = field(default_factory=dict)  # job -> consecutive failures
    api_requests: int = 0
    api_5xx: int = 0
    active_model: str | None = None
    recent_scores: tuple[RaceScore, ...] = ()  # most recent first
    # cache invalidations Redis refused, not replayed yet (f1site.cache's outbox), and the oldest's age
    cache_outbox_pending: int = 0
    cache_outbox_oldest_seconds: float | None = None


# Sources whose success means "results and standings are current" (the daily job, or a dump load).
RESULTS_SYNC_SOURCES = ("jolpica", "ergast_dump")
ALERT_NAMES = (
    "sync_stale",
    "job_failing",
    "api_5xx_rate",
    "model_below_grid_baseline",
    "cache_invalidation_pending",
)


def grid_baseline_mae(rows: list[tuple[int | None, int]]) -> float | None:
    """Mean |grid rank - finishing rank| over all entrants: the "finish where you started" baseline.

    rows: (grid, position_order) per entrant. Entrants without a grid slot (grid 0 = pit-lane start,
    or unknown) share the mean of the ranks behind the gridded cars, so their order never depends on
    how they finished. Returns None when no entrant has a grid.
    """
    gridded = sorted((grid, i) for i, (grid, _) in enumerate(rows) if grid)
    if not gridded:
        return None
    grid_rank = {i: float(rank) for rank, (_, i) in enumerate(gridded, start=1)}
    rest = [i for i, (grid, _) in enumerate(rows) if not grid]
    if rest:
        shared = (len(gridded) + 1 + len(rows)) / 2  # mean of ranks len(gridded)+1 .. len(rows)
        grid_rank.update({i: shared for i in rest})
    finish_rank = {i: rank for rank, i in enumerate(sorted(range(len(rows)), key=lambda i: rows[i][1]), 1)}
    return sum(abs(grid_rank[i] - finish_rank[i]) for i in range(len(rows))) / len(rows)


def _alert(name: str, firing: bool, value, threshold, description: str) -> dict:
    return {
        "name": name,
        "firing": firing,
        "value": value,
        "threshold": threshold,
        "description": description,
    }


def alerts_from_state(state: OpsState, thresholds: AlertThresholds) -> list[dict]:
    """The five alert conditions, evaluated on a snapshot. Pure: no database, no cache."""
    alerts = []

    ages = [state.sync_age_seconds[s] for s in RESULTS_SYNC_SOURCES if s in state.sync_age_seconds]
    age_hours = round(min(ages) / 3600, 2) if ages else None
    alerts.append(
        _alert(
            "sync_stale",
            age_hours is None or age_hours > thresholds.sync_stale_hours,
            age_hours,
            thresholds.sync_stale_hours,
            "Hours since the last successful results sync (Jolpica or dump load)"
            + ("; none recorded" if age_hours is None else ""),
        )
    )

    failing = sorted(
        job for job, streak in state.job_failure_streaks.items() if streak >= thresholds.job_failure_streak
    )
    worst = max(state.job_failure_streaks.values(), default=0)
    alerts.append(
        _alert(
            "job_failing",
            bool(failing),
            worst,
            thresholds.job_failure_streak,
            "Longest run of consecutive failed job runs"
            + (f"; failing: {', '.join(failing)}" if failing else ""),
        )
    )

    ratio = round(state.api_5xx / state.api_requests, 4) if state.api_requests else 0.0
    enough = state.api_requests >= thresholds.api_min_requests
    alerts.append(
        _alert(
            "api_5xx_rate",
            enough and ratio > thresholds.api_5xx_ratio,
            ratio,
            thresholds.api_5xx_ratio,
            f"Share of 5xx responses over the last {thresholds.api_window_minutes} min "
            f"({state.api_5xx}/{state.api_requests} requests; needs >= {thresholds.api_min_requests})",
        )
    )

    scores = [s for s in state.recent_scores[: thresholds.accuracy_races] if s.grid_mae is not None]
    if len(scores) >= thresholds.accuracy_races:
        model_mae = round(sum(s.model_mae for s in scores) / len(scores), 3)
        grid_mae = round(sum(s.grid_mae for s in scores) / len(scores), 3)
        alerts.append(
            _alert(
                "model_below_grid_baseline",
                model_mae > grid_mae,
                model_mae,
                grid_mae,
                f"Live model position MAE vs the grid-order baseline over the last {len(scores)} races",
            )
        )
    else:
        alerts.append(
            _alert(
                "model_below_grid_baseline",
                False,
                None,
                None,
                f"Needs {thresholds.accuracy_races} scored live races with a grid; have {len(scores)}",
            )
        )

    # A refused invalidation is replayed by the next one that succeeds, the beat's tick or a web
    # process whose breaker closed; one still pending after the threshold means the site has been
    # serving stale answers that long (Redis still down, or nothing left to replay it).
    oldest = state.cache_outbox_oldest_seconds
    oldest_minutes = None if oldest is None else round(oldest / 60, 2)
    alerts.append(
        _alert(
            "cache_invalidation_pending",
            oldest_minutes is not None and oldest_minutes > thresholds.cache_outbox_minutes,
            oldest_minutes,
            thresholds.cache_outbox_minutes,
            "Minutes the oldest cache invalidation Redis refused has waited for its replay "
            f"({state.cache_outbox_pending} pending; cached answers may be stale until then)",
        )
    )
    return alerts


def ops_state_get(*, now: dt.datetime | None = None, thresholds: AlertThresholds | None = None) -> OpsState:
    """Read everything the alerts and the state metrics need: a handful of queries + one cache read."""
    from django.db.models import F, Window
    from django.db.models.functions import Coalesce, RowNumber
    from django.utils import timezone

    from ingestion.models import RaceResult, SyncRun, SyncStatus

    now = now or timezone.now()
    thresholds = thresholds or AlertThresholds.from_settings()

    # The last successful run per source: its age, and the rows it changed (SyncRun.counts =
    # {table: {created, updated, unchanged}}), whichever path ran it (job, command, admin action).
    done_at = Coalesce("finished_at", "started_at")
    last_success = (
        SyncRun.objects.filter(status__in=[SyncStatus.SUCCEEDED, SyncStatus.PARTIAL])
        .annotate(
            done_at=done_at,
            rank=Window(RowNumber(), partition_by=[F("source")], order_by=done_at.desc()),
        )
        .filter(rank=1)
        .values("source", "done_at", "counts")
    )
    sync_age: dict[str, float] = {}
    sync_rows: dict[tuple[str, str, str], int] = {}
    for row in last_success:
        sync_age[row["source"]] = max(0.0, (now - row["done_at"]).total_seconds())
        for table, counts in (row["counts"] or {}).items():
            if isinstance(counts, dict):
                for change in ("created", "updated"):
                    if isinstance(counts.get(change), int):
                        sync_rows[(row["source"], table, change)] = counts[change]

    streaks: dict[str, int] = {}
    from ingestion.models.job_run import JobRun, JobStatus
    from ingestion.services.stale_runs import job_runs_stale_close_quietly

    # Runs whose worker died (or that no worker took) are closed first, so they count below.
    job_runs_stale_close_quietly()
    # The last finished runs per job, newest first; count failures until the first success.
    # Attempts of one trigger (Celery autoretries, a redelivery after a worker died) share the
    # task id and count once, with the outcome of their latest attempt: an outage that one
    # retry rode out is not a failure streak.
    recent = (
        JobRun.objects.exclude(status__in=[JobStatus.RUNNING, JobStatus.SKIPPED])
        .annotate(rank=Window(RowNumber(), partition_by=[F("job")], order_by=F("started_at").desc()))
        .filter(rank__lte=40)
        .order_by("job", "rank")
        .values_list("job", "task_id", "status")
    )
    done: set[str] = set()
    seen_tasks: set[tuple[str, str]] = set()
    for job, task_id, status in recent:
        streaks.setdefault(job, 0)
        if job in done:
            continue
        if task_id:
            if (job, task_id) in seen_tasks:
                continue  # an earlier attempt of a trigger already judged by its latest one
            seen_tasks.add((job, task_id))
        if status in (JobStatus.FAILED, JobStatus.INTERRUPTED):
            streaks[job] += 1
        else:
            done.add(job)

    requests_total, requests_5xx = request_window.read(minutes=thresholds.api_window_minutes)

    active_model = None
    scores: list[RaceScore] = []
    from predictions.models import ModelVersion, RaceAccuracy

    active_model = ModelVersion.objects.filter(is_active=True).values_list("label", flat=True).first()
    # Live (not backfilled) records, newest race first; one per race, post-qualifying preferred
    # because that is the stage the grid baseline is a fair comparison for.
    records = (
        RaceAccuracy.objects.filter(backfilled=False)
        .order_by("-race__date", "-race_id", "stage", "-scored_at")  # "post" < "pre"
        .values("race_id", "stage", "mae", "winner_hit", "podium_overlap", "points_accuracy")[
            : thresholds.accuracy_races * 8
        ]
    )
    per_race: dict[int, dict] = {}
    for record in records:
        if record["race_id"] not in per_race and len(per_race) < thresholds.accuracy_races:
            per_race[record["race_id"]] = record
    grids: dict[int, list[tuple[int | None, int]]] = {}
    for race_id, grid, order in RaceResult.objects.filter(race_id__in=list(per_race)).values_list(
        "race_id", "grid", "position_order"
    ):
        grids.setdefault(race_id, []).append((grid, order))
    scores = [
        RaceScore(
            race_id=race_id,
            model_mae=record["mae"],
            grid_mae=grid_baseline_mae(grids.get(race_id, [])),
            winner_hit=record["winner_hit"],
            podium_overlap=record["podium_overlap"],
            points_accuracy=record["points_accuracy"],
        )
        for race_id, record in per_race.items()
    ]

    from django.db.models import Count, Min

    from ingestion.models import CacheInvalidation

    outbox = CacheInvalidation.objects.aggregate(pending=Count("pk"), oldest=Min("created_at"))

    return OpsState(
        sync_age_seconds=sync_age,
        sync_rows=sync_rows,
        job_failure_streaks=streaks,
        api_requests=requests_total,
        api_5xx=requests_5xx,
        active_model=active_model,
        recent_scores=tuple(scores),
        cache_outbox_pending=outbox["pending"],
        cache_outbox_oldest_seconds=(
            None if outbox["oldest"] is None else max(0.0, (now - outbox["oldest"]).total_seconds())
        ),
    )


def alerts_evaluate() -> list[dict]:
    """[{name, firing, value, threshold, description}] for the five alerts (see docs/operations.md)."""
    thresholds = AlertThresholds.from_settings()
    return alerts_from_state(ops_state_get(thresholds=thresholds), thresholds)


# --- /metrics: state computed at scrape time --------------------------------------------------------
class PitwallStateCollector:
    """Database/cache state as gauges, computed on each scrape (web process only)."""

    def collect(self):
        up = GaugeMetricFamily("pitwall_state_up", "1 if the state below could be read (database up)")
        try:
            thresholds = AlertThresholds.from_settings()
            state = ops_state_get(thresholds=thresholds)
        except Exception:
            logger.exception("metrics state collection failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        age = GaugeMetricFamily(
            "pitwall_last_successful_sync_age_seconds",
            "Seconds since the last successful sync, per source",
            labels=["source"],
        )
        for source, seconds in sorted(state.sync_age_seconds.items()):
            age.add_metric([source], seconds)
        yield age

        rows = GaugeMetricFamily(
            "pitwall_sync_last_run_rows",
            "Rows created/updated by the last successful sync, per source and table (SyncRun.counts)",
            labels=["source", "table", "change"],
        )
        for (source, table, change), count in sorted(state.sync_rows.items()):
            rows.add_metric([source, table, change], count)
        yield rows

        streak = GaugeMetricFamily(
            "pitwall_job_consecutive_failures", "Consecutive failed runs per job (JobRun)", labels=["job"]
        )
        for job, count in sorted(state.job_failure_streaks.items()):
            streak.add_metric([job], count)
        yield streak

        window = thresholds.api_window_minutes
        yield GaugeMetricFamily(
            "pitwall_api_requests_window",
            f"Requests over the last {window} min, all processes",
            value=state.api_requests,
        )
        yield GaugeMetricFamily(
            "pitwall_api_5xx_window",
            f"5xx responses over the last {window} min, all processes",
            value=state.api_5xx,
        )

        yield GaugeMetricFamily(
            "pitwall_cache_invalidations_pending",
            "Cache invalidations Redis refused, waiting in the database for their replay",
            value=state.cache_outbox_pending,
        )
        if state.cache_outbox_oldest_seconds is not None:
            yield GaugeMetricFamily(
                "pitwall_cache_invalidation_oldest_age_seconds",
                "Seconds the oldest pending cache invalidation has waited",
                value=state.cache_outbox_oldest_seconds,
            )

        info = GaugeMetricFamily("pitwall_model_active_info", "The active model version", labels=["version"])
        if state.active_model:
            info.add_metric([state.active_model], 1)
        yield info

        scores = state.recent_scores
        yield GaugeMetricFamily(
            "pitwall_model_live_races", "Recent races with a live accuracy record", value=len(scores)
        )
        if scores:
            n = len(scores)
            for name, doc, value in (
                ("pitwall_model_live_mae", "Mean position MAE", sum(s.model_mae for s in scores) / n),
                (
                    "pitwall_model_live_winner_hit_rate",
                    "Winner called",
                    sum(s.winner_hit for s in scores) / n,
                ),
                (
                    "pitwall_model_live_podium_overlap",
                    "Podium overlap",
                    sum(s.podium_overlap for s in scores) / n,
                ),
                (
                    "pitwall_model_live_points_accuracy",
                    "Points in/out accuracy",
                    sum(s.points_accuracy for s in scores) / n,
                ),
            ):
                yield GaugeMetricFamily(name, f"{doc}, live predictions, last {n} races", value=value)
            grid = [s.grid_mae for s in scores if s.grid_mae is not None]
            if grid:
                yield GaugeMetricFamily(
                    "pitwall_model_grid_baseline_mae",
                    f"Grid-order baseline position MAE, same {len(grid)} races",
                    value=sum(grid) / len(grid),
                )

        firing = GaugeMetricFamily("pitwall_alert_firing", "1 while the alert fires", labels=["alert"])
        for alert in alerts_from_state(state, thresholds):
            firing.add_metric([alert["name"]], 1 if alert["firing"] else 0)
        yield firing
