"""The outbox replay (f1site.cache.cache_invalidations_replay) is single-flight across processes, and
loses nothing when a replayer fails or dies midway.

Before, every process that replayed — each web worker whose cache breaker closed when Redis came back,
the beat, the next invalidation anywhere — read the same CacheInvalidation rows and sent them all (a
SCAN per pattern, the DELs and INCRs) at the same moment. Now each batch is claimed in the database
(FOR UPDATE SKIP LOCKED) for the length of its send and deleted in the same transaction.

Real processes, PostgreSQL and Redis, no mocks: the other replayer is a `manage.py shell` child on
the committed test database whose Redis is this run's, through a proxy (tests/brokers.py) that holds
its bytes at the moment the test chooses — the child is then caught in the middle of its replay,
its rows claimed and its command not yet at Redis. Meanwhile this process replays too; then the
child is let through, or its replay times out, or it is killed.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.cache import cache

from f1site import cache as f1cache
from f1site.cache import breaker
from ingestion.models import CacheInvalidation
from tests.brokers import SwitchableProxy, switchable_proxy
from tests.workers import ROOT, child_process_env, wait_until

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs the django-redis backend (REDIS_URL)")

KEY = "f1:race:2024:2024_bahrain"
FAMILY = "races:2024"

# The child: Django set up, then the replay on the test's word, then it waits again (alive, its
# database connection open) until its stdin closes.
REPLAYER = (
    "import sys\n"
    "from f1site.cache import cache_invalidations_replay\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
    "print('replayed', cache_invalidations_replay(), flush=True)\n"
    "sys.stdin.readline()\n"
)


class Replayer:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, prefix: str, *, timeout: float = 60) -> str:
        """The first output line starting with `prefix` (its log lines are skipped), what follows it."""
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no {prefix!r} from the replayer after {timeout} s; said {seen}"
                ) from None
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
            seen.append(line)

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()


@contextmanager
def replayer(proxy: SwitchableProxy, *, socket_timeout: float) -> Iterator[Replayer]:
    """A replaying child process whose cache is this run's Redis through `proxy`."""
    url = urlunsplit(urlsplit(settings.REDIS_URL)._replace(netloc=f"127.0.0.1:{proxy.port}"))
    env = child_process_env(REDIS_URL=url, CACHE_SOCKET_TIMEOUT=str(socket_timeout), LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", REPLAYER],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        child = Replayer(proc)
        child.expect("ready")
        yield child
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdin.close()
        proc.stdout.close()


@contextmanager
def redis_proxy() -> Iterator[SwitchableProxy]:
    parts = urlsplit(settings.REDIS_URL)
    with switchable_proxy(parts.hostname, parts.port or 6379) as proxy:
        yield proxy


def _caught_mid_replay(proxy: SwitchableProxy, child: Replayer) -> None:
    """Let the child replay, and hold it at its first byte to Redis: past its claim, before Redis."""
    proxy.hold()
    child.go()
    assert proxy.holding.wait(60), "the other replayer never reached Redis"


@pytest.fixture
def outbox(committing_db):
    """One committed refused invalidation (a key still cached, a family's generation), visible to the
    child; the outbox emptied before and after."""
    CacheInvalidation.objects.all().delete()
    breaker.reset()
    generation = f1cache._generation_key(FAMILY)
    cache.set(KEY, "stale", timeout=600)
    before = cache.get(generation) or 0
    row = CacheInvalidation.objects.create(keys=[KEY], families=[FAMILY])
    yield row, generation, before
    CacheInvalidation.objects.all().delete()
    cache.delete(KEY)
    breaker.reset()


def _untouched(row, generation, before) -> None:
    assert CacheInvalidation.objects.filter(pk=row.pk).exists()
    assert cache.get(KEY) == "stale" and (cache.get(generation) or 0) == before


def test_two_concurrent_replays_do_the_work_once(outbox):
    row, generation, before = outbox
    with redis_proxy() as proxy, replayer(proxy, socket_timeout=30) as child:
        _caught_mid_replay(proxy, child)
        # The child holds the row: this replay (another web worker whose breaker closed at the same
        # moment) finds nothing to do, and neither sends it nor deletes it. Before, it sent and
        # deleted it too (1), and the child's INCR followed (the generation moved twice).
        assert f1cache.cache_invalidations_replay() == 0
        _untouched(row, generation, before)
        proxy.release()
        assert child.expect("replayed") == "1"
    assert cache.get(KEY) is None
    assert cache.get(generation) == before + 1  # once
    assert not CacheInvalidation.objects.exists()


def test_a_replay_that_fails_midway_leaves_the_rows_unclaimed(outbox):
    row, generation, before = outbox
    with redis_proxy() as proxy, replayer(proxy, socket_timeout=1) as child:
        _caught_mid_replay(proxy, child)
        assert f1cache.cache_invalidations_replay() == 0  # claimed by the child
        # Redis (as the child sees it) does not answer: its replay times out and rolls back
        assert child.expect("replayed") == "None"
        _untouched(row, generation, before)
        # the child lives on, its connection open: the row is free again at once, not when it exits
        assert f1cache.cache_invalidations_replay() == 1
    assert cache.get(KEY) is None and cache.get(generation) == before + 1
    assert not CacheInvalidation.objects.exists()


def test_a_replayer_that_dies_midway_loses_nothing(outbox):
    row, generation, before = outbox
    with redis_proxy() as proxy, replayer(proxy, socket_timeout=30) as child:
        _caught_mid_replay(proxy, child)
        assert f1cache.cache_invalidations_replay() == 0  # claimed by the child
        child.proc.kill()  # SIGKILL mid-replay: no rollback of its own, no cleanup
        child.proc.wait(timeout=10)
    # what the proxy held never reached Redis, and the row is still there: PostgreSQL ends the dead
    # process's transaction once it notices the connection closed, and the row is free again
    _untouched(row, generation, before)
    wait_until(
        lambda: f1cache.cache_invalidations_replay() == 1, timeout=30, what="the dead replayer's claim to end"
    )
    assert cache.get(KEY) is None and cache.get(generation) == before + 1
    assert not CacheInvalidation.objects.exists()
