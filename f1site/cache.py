"""The resilient cache layer: Redis behind a circuit breaker, stale-while-revalidate, exact invalidation.

Why a breaker: django-redis's IGNORE_EXCEPTIONS alone turns a *hung* Redis (SIGSTOP: the socket
accepts, nothing answers) into a socket-timeout wait on every request. `CircuitBreakerConnection`
(plugged in as the redis-py connection class) counts connection failures per process; after
`CACHE_BREAKER_FAILURES` consecutive ones it refuses every command instantly for
`CACHE_BREAKER_COOLDOWN` seconds, then lets one probe through — success closes it again. A refused
command raises redis's ConnectionError, which django-redis turns into a cache miss, so callers
simply fall back to the database.

Why stale copies and a lock: `cached_json` stores the rendered body with a soft expiry inside a
longer hard TTL. When the soft expiry passes, exactly one caller (the one that wins `cache.add` on
the lock key) recomputes while the others keep serving the stale copy; on a cold miss the others
wait briefly for the winner instead of all hitting the database (no stampede).

Keys follow the product guide: `f1:driver:{ref}`, `f1:team:{ref}`, `f1:race:{season}:{race_id}`,
`f1:predictions:{race_id}`, `f1:weather:{race_id}`; list families (`races`, `standings`, ...) carry
a generation number so one bump invalidates exactly that family's pages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis
import redis.backoff
import redis.retry
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from redis.connection import Connection, ConnectionPool
from rest_framework.utils.encoders import JSONEncoder

from f1site.metrics import record_cache

logger = logging.getLogger(__name__)


# --- circuit breaker ------------------------------------------------------------------------------
class CircuitBreaker:
    """Per-process breaker: closed -> open after N consecutive failures -> one probe per cooldown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.times_opened = 0
        self.rejected = 0
        # Set when the breaker closes after being open: invalidations may have been refused meanwhile,
        # here or in another process; CacheReplayMiddleware replays them (cache_invalidations_replay_due).
        self.replay_due = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._probing else "open"

    @staticmethod
    def _cooldown() -> float:
        return getattr(settings, "CACHE_BREAKER_COOLDOWN", 2.0)

    def allow(self) -> bool:
        """May a Redis command go out now? While open: False, except one probe per cooldown."""
        if self._opened_at is None:  # fast path: no lock while healthy
            return True
        with self._lock:
            if self._opened_at is None:
                return True
            now = time.monotonic()
            if now - self._opened_at >= self._cooldown():
                # Single-use grant, re-armed: a sync worker is one thread, so "the probing thread"
                # would be every later request too — each must ask again.
                self._opened_at = now
                self._probing = True
                return True
            self.rejected += 1
            return False

    def record_success(self) -> None:
        if self._failures == 0 and self._opened_at is None:
            return
        with self._lock:
            if self._opened_at is not None:
                logger.warning("cache circuit closed: Redis answers again")
                self.replay_due = True
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probing = False
            threshold = getattr(settings, "CACHE_BREAKER_FAILURES", 2)
            if self._opened_at is not None:
                self._opened_at = time.monotonic()
            elif self._failures >= threshold:
                self._opened_at = time.monotonic()
                self.times_opened += 1
                logger.warning(
                    "cache circuit opened after %d Redis failures; serving from the database", self._failures
                )

    def reset(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False
            self.replay_due = False

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "consecutive_failures": self._failures,
            "times_opened": self.times_opened,
            "rejected_commands": self.rejected,
        }


breaker = CircuitBreaker()
_FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class CircuitBreakerConnection(Connection):
    """redis-py connection that consults and feeds the process's circuit breaker."""

    _granted = False  # this connection holds the breaker's probe grant for its next command

    def connect(self, *args, **kwargs):
        if self._sock is not None:
            # Already connected: redis-py 8 would still go through its retry wrapper (closures and
            # metrics hooks) on every command just to find that out.
            return None
        if not breaker.allow():
            raise redis.exceptions.ConnectionError("cache circuit open")
        self._granted = True
        try:
            return super().connect(*args, **kwargs)
        except _FAILURES:
            self._granted = False
            breaker.record_failure()
            raise

    def send_packed_command(self, *args, **kwargs):
        granted, self._granted = self._granted, False
        if not granted and not breaker.allow():
            self.disconnect()
            raise redis.exceptions.ConnectionError("cache circuit open")
        try:
            return super().send_packed_command(*args, **kwargs)
        except _FAILURES:
            breaker.record_failure()
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except _FAILURES:
            breaker.record_failure()
            raise
        breaker.record_success()
        return response


class CircuitBreakerConnectionPool(ConnectionPool):
    """django-redis CONNECTION_POOL_CLASS: plain TCP connections guarded by the breaker, no retries."""

    def __init__(self, *args, **kwargs):
        kwargs.pop("connection_class", None)
        # One attempt per command: a retry would double the wait on a hung Redis.
        kwargs.setdefault("retry", redis.retry.Retry(redis.backoff.NoBackoff(), 0))
        # redis-py caps a pool at 100 connections and then *raises*; threaded servers (and the
        # stampede test's 200 threads) need more. Sync gunicorn workers use one.
        kwargs.setdefault("max_connections", 1000)
        super().__init__(*args, connection_class=CircuitBreakerConnection, **kwargs)


# --- hit/miss statistics (per process; Prometheus has the cross-process view) ---------------------
_stats_lock = threading.Lock()
_stats: dict[str, dict[str, int]] = {}


def _count(tier: str, outcome: str) -> None:
    with _stats_lock:
        tier_stats = _stats.setdefault(tier, {"hit": 0, "stale": 0, "miss": 0})
        tier_stats[outcome] += 1
    record_cache(tier=tier, hit=outcome != "miss")


def cache_stats() -> dict:
    with _stats_lock:
        tiers = {tier: dict(counts) for tier, counts in _stats.items()}
    hits = sum(t["hit"] + t["stale"] for t in tiers.values())
    total = hits + sum(t["miss"] for t in tiers.values())
    return {
        "backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "breaker": breaker.as_dict(),
        "hit_ratio": round(hits / total, 4) if total else None,
        "tiers": tiers,
    }


# --- cached, rendered JSON bodies -----------------------------------------------------------------
@dataclass(frozen=True)
class CachedBody:
    body: bytes
    etag: str
    last_modified: float  # unix time the body was computed
    fresh_until: float  # after this the copy is stale: served while one caller refreshes it


