"""Gunicorn configuration: `gunicorn -c gunicorn.conf.py` (Procfile, Dockerfile, scripts/stack.sh).

Every knob is an environment variable with a measured default (README "Production serving and
observability" has the figures). This file deliberately imports nothing from Pitwall: the master
process never loads the application (no preload), so `kill -HUP <master>` starts fresh workers
on new code and settings while the old ones finish their requests (graceful reload).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from gunicorn.glogging import Logger

# Imported here, in the master, not in child_exit: gunicorn calls that hook while reaping workers
# from its SIGCHLD handling, and when several old workers exit at once (a HUP reload) the handler
# re-entered a half-done first import ("partially initialized module ... has no attribute
# 'mark_process_dead'") and the master died, taking the site down. A library, not Pitwall code, so
# HUP still reloads all of the application.
from prometheus_client import multiprocess as prometheus_multiprocess


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise SystemExit(f"{name}={value} must be >= 1")
    return value


def cpu_count() -> int:
    """CPUs this process may run on (respects taskset/cgroup cpusets, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# --- sizing ------------------------------------------------------------------------------------------
# Workers = CPUs + 1 sync processes (3 on two cores). Measured with bench/gunicorn_sizing.py on the
# 2-core development machine (6 client processes, cached API lists, three runs in different orders
# while other work loaded the machine): the sync layouts (2, 3 or 5 workers) served 90-221 req/s
# (p50 27-66 ms) and did not separate beyond run-to-run noise, so CPUs + 1 (the usual rule, and
# issue 4's 2-3 workers for two cores) stands; 3 x 4 gthread served more, 204-333
# req/s (p50 17-26 ms), because threads overlap the waits on Redis/PostgreSQL, BUT a HUP reload
# with gthread workers reset in-flight connections (tests/scripts/test_stack.py saw 2 of 4 probe
# requests fail) while sync workers drop none. Zero-downtime reloads win: sync by default;
# GUNICORN_THREADS=4 (gthread) where deploys replace whole machines/containers behind a load
# balancer instead of HUP. WEB_CONCURRENCY overrides the process count.
wsgi_app = "f1site.wsgi:application"
# Containers listen on all interfaces; scripts/stack.sh passes HOST=127.0.0.1.
_host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104
bind = os.environ.get("GUNICORN_BIND") or f"{_host}:{os.environ.get('PORT', '8001')}"
workers = _int("WEB_CONCURRENCY", cpu_count() + 1)
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
backlog = _int("GUNICORN_BACKLOG", 2048)

# --- timeouts and recycling --------------------------------------------------------------------------
timeout = _int("GUNICORN_TIMEOUT", 30)  # a worker silent this long is killed and replaced
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)  # SIGTERM/HUP: time to finish in-flight requests
keepalive = _int("GUNICORN_KEEPALIVE", 5)  # behind a proxy that reuses connections
# Recycle workers to bound slow leaks, but rarely and never all at once: a worker boot costs ~1.6 s
# of CPU (Django, the apps and their libraries, the URLconf), and sync workers share requests evenly,
# so with 5,000 +- 500 the three workers reached their limit within a second of each other every
# ~7 s at 2,000 requests/s and were booting together: 1-2.6 s p99 stalls and about half the
# throughput in bench_api (README "API", benchmark). 50,000 + up to 25,000: under 1 % of a core on
# boots at that rate, and the recycles are spread over tens of seconds.
max_requests = _int("GUNICORN_MAX_REQUESTS", 50000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max(1, max_requests // 2))
preload_app = False  # see module docstring: HUP reloads code
reload = os.environ.get("GUNICORN_RELOAD", "").lower() in {"1", "true", "yes"}  # development only
# Heartbeat files in memory, not on a possibly slow container overlay filesystem.
if Path("/dev/shm").is_dir():  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# Only a proxy on these addresses may set X-Forwarded-Proto/For (settings trust the proto header).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "pitwall-web"
# For `kill -HUP $(cat "$GUNICORN_PIDFILE")` on bare metal (scripts/stack.sh sets it); containers
# signal the container instead (`docker compose kill -s HUP web`).
pidfile = os.environ.get("GUNICORN_PIDFILE") or None

# --- metrics (multi-process Prometheus) --------------------------------------------------------------
# Each worker writes its own metric files into PROMETHEUS_MULTIPROC_DIR; /metrics sums them. When the
# directory comes from the environment, whoever set it (scripts/stack.sh, the compose release job)
# owns its lifecycle, because a Celery worker on this host may share it. Otherwise gunicorn picks a
# private one and empties it at start so counters from a previous run do not leak in.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _private = (
        Path(os.environ.get("PITWALL_VAR_DIR", Path(__file__).resolve().parent / "var")) / "prometheus-web"
    )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_private)
    os.environ["PITWALL_METRICS_DIR_OWNED"] = "1"


