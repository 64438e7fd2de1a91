"""Test settings: the production settings module with a throwaway key and test-friendly knobs.

The environment still decides the services: .ci/run sets DATABASE_URL / REDIS_URL to the real
PostgreSQL and Redis; without them the embedded SQLite/locmem defaults are used.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("LOG_FORMAT", "text")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("AXES_ENABLED", "false")
os.environ.setdefault("STATIC_MANIFEST", "false")
# The suite renders hundreds of pages a minute from one test client; the throttle tests set their own.
os.environ.setdefault("PAGE_THROTTLE", "1000000/min")
os.environ.setdefault(
    "PITWALL_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test")
)


def _isolate_xdist_worker() -> None:
    """Under pytest-xdist (`make test` runs `-n 2`) each worker gets its own Redis database (its
    cache, Celery broker, locks and heartbeats: a `cache.clear()` or a worker started by one test
    process must not touch the other's) and its own var/ directory (model artifacts, SQLite files).
    pytest-django already gives each worker its own PostgreSQL test database (`_gw0`, `_gw1`).

    Done once, in the environment, so the child processes the tests start (Celery workers,
    `manage.py` commands, gunicorn), which import these settings too, inherit the same values
    instead of shifting them again."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or os.environ.get("PITWALL_TEST_ISOLATED_WORKER"):
        return
    os.environ["PITWALL_TEST_ISOLATED_WORKER"] = worker
    index = int(worker[2:])
    os.environ["PITWALL_VAR_DIR"] = os.path.join(os.environ["PITWALL_VAR_DIR"], worker)
    from urllib.parse import urlsplit, urlunsplit

    for name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "JOB_LOCK_REDIS_URL"):
        parts = urlsplit(os.environ.get(name, ""))
        number = parts.path.strip("/") or "0"
        if parts.scheme in ("redis", "rediss") and number.isdigit():
            # the next databases down from the run's own (CI: 15 -> 15, 14); Redis has 16 (0-15)
            os.environ[name] = urlunsplit(parts._replace(path=f"/{(int(number) - index) % 16}"))


_isolate_xdist_worker()

from f1site.settings import *  # noqa: E402, F403 - after the environment above is set
from f1site.settings import MODEL_STORAGE_PATH  # noqa: E402, F401

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Every PostgreSQL connection a test process opens (pytest and its workers, and the Celery workers,
# commands and gunicorn the tests start, which read these settings too) names that process in
# pg_stat_activity, so the end-of-session check (tests/conftest.py, django_db_setup) can say who
# still holds the test database when pytest-django drops it.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = (  # noqa: F405
        f"pitwall-test:{os.getpid()}:{Path(sys.argv[0]).name}"[:63]
    )