def render_json(data: Any) -> bytes:
    return json.dumps(data, cls=JSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()


# --- answers that change by themselves at a known moment -------------------------------------------
# A data change retires the entries it touches (signals -> cache_invalidate); the passing of time
# sends no signal. A race without results is `scheduled` until its start and `awaiting_results` from
# it (ingestion.selectors.race_status_now): an answer holding that status goes stale at the start, so
# the selector that derives it names the moment (`answer_changes_at`) and the entry computed from it
# is fresh at most until then (`compute_capped`, used by `cached_json` and the pages' cache) — at
# 18:05 a list cached at 17:55 no longer says scheduled for an 18:00 race, whatever the TTL.
_changes_at: ContextVar[list[float] | None] = ContextVar("f1cache_changes_at", default=None)


def answer_changes_at(moment: datetime) -> None:
    """The answer being computed changes by itself at `moment` (a scheduled race's start): the entry
    cached from it is fresh at most until then. Outside a cached computation, nothing to do."""
    pending = _changes_at.get()
    if pending is not None:
        pending.append(moment.timestamp())


def compute_capped(compute: Callable[[], Any], ttl: float) -> tuple[Any, float]:
    """(compute(), `ttl` capped at the first moment the computation said its answer changes by itself,
    `answer_changes_at`; 0 when that moment has passed already). A computation inside another (nested
    caches) passes its moments on to the outer one too."""
    outer = _changes_at.get()
    token = _changes_at.set([])
    try:
        data = compute()
        moments = _changes_at.get()
    finally:
        _changes_at.reset(token)
    if moments:
        if outer is not None:
            outer.extend(moments)
        ttl = max(0.0, min(ttl, min(moments) - time.time()))
    return data, ttl


def _build(data: Any, ttl: float) -> CachedBody:
    body = render_json(data)
    now = time.time()
    return CachedBody(
        body=body,
        etag='"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
        last_modified=now,
        fresh_until=now + ttl,
    )


def _computed(compute: Callable[[], Any], ttl: int) -> tuple[CachedBody, float]:
    """(the body of `compute()`, its TTL capped by `compute_capped`)."""
    data, ttl = compute_capped(compute, ttl)
    return _build(data, ttl), ttl


def _store(key: str, entry: CachedBody, ttl: float) -> None:
    # Kept the grace past its freshness: served stale only while one caller recomputes it.
    grace = getattr(settings, "CACHE_STALE_GRACE", 300)
    body = (entry.body, entry.etag, entry.last_modified, entry.fresh_until)
    cache.set(key, body, timeout=math.ceil(ttl) + grace)


def _entry(raw: Any) -> CachedBody | None:
    if not isinstance(raw, tuple) or len(raw) != 4:
        return None
    return CachedBody(*raw)


def _load(key: str) -> CachedBody | None:
    return _entry(cache.get(key))


class RequestCounter(Protocol):
    """A request's rate-limit count, taken in the same Redis round trip as its cached body.

    f1site.throttling.DeferredCount implements it: `settle(count)` decides (raising when the
    request is over its limit; None = counting unavailable, fail open); `count_now()` counts with
    a separate command (backends without scripting, or when the breaker is not closed).
    """

    key: str
    period: int

    def settle(self, count: int | None) -> None: ...

    def count_now(self) -> None: ...


# Everything a warm request needs from Redis in ONE round trip (the warm path is bound by round
# trips): the client's rate-limit counter (INCR + EXPIRE NX, when KEYS[1] is not empty), a list
# family's generation (when KEYS[2] is not empty) and the body it names. Body key = ARGV[2] ..
# generation .. ARGV[3] for a list family, ARGV[2] otherwise.
_LOAD_LUA = """
local count = false
if KEYS[1] ~= '' then
  count = redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
end
local generation = false
local body_key = ARGV[2]
if KEYS[2] ~= '' then
  generation = redis.call('GET', KEYS[2]) or '0'
  body_key = ARGV[2] .. generation .. ARGV[3]
end
return {count, generation, redis.call('GET', body_key)}
"""
_load_scripts: dict[int, Any] = {}


# _load_counted's entry when Redis failed the read itself: the caller skips its lock command (a
# second socket timeout on a hung Redis before the breaker opens) and answers without the cache.
_UNAVAILABLE = object()


def _load_counted(key: str | ListKey, counter: RequestCounter | None) -> tuple[str, Any]:
    """(concrete key, entry or None or _UNAVAILABLE); settles `counter` on the way. One round trip
    on django-redis (a script); plain GETs when the backend is not django-redis (tests' LocMem,
    the benchmark's DummyCache), the breaker is not closed, or scripting fails."""
    if isinstance(key, str) and counter is None:
        return key, _load(key)  # one GET already
    client_of = getattr(getattr(cache, "client", None), "get_client", None)
    if client_of is not None and breaker.state == "closed":
        try:
            client = client_of(write=counter is not None)
            script = _load_scripts.get(id(client))
            if script is None:
                script = _load_scripts.setdefault(id(client), client.register_script(_LOAD_LUA))
            if isinstance(key, ListKey):
                keys = [cache.make_key(_generation_key(key.family))]
                args = [cache.make_key(f"f1:{key.family}:g"), "".join(f":{p}" for p in key.parts)]
            else:
                keys, args = [""], [cache.make_key(key), ""]
            count, generation, raw = script(
                keys=[cache.make_key(counter.key) if counter is not None else "", *keys],
                args=[counter.period + 1 if counter is not None else 0, *args],
                client=client,
            )
        except _FAILURES:
            # Redis down or hung (the breaker has counted it): no second wait on plain commands;
            # the throttle fails open as it does when its own command fails.
            if counter is not None:
                counter.settle(None)
            return (key.resolve(0) if isinstance(key, ListKey) else key), _UNAVAILABLE
        except redis.exceptions.RedisError:
            pass  # e.g. scripting disabled: the plain path below
        else:
            if counter is not None:
                counter.settle(int(count))
            concrete = key.resolve(int(generation)) if isinstance(key, ListKey) else key
            return concrete, (_entry(cache.client.decode(raw)) if raw is not None else None)
    if counter is not None:
        counter.count_now()  # before any database work, as DRF's own throttle check would be
    if isinstance(key, ListKey):
        key = key.resolve(cache.get(_generation_key(key.family)) or 0)
    return key, _load(key)


def cached_json(
    *,
    key: str | ListKey,
    ttl: int,
    tier: str,
    compute: Callable[[], Any],
    counter: RequestCounter | None = None,
) -> CachedBody:
    """The rendered JSON for `key`, computed by `compute()` at most once per expiry across processes.

    `counter`: the request's deferred rate-limit count (see RequestCounter), settled before the
    body is served or computed.
    """
    logical = key
    key, entry = _load_counted(key, counter)
    now = time.time()
    lock_key = f"{key}:lock"
    if entry is _UNAVAILABLE:  # Redis failed the read: no lock attempt, answer without the cache
        entry, got_lock = None, None
    elif entry is not None and now < entry.fresh_until:
        _count(tier, "hit")
        _remember(logical, entry)
        return entry
    else:
        got_lock = cache.add(lock_key, 1, timeout=getattr(settings, "CACHE_LOCK_TIMEOUT", 30))
    if got_lock is None:  # cache unavailable (breaker open / Redis down)
        local = _local_copies.get(logical)
        if local is not None and now < local.fresh_until:
            _count(tier, "stale")  # this process's copy, still within its TTL
            return local
        _count(tier, "miss")  # straight to the database
        entry, _ = _computed(compute, ttl)
        _remember(logical, entry)
        return entry
    if not got_lock:
        if entry is not None:  # someone is refreshing: serve the stale copy meanwhile
            _count(tier, "stale")
            return entry
        deadline = time.monotonic() + getattr(settings, "CACHE_LOCK_WAIT", 5.0)
        while time.monotonic() < deadline:
            time.sleep(0.02)
            entry = _load(key)
            if entry is not None:
                _count(tier, "hit")
                return entry
        _count(tier, "miss")  # the winner is too slow or died: compute ourselves, bounded wait
        return _computed(compute, ttl)[0]
    try:
        # Double-check: the previous lock holder may have stored it between our read and our lock.
        again = _load(key)
        if again is not None and time.time() < again.fresh_until:
            _count(tier, "hit")
            return again
        _count(tier, "miss")
        entry, ttl = _computed(compute, ttl)
        _store(key, entry, ttl)
        _remember(logical, entry)
        return entry
    finally:
        cache.delete(lock_key)


# Per-process copies of the bodies this worker served, used ONLY while Redis is unavailable and
# only within each body's own TTL: a Redis outage then costs no database work for hot keys (the
# uncached payloads take a few ms of CPU each). Any invalidation clears them (cache_invalidate), so
# they are never staler than what Redis itself would have served. Bounded: cleared when full.
_local_copies: dict[object, CachedBody] = {}
_LOCAL_COPIES_MAX = 256


def _remember(logical: str | ListKey, entry: CachedBody) -> None:
    if _local_copies.get(logical) is entry:
        return
    if len(_local_copies) >= _LOCAL_COPIES_MAX:
        _local_copies.clear()
    _local_copies[logical] = entry


# --- keys and invalidation ------------------------------------------------------------------------
def driver_key(driver_ref: str) -> str:
    return f"f1:driver:{driver_ref}"


def team_key(team_ref: str) -> str:
    return f"f1:team:{team_ref}"


def driver_season_key(driver_ref: str, season: int) -> ListKey:
    """A driver's season-filtered analytics: `f1:driver:{ref}:g{n}:{season}`, one family per driver.

    A generation, not the exact seasons: the payload has career-wide metrics (wet-weather rating,
    circuit history), so a result in one season changes the driver's answer for every season; one
    INCR of `driver:{ref}` retires them all, read in the same round trip as the body."""
    return list_key(driver_family(driver_ref), season)


def team_season_key(team_ref: str, season: int) -> ListKey:
    """A team's season-filtered analytics: `f1:team:{ref}:g{n}:{season}` (see driver_season_key)."""
    return list_key(team_family(team_ref), season)


def driver_family(driver_ref: str) -> str:
    return f"driver:{driver_ref}"


def team_family(team_ref: str) -> str:
    return f"team:{team_ref}"


def race_key(season: int, race_slug: str) -> str:
    return f"f1:race:{season}:{race_slug}"


def race_clock_key(season: int, race_id: str, clock: str) -> ListKey:
    """races/{race_id}?as_of=: `f1:races:{season}:g{n}:id:{race_id}:{clock}` (`clock`:
    f1site.clock.clock_key_part, `at:{UTC}`), one entry per clock in the season's race-list
    family, which every change to the season's races bumps (`cache_invalidate_races`); beside the
    list pages (`…:{limit}:{offset}`), never one of them, as `drivers/{id}` in `drivers`."""
    return list_key(f"races:{season}", "id", race_id, clock)


def driver_clock_key(driver_ref: str, season: int | None, clock: str) -> ListKey:
    """analytics/driver/{id}?as_of= (with or without `season`; none = the latest by the clock):
    `f1:driver:{ref}:g{n}:{season|latest}:{clock}` in the driver's family, like the season-filtered
    answers (driver_season_key): any change of his races retires every clock at once."""
    return list_key(driver_family(driver_ref), season if season is not None else "latest", clock)


def team_clock_key(team_ref: str, season: int | None, clock: str) -> ListKey:
    """analytics/team/{id}?as_of=: `f1:team:{ref}:g{n}:{season|latest}:{clock}` (see driver_clock_key)."""
    return list_key(team_family(team_ref), season if season is not None else "latest", clock)


def predictions_key(race_slug: str) -> str:
    return f"f1:predictions:{race_slug}"


def predictions_clock_key(race_id: str, clock: str) -> ListKey:
    """predictions/race/{race_id}?as_of=: `f1:upcoming:g{n}:race:{race_id}:{clock}` (`clock`:
    f1site.clock.clock_key_part, `at:{UTC}`), one entry per clock in the prediction
    endpoints' family, as predictions/upcoming?as_of= and overview: both a stored or scored set
    (`cache_invalidate_predictions`) and a change to the race's data (`cache_invalidate_races`) bump
    it, where the race's own key (`predictions_key`) is deleted by name, which no clock can be."""
    return list_key("upcoming", "race", race_id, clock)


def accuracy_clock_key(race_id: str, clock: str) -> ListKey:
    """predictions/accuracy/{race_id}?as_of=: `f1:upcoming:g{n}:accuracy:{race_id}:{clock}` (see
    predictions_clock_key; the race's own key is `f1:accuracy:{race_id}`)."""
    return list_key("upcoming", "accuracy", race_id, clock)


def weather_key(race_slug: str) -> str:
    return f"f1:weather:{race_slug}"


def _generation_key(family: str) -> str:
    return f"f1:gen:{family}"


@dataclass(frozen=True)
class ListKey:
    """A key in a list family whose generation is read together with the body (see _load_counted)."""

    family: str
    parts: tuple

    def resolve(self, generation: int) -> str:
        return ":".join([f"f1:{self.family}", f"g{generation}", *map(str, self.parts)])


def list_key(family: str, *parts: object) -> ListKey:
    """A key in a list family, e.g. list_key("races:2025", 0, 50) -> f1:races:2025:g3:0:50 once
    resolved; `cached_json` resolves it and reads the body in one Redis round trip."""
    return ListKey(family, tuple(parts))


# --- embedded mode: one in-process cache per process ---------------------------------------------
# Without Redis every process has its own cache, so an invalidation made by a command in another
# process (load_ergast, sync_f1, predict, train_models next to `make up`'s server) would never reach
# the web process, which would serve stale bodies until they expire (up to a week for past seasons).
# Every invalidation also touches a stamp file (settings.LOCAL_CACHE_STAMP, set only when the cache
# is process-local); the web process compares the stamp's mtime once per request
# (LocalCacheSyncMiddleware: one stat) and drops its whole local cache when another process has
# invalidated since. Dropping everything is coarse but only ever happens after a data change.
_stamp_seen: dict[str, int] = {}


def _stamp_path():
    return getattr(settings, "LOCAL_CACHE_STAMP", None)


def _stamp_mtime(path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0


def local_cache_stamp_touch() -> None:
    """Tell the other processes sharing this machine's embedded cache that data changed."""
    path = _stamp_path()
    if path is None:
        return
    now = time.time_ns()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, ns=(now, now))
    _stamp_seen["mtime"] = _stamp_mtime(path)  # this process already invalidated what it changed


def local_cache_sync() -> bool:
    """Drop this process's cache if another process invalidated since the last look (True if so)."""
    path = _stamp_path()
    if path is None:
        return False
    mtime = _stamp_mtime(path)
    seen = _stamp_seen.setdefault("mtime", mtime)  # a new process starts with an empty cache
    if mtime == seen:
        return False
    _stamp_seen["mtime"] = mtime
    _local_copies.clear()
    cache.clear()
    return True


# --- invalidation, and an outbox for the invalidations Redis refused --------------------------------
# An invalidation runs once, in the process that changed the data: a web request (admin), a command
# (sync_f1, predict) or a Celery worker, which may exit long before Redis returns. When Redis is down
# or hung at that moment (or this process's breaker is open and refuses at once), dropping it would
# leave the old answers cached for their whole TTL — a week for static data — after Redis is back
# (QA: a result correction made during a blip was served stale for 7 days). So a refused invalidation
# is written to the database (ingestion.models.CacheInvalidation: its keys, families and patterns) and
# replayed once Redis answers again, by whichever comes first:
#   * the next invalidation that succeeds, in any process (cache_invalidate);
#   * the beat's tick, every LIVENESS_HEARTBEAT_SECONDS (SingleBeatScheduler), so recovery does not
#     wait for the next data change;
#   * a web process's breaker closing: the request that closed it replays before returning its response
#     (CacheReplayMiddleware).
# A replay deletes the same keys and bumps the same generations again: idempotent (a second INCR only
# retires the family once more). It is single-flight across processes all the same: each batch is
# claimed in the database (FOR UPDATE SKIP LOCKED) for the length of its send, so the web workers
# whose breakers all close when Redis returns do not all SCAN and INCR the same rows at once; a row
# is deleted only after Redis took it, in the claim's transaction (a failed or killed replay leaves
# it). Never FLUSHDB or cache.clear(): REDIS_URL may be the Celery broker's db too.
# Only an unreachable Redis (down, hung, this process's breaker open) defers an invalidation: an error
# Redis answers (WRONGTYPE, READONLY after a failover, OOM) would fail again at every replay and, as
# the oldest row of a batch, block every later one for good (review). Such an error is logged at
# ERROR, naming what stays cached, and not queued.
_REFUSED = _FAILURES
_REPLAY_BATCH = 100  # outbox rows per round trip: bounds memory after a long outage with many changes


def _redis_client_of() -> Callable[..., Any] | None:
    """django-redis's get_client, or None for a backend without one (LocMem, DummyCache)."""
    return getattr(getattr(cache, "client", None), "get_client", None)


def _redis_apply(*, keys: Iterable[str], families: Iterable[str], patterns: Iterable[str]) -> None:
    """Send one invalidation to Redis, raising what Redis (or the breaker) raised. The patterns' keys
    are found by SCAN; then every DEL and INCR goes in one pipelined round trip (a sync or an entity
    edit bumps one family per driver and team of the races it touched: hundreds). INCR creates a
    missing counter at 1 with no expiry, as the LocMem path's set() does; django-redis stores ints raw."""
    client = _redis_client_of()(write=True)
    doomed = [cache.make_key(key) for key in keys]
    for pattern in patterns:
        doomed += client.scan_iter(match=cache.client.make_pattern(pattern), count=1000)
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(doomed), 1000):
        pipe.delete(*doomed[start : start + 1000])
    for family in families:
        pipe.incr(cache.make_key(_generation_key(family)))
    pipe.execute()


