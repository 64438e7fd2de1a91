"""Worker and beat liveness: throttled heartbeats kept in Redis, read by /health and jobs/status.

Before, nothing said whether a Celery worker or the beat was running: a dead worker or beat was
noticed only by the `sync_stale` alert, 26 h later. Now

* every worker's main process writes `{hostname: {at, pid}}` into one Redis hash when it is ready and
  then every LIVENESS_HEARTBEAT_SECONDS from a daemon thread (`worker_heartbeat_start`, connected to
  Celery's `worker_ready` in f1site.observability), and marks its entry stopped (`stopped_at`) when it
  shuts down cleanly;
* the beat (ingestion.services.jobs.SingleBeatScheduler) writes `{at, holder}` at start-up and from its
  tick at most every LIVENESS_HEARTBEAT_SECONDS (a tick comes at least every 20 s), and marks it
  stopped on a clean stop;
* `pipeline_liveness_get` calls a worker or the beat `missing` once its last heartbeat is older than
  LIVENESS_MAX_SILENCE_SECONDS (or absent), or at once when it stopped cleanly (`stopped_at` set). In the eager mode (CELERY_TASK_ALWAYS_EAGER, the
  embedded set-up) no worker is needed (a triggered job runs in-process) and no beat runs: the
  schedule is not sent at all (only `make stack` starts a beat), and it says so.

The store is JOB_LOCK_REDIS_URL (default REDIS_URL), like the job locks; without Redis the local
cache stands in (one host only).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime

from django.conf import settings
from django.core.cache import cache as django_cache
from django.utils import timezone

logger = logging.getLogger(__name__)

WORKERS_KEY = "pitwall:liveness:workers"
BEAT_KEY = "pitwall:liveness:beat"
# The embedded mode (no REDIS_URL, CELERY_TASK_ALWAYS_EAGER): a job someone triggers runs in the
# requesting process, but nothing sends the schedule — the quick start starts no beat.
EAGER_WORKER = "no worker needed: jobs triggered from the admin or run_job run in-process"
EAGER_BEAT = "not running (embedded mode: schedules run only under `make stack`)"
# jobs/status: no job is overdue where nothing sends the schedule (health's beat "n/a" alike)
EAGER_OVERDUE = f"n/a: the beat is {EAGER_BEAT}"
KEEP_SECONDS = 86400  # a worker silent for a day is dropped from the list (its key expires too)


def _redis(*, timeout: float | None = None):
    """The liveness store's client: the job locks' (5 s timeouts) for the heartbeats, which the
    worker and the beat write from their own threads; `timeout` for a read someone waits on."""
    from ingestion.services.jobs import redis_client_for

    url = settings.JOB_LOCK_REDIS_URL
    if not url:
        return None
    return redis_client_for(url) if timeout is None else redis_client_for(url, timeout=timeout)


def _entry(at: datetime, **extra) -> str:
    return json.dumps({"at": at.isoformat(), **extra})


def _worker_entry_write(*, hostname: str, value: str) -> None:
    client = _redis()
    if client is not None:
        pipe = client.pipeline()
        pipe.hset(WORKERS_KEY, hostname, value)
        pipe.expire(WORKERS_KEY, KEEP_SECONDS)
        pipe.execute()
        return
    workers = django_cache.get(WORKERS_KEY) or {}
    workers[hostname] = value
    django_cache.set(WORKERS_KEY, workers, KEEP_SECONDS)


def worker_heartbeat_record(*, hostname: str, at: datetime | None = None) -> None:
    _worker_entry_write(hostname=hostname, value=_entry(at or timezone.now(), pid=os.getpid()))


def worker_heartbeat_forget(*, hostname: str, at: datetime | None = None) -> None:
    """A clean stop: the entry becomes a stopped-at marker (missing at once, "stopped cleanly at …"),
    not deleted — deleted, the page said "never seen" after every clean restart."""
    at = at or timezone.now()
    _worker_entry_write(hostname=hostname, value=_entry(at, pid=os.getpid(), stopped_at=at.isoformat()))


def beat_heartbeat_record(*, holder: str, at: datetime | None = None, **extra) -> None:
    value = _entry(at or timezone.now(), holder=holder, **extra)
    client = _redis()
    if client is not None:
        client.set(BEAT_KEY, value, ex=KEEP_SECONDS)
    else:
        django_cache.set(BEAT_KEY, value, KEEP_SECONDS)


def beat_heartbeat_forget(*, holder: str, at: datetime | None = None) -> None:
    """A clean stop: the beat's entry becomes a stopped-at marker (missing at once, "stopped cleanly
    at …") instead of being deleted; never another beat's entry."""
    client = _redis()
    raw = client.get(BEAT_KEY) if client is not None else django_cache.get(BEAT_KEY)
    if raw and json.loads(raw).get("holder") == holder:
        at = at or timezone.now()
        beat_heartbeat_record(holder=holder, at=at, stopped_at=at.isoformat())


class _WorkerHeartbeat:
    def __init__(self, hostname: str):
        self.hostname = hostname
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="liveness-heartbeat")

    def _run(self) -> None:
        while True:
            try:
                worker_heartbeat_record(hostname=self.hostname)
            except Exception:  # Redis away: the next beat retries; health reports the silence
                logger.warning("worker heartbeat not written", exc_info=True)
            if self._stop.wait(settings.LIVENESS_HEARTBEAT_SECONDS):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            worker_heartbeat_forget(hostname=self.hostname)
        except Exception:
            logger.warning("worker heartbeat not marked stopped", exc_info=True)


