"""scripts/stack.sh end to end: gunicorn + Celery worker + beat against the real PostgreSQL test
database and Redis, production settings (DEBUG off), on port 8171.

One test (the stack takes a few seconds to boot on two shared cores) that follows one request and
one job through health, /metrics and the JSON logs, then stops the stack with SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.metrics_exposition import names, parse_exposition, sample

ROOT = Path(__file__).resolve().parents[2]
PORT = 8171
BASE = f"http://127.0.0.1:{PORT}"

pytestmark = [
    pytest.mark.slow,
    # Makes pytest-django create the session's test database; this test itself never writes to it.
    pytest.mark.django_db,
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql") or not settings.REDIS_URL,
        reason="the stack runs on PostgreSQL + Redis (set DATABASE_URL and REDIS_URL, as CI does)",
    ),
]


class StackOutput:
    """Collects honcho's prefixed output lines ("12:00:00 web.1 | {...}") from a reader thread."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @staticmethod
    def process_of(line: str) -> str | None:
        """ "web.1" for "12:00:00 web.1 | ...", None for lines honcho did not prefix (release step)."""
        head, sep, _ = line.partition(" | ")
        words = head.split()
        return words[-1] if sep and words else None

    def json_records(self, process: str) -> list[dict]:
        records = []
        for line in list(self.lines):
            body = line.partition(" | ")[2]
            if (self.process_of(line) or "").startswith(process + ".") and body.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    records.append(json.loads(body))
        return records

    def text(self) -> str:
        return "\n".join(self.lines[-80:])


def _get(path: str, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(BASE + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _wait_for(predicate, *, timeout: float, what: str, output: StackOutput):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})\n--- stack output ---\n{output.text()}")


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may contain spaces, so split after the last ")"
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _copy_database(dsn: dict, *, source: str, target: str) -> None:
    base = ["-h", str(dsn["host"]), "-p", str(dsn["port"]), "-U", dsn["user"]]
    dump = subprocess.Popen(["pg_dump", *base, "-Fc", source], stdout=subprocess.PIPE)
    subprocess.run(["pg_restore", *base, "--no-owner", "-d", target], stdin=dump.stdout, check=True)
    assert dump.wait() == 0