def _process_name() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _outbox_record(*, keys: list[str], families: list[str], patterns: list[str], error: Exception) -> None:
    """Keep a refused invalidation for replay; if the database refuses too, say loudly what is lost."""
    from django.db import Error as DatabaseError
    from django.db import transaction

    from ingestion.models import CacheInvalidation

    summary = {"keys": len(keys), "families": len(families), "patterns": len(patterns)}
    try:
        with transaction.atomic():  # a savepoint inside a caller's transaction: a failure never poisons it
            CacheInvalidation.objects.create(
                keys=keys,
                families=families,
                patterns=patterns,
                error=repr(error)[:500],
                process=_process_name(),
            )
    except DatabaseError as db_error:
        # Nothing durable is left to hold it: these answers stay stale until their TTL (at most
        # CACHE_TTL_STATIC) unless someone clears them. Name a few so an operator can.
        logger.error(
            "cache invalidation LOST: Redis and the database both refused it; cached answers stay "
            "stale until they expire",
            extra={
                **summary,
                "error": repr(error),
                "database_error": repr(db_error),
                "sample_keys": keys[:10],
                "sample_families": families[:10],
            },
        )
        return
    logger.warning(
        "cache invalidation deferred: Redis refused it; kept in the database for replay",
        extra={**summary, "error": repr(error)},
    )


