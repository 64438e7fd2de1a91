"""A Redis outage of a few seconds under a real `celery beat` process: the beat survives it, sends
nothing while its lock is not known to be held, and resumes once Redis answers — or, when another
beat took the lock meanwhile, exits (exactly one beat). Review: the lock renewal's ConnectionError
was uncaught, beat exited rc=1 and honcho took the web and the worker down with it.

The beat reaches Redis through a proxy the test cuts and restores (tests/brokers.py); the test reads
Redis directly. `JOB_LOCK_TTL=6` makes the beat renew its lock every 2 s, so a cut of a few seconds
always meets a renewal. One PeriodicTask of the test's own (every second, to a queue nobody reads)
shows when the beat sends: its messages pile up in that queue's Redis list.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tests.brokers import switchable_proxy
from tests.workers import ROOT, child_process_env, wait_until

pytestmark = pytest.mark.slow
QUEUE = f"pitwall-beat-blip-{uuid.uuid4().hex[:8]}"
BEAT_LOCK = "pitwall:joblock:celery-beat"


@pytest.fixture
def beat_schedule(committing_db):
    """One entry every second to QUEUE; the seeded rows and what beat writes to them are put back
    after (the test database is shared with the rest of the session)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    fields = ("id", "enabled", "last_run_at", "total_run_count")
    before = {row["id"]: row for row in PeriodicTask.objects.values(*fields)}
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name=QUEUE, task="tests.beat_blip_probe", interval=every, queue=QUEUE)
    try:
        yield
    finally:
        PeriodicTask.objects.exclude(id__in=before).delete()
        every.delete()
        for row in before.values():
            PeriodicTask.objects.filter(id=row["id"]).update(**{k: v for k, v in row.items() if k != "id"})


@pytest.fixture
def redis_direct():
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(QUEUE, BEAT_LOCK)
    yield client
    client.delete(QUEUE)


@pytest.fixture
def proxy():
    redis = urlsplit(settings.REDIS_URL)
    with switchable_proxy(redis.hostname, redis.port or 6379) as proxy:
        yield proxy


@contextmanager
def celery_beat(env: dict[str, str]):
    log = tempfile.NamedTemporaryFile(prefix="beat-", suffix=".log")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "f1site", "beat", "-l", "info", "--pidfile="],
        cwd=ROOT,
        env=child_process_env(**{"CELERY_TASK_ALWAYS_EAGER": "false", "JOB_LOCK_TTL": "6", **env}),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log = lambda: open(log.name, errors="replace").read()  # noqa: SIM115
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        print("beat log:\n" + proc.log()[-4000:])
        log.close()


def _sent(redis_direct) -> int:
    return redis_direct.llen(QUEUE)


def _through(proxy) -> str:
    redis = urlsplit(settings.REDIS_URL)
    return redis._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()


def _holder(redis_direct) -> str:
    return (redis_direct.get(BEAT_LOCK) or b"").decode()


def test_beat_survives_its_lock_redis_going_away_sends_nothing_meanwhile_and_resumes(
    beat_schedule, redis_direct, proxy
):
    """The lock's Redis (JOB_LOCK_REDIS_URL) cut for longer than the lock's TTL, the broker up: the
    beat keeps running, sends nothing while it cannot tell it holds the lock, takes the (expired,
    free) lock again when Redis answers, and sends again."""
    with celery_beat({"JOB_LOCK_REDIS_URL": _through(proxy)}) as beat:
        wait_until(lambda: _sent(redis_direct) >= 2, timeout=60, what="the beat to send")
        assert _holder(redis_direct).split(":")[1] == str(beat.pid)
        proxy.cut()
        time.sleep(4)  # a renewal (every 2 s, ticks every second) has met the outage by now
        during = _sent(redis_direct)
        time.sleep(6)  # past the lock's TTL: it expires in Redis meanwhile
        assert beat.poll() is None, beat.log()[-3000:]
        assert _sent(redis_direct) == during, "the beat sent while its lock was not known held"
        assert not redis_direct.exists(BEAT_LOCK)
        proxy.restore()
        wait_until(lambda: _sent(redis_direct) >= during + 2, timeout=20, what="the beat to resume")
        assert beat.poll() is None
        assert _holder(redis_direct).split(":")[1] == str(beat.pid)
        assert "beat lock not renewed: Redis unreachable" in beat.log()


def test_beat_survives_a_whole_redis_blip_and_resumes_sending(beat_schedule, redis_direct, proxy):
    """The review's case: REDIS_URL (broker, lock, liveness, cache) through the proxy, cut for 21 s,
    longer than the default lock's renewal period (20 s), so the outage meets a renewal whatever the
    TTL. The result backend stays direct: a send during the cut then fails at once (logged, as beat
    does) instead of holding the tick in the result backend's own reconnect loop (20 x 1 s), which
    could let the renewal miss the outage."""
    with celery_beat({"REDIS_URL": _through(proxy), "CELERY_RESULT_BACKEND": settings.REDIS_URL}) as beat:
        wait_until(lambda: _sent(redis_direct) >= 2, timeout=60, what="the beat to send")
        proxy.cut()
        time.sleep(21)
        assert beat.poll() is None, beat.log()[-3000:]
        proxy.restore()
        after = _sent(redis_direct)
        wait_until(lambda: _sent(redis_direct) >= after + 2, timeout=30, what="the beat to resume")
        assert beat.poll() is None
        assert _holder(redis_direct).split(":")[1] == str(beat.pid)


def test_a_beat_whose_lock_another_beat_took_during_the_outage_exits(beat_schedule, redis_direct, proxy):
    """Exactly one beat: when the lock expired during the outage and another beat took it, the first
    one stops when Redis answers again instead of sending alongside it."""
    with celery_beat({"JOB_LOCK_REDIS_URL": _through(proxy)}) as beat:
        wait_until(lambda: _sent(redis_direct) >= 1, timeout=60, what="the beat to send")
        proxy.cut()
        time.sleep(3)
        redis_direct.set(BEAT_LOCK, "otherhost:1:" + "0" * 32, px=60_000)  # the other beat's
        during = _sent(redis_direct)
        proxy.restore()
        assert beat.wait(timeout=20) != 0
        assert _sent(redis_direct) == during
        assert "lost the beat lock to another beat process (otherhost:1:" in beat.log()
        assert _holder(redis_direct).startswith("otherhost:1:")
        redis_direct.delete(BEAT_LOCK)
