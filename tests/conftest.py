"""Shared test fixtures: the f1mirror server (real HTTP, from ../shared/tools) and the Ergast dump.

The mirror runs in-process in a thread on a free port; tests reach it only through the same
base-URL settings production uses (ERGAST_API_BASE, OPENF1_API_BASE, WEATHER_API_BASE).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

# A moment in the 2026 season of the offline data: results through round 7, and Qatar (round 22,
# 2026-11-29) and Abu Dhabi (2026_uae, round 23, 2026-12-06) still to come. A test about "the next races"
# whose code under test has no clock parameter (the API's upcoming list, staff regeneration, race
# statuses) runs at this time with `@in_season`, so it means the same on any real date; code that
# takes a clock (predict --as-of, ?as_of=, as_of=) is given one instead.
IN_SEASON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
in_season = pytest.mark.time_machine(IN_SEASON, tick=True)

ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("PITWALL_SHARED_DIR", ROOT.parent / "shared"))
DATA_DIR = SHARED_DIR / "data"
ERGAST_DUMP_DIR = DATA_DIR / "ergast"
MIRROR_SCRIPT = SHARED_DIR / "tools" / "f1mirror.py"


def _require_shared() -> None:
    if not MIRROR_SCRIPT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared data and mirror at {SHARED_DIR}")
        pytest.skip(f"shared data not found at {SHARED_DIR}")


def load_mirror_module():
    spec = importlib.util.spec_from_file_location("f1mirror", MIRROR_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Mirror:
    """A running f1mirror: base URLs plus the control endpoints (faults, rate limit, request log)."""

    def __init__(self, server):
        self.server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.ergast = f"{self.url}/ergast/f1"
        self.openf1 = f"{self.url}/v1"
        self.weather = f"{self.url}/v1"

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def set_faults(self, rules, seed: int | None = 1):
        body = {"rules": rules if isinstance(rules, list) else [rules], "append": False}
        if seed is not None:
            body["seed"] = seed
        return self._call("POST", "/__faults", body)

    def clear_faults(self):
        return self._call("DELETE", "/__faults")

    def set_rate_limit(self, spec: str):
        return self._call("POST", "/__ratelimit", {"spec": spec})

    def clear_rate_limit(self):
        return self._call("DELETE", "/__ratelimit")

    def requests(self) -> dict:
        """The request log, read until two reads 30 ms apart agree: the mirror logs a request just
        after answering it, so a read right after a client call can miss the last one."""
        log = self._call("GET", "/__requests")
        for _ in range(20):
            time.sleep(0.03)
            again = self._call("GET", "/__requests")
            if again["total"] == log["total"]:
                return again
            log = again
        return log

    def requests_settled(self, *, at_least: int, timeout: float = 5.0) -> dict:
        """The request log once it holds at least `at_least` requests (or after `timeout`): the mirror
        logs a request after its answer is sent or its connection reset, so a client can hold the
        answer before the log does (read at once, the count flaked under load)."""
        deadline = time.monotonic() + timeout
        log = self._call("GET", "/__requests")
        while log["total"] < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
            log = self._call("GET", "/__requests")
        return log

    def reset_requests(self):
        return self._call("DELETE", "/__requests")

    def reset(self):
        self.clear_faults()
        self.clear_rate_limit()
        self.reset_requests()


def start_mirror(data_dir: Path | None = None, **options) -> Mirror:
    """A mirror in a thread; `data_dir` serves an edited copy of the data (an `ergast/` dump and an
    `openf1/` directory) instead of the shared one. The caller shuts it down."""
    _require_shared()
    module = load_mirror_module()
    server = module.make_server(str(data_dir or DATA_DIR), "127.0.0.1", 0, **options)
    threading.Thread(target=server.serve_forever, daemon=True, name="f1mirror").start()
    return Mirror(server)


@pytest.fixture(scope="session")
def mirror_server() -> Mirror:
    mirror = start_mirror()
    yield mirror
    mirror.server.shutdown()


@pytest.fixture
def mirror(mirror_server, settings) -> Mirror:
    """The mirror, reset to no faults / no rate limit, with the app's base URLs pointed at it."""
    mirror_server.reset()
    settings.ERGAST_API_BASE = mirror_server.ergast
    settings.OPENF1_API_BASE = mirror_server.openf1
    settings.WEATHER_API_BASE = mirror_server.weather
    settings.ERGAST_RATE_LIMIT = "1000/s"
    yield mirror_server
    mirror_server.reset()