def cache_invalidate(
    *, keys: Iterable[str] = (), families: Iterable[str] = (), patterns: Iterable[str] = ()
) -> bool:
    """Delete `keys`, bump the generation of `families` and delete the keys matching `patterns`.

    Every invalidation path ends here. True when it reached the cache; False when Redis refused it,
    then it is kept in the database and replayed later (see the comment above). After a success the
    outbox is replayed too: one indexed read when it is empty, no write."""
    keys, families, patterns = sorted(set(keys)), sorted(set(families)), sorted(set(patterns))
    _local_copies.clear()  # see _remember
    local_cache_stamp_touch()
    if _redis_client_of() is None:  # an in-process cache: it cannot be unreachable
        if keys:
            cache.delete_many(keys)
        for family in families:
            key = _generation_key(family)
            try:
                cache.incr(key)
            except ValueError:  # first bump: the counter does not exist yet
                cache.set(key, 1, timeout=None)
        if patterns:  # no pattern delete; the embedded cache only holds this process's keys
            cache.clear()
        return True
    if not (keys or families or patterns):
        return True
    try:
        _redis_apply(keys=keys, families=families, patterns=patterns)
    except _REFUSED as error:
        _outbox_record(keys=keys, families=families, patterns=patterns, error=error)
        return False
    except redis.exceptions.RedisError as error:
        _invalidation_refused_log(keys=keys, families=families, error=error)
        return False
    if connection.in_atomic_block:
        # Inside a caller's transaction the replay's reads and deletes would share its fate (an error
        # aborting it) and hold the outbox rows' locks until it ends, stalling the beat's replay.
        transaction.on_commit(cache_invalidations_replay)
    else:
        cache_invalidations_replay()
    return True


def _invalidation_refused_log(*, keys: list[str], families: list[str], error: Exception) -> None:
    logger.error(
        "cache invalidation refused by Redis (not an outage: not kept for replay); these answers stay "
        "cached until they expire",
        extra={"error": repr(error), "sample_keys": keys[:10], "sample_families": families[:10]},
    )


def bump_families(families: Iterable[str]) -> None:
    """Retire every cached entry of these list families (one INCR each). The tests' shorthand for
    `cache_invalidate(families=…)`, which every production path calls."""
    cache_invalidate(families=families)


