"""A change made while Redis is unreachable is not served stale once Redis is back (QA reliability
finding 2): the refused invalidation is kept in the database (CacheInvalidation) and replayed.

Real Redis (this run's REDIS_URL db) and PostgreSQL, no mocks. "Unreachable" is real too: for the
invalidating code the cache is pointed at a closed port (connection refused) or at a listener that
accepts and never answers (a hung Redis, tests/brokers.py), while the real Redis keeps the stale
entries — as the web process's Redis does when a command or a worker met the outage. Then the cache
points at the real Redis again, and each replay trigger must make the answers the database gives:
the next successful invalidation in any process, the web process's breaker closing, the beat tick.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from f1site import cache as f1cache
from f1site.cache import breaker
from f1site.observability import alerts_evaluate, ops_state_get
from ingestion.models import CacheInvalidation, Race, RaceResult
from tests.brokers import closed_port, hung_port
from tests.conftest import ROOT
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles
from tests.workers import child_process_env

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend"),
]

DETAIL = "/api/v1/races/2024_bahrain"
SEASON = "/api/v1/races?season=2024"
PAGE = "/races/2024_bahrain/"


@contextmanager
def redis_unreachable(settings, how: str):
    """The default cache, for the block, on a port that refuses (`refused`) or never answers (`hung`)."""
    original = settings.CACHES
    with hung_port() if how == "hung" else nullcontext(closed_port()) as port:
        settings.CACHES = {
            **original,
            "default": {**original["default"], "LOCATION": f"redis://127.0.0.1:{port}/0"},
        }
        try:
            yield
        finally:
            settings.CACHES = original


def _answers(api, client) -> dict[str, bytes]:
    return {
        DETAIL: api.get(DETAIL).content,
        SEASON: api.get(SEASON).content,
        PAGE: client.get(PAGE).content,
    }


def _fresh(api, client) -> dict[str, bytes]:
    """What the database gives now: the answers recomputed after a full clear of the test Redis db."""
    cache.clear()
    f1cache._local_copies.clear()
    return _answers(api, client)


def _correct_during_outage(settings, how: str, django_capture_on_commit_callbacks) -> None:
    """QA's reproduction: a staff correction (the admin's save, its signals, committed) while Redis
    is unreachable for the process making it."""
    with redis_unreachable(settings, how):
        race = Race.objects.get(slug="2024_bahrain")
        winner = RaceResult.objects.filter(race=race).order_by("position_order").first()
        with django_capture_on_commit_callbacks(execute=True):
            race.name = "Bahrain Grand Prix EDITED"
            race.save()
            winner.points = 99
            winner.save()


@pytest.mark.parametrize("how", ["refused", "hung"])
def test_a_change_made_while_redis_is_unreachable_is_replayed_by_the_next_invalidation(
    api, client, ergast_data, settings, django_capture_on_commit_callbacks, how
):
    before = _answers(api, client)
    assert b"Bahrain Grand Prix" in before[DETAIL]

    _correct_during_outage(settings, how, django_capture_on_commit_callbacks)
    breaker.reset()  # the web process (another one in production) never saw the outage
    # The bug as QA saw it: Redis is back and still serves the old answers (7 days for a past race).
    assert _answers(api, client) == before

    # Any later invalidation that reaches Redis, in any process — here an unrelated race's
    # predictions (no key or family of 2024_bahrain) — replays the refused one first.
    with django_capture_on_commit_callbacks(execute=True):  # the replay runs once that change commits
        assert f1cache.cache_invalidate_predictions(race_ids=["1950_uk"])
    after = _answers(api, client)
    assert b"Bahrain Grand Prix EDITED" in after[DETAIL] and b"EDITED" in after[PAGE]
    assert b'"points":99' in after[DETAIL].replace(b" ", b"")
    assert b"EDITED" in after[SEASON]
    assert after == _fresh(api, client)
    assert not CacheInvalidation.objects.exists()


def test_the_web_process_replays_when_its_breaker_closes(
    api, client, ergast_data, settings, django_capture_on_commit_callbacks
):
    settings.CACHE_BREAKER_COOLDOWN = 0.2
    before = _answers(api, client)
    _correct_during_outage(settings, "refused", django_capture_on_commit_callbacks)
    assert breaker.state != "closed"  # the refusals opened this process's breaker

    # Redis is back. The first request after the cooldown is the breaker's probe: it succeeds and
    # closes the breaker (that request may still get the old body), and the replay runs after it.
    deadline = time.monotonic() + 5
    while breaker.state != "closed" and time.monotonic() < deadline:
        assert api.get(DETAIL).status_code == 200
        time.sleep(0.05)
    assert breaker.state == "closed"
    after = _answers(api, client)
    assert after != before and b"Bahrain Grand Prix EDITED" in after[DETAIL]
    assert after == _fresh(api, client)
    assert not CacheInvalidation.objects.exists()


def test_the_beat_tick_replays_without_waiting_for_a_change(
    api, client, ergast_data, settings, django_capture_on_commit_callbacks
):
    from f1site.celery import app
    from ingestion.services.jobs import SingleBeatScheduler

    before = _answers(api, client)
    _correct_during_outage(settings, "hung", django_capture_on_commit_callbacks)
    breaker.reset()
    assert _answers(api, client) == before  # stale until a trigger
    # ... and the operator can see it: the alert's state (health, /metrics) counts the refused rows
    pending = CacheInvalidation.objects.count()
    assert pending >= 1
    alert = next(a for a in alerts_evaluate() if a["name"] == "cache_invalidation_pending")
    assert f"{pending} pending" in alert["description"] and alert["value"] is not None
    assert alert["firing"] is False  # refused a moment ago: the beat's replay still has time

    beat = SingleBeatScheduler(app=app, lazy=True)
    beat._cache_invalidations_replay()  # what each tick runs, at most every LIVENESS_HEARTBEAT_SECONDS
    assert ops_state_get().cache_outbox_pending == 0
    after = _answers(api, client)
    assert b"Bahrain Grand Prix EDITED" in after[DETAIL]
    assert after == _fresh(api, client)
    assert not CacheInvalidation.objects.exists()


def test_replay_is_idempotent_and_a_clean_invalidation_writes_nothing(
    api, ergast_data, settings, django_capture_on_commit_callbacks
):
    # Nothing pending: an invalidation that reaches Redis costs one read of the outbox, no write.
    with CaptureQueriesContext(connection) as ctx:
        with django_capture_on_commit_callbacks(execute=True) as replays:
            assert f1cache.cache_invalidate(keys=["f1:race:2024:2024_bahrain"], families=["drivers"])
            # inside a transaction the replay waits for the commit (its locks and errors are not the caller's)
            assert ctx.captured_queries == []
        assert len(replays) == 1
    statements = [q["sql"] for q in ctx.captured_queries]
    assert len(statements) == 1 and statements[0].startswith("SELECT"), statements
    assert "ingestion_cacheinvalidation" in statements[0]

    before = api.get(DETAIL).content
    generation = f1cache._generation_key("races:2024")
    with redis_unreachable(settings, "refused"):
        assert not f1cache.cache_invalidate(
            keys=[f1cache.race_key(2024, "2024_bahrain")], families=["races:2024"]
        )
        assert not f1cache.cache_invalidate(
            keys=[f1cache.race_key(2024, "2024_bahrain")], families=["races:2024"]
        )
    breaker.reset()
    assert CacheInvalidation.objects.count() == 2
    row = CacheInvalidation.objects.first()
    assert row.keys == ["f1:race:2024:2024_bahrain"] and row.families == ["races:2024"] and row.error
    assert api.get(DETAIL).content == before and cache.get(f1cache.race_key(2024, "2024_bahrain"))
    gen_before = cache.get(generation) or 0

    assert f1cache.cache_invalidations_replay() == 2  # both rows, one round trip
    assert cache.get(f1cache.race_key(2024, "2024_bahrain")) is None
    assert cache.get(generation) == gen_before + 1  # the same family once, however many rows named it
    with CaptureQueriesContext(connection) as ctx:
        assert f1cache.cache_invalidations_replay() == 0  # nothing left: a read, no write, no Redis work
    assert len(ctx.captured_queries) == 1
    assert cache.get(generation) == gen_before + 1

    # Two processes may read the same rows before either deletes them: replaying a row again only
    # retires the family once more, and answers stay what the database gives.
    api.get(DETAIL)
    CacheInvalidation.objects.create(keys=[f1cache.race_key(2024, "2024_bahrain")], families=["races:2024"])
    assert f1cache.cache_invalidations_replay() == 1
    assert cache.get(generation) == gen_before + 2
    assert api.get(DETAIL).content == before  # the data did not change: the same answer, recomputed


def test_a_row_deleted_while_redis_is_unreachable_reaches_its_driver_s_analytics_on_replay(
    api, ergast_data, settings, django_capture_on_commit_callbacks
):
    """The deleted row's own driver (his only row of that race: the race's entities read after the
    commit no longer name him) is cleared through the same outbox as the race's keys."""
    paths = ["/api/v1/analytics/driver/farina", "/api/v1/analytics/driver/farina?season=1950"]
    before = {path: api.get(path).content for path in paths}
    with redis_unreachable(settings, "refused"):
        row = RaceResult.objects.get(race__slug="1950_uk", driver__ref="farina")
        with django_capture_on_commit_callbacks(execute=True):
            row.delete()
    breaker.reset()
    assert {path: api.get(path).content for path in paths} == before  # stale until a trigger
    assert CacheInvalidation.objects.exists()

    assert f1cache.cache_invalidations_replay()
    after = {path: api.get(path).content for path in paths}
    cache.clear()
    f1cache._local_copies.clear()
    assert after == {path: api.get(path).content for path in paths}
    assert all(after[path] != before[path] for path in paths)


