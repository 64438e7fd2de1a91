"""A real `celery worker` process for tests (tests/ingestion/services/test_worker.py,
tests/predictions/api/test_regenerate_worker.py), and a scratch database for `manage.py` child
processes whose commits must not land in the test database (`scratch_database`).

The worker is another process reading the test database, so the tests that use it commit: they
take `committing_db` (tests/conftest.py; module scope, outside pytest-django's per-test
transaction) instead of the `db` fixtures, and clean up what they wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from f1site.celery import app

ROOT = Path(__file__).resolve().parents[1]


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.1):
    """Poll until `predicate()` is truthy and return that value; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def scratch_database(*, suffix: str) -> Iterator[str]:
    """An empty PostgreSQL database with the test database's schema (pg_dump -s), named after it plus
    `suffix`; yields its URL and drops it after. Child processes pointed at it commit for real."""
    import psycopg

    s = connection.settings_dict
    host, port, user = s["HOST"] or "127.0.0.1", str(s["PORT"] or 5432), s["USER"] or "postgres"
    name = f"{s['NAME']}{suffix}"
    admin = f"postgres://{user}@{host}:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    schema = subprocess.run(
        ["pg_dump", "-s", "-h", host, "-p", port, "-U", user, s["NAME"]], capture_output=True, check=True
    ).stdout
    subprocess.run(
        ["psql", "-q", "-h", host, "-p", port, "-U", user, name],
        input=schema,
        capture_output=True,
        check=True,
    )
    try:
        yield f"postgres://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_process_env(**overrides: str) -> dict[str, str]:
    """The environment of a child process (a worker, a `manage.py` command) that must work on this
    session's test database: tests.settings, DATABASE_URL naming the test database (and no
    TEST_DATABASE_NAME, which would point a test run inside it elsewhere), plus `overrides`."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_NAME"}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {**env, **overrides}


@contextmanager
def celery_worker(
    *,
    queue: str,
    concurrency: int,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    stop_timeout: float = 5,
    show_log: bool = False,
) -> Iterator[subprocess.Popen]:
    """A `celery worker` on `queue` against the test database and Redis, up (answering a ping)
    inside the block and stopped after it: SIGTERM, then SIGKILL to its process group (the worker
    and its pool children, nothing else) if it has not exited within `stop_timeout` s.

    `env` adds to the worker's environment; `args` to its command line. With `show_log` the tail
    of the worker's stderr is printed at the end (pytest shows it when a test failed).
    """
    # a test that switched the app to eager mode and failed to switch back would make every message
    # below run in this process instead of the worker: say so instead of failing obscurely
    assert not app.conf.task_always_eager, "the Celery app was left in eager mode by an earlier test"
    worker_env = child_process_env(
        **{
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
    )
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally; the worker's log (a pipe nobody reads could fill up and block it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "f1site", "worker", "-P", "prefork", "-c", str(concurrency),
         "-Q", queue, *args, "-n", f"{queue}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "warning"],
        cwd=ROOT, env=worker_env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=0.5),
            timeout=30,
            what="worker",
        )
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        if show_log:
            log.seek(0)
            tail = log.read()[-3000:].decode(errors="replace")
            if tail.strip():
                print("worker log:\n" + tail)
        log.close()