def cache_invalidations_replay() -> int | None:
    """Replay the invalidations Redis refused earlier (any process's CacheInvalidation rows), oldest
    first; the number replayed here, or None when Redis or the database refused (the rows stay for the
    next trigger). Never raises: every caller is a side path (after an invalidation, a beat tick, a
    response). Nothing pending costs one indexed read and no write.

    Single-flight across processes: each batch is claimed in the database (`SELECT … FOR UPDATE SKIP
    LOCKED`), sent to Redis and deleted in one transaction. Another process replaying at the same
    moment (every web worker whose breaker closed when Redis came back) skips the claimed rows — no
    second SCAN, DEL or INCR for them — and returns 0 without touching them. A replay that fails
    (Redis gone again) rolls back: the rows stay, unclaimed, for the next trigger; one whose process
    dies midway loses its connection, and PostgreSQL ends its transaction the same way. The claim is
    in the database, not in Redis, which has just come back and may go again."""
    from django.db import Error as DatabaseError

    from ingestion.models import CacheInvalidation

    if _redis_client_of() is None:
        return 0
    replayed = 0
    try:
        if not CacheInvalidation.objects.exists():  # the common case: one read, no transaction
            return 0
        while True:
            with transaction.atomic():
                rows = list(
                    CacheInvalidation.objects.select_for_update(skip_locked=True)
                    .order_by("pk")
                    .values_list("pk", "keys", "families", "patterns")[:_REPLAY_BATCH]
                )
                if not rows:  # none left, or the rest claimed by another process's replay
                    break
                keys, families, patterns = set(), set(), set()
                for _, row_keys, row_families, row_patterns in rows:
                    keys.update(row_keys)
                    families.update(row_families)
                    patterns.update(row_patterns)
                try:
                    _redis_apply(keys=sorted(keys), families=sorted(families), patterns=sorted(patterns))
                except _REFUSED:
                    raise  # the transaction rolls back: the rows stay, unclaimed
                except redis.exceptions.RedisError as error:
                    # An answer, not an outage (e.g. a key of the wrong type): the batch would fail at
                    # every try and block every later row, so it is dropped, loudly.
                    _invalidation_refused_log(keys=sorted(keys), families=sorted(families), error=error)
                # Only the rows just replayed: one recorded meanwhile waits for the next round.
                CacheInvalidation.objects.filter(pk__in=[pk for pk, *_ in rows]).delete()
            replayed += len(rows)
    except _REFUSED as error:
        logger.warning(
            "cache invalidation replay failed; kept for the next try",
            extra={"error": repr(error), "replayed": replayed},
        )
        return None
    except DatabaseError as error:
        logger.warning(
            "cache invalidation replay could not read the database",
            extra={"error": repr(error), "replayed": replayed},
        )
        return None
    except Exception:  # a side path: never turn a request or an invalidation into an error
        logger.exception("cache invalidation replay failed; kept for the next try")
        return None
    if replayed:
        _local_copies.clear()
        logger.warning(
            "cache invalidations replayed after Redis came back", extra={"invalidations": replayed}
        )
    return replayed


def cache_invalidations_replay_due() -> None:
    """The web trigger: this process's breaker closed since the last look (Redis answers again), so
    invalidations refused meanwhile — here or anywhere — are replayed now rather than at the next
    beat tick. Cleared first: a failed replay is the beat's to retry, not every later request's."""
    if not breaker.replay_due:
        return
    breaker.replay_due = False
    cache_invalidations_replay()


def _vacated_round_keys(round_ids: Iterable[str]) -> tuple[list[str], set[int]]:
    """Keys of `2019_22`-form ids a race left (renumbered upstream or in admin, or deleted): race,
    predictions, accuracy."""
    keys, seasons = [], set()
    for round_id in round_ids:
        season, _, rnd = str(round_id).partition("_")
        if not (season.isdigit() and rnd.isdigit()):
            continue
        seasons.add(int(season))
        keys += [race_key(int(season), round_id), predictions_key(round_id), f"f1:accuracy:{round_id}"]
    return keys, seasons


def _race_id_keys(season: int, race_id: str) -> list[str]:
    """Every key named by one race id (either form): the race, its predictions and accuracy."""
    return [race_key(season, race_id), predictions_key(race_id), f"f1:accuracy:{race_id}"]


def _entity_keys(drivers: Iterable[str], teams: Iterable[str]) -> tuple[list[str], list[str]]:
    """The analytics keys of these drivers and teams: the unfiltered key, and the family that holds
    every season-filtered answer (driver_season_key)."""
    drivers, teams = set(drivers), set(teams)
    keys = [driver_key(ref) for ref in drivers] + [team_key(ref) for ref in teams]
    families = [driver_family(ref) for ref in drivers] + [team_family(ref) for ref in teams]
    return keys, families


def race_entities(race_pks: Iterable[int]) -> tuple[set[str], set[str]]:
    """The refs of the drivers and teams whose analytics these races feed: every row of theirs that
    the analytics read — results, qualifying, sprint, pit stops, and the standings after them (a
    driver replaced mid-season keeps a standing after every later round, and his championship trend
    shows it). Two queries (a UNION each for drivers and teams).

    Rows read as they are now: a row deleted or moved to another driver is not found here, so
    `_on_race_row_saved` clears the row's own driver and team itself (`_on_race_rows_overwritten`
    for the sync's and the dump load's bulk writes)."""
    from ingestion.models import (
        DriverStanding,
        PitStop,
        QualifyingResult,
        RaceResult,
        SprintResult,
        TeamStanding,
    )

    race_pks = list(race_pks)
    if not race_pks:
        return set(), set()

    def refs(models: tuple, column: str) -> set[str]:
        first, *rest = (
            m.objects.filter(race_id__in=race_pks).order_by().values_list(column, flat=True) for m in models
        )
        return set(first.union(*rest))

    drivers = refs((RaceResult, QualifyingResult, SprintResult, PitStop, DriverStanding), "driver__ref")
    teams = refs((RaceResult, QualifyingResult, SprintResult, TeamStanding), "team__ref")
    return drivers, teams


