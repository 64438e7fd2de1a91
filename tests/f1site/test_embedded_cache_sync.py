"""Embedded mode (no Redis, what `make up` runs): each process has its own in-process cache, so a
management command run next to the server must still make the server drop what it changed.

The test process plays the web server (in-process cache, the sync middleware, a shared stamp file);
a child process plays the command: no REDIS_URL, the same PostgreSQL database, and a real
invalidation entry point. Regression: the server kept answering the old predictions (until the
30-minute TTL; a week for past seasons) after `predict` stored new ones from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from f1site import cache as f1cache
from ingestion.models import Driver, Race, Team
from predictions.models import Prediction
from tests.factories import PredictionFactory

ROOT = Path(__file__).resolve().parents[2]

_COMMAND = r"""
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")
import django
django.setup()
from django.conf import settings
from f1site.cache import cache_invalidate_predictions
assert "RedisCache" not in settings.CACHES["default"]["BACKEND"]
cache_invalidate_predictions(race_ids=[sys.argv[1]])  # what `predict` triggers after storing a set
"""


@pytest.fixture
def embedded_cache(settings, tmp_path):
    """This process as the embedded-mode web server: a process-local cache, the stamp, the middleware."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"}
    }
    settings.LOCAL_CACHE_STAMP = tmp_path / "cache.stamp"
    settings.MIDDLEWARE = [
        settings.MIDDLEWARE[0],
        "f1site.middleware.LocalCacheSyncMiddleware",
        *settings.MIDDLEWARE[1:],
    ]
    f1cache._stamp_seen.clear()
    f1cache._local_copies.clear()
    yield tmp_path
    f1cache._stamp_seen.clear()
    f1cache._local_copies.clear()


def _run_command_process(var_dir: Path, race_slug: str) -> None:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TEST_DATABASE_NAME"}}
    env.update(
        DEBUG="true",
        PITWALL_VAR_DIR=str(var_dir),
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    )
    result = subprocess.run(
        [sys.executable, "-c", _COMMAND, race_slug],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_command_in_another_process_reaches_the_servers_cache(embedded_cache, api, ergast_data):
    # a race and driver of the loaded dump (committed, so the child process sees them too)
    race = Race.objects.get(slug="2025_bahrain")
    driver = Driver.objects.get(ref="max_verstappen")
    team = Team.objects.get(ref="red_bull")
    batch = uuid.uuid4()
    PredictionFactory(batch=batch, race=race, driver=driver, team=team, stage="pre", win_probability=0.25)
    url = f"/api/v1/predictions/race/{race.slug}"

    def win_probability() -> float:
        response = api.get(url)
        assert response.status_code == 200
        (stage,) = response.json()["stages"]
        return stage["predictions"][0]["win_probability"]

    assert win_probability() == 0.25
    # another process stores a newer value without this process's signals
    Prediction.objects.filter(batch=batch).update(win_probability=0.5)
    assert win_probability() == 0.25  # served from this process's cache, as before

    _run_command_process(embedded_cache, race.slug)
    assert (embedded_cache / "cache.stamp").exists()
    assert win_probability() == 0.5


@pytest.mark.django_db
def test_own_invalidations_do_not_drop_the_whole_cache(embedded_cache, api):
    from django.core.cache import cache

    cache.set("f1:unrelated", "kept")
    f1cache.bump_families(["upcoming"])  # this process invalidates: the stamp moves
    assert (embedded_cache / "cache.stamp").exists()
    api.get("/api/v1/health")
    assert cache.get("f1:unrelated") == "kept"