def _refuse_without_collected_static(server) -> None:
    """Stop before binding when pages would 500 on the collected static files (no manifest, or one
    from before this code's static files): `python -m f1site.static_check`, in a subprocess so the
    master still imports nothing from Pitwall. The message names the fix (the release step)."""
    check = subprocess.run(
        [sys.executable, "-m", "f1site.static_check"],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        timeout=_int("GUNICORN_STATIC_CHECK_TIMEOUT", 120),
    )
    if check.returncode != 0:
        lines = (check.stderr or check.stdout).strip().splitlines()
        server.log.error(lines[-1] if lines else f"static files check failed ({check.returncode})")
        if server.pidfile is not None:
            server.pidfile.unlink()
        raise SystemExit(1)


def on_starting(server):
    _refuse_without_collected_static(server)
    path = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if os.environ.get("PITWALL_METRICS_DIR_OWNED") == "1" and path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def metrics_process_identifier(pid: int) -> str:
    """Same as f1site.metrics.process_identifier (tested equal); not imported to keep the app out of the master."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{pid}"


def post_worker_init(worker):
    """Freeze the worker's startup heap once the application is loaded, before its first request.

    Why: a full (generation 2) collection walks every tracked object; with Django, DRF, the URLconf,
    the views and their libraries alive (~230k objects) it took ~150 ms and came every few hundred
    uncached requests, which made those requests the p99. Frozen objects are still freed by
    reference counting; only cycles among them would never be collected, hence one collection
    first. The URLconf is loaded here (Django would import it, and with it every view and library,
    on the first request) so the freeze covers it: 229k of the 230k objects alive after the first
    API requests. Runs in each worker, after fork; the master still imports nothing (HUP reloads
    code). A URLconf that fails to import now stops the worker at boot instead of 500ing requests.
    """
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the import is the point
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    """A dead worker's live gauges must not be summed into /metrics any more (imports nothing: see
    the prometheus_multiprocess import at the top)."""
    prometheus_multiprocess.mark_process_dead(metrics_process_identifier(worker.pid))


# --- logging: one JSON object per line, like the application's logs ---------------------------------
# GUNICORN_ACCESS_LOG="" turns the access log off (gunicorn would try to open a file named "").
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# TEXT mode (LOG_FORMAT=text) keeps gunicorn's line format, plus the request id.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class JsonLogger(Logger):
    """Gunicorn logger writing JSON lines; each access line carries the X-Request-ID the app set."""

    def setup(self, cfg):
        super().setup(cfg)
        if os.environ.get("LOG_FORMAT", "JSON").upper() == "JSON":
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(_JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.cfg.accesslog:
            return
        if os.environ.get("LOG_FORMAT", "JSON").upper() != "JSON":
            return super().access(resp, req, environ, request_time)
        headers = {name.lower(): value for name, value in resp.headers}
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        fields = {
            "request_id": headers.get("x-request-id"),
            "method": method,
            "path": path,
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info("%s %s %s", method, path, status, extra={"fields": fields})
        except Exception:
            self.error("access log failed", exc_info=True)


logger_class = JsonLogger