def cache_invalidate_races(*, race_ids: Iterable[str], vacated_round_ids: Iterable[str] = ()) -> dict:
    """Clear exactly what a change to these races' rows affects, plus the `{season}_{round}` keys
    of rounds a race left when the calendar was renumbered (`vacated_round_ids`: the race's new round
    is cleared with the race, its old one would otherwise keep serving it — or a race nobody holds).

    Per race: its detail, predictions and accuracy under both ids, its weather, its season's list
    families (races, standings), and the analytics of its drivers and teams (unfiltered and every
    season: see driver_season_key). A race id no longer in the database (deleted) still has its
    `{season}_{name}` keys and its season's families cleared; the deleting code sends its round as
    vacated and clears its drivers/teams itself (`_on_race_deleted`, which saw them before the delete).
    Returns what was cleared (for tests/logs)."""
    from ingestion.models import Race

    slugs = [r for r in race_ids if r]
    races = list(Race.objects.filter(slug__in=slugs).values_list("id", "slug", "season_id", "round"))
    found = {slug for _, slug, _, _ in races}
    gone = [
        (int(slug.partition("_")[0]), slug)
        for slug in slugs
        if slug not in found and slug.partition("_")[0].isdigit()
    ]
    vacated_keys, vacated_seasons = _vacated_round_keys(vacated_round_ids)
    if not races and not gone and not vacated_keys:
        return {"keys": [], "families": []}
    seasons = {season for _, _, season, _ in races} | {season for season, _ in gone} | vacated_seasons
    drivers, teams = race_entities(pk for pk, *_ in races)
    keys = []
    for _, slug, season, rnd in races:
        keys += _race_id_keys(season, slug) + _race_id_keys(season, f"{season}_{rnd}")
        keys.append(weather_key(slug))
    for season, slug in gone:
        keys += [*_race_id_keys(season, slug), weather_key(slug)]
    keys += vacated_keys
    entity_keys, entity_families = _entity_keys(drivers, teams)
    keys += entity_keys
    # championship: a completed season shows its stored final standings, a running one simulates
    # from the standings after its latest round — a corrected standing or result changes either
    families = ["races:all", "upcoming", "championship", *entity_families]
    for season in seasons:
        families += [f"races:{season}", f"standings:{season}"]
    families += ["standings:latest", "drivers", "teams"]
    cache_invalidate(keys=keys, families=families)
    return {"keys": sorted(set(keys)), "families": sorted(set(families))}


def cache_invalidate_predictions(*, race_ids: Iterable[str | int]) -> dict:
    """Clear a race's prediction and accuracy keys (both id forms), upcoming, championship, models.

    `race_ids` may be public ids (`2025_bahrain`) or database ids (the engine's signal sends those).
    """
    from django.db.models import Q

    from ingestion.models import Race

    ids = list(race_ids)
    pks = [i for i in ids if isinstance(i, int)]
    slugs = [i for i in ids if isinstance(i, str) and i]
    races = list(
        Race.objects.filter(Q(pk__in=pks) | Q(slug__in=slugs)).values_list("slug", "season_id", "round")
    )
    forms = set(slugs) | {slug for slug, _, _ in races} | {f"{season}_{rnd}" for _, season, rnd in races}
    keys = sorted({predictions_key(f) for f in forms} | {f"f1:accuracy:{f}" for f in forms})
    cache_invalidate(keys=keys, families=["upcoming", "championship", "models"])
    return {"keys": keys, "families": ["championship", "models", "upcoming"]}


def cache_invalidate_models() -> dict:
    """Clear what shows the active model or the latest backtest: models/performance, championship
    odds (simulated with the active model) and the fans' cached pages (/model/, /championship/, the
    what-if page: the dashboard page cache has no finer key than the page's hashed path)."""
    from analytics.services.cache import DASHBOARD_KEY_PATTERNS

    # models/performance is a family (one entry per serving version, `list_key("models", label)`)
    cache_invalidate(families=["championship", "models"], patterns=DASHBOARD_KEY_PATTERNS)
    return {"keys": [], "families": ["championship", "models"], "pages": True}


# --- signal wiring (connected from f1site.apps.PitwallSiteConfig.ready) ---------------------------
def _on_races_changed(sender, race_ids=(), vacated_round_ids=(), **kwargs) -> None:
    cache_invalidate_races(race_ids=race_ids, vacated_round_ids=vacated_round_ids)


def _on_predictions_changed(sender, race_ids=(), **kwargs) -> None:
    cache_invalidate_predictions(race_ids=race_ids)


def _on_models_changed(sender, **kwargs) -> None:
    cache_invalidate_models()


def _race_row_refs(instance) -> tuple[int | None, int | None, int | None]:
    """(race_id, driver_id, team_id) of a race row; None where the model has no such column
    (a pit stop or a driver's standing has no team, the weather rows neither)."""
    return tuple(getattr(instance, f"{name}_id", None) for name in ("race", "driver", "team"))


def _on_race_row_pre_save(sender, instance, raw=False, **kwargs) -> None:
    """Remember the race, driver and team an existing row held before this save: the admin's change
    form edits them, and the race's entities read after the save (race_entities) name the new ones
    only — the driver a row was taken from would keep its analytics for CACHE_TTL_STATIC."""
    if raw or instance.pk is None:
        return
    columns = [f"{name}_id" for name in ("race", "driver", "team") if hasattr(instance, f"{name}_id")]
    instance._f1cache_refs_before = sender.objects.filter(pk=instance.pk).values(*columns).first()


def _from_a_race_delete(origin) -> bool:
    from django.db.models import QuerySet

    from ingestion.models import Race

    return isinstance(origin, Race) or (isinstance(origin, QuerySet) and origin.model is Race)


class _RaceRowBatch:
    """The races, drivers and teams of the race rows one transaction changed, and the drivers, teams
    and circuits it wrote in bulk (`entity_rows_written`), cleared by one on-commit callback (this
    object). A queryset delete sends post_delete row by row: a callback a row looked up the same
    race, drivers and teams and sent races_changed for the same race again — deleting 2024
    Bahrain's 43 pit stops ran 43 callbacks and 215 queries at commit."""

    def __init__(self, sender) -> None:
        self.sender = sender
        self.race_ids: set[int] = set()
        self.driver_ids: set[int] = set()
        self.team_ids: set[int] = set()
        # drivers / teams / circuits written by a bulk upsert, by kind: cleared as an admin save
        self.entity_pks: dict[str, set[int]] = {}
        self.ran = False

    def __call__(self) -> None:
        from analytics.services.cache import dashboard_cache_clear
        from ingestion.models import Driver, Race, Team
        from ingestion.signals import races_changed_send

        self.ran = True
        entity_pks = self.entity_pks
        driver_ids = self.driver_ids | entity_pks.get("Driver", set())
        team_ids = self.team_ids | entity_pks.get("Team", set())
        drivers = (
            dict(Driver.objects.filter(pk__in=driver_ids).values_list("pk", "ref")) if driver_ids else {}
        )
        teams = dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "ref")) if team_ids else {}
        keys, families = _entity_keys(
            (drivers[pk] for pk in self.driver_ids if pk in drivers),
            (teams[pk] for pk in self.team_ids if pk in teams),
        )
        entity_slugs: list[str] = []
        if entity_pks:  # as an admin save of each (cache_invalidate_entities), in the same round trip
            refs = {"Driver": drivers, "Team": teams}
            entity_keys, entity_families, entity_slugs = _entity_invalidation(
                (kind, pk, [refs.get(kind, {}).get(pk)]) for kind, pks in entity_pks.items() for pk in pks
            )
            keys += entity_keys
            families += entity_families
        if keys or families:  # through cache_invalidate: kept in the outbox and replayed if Redis refuses it
            cache_invalidate(keys=keys, families=families)
        slugs = set(entity_slugs)
        if self.race_ids:
            slugs |= set(Race.objects.filter(pk__in=self.race_ids).values_list("slug", flat=True))
        if slugs:  # as a sync would: the API keys here, the dashboard pages in analytics' receiver
            races_changed_send(sender=self.sender, race_ids=sorted(slugs))
        elif entity_pks:  # no race shows them: their pages all the same, as cache_invalidate_entities
            dashboard_cache_clear()