@pytest.fixture(scope="module")  # module scope: set up before the test's own transaction opens
def stack_database(django_db_setup, django_db_blocker):
    """A private copy of the session's test database (schema + loaded dump) for the stack to use.

    The stack's beat and worker commit rows (schedule bookkeeping, JobRuns) that a rolled-back test
    transaction would not undo; on a copy they cannot leak into other tests, and the session's
    database (with the Ergast dump) is never flushed. Dropped afterwards.
    """
    import psycopg

    db = connection.settings_dict
    name = f"{db['NAME']}_stack"[:63]
    dsn = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "dbname": "postgres",
    }
    with django_db_blocker.unblock():
        connection.close()  # CREATE DATABASE ... TEMPLATE needs the template to have no sessions
        with psycopg.connect(**dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{db["NAME"]}"')
            except psycopg.errors.ObjectInUse:  # someone else is connected: copy with dump/restore
                admin.execute(f'CREATE DATABASE "{name}"')
                _copy_database(dsn, source=db["NAME"], target=name)
    with psycopg.connect(**{**dsn, "dbname": name}, autocommit=True) as conn:
        # A fresh successful sync: the sync-stale alert is quiet and the age gauge has a value.
        conn.execute(
            "INSERT INTO ingestion_syncrun (source, status, started_at, finished_at, params, counts,"
            " requests_made, errors, cursor) VALUES ('jolpica', 'succeeded', now(), now(), '{}', '{}',"
            " 0, '[]', '{}')"
        )
        # An active model version whose artifact does not exist: /metrics reads the registry row;
        # the health check tries to load it and must report the model down (not ok).
        conn.execute(
            "INSERT INTO predictions_modelversion (label, created_at, train_from_season,"
            " train_until_season, trained_until_date, rows, features, params, data_fingerprint, metrics,"
            " artifact_path, is_active) SELECT 'v-stack-test', now(), 2018, 2025, '2025-12-07', 1, '[]',"
            " '{}', 'stack-test', '{}', '/nonexistent/model.joblib', true"
            " WHERE NOT EXISTS (SELECT 1 FROM predictions_modelversion WHERE is_active)"
        )
        active_model = conn.execute("SELECT label FROM predictions_modelversion WHERE is_active").fetchone()[
            0
        ]
    yield f"postgres://{dsn['user']}@{dsn['host']}:{dsn['port']}/{name}", active_model
    with psycopg.connect(**dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def stack(stack_database, tmp_path):
    database_url, active_model = stack_database
    assert _port_free(PORT), f"port {PORT} is busy: a previous stack was not stopped"
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DJANGO_SETTINGS_MODULE",
            "TEST_DATABASE_NAME",
            "PYTEST_XDIST_WORKER",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        DJANGO_SETTINGS_MODULE="f1site.settings",
        DEBUG="false",
        SECRET_KEY="stack-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        PORT=str(PORT),
        HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
        CELERY_CONCURRENCY="1",
        LOG_LEVEL="INFO",
        LOG_FORMAT="JSON",
        PITWALL_VAR_DIR=str(tmp_path / "var"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        STATIC_MANIFEST="false",
        AXES_ENABLED="false",
        RELEASE_COLLECTSTATIC="0",  # the collectstatic step has its own test (test_container)
        # Never reach the real internet if a scheduled job fires during the test.
        ERGAST_API_BASE="http://127.0.0.1:9/ergast/f1",
        OPENF1_API_BASE="http://127.0.0.1:9/v1",
        WEATHER_API_BASE="http://127.0.0.1:9/v1",
    )
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "stack.sh"), "--release"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the fallback kill reaches every child
    )
    output = StackOutput(process.stdout)
    try:
        yield process, output, tmp_path / "var" / "gunicorn.pid", active_model
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_stack_serves_health_metrics_and_jobs_then_stops_cleanly(stack):
    process, output, pidfile, active_model = stack
    from celery import current_app

    from f1site.logging import bind_log_context, log_context

    # 1. Health green but for the model: every service check passes (a transient Redis timeout while
    #    two cores boot three processes may open the cache breaker for a moment, so poll), the model
    #    row's artifact does not exist so that check is down (degraded overall, still 200), alerts
    #    are included.
    #    The stack's own worker and beat write liveness heartbeats: both checks are ok.
    services = ("database", "cache", "broker", "worker", "beat")

    def green():
        status, _, body = _get("/api/v1/health")
        health = json.loads(body) if status in (200, 503) else {}
        checks = health.get("checks", {})
        return health if status == 200 and all(checks[c]["status"] == "ok" for c in services) else None

    health = _wait_for(green, timeout=120, what="GET /api/v1/health services green", output=output)
    assert {name: check["status"] for name, check in health["checks"].items()} == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "worker": "ok",
        "beat": "ok",
        "model": "down",
    }
    assert health["checks"]["worker"]["detail"]["name"] == ""  # anonymous: no hostnames (staff only)
    assert health["status"] == "degraded"
    assert "transport" in health["checks"]["broker"]["detail"]  # a real broker, not eager mode
    assert health["checks"]["model"]["detail"]["active"] == active_model
    # anonymous: the load error (it names the artifact's path on the server) is for staff only
    assert health["checks"]["model"]["detail"]["error"] == "error (details for staff)"
    alerts = {alert["name"]: alert for alert in health["alerts"]}
    assert set(alerts) == {
        "sync_stale",
        "job_failing",
        "api_5xx_rate",
        "model_below_grid_baseline",
        "cache_invalidation_pending",
    }
    assert alerts["sync_stale"]["firing"] is False
    assert alerts["cache_invalidation_pending"]["firing"] is False

    # The release step ran first (deploy checks, migrate, schedule seeding) and finished.
    released = [
        json.loads(line)["message"] for line in output.lines if line.startswith('{"logger":"release"')
    ]
    assert released == ["check --deploy", "migrate", "seed beat schedule", "release done"], output.lines[:40]

    # 2. One request followed through the logs: gunicorn's JSON access line carries our id.
    request_id = f"stack-{uuid.uuid4().hex[:12]}"
    status, headers, _ = _get("/api/v1/health", headers={"X-Request-ID": request_id})
    assert status == 200 and headers["X-Request-ID"] == request_id
    # (The model check also logs, with the same id, that the active model's artifact is unusable.)
    access = _wait_for(
        lambda: [
            r
            for r in output.json_records("web")
            if r.get("request_id") == request_id and r.get("logger") == "gunicorn.access"
        ],
        timeout=10,
        what="the access log line for our request",
        output=output,
    )
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == ("GET", "/api/v1/health", 200)

    # 3. One job followed through the worker: queued with a request id bound, as a view would.
    token = bind_log_context(request_id=request_id)
    try:
        result = current_app.send_task("celery.accumulate", args=(7, 8))
    finally:
        log_context.reset(token)
    assert result.get(timeout=30) == [7, 8]

    def job_log():
        lines = [r for r in output.json_records("worker") if r.get("task_id") == result.id]
        return lines if any(r["message"] == "job finished" for r in lines) else None

    job_lines = _wait_for(job_log, timeout=10, what="worker log lines with the task id", output=output)
    assert {r.get("request_id") for r in job_lines} == {request_id}
    assert any(r["message"] == "job finished" and r["status"] == "success" for r in job_lines)

    # 4. /metrics on the web sees its own requests AND the worker's job (shared multiprocess dir).
    status, _, body = _get("/metrics")
    assert status == 200
    metrics = parse_exposition(body.decode())
    assert (
        sample(metrics, "pitwall_request_latency_seconds_count", view="api-health", method="GET", status=200)
        >= 2
    )
    assert sample(metrics, "pitwall_job_runs_total", job="celery.accumulate", status="success") >= 1
    assert sample(metrics, "pitwall_state_up") == 1
    assert 0 <= sample(metrics, "pitwall_last_successful_sync_age_seconds", source="jolpica") < 600
    assert sample(metrics, "pitwall_alert_firing", alert="sync_stale") == 0
    assert sample(metrics, "pitwall_model_active_info", version=active_model) == 1
    assert "pitwall_cache_invalidations_pending" in names(metrics)  # sample() reads absent as 0
    assert sample(metrics, "pitwall_cache_invalidations_pending") == 0  # Redis up all along: none refused
    # From a non-allowlisted address (no token) it is refused: checked in test_metrics_endpoint.

    # 5. The beat process is up alongside (honcho prefixes its lines "beat.1").
    assert any(output.process_of(line) == "beat.1" for line in output.lines), output.text()

    # 6. Graceful reload: HUP to the gunicorn master (pidfile) replaces every worker while requests
    #    keep being answered (they wait in the listen backlog while new workers boot; none fails).
    master = int(pidfile.read_text())
    old_workers = _children(master)
    assert len(old_workers) == 2
    os.kill(master, signal.SIGHUP)
    statuses = []

    def reloaded():
        try:
            statuses.append(_get("/api/v1/health", timeout=90)[0])
        except OSError as exc:  # a refused or dropped request is a failed reload, not a retry
            statuses.append(repr(exc))
        workers = _children(master)
        return len(workers) == 2 and not workers & old_workers

    _wait_for(reloaded, timeout=120, what="HUP: a fresh set of gunicorn workers", output=output)
    assert statuses and set(statuses) == {200}

    # 7. SIGTERM to honcho stops web, worker and beat; the port is released.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) is not None
    _wait_for(lambda: _port_free(PORT), timeout=10, what="port released", output=output)

    def group_gone():
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    _wait_for(group_gone, timeout=15, what="every stack process to exit", output=output)
