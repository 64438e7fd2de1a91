"""The health report behind `/api/v1/health`: database, cache, broker, worker, beat and model checks,
the cache statistics and the alert evaluation. The view only picks the status code (503 when a
required check fails: status "down") and the cache headers."""

from __future__ import annotations

import contextvars
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

from f1site import cache as f1cache
from ingestion.models import Race


def health_report(*, staff: bool) -> dict:
    """Every check with its status ("ok", "degraded", "down", or "n/a" when not part of this set-up),
    whether it is required and its latency; overall "down" when a required check fails, "degraded"
    when any other check is not ok. Error texts that may name hosts or paths only for `staff`.

    The broker probe and the liveness read wait on Redis servers that may hang (accept, never
    answer): they run in their own threads, started first, while this thread runs the database, cache
    and model checks, and the request waits for them until one shared deadline
    (`redis_probes_budget`). Run one after the other, each within its own JOB_ENQUEUE_TIMEOUT, a
    broker and a liveness store on two hung servers cost 4.5 s next to the container HEALTHCHECK's
    4 s / 5 s; now the request is bound by the one budget however many of them hang."""
    from f1site.celery import app

    deadline = time.monotonic() + redis_probes_budget()
    broker_url = app.conf.broker_url
    broker = _probe_shared(("broker", broker_url), lambda: _check(_check_broker, required=False))
    liveness = _probe_shared(
        ("liveness", settings.JOB_LOCK_REDIS_URL, broker_url),
        lambda: _liveness_read(broker=broker, deadline=deadline),
    )
    database = _check(_check_database, required=True)
    cache = _check(_check_cache, required=False)
    model = _check(_check_model, required=False)
    checks = {"database": database, "cache": cache}
    checks["broker"] = broker.result(deadline=deadline, late=_probe_late_check)
    seen, read_seconds = liveness.result(deadline=deadline, late=_liveness_late)
    checks["worker"] = _check(lambda: _liveness_check("worker", seen, staff=staff), required=False)
    checks["beat"] = _check(lambda: _liveness_check("beat", seen, staff=staff), required=False)
    worker = checks["worker"]
    worker["latency_ms"] = round(worker["latency_ms"] + read_seconds * 1000, 2)  # the store's read, as before
    checks["model"] = model
    if not staff:
        for check in checks.values():
            _redact_error(check)
    failed_required = any(c["required"] and c["status"] != "ok" for c in checks.values())
    degraded = any(c["status"] not in ("ok", NOT_APPLICABLE) for c in checks.values())
    overall = "down" if failed_required else ("degraded" if degraded else "ok")
    return {"status": overall, "checks": checks, "cache": f1cache.cache_stats(), "alerts": _alerts()}


# Past the probes' own socket timeouts (JOB_ENQUEUE_TIMEOUT), time for a thread to start and a probe
# to report its own error (a timeout, a refusal) rather than the deadline's.
REDIS_PROBES_GRACE = 0.5


# The most health waits for a probe, whatever JOB_ENQUEUE_TIMEOUT says (it may be up to 30 s for the
# enqueues): with the grace, 3.5 s in all stays inside the container HEALTHCHECK's 4 s request timeout
# (Dockerfile), so a slow Redis degrades the answer instead of failing a serving container.
REDIS_PROBES_MAX_WAIT = 3.0


def redis_probes_budget() -> float:
    """Seconds /health waits, in all, for its Redis probes (the broker, the liveness store):
    JOB_ENQUEUE_TIMEOUT, each probe's own bound, capped at REDIS_PROBES_MAX_WAIT, plus
    REDIS_PROBES_GRACE — once, not per server."""
    return min(settings.JOB_ENQUEUE_TIMEOUT, REDIS_PROBES_MAX_WAIT) + REDIS_PROBES_GRACE


class _Probe:
    """`fn()` in a daemon thread of its own (with the caller's context variables: the request id in
    its log lines), started at once. A probe still running at the deadline is abandoned: it ends on
    its own socket timeouts, its result goes nowhere. Nothing here touches the database (a thread
    would open a connection of its own)."""

    def __init__(self, fn) -> None:
        self._fn = fn
        self._done = threading.Event()
        self._value = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._run,), daemon=True, name="health-probe").start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the waiting caller
            self._error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self, *, deadline: float, late):
        """The probe's value, or `late(budget)` when it has not answered by `deadline`
        (time.monotonic). Any thread may ask, any number of times."""
        if not self._done.wait(max(0.0, deadline - time.monotonic())):
            return late(redis_probes_budget())
        if self._error is not None:
            raise self._error
        return self._value