def _race_row_batch(sender) -> tuple[_RaceRowBatch, bool]:
    """(the batch of this transaction's race rows to add to, whether it is new and must be registered
    with on_commit once its ids are in).

    The open batch is joined only while its callback is still to run: registered, not discarded by a
    savepoint rollback, not run. A rollback drops the callback of the savepoint it was registered in;
    a later row joining that batch would lose its invalidation with it, so it starts a new batch.
    Joining a pending batch from inside a savepoint is safe: a callback registered in a savepoint
    still open is dropped only with the row's own changes (savepoints nest), one released can no
    longer roll back; a row whose savepoint rolls back after it joined an outer batch is cleared
    anyway (harmless)."""
    from django.db import transaction

    connection = transaction.get_connection()
    batch = getattr(connection, "_f1cache_race_rows", None)
    if (
        batch is not None
        and not batch.ran
        and connection.in_atomic_block
        and any(entry[1] is batch for entry in connection.run_on_commit)
    ):
        return batch, False
    batch = _RaceRowBatch(sender)
    connection._f1cache_race_rows = batch
    return batch, True


def _on_race_row_saved(sender, instance, origin=None, **kwargs) -> None:
    """A manual (admin) correction of one row, or one row of a queryset delete (which sends these
    signals row by row): clear the row's race — and the one it left — once the transaction commits,
    plus the row's own driver and team, before and after the change; the rows of one transaction
    share one callback (_RaceRowBatch).

    The race's keys and its entities go through races_changed (`race_entities`), which reads the
    race's rows *after* the commit: a deleted row's driver (his only row of that race) or the driver
    a row was moved away from is not among them, so they are cleared here by the ids the row carried
    (QA: a deleted result left its driver's analytics stale for up to 7 days). A row deleted with its
    race (`origin`: a Race or a Race queryset) is left to `_on_race_deleted`, which read every
    entity of the race before the delete."""
    from django.db import transaction

    if _from_a_race_delete(origin):
        return
    before = getattr(instance, "_f1cache_refs_before", None) or {}
    instance._f1cache_refs_before = None
    race_id, driver_id, team_id = _race_row_refs(instance)
    race_ids = {race_id, before.get("race_id")} - {None}
    if not race_ids:
        return
    batch, new = _race_row_batch(sender)
    batch.race_ids |= race_ids
    batch.driver_ids |= {driver_id, before.get("driver_id")} - {None}
    batch.team_ids |= {team_id, before.get("team_id")} - {None}
    if new:  # after the ids are in: outside a transaction on_commit runs it at once
        transaction.on_commit(batch)


def _on_race_rows_overwritten(sender, refs=(), **kwargs) -> None:
    """A bulk upsert (a Jolpica sync, a dump load) changed or deleted race rows without model signals
    (`ingestion.signals.race_rows_overwritten`, sent inside its transaction): the drivers and teams
    those rows named before join this transaction's batch, cleared at its commit, through
    cache_invalidate (the outbox when Redis refuses). The races are not added: the sync / load sends
    races_changed for them itself after its commit. Before, a result moved to another team upstream
    left the old team's analytics cached for CACHE_TTL_STATIC (`race_entities` reads the race after
    the commit, and the old team had no row left in it)."""
    from django.db import transaction

    driver_ids = {ref[1] for ref in refs} - {None}
    team_ids = {ref[2] for ref in refs} - {None}
    if not (driver_ids or team_ids):
        return
    batch, new = _race_row_batch(sender)
    batch.driver_ids |= driver_ids
    batch.team_ids |= team_ids
    if new:
        transaction.on_commit(batch)


def _on_entity_rows_written(sender, kind: str = "", pks=(), **kwargs) -> None:
    """A bulk upsert (a dump load, a Jolpica sync) created or updated drivers, teams or circuits
    without model signals (`ingestion.signals.entity_rows_written`, sent inside its transaction):
    they join this transaction's batch, cleared at its commit as an admin save of each clears
    (cache_invalidate_entities: their analytics and lists, every race that shows them), through
    cache_invalidate (the outbox when Redis refuses). Before, a load that changed only a driver's
    code sent no invalidation: the race details printing it stayed cached for CACHE_TTL_STATIC."""
    from django.db import transaction

    pks = set(pks) - {None}
    if kind not in _ENTITY_LISTS or not pks:
        return
    batch, new = _race_row_batch(sender)
    batch.entity_pks.setdefault(kind, set()).update(pks)
    if new:
        transaction.on_commit(batch)


def _round_id(season: int, rnd: int) -> str:
    return f"{season}_{rnd}"


def _on_race_pre_save(sender, instance, raw=False, **kwargs) -> None:
    """Remember the round id the race held before this save: an admin renumbering (round 23 -> 24)
    leaves `2026_23` naming a race that is not there any more (see _on_race_saved)."""
    if raw or instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values_list("season_id", "round").first()
    instance._f1cache_round_before = _round_id(*before) if before else None


def _on_race_saved(sender, instance, **kwargs) -> None:
    from django.db import transaction

    from ingestion.signals import races_changed_send

    slug = instance.slug
    before = getattr(instance, "_f1cache_round_before", None)
    instance._f1cache_round_before = None
    vacated = [before] if before and before != _round_id(instance.season_id, instance.round) else []
    transaction.on_commit(
        lambda: races_changed_send(sender=sender, race_ids=[slug], vacated_round_ids=vacated)
    )


def _on_race_deleted(sender, instance, **kwargs) -> None:
    """pre_delete of a Race (admin delete, queryset delete): its results are still there, so read
    which drivers and teams it counted for now; clear on commit. The cascade's row deletions find
    no race any more (_on_race_row_saved), so this is the one invalidation of a deleted race."""
    from django.db import transaction

    from ingestion.signals import races_changed_send

    slug, round_id = instance.slug, _round_id(instance.season_id, instance.round)
    drivers, teams = race_entities([instance.pk])

    def _clear() -> None:
        keys, families = _entity_keys(drivers, teams)
        # championship: the odds simulate the season's remaining races, one fewer now
        cache_invalidate(keys=keys, families=[*families, "championship"])
        # as a sync would: the slug's keys, the round it held (vacated), the season's families, the
        # dashboard pages (analytics' receiver)
        races_changed_send(sender=sender, race_ids=[slug], vacated_round_ids=[round_id])

    transaction.on_commit(_clear)


# Driver / Team / Circuit / Status / Season edits are rare staff actions (a code, a name, a circuit or
# a status renamed) whose value is printed in many cached answers: every race detail, results list
# and standings table the entity appears in, predictions, analytics (a circuit's name is in its
# drivers' circuit history, a status decides a start or a DNF), the dashboard pages. A season's races
# are its "references" (its own link is printed nowhere yet; an edit clears them all the same). Rather than track each payload, an edit is treated as a change of every race
# that references the entity — the same tested path a sync takes (races_changed: race keys under
# both ids, their predictions, their seasons' families, their drivers' and teams' analytics, the
# dashboard pages) — plus the entity's own keys and the lists that show it. Broad (a driver with
# 300 races clears 300 races' keys and ~700 analytics families, one pipelined round trip) but
# cheap for how rarely it happens, and it cannot miss a payload added later.
_ENTITY_LISTS = {"Driver": ["drivers"], "Team": ["teams"], "Circuit": [], "Status": [], "Season": []}