_worker_heartbeat: _WorkerHeartbeat | None = None


def worker_heartbeat_start(*, hostname: str) -> None:
    """Start this worker's heartbeat thread (once per process)."""
    global _worker_heartbeat
    if _worker_heartbeat is None:
        _worker_heartbeat = _WorkerHeartbeat(hostname)
        _worker_heartbeat.start()


def worker_heartbeat_stop() -> None:
    global _worker_heartbeat
    if _worker_heartbeat is not None:
        _worker_heartbeat.stop()
        _worker_heartbeat = None


def _seen(raw, *, now: datetime, max_silence: int) -> dict:
    entry = json.loads(raw) if isinstance(raw, str | bytes) else {}
    at = datetime.fromisoformat(entry["at"]) if entry.get("at") else None
    ago = round((now - at).total_seconds(), 1) if at else None
    stopped = datetime.fromisoformat(entry["stopped_at"]) if entry.get("stopped_at") else None
    return {
        "status": "ok" if ago is not None and ago <= max_silence and stopped is None else "missing",
        "last_seen_at": at,
        "seconds_ago": ago,
        "stopped_at": stopped,
        "name": entry.get("holder", ""),
    }


def pipeline_liveness_unreadable(*, error: str) -> dict:
    """`pipeline_liveness_get`'s answer when the store cannot be read: worker and beat "unknown",
    with `error` (for staff only: it may name hosts)."""
    unknown = {"status": "unknown", "last_seen_at": None, "seconds_ago": None, "stopped_at": None, "name": "",
               "error": error}  # fmt: skip
    return {
        "mode": "workers",
        "detail": "liveness store unreadable",
        "max_silence_seconds": settings.LIVENESS_MAX_SILENCE_SECONDS,
        "worker": {**unknown, "workers": []},
        "beat": unknown,
    }


def pipeline_liveness_get(*, now: datetime | None = None) -> dict:
    """{mode, detail, max_silence_seconds, worker, beat}: `worker` is ok when any worker was seen
    within the threshold (each listed under `workers`), `beat` likewise; `status` "unknown" when the
    store cannot be read. In the eager mode `worker` and `beat` are None.

    Callers wait on the answer (/health, jobs/status, the staff page): the store is read with
    JOB_ENQUEUE_TIMEOUT as its socket timeouts, not the heartbeats' 5 s — a hung Redis (accepts,
    never answers) cost 5 s per read."""
    max_silence = settings.LIVENESS_MAX_SILENCE_SECONDS
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {
            "mode": "eager",
            "detail": f"{EAGER_WORKER}; beat {EAGER_BEAT}",
            "max_silence_seconds": max_silence,
            "worker": None,
            "beat": None,
        }
    now = now or timezone.now()
    try:
        client = _redis(timeout=settings.JOB_ENQUEUE_TIMEOUT)
        if client is not None:
            pipe = client.pipeline(transaction=False)  # one round trip, one timeout at most
            pipe.hgetall(WORKERS_KEY)
            pipe.get(BEAT_KEY)
            workers_hash, beat_raw = pipe.execute()
            workers_raw = {k.decode(): v for k, v in workers_hash.items()}
        else:
            workers_raw = django_cache.get(WORKERS_KEY) or {}
            beat_raw = django_cache.get(BEAT_KEY)
    except Exception as exc:
        return pipeline_liveness_unreadable(error=f"{type(exc).__name__}: {str(exc)[:200]}")
    workers = []
    for hostname, raw in sorted(workers_raw.items()):
        seen = _seen(raw, now=now, max_silence=max_silence)
        if seen["seconds_ago"] is not None and seen["seconds_ago"] > KEEP_SECONDS:
            continue
        workers.append({**seen, "name": hostname})
    # the freshest live worker; with none alive, the last one seen (stopped or silent)
    latest = min(
        [w for w in workers if w["status"] == "ok"] or workers, key=lambda w: w["seconds_ago"], default=None
    )
    worker = {
        "status": "ok" if any(w["status"] == "ok" for w in workers) else "missing",
        "last_seen_at": latest["last_seen_at"] if latest else None,
        "seconds_ago": latest["seconds_ago"] if latest else None,
        "stopped_at": latest["stopped_at"] if latest else None,
        "name": latest["name"] if latest else "",
        "workers": workers,
    }
    beat = _seen(beat_raw, now=now, max_silence=max_silence)
    alive = [w["name"] for w in workers if w["status"] == "ok"]
    detail = (
        f"{len(alive)} worker(s) seen in the last {max_silence} s"
        if alive
        else f"no worker seen in the last {max_silence} s"
    ) + ("; beat ok" if beat["status"] == "ok" else f"; no beat seen in the last {max_silence} s")
    return {
        "mode": "workers",
        "detail": detail,
        "max_silence_seconds": max_silence,
        "worker": worker,
        "beat": beat,
    }


def liveness_redact(liveness: dict) -> dict:
    """`pipeline_liveness_get` for anonymous callers: the states and times, without worker hostnames,
    the beat's lock holder (host:pid:token) or the store's error text (which names hosts)."""

    def seen(entry: dict | None) -> dict | None:
        if entry is None:
            return None
        out = {k: v for k, v in entry.items() if k != "error"}
        out["name"] = ""
        if "workers" in out:
            out["workers"] = []
        return out

    return {**liveness, "worker": seen(liveness["worker"]), "beat": seen(liveness["beat"])}