# The probes still running in this process, by what they probe. A probe abandoned at its deadline
# ends only on its socket timeouts, and a server that answers one byte at a time never trips them:
# each health poll (the container's every 30 s, a load balancer's every few seconds) left one more
# thread and socket behind. A poll now waits on the probe of the same target still running, if any,
# instead of starting another, so a process holds at most one per target; concurrent polls share it.
_probes_running: dict[tuple, _Probe] = {}
_probes_lock = threading.Lock()


def _probe_shared(key: tuple, fn) -> _Probe:
    """The probe of `key` still running in this process, or a new one running `fn`."""
    with _probes_lock:
        probe = _probes_running.get(key)
        if probe is None or probe.done:
            probe = _probes_running[key] = _Probe(fn)
        return probe


def _probe_late_error(budget: float) -> str:
    return f"TimeoutError: no answer within health's {budget:g} s budget for its Redis probes"


def _probe_late_check(budget: float) -> dict:
    return {
        "status": "down",
        "required": False,
        "latency_ms": round(budget * 1000, 2),
        "detail": {"error": _probe_late_error(budget)},
    }


def _liveness_late(budget: float) -> tuple[dict, float]:
    from ingestion.services.liveness import pipeline_liveness_unreadable

    return pipeline_liveness_unreadable(error=f"not read: {_probe_late_error(budget)}"), budget


DEGRADED = "degraded"  # a check's result between ok (True) and down (False): working, but not as it should
NOT_APPLICABLE = "n/a"  # not part of this set-up (the beat in embedded mode): neither ok nor a fault