def _entity_race_slugs(pks: Mapping[str, Collection[int]]) -> list[str]:
    """Public ids of the races that show these drivers / teams / circuits / statuses / seasons (`pks`
    by kind: rows of any kind, predictions; a circuit's or a season's races; a status's results and
    sprint results). One query however many entities."""
    from django.db.models import Q

    from ingestion import models as m
    from predictions.models import Prediction

    where = Q()
    for kind, ids in pks.items():
        ids = sorted(ids)
        if not ids:
            continue
        if kind in ("Circuit", "Season"):
            where |= Q(**{f"{kind.lower()}_id__in": ids})
            continue
        if kind == "Status":
            for model in (m.RaceResult, m.SprintResult):
                where |= Q(pk__in=model.objects.filter(status_id__in=ids).values("race_id"))
            continue
        column = "driver_id" if kind == "Driver" else "team_id"
        row_models = [m.RaceResult, m.SprintResult, m.QualifyingResult, m.PracticeResult, Prediction]
        row_models += [m.DriverStanding, m.PitStop] if kind == "Driver" else [m.TeamStanding]
        for model in row_models:
            where |= Q(pk__in=model.objects.filter(**{f"{column}__in": ids}).values("race_id"))
    if not where:
        return []
    return list(m.Race.objects.filter(where).values_list("slug", flat=True))


def _entity_invalidation(
    entities: Iterable[tuple[str, int | None, Iterable[str]]],
) -> tuple[list[str], list[str], list[str]]:
    """(keys, families, race slugs) to clear for these `(kind, pk, refs)` drivers / teams / circuits:
    see the comment above _ENTITY_LISTS. The slugs are for races_changed (one query)."""
    drivers, teams, kinds = set(), set(), set()
    pks: dict[str, set[int]] = {}
    for kind, pk, refs in entities:
        kinds.add(kind)
        refs = {r for r in refs if r}
        (drivers if kind == "Driver" else teams if kind == "Team" else set()).update(refs)
        if pk is not None:
            pks.setdefault(kind, set()).add(pk)
    keys, families = _entity_keys(drivers, teams)
    for kind in sorted(kinds):
        families += _ENTITY_LISTS[kind]
    families += ["races:all", "standings:latest", "upcoming", "championship"]
    return keys, families, _entity_race_slugs(pks)


def cache_invalidate_entities(*, entities: Iterable[tuple[str, int | None, Iterable[str]]]) -> dict:
    """Clear what shows these drivers / teams / circuits / statuses / seasons — `(kind, pk, refs)`:
    the model name, its pk and its refs (a driver's or team's, now and, after an admin edit of the
    ref, before) — in one invalidation: one
    query for the races that show any of them, one races_changed for those races. What an admin
    save of each clears (cache_invalidate_entity), batched for the bulk writes of a sync or a dump
    load (`ingestion.signals.entity_rows_written`, through _RaceRowBatch)."""
    from analytics.services.cache import dashboard_cache_clear
    from ingestion.signals import races_changed_send

    keys, families, slugs = _entity_invalidation(list(entities))
    cache_invalidate(keys=keys, families=families)
    if slugs:
        races_changed_send(sender=cache_invalidate_entity, race_ids=slugs)
    else:  # no race shows them: only their lists and pages (analytics' receiver did not run)
        dashboard_cache_clear()
    return {"keys": sorted(set(keys)), "families": sorted(set(families)), "race_ids": sorted(slugs)}


def cache_invalidate_entity(*, kind: str, pk: int, refs: Iterable[str]) -> dict:
    """Clear what shows this driver / team / circuit / status / season (`kind`, the model name);
    `refs`: a driver's or team's ref now and before the edit (the ref is editable). See the comment
    above _ENTITY_LISTS."""
    return cache_invalidate_entities(entities=[(kind, pk, refs)])


def _on_entity_pre_save(sender, instance, raw=False, **kwargs) -> None:
    """A driver's or team's ref before the edit (it is editable, and keys their analytics); statuses,
    seasons and circuits key nothing by a ref of their own."""
    if raw or instance.pk is None or sender.__name__ not in ("Driver", "Team"):
        return
    instance._f1cache_ref_before = sender.objects.filter(pk=instance.pk).values_list("ref", flat=True).first()


def _on_entity_changed(sender, instance, **kwargs) -> None:
    from django.db import transaction

    kind, pk = sender.__name__, instance.pk
    refs = [getattr(instance, "ref", None), getattr(instance, "_f1cache_ref_before", None)]
    instance._f1cache_ref_before = None
    transaction.on_commit(lambda: cache_invalidate_entity(kind=kind, pk=pk, refs=refs))


def connect_invalidation_signals() -> None:
    from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

    from ingestion import models as m

    for model in (
        m.RaceResult,
        m.SprintResult,
        m.QualifyingResult,
        m.PracticeResult,
        m.DriverStanding,
        m.TeamStanding,
        m.RaceWeather,
        m.WeatherForecast,
        m.PitStop,
    ):
        pre_save.connect(
            _on_race_row_pre_save, sender=model, dispatch_uid=f"f1cache-{model.__name__}-pre-save"
        )
        post_save.connect(_on_race_row_saved, sender=model, dispatch_uid=f"f1cache-{model.__name__}-save")
        post_delete.connect(_on_race_row_saved, sender=model, dispatch_uid=f"f1cache-{model.__name__}-del")
    pre_save.connect(_on_race_pre_save, sender=m.Race, dispatch_uid="f1cache-race-pre-save")
    post_save.connect(_on_race_saved, sender=m.Race, dispatch_uid="f1cache-race-save")
    pre_delete.connect(_on_race_deleted, sender=m.Race, dispatch_uid="f1cache-race-del")
    for model in (m.Driver, m.Team, m.Circuit, m.Status, m.Season):
        name = model.__name__
        pre_save.connect(_on_entity_pre_save, sender=model, dispatch_uid=f"f1cache-{name}-pre-save")
        post_save.connect(_on_entity_changed, sender=model, dispatch_uid=f"f1cache-{name}-save")
        post_delete.connect(_on_entity_changed, sender=model, dispatch_uid=f"f1cache-{name}-del")
    from ingestion.signals import entity_rows_written, race_rows_overwritten, races_changed
    from predictions.signals import models_changed, predictions_changed

    races_changed.connect(_on_races_changed, dispatch_uid="f1cache-races-changed")
    race_rows_overwritten.connect(_on_race_rows_overwritten, dispatch_uid="f1cache-race-rows-overwritten")
    entity_rows_written.connect(_on_entity_rows_written, dispatch_uid="f1cache-entity-rows-written")
    predictions_changed.connect(_on_predictions_changed, dispatch_uid="f1cache-predictions-changed")
    models_changed.connect(_on_models_changed, dispatch_uid="f1cache-models-changed")