def test_replay_while_redis_is_still_unreachable_keeps_the_rows(settings):
    with redis_unreachable(settings, "refused"):
        assert not f1cache.cache_invalidate(families=["drivers"])
        assert f1cache.cache_invalidations_replay() is None
    breaker.reset()
    assert CacheInvalidation.objects.count() == 1
    assert f1cache.cache_invalidations_replay() == 1


def test_dashboard_page_clear_refused_by_redis_is_kept_too(client, ergast_data, settings):
    from analytics.services.cache import DASHBOARD_KEY_PATTERNS, dashboard_cache_clear

    assert client.get(PAGE).status_code == 200
    assert cache.keys("f1:page:*")
    with redis_unreachable(settings, "refused"):
        dashboard_cache_clear()
    breaker.reset()
    assert list(CacheInvalidation.objects.values_list("patterns", flat=True)) == [
        sorted(DASHBOARD_KEY_PATTERNS)
    ]
    assert cache.keys("f1:page:*")  # still there
    assert f1cache.cache_invalidations_replay() == 1
    assert not cache.keys("f1:page:*")


def test_when_the_database_is_down_too_the_lost_invalidation_is_logged():
    """Nothing durable is left: the process says so, loudly, naming what stays stale."""
    env = child_process_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/nowhere",
        REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
    )
    code = (
        "from f1site.cache import cache_invalidate; "
        "print('reached', cache_invalidate(keys=['f1:race:2024:2024_bahrain'], families=['races:2024']))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "reached False" in result.stdout
    assert "cache invalidation LOST" in result.stderr, result.stderr
    assert "f1:race:2024:2024_bahrain" in result.stderr


def test_an_error_redis_answers_is_not_queued_and_a_poison_row_does_not_block_the_outbox(db, caplog):
    """Review: every RedisError was queued, so an answer such as WRONGTYPE (a key of another type, or
    READONLY / OOM) became a row that failed at every replay and, oldest in its batch, blocked every
    row behind it for good. Only an unreachable Redis is queued now; a batch Redis refuses is dropped,
    loudly, and the rows after it replay."""
    wrong = f1cache._generation_key("poisoned")
    client = cache.client.get_client(write=True)
    client.rpush(cache.make_key(wrong), "not a counter")  # INCR on a list: WRONGTYPE
    try:
        assert not f1cache.cache_invalidate(families=["poisoned"])
        assert not CacheInvalidation.objects.exists()
        assert "not an outage" in caplog.text

        CacheInvalidation.objects.create(families=["poisoned"])  # as an older version queued it
        fine = f1cache._generation_key("drivers")
        before = cache.get(fine) or 0
        CacheInvalidation.objects.create(families=["drivers"])
        assert f1cache.cache_invalidations_replay() == 2
        assert not CacheInvalidation.objects.exists()
        assert cache.get(fine) == before + 1  # the pipeline ran the rest; only the poisoned INCR failed
    finally:
        client.delete(cache.make_key(wrong))