def _check(fn, *, required: bool) -> dict:
    started = time.perf_counter()
    try:
        ok, detail = fn()
    except Exception as exc:  # a health check reports failures, it never raises
        ok, detail = False, {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {
        "status": ok if ok in (DEGRADED, NOT_APPLICABLE) else "ok" if ok else "down",
        "required": required,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "detail": detail,
    }


# Error texts the checks write themselves (fixed, no hosts or paths): shown to everyone.
_PUBLIC_ERRORS = {
    "no active model version: serving the newest one that loads",
    "the active model's artifact does not load: serving a version registered before it",
    "the active model's artifact does not load: serving a version registered after it",
}


def _redact_error(check: dict) -> None:
    """For anonymous / non-staff callers of the public health endpoint: an exception's or a model
    load's message names hosts, ports and file paths (`OperationalError: connection to server at
    "10.0.3.7", port 5432 failed`, `model artifact /srv/models/... is missing`) — keep only its type."""
    error = check["detail"].get("error") if isinstance(check["detail"], dict) else None
    if error and error not in _PUBLIC_ERRORS:
        kind = error.split(":", 1)[0] if ":" in error and " " not in error.split(":", 1)[0] else "error"
        check["detail"]["error"] = f"{kind} (details for staff)"


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, {"vendor": connection.vendor, "races": Race.objects.count()}


def _check_cache():
    if f1cache.breaker.state == "open":
        return False, {"breaker": f1cache.breaker.as_dict()}
    key = "f1:health:probe"
    value = str(time.time())
    f1cache.cache.set(key, value, timeout=10)
    ok = f1cache.cache.get(key) == value
    return ok, {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _check_broker():
    """Connect to the broker once, within JOB_ENQUEUE_TIMEOUT (`broker_connection_bounded`, as an
    enqueue does). kombu's Redis transport pings the server on connect with no socket timeout of
    its own, so a Redis that accepts and never answers held health forever (gunicorn killed the
    worker after 30 s; the container's HEALTHCHECK failed a site that was serving)."""
    from f1site.celery import broker_connection_bounded

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, {"mode": "eager (tasks run in-process)"}
    timeout = settings.JOB_ENQUEUE_TIMEOUT
    with broker_connection_bounded(timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        return True, {"transport": conn.transport_cls}


def _redis_server(url: str | None) -> tuple[str, int] | None:
    """(host, port) of a redis:// or rediss:// URL, else None (AMQP, a unix socket, unset)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        return None
    return parts.hostname, parts.port or 6379


def _liveness_read(*, broker: _Probe, deadline: float) -> tuple[dict, float]:
    """The liveness store read once for the worker and the beat checks (in the liveness probe's
    thread), and the seconds the read took. A store on the broker's Redis server waits for the broker
    check and is not read at all when that check has found the server down: a hung Redis would make
    the request wait out the read's timeout once more for an answer already known. A store of its
    own is read at once, alongside the broker probe."""
    from f1site.celery import app
    from ingestion.services.liveness import pipeline_liveness_get, pipeline_liveness_unreadable

    started = time.perf_counter()
    try:
        store = _redis_server(settings.JOB_LOCK_REDIS_URL)
        if store is not None and store == _redis_server(app.conf.broker_url):
            checked = broker.result(deadline=deadline, late=_probe_late_check)
            if checked["status"] == "down":
                error = f"the broker check found this Redis server down ({checked['detail'].get('error')})"
                return pipeline_liveness_unreadable(error=f"not read: {error}"), 0.0
            started = time.perf_counter()
        seen = pipeline_liveness_get()
    except Exception as exc:  # it answers "unknown" on its own; this guards the request from the rest
        seen = pipeline_liveness_unreadable(error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return seen, time.perf_counter() - started


def _liveness_check(role: str, liveness: dict, *, staff: bool = False):
    """Worker / beat liveness (ingestion.services.liveness): degraded, never down, when missing —
    the site serves without them, only the pipeline stalls. The worker's hostname, the beat's lock
    holder (host:pid:token) and the store's error only for staff."""
    from ingestion.services.liveness import EAGER_BEAT, EAGER_WORKER

    if liveness["mode"] == "eager":
        if role == "beat":  # nothing sends the schedule; not a fault of the embedded set-up
            return NOT_APPLICABLE, {"mode": "eager", "state": "not running", "detail": EAGER_BEAT}
        return True, {"mode": "eager", "detail": EAGER_WORKER}
    seen = liveness[role]
    detail = {
        "state": seen["status"],
        # datetimes: rendered by the API as every other timestamp ("…Z"); isoformat() wrote "+00:00"
        "last_seen_at": seen["last_seen_at"],
        "seconds_ago": seen["seconds_ago"],
        "stopped_at": seen.get("stopped_at"),
        "name": seen["name"] if staff else "",
        "max_silence_seconds": liveness["max_silence_seconds"],
    }
    if "error" in seen and staff:
        detail["error"] = seen["error"]
    return (True if seen["status"] == "ok" else DEGRADED), detail


def _check_model():
    # Loads the model the way predictions do (model_bundle_load: the active version, else an older
    # one whose artifact loads, else as a last resort a newer one); the bundle is cached per process,
    # so this is cheap after the first call. ok = the active version serves; degraded = another
    # one does; down = none loads.
    from predictions.services import ModelUnavailable
    from predictions.services.training import model_bundle_load_first, model_serving_candidates

    active, candidates = model_serving_candidates()  # one query for the active version and its fallbacks
    detail = {"active": active.label if active is not None else None}
    try:
        serving, _ = model_bundle_load_first(candidates=candidates)
    except ModelUnavailable as exc:
        return False, {**detail, "serving": None, "error": str(exc)[:300]}
    detail["serving"] = serving.label
    if active is None:
        return DEGRADED, {**detail, "error": "no active model version: serving the newest one that loads"}
    if serving.pk != active.pk:
        # "registered", not "newer"/"older": a version registered later (a backfill model) may be
        # trained on older data; the serving label says which one it is
        which = "after" if serving.created_at > active.created_at else "before"
        which = f"a version registered {which} it"
        return DEGRADED, {**detail, "error": f"the active model's artifact does not load: serving {which}"}
    return True, detail


def _alerts():
    from f1site.observability import alerts_evaluate

    try:
        return alerts_evaluate()
    except Exception as exc:  # alerts are informative; never fail health on them
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