@pytest.fixture(scope="session")
def ergast_dump_dir() -> Path:
    _require_shared()
    return ERGAST_DUMP_DIR


# --- the Ergast dump, loaded into the test database once per session (per xdist worker) ---------
# Tests see the full 1950-2026 dump (the `ergast_data` fixture) and run in transactions on top of
# it. A transactional test (transaction=True, live_server, a real Celery worker) ends with Django's
# flush, which empties every table; the dump is then re-loaded before the next database test.
# With --reuse-db a database that already holds the dump is not re-loaded.

# After the first load the loaded rows are copied into a schema of the test database
# (tests/dump_snapshot.py), and a re-load after a flush copies them back: a few dozen re-loads from
# the CSV files (4-9 s each) were a minute or two of every run.

_DUMP_STATE = {"loaded": False, "dirty": False, "snapshot": False}
_TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server", "django_db_reset_sequences"}


def _ensure_dump_loaded() -> bool:
    from django.db import connection

    from ingestion.models import Race, SyncRun, SyncSource, SyncStatus
    from ingestion.services.ergast_dump import ergast_dump_load
    from tests.dump_snapshot import snapshot_restore, snapshot_take

    if not ERGAST_DUMP_DIR.is_dir():
        return False
    loaded = SyncRun.objects.filter(
        source=SyncSource.ERGAST_DUMP, status__in=[SyncStatus.SUCCEEDED, SyncStatus.PARTIAL]
    ).exists()
    present = loaded and Race.objects.exists()
    if not present and not (_DUMP_STATE["snapshot"] and snapshot_restore(connection)):
        ergast_dump_load(directory=ERGAST_DUMP_DIR)
        # only of a load this process just made into emptied tables: a database kept by --reuse-db
        # may hold a previous run's leftovers, which every restore would then bring back
        if not _DUMP_STATE["snapshot"]:
            _DUMP_STATE["snapshot"] = snapshot_take(connection)
    return True


