"""The health report behind `/api/v1/health`: database, cache, broker, worker, beat and model checks,
the cache statistics and the alert evaluation. The view only picks the status code (503 when a
required check fails: status "down") and the cache headers."""

from __future__ import annotations

import functools
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

from f1site import cache as f1cache
from ingestion.models import Race


def health_report(*, staff: bool) -> dict:
    """Every check with its status ("ok", "degraded", "down", or "n/a" when not part of this set-up),
    whether it is required and its latency; overall "down" when a required check fails, "degraded"
    when any other check is not ok. Error texts that may name hosts or paths only for `staff`."""
    checks = {
        "database": _check(_check_database, required=True),
        "cache": _check(_check_cache, required=False),
        "broker": _check(_check_broker, required=False),
    }
    liveness = _liveness_reader(broker=checks["broker"])
    checks["worker"] = _check(lambda: _liveness_check("worker", liveness(), staff=staff), required=False)
    checks["beat"] = _check(lambda: _liveness_check("beat", liveness(), staff=staff), required=False)
    checks["model"] = _check(_check_model, required=False)
    if not staff:
        for check in checks.values():
            _redact_error(check)
    failed_required = any(c["required"] and c["status"] != "ok" for c in checks.values())
    degraded = any(c["status"] not in ("ok", NOT_APPLICABLE) for c in checks.values())
    overall = "down" if failed_required else ("degraded" if degraded else "ok")
    return {"status": overall, "checks": checks, "cache": f1cache.cache_stats(), "alerts": _alerts()}


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


def _liveness_reader(*, broker: dict):
    """The liveness store read once for the worker and the beat checks (it was read twice), and not
    at all when the broker check has just found that same Redis server down: a hung Redis would
    make the request wait out the read's timeout once more for an answer already known."""
    from f1site.celery import app
    from ingestion.services.liveness import pipeline_liveness_get, pipeline_liveness_unreadable

    @functools.cache
    def read() -> dict:
        store = _redis_server(settings.JOB_LOCK_REDIS_URL)
        if broker["status"] == "down" and store is not None and store == _redis_server(app.conf.broker_url):
            return pipeline_liveness_unreadable(
                error=f"not read: the broker check found this Redis server down ({broker['detail'].get('error')})"
            )
        return pipeline_liveness_get()

    return read


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
        "last_seen_at": seen["last_seen_at"].isoformat() if seen["last_seen_at"] else None,
        "seconds_ago": seen["seconds_ago"],
        "stopped_at": seen["stopped_at"].isoformat() if seen.get("stopped_at") else None,
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