def _uses_db(item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    # committing_db: the real-worker modules, which read the dump outside pytest-django's fixtures
    return item.get_closest_marker("django_db") is not None or bool(
        ({"db", "committing_db"} | _TRANSACTIONAL_FIXTURES) & names
    )


def _uses_transactional_db(item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    return bool(_TRANSACTIONAL_FIXTURES & set(getattr(item, "fixturenames", ())))


def _on_test_database() -> bool:
    from django.db import connection

    db = connection.settings_dict
    test_name = (db.get("TEST") or {}).get("NAME")
    return db["NAME"] == test_name if test_name else str(db["NAME"]).startswith("test_")


def _other_sessions_report(*, wait_seconds: float = 10.0) -> None:
    """Before the test database is dropped: other sessions still on it make pytest-django's DROP
    DATABASE fail with only "is being accessed by other users". Wait a little for them (a child
    process that is exiting), then warn naming those that stay — their process (application_name,
    tests/settings.py: `pitwall-test:<pid>:<program>`), state and last query."""
    import warnings

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + wait_seconds
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, application_name, state, backend_start, left(query, 160) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            others = cursor.fetchall()
        if not others or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    if others:
        warnings.warn(
            f"{len(others)} other session(s) still on the test database {connection.settings_dict['NAME']} "
            f"after {wait_seconds:g} s, so it cannot be dropped (own process: pitwall-test:{os.getpid()}): "
            + "; ".join(
                f"pid {pid} {app!r} {state} since {start:%H:%M:%S}: {query!r}"
                for pid, app, state, start, query in others
            ),
            stacklevel=1,
        )


@pytest.fixture(scope="session")
def django_db_setup(request, django_db_setup, django_db_blocker):
    """pytest-django's test database, plus the full Ergast dump (skipped if the data is absent).

    pytest-django sets up a database only when a collected test asks for one through `db`,
    `transactional_db` or a `django_db` mark; `committing_db` is none of these, so a run of only
    committing tests (one real-worker test by its node id) was left on DATABASE_URL's own database:
    the dump was loaded there and the test's commits would have landed there. Such a run now gets
    the test database too, set up and torn down here."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    own = None
    reuse = request.config.getoption("reuse_db", False)  # as pytest-django: --create-db rebuilds, keeps
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql" and not _on_test_database():
            keepdb = reuse and not request.config.getoption("create_db", False)
            own = setup_databases(verbosity=0, interactive=False, aliases={"default"}, keepdb=keepdb)
        _DUMP_STATE["loaded"] = _ensure_dump_loaded()
    yield
    with django_db_blocker.unblock():
        _other_sessions_report()
    if own is not None:
        with django_db_blocker.unblock():
            teardown_databases(own, verbosity=0, keepdb=reuse)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    if _DUMP_STATE["dirty"] and _uses_db(item):
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            _ensure_dump_loaded()
        _DUMP_STATE["dirty"] = False
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    if _uses_transactional_db(item):
        _DUMP_STATE["dirty"] = True


@pytest.fixture
def embedded_celery(settings):
    """The embedded mode (no REDIS_URL): tasks always eager, in Django's settings and the Celery app."""
    from f1site.celery import app

    # read before changing Django's setting: the app's conf loads lazily from it, and reading it
    # afterwards would "restore" True and leave every later test (the real-worker ones) eager
    before = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before
    with app.connection_for_write() as conn:  # a message sent despite eager mode (the bug) is dropped
        conn.SimpleQueue(app.conf.task_default_queue).clear()


@pytest.fixture
def ergast_data(db) -> Path:
    """The full Ergast dump in the database (loaded once per session); returns the dump directory."""
    if not _DUMP_STATE["loaded"]:
        _require_shared()
        pytest.fail(f"Ergast dump not loaded from {ERGAST_DUMP_DIR}")
    return ERGAST_DUMP_DIR


@pytest.fixture
def f1_tables_empty(db) -> None:
    """Empty all F1 data (and everything referencing it) inside this test's transaction only."""
    from django.db import connection

    from ingestion.models import Circuit, Driver, Race, Season, Status, SyncRun, Team

    models = (Season, Circuit, Driver, Team, Status, SyncRun)
    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} CASCADE")
    else:
        Race.objects.all().delete()
        for model in models:
            model.objects.all().delete()


@pytest.fixture(scope="module")
def committing_db(django_db_setup, django_db_blocker):
    """Database access outside pytest-django's per-test transaction, for a module whose writes a
    real celery worker (another process, tests/workers.py) must see; the module cleans up after."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("worker tests need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    with django_db_blocker.unblock():
        yield


# --- PITWALL_TEST_TRAVEL: run the whole test process at another date ------------------------------
# e.g. PITWALL_TEST_TRAVEL=2026-12-20T12:00Z (the 2026 calendar over) or 2027-03-01T12:00Z (a year
# with no races in the data): the clock starts there and ticks, so a test that silently depends on
# today's date fails now rather than on the day the calendar runs out. In-process only: a child
# process (a real Celery worker, gunicorn, a subprocess) keeps the real clock.

_TRAVELLER = pytest.StashKey[object]()


def pytest_configure(config):
    when = os.environ.get("PITWALL_TEST_TRAVEL")
    if when:
        import time_machine

        try:
            destination = datetime.fromisoformat(when)
        except ValueError:
            raise pytest.UsageError(f"PITWALL_TEST_TRAVEL={when!r} is not an ISO date/time") from None
        if destination.tzinfo is None:
            destination = destination.replace(tzinfo=UTC)
        traveller = time_machine.travel(destination, tick=True)
        traveller.start()
        config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config):
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config):
    if os.environ.get("PITWALL_TEST_TRAVEL"):
        return f"PITWALL_TEST_TRAVEL: the clock starts at {os.environ['PITWALL_TEST_TRAVEL']}"
    return None
