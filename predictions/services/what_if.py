"""The what-if's grid-independent part, computed once per race and data state and reused.

A what-if used to rebuild the features over the whole history (`f1_frames_load` + `build_features`,
~1.4 s of CPU) for every grid. Only a handful of the race's columns depend on the grid
(`compute.QUALIFYING_GRID_COLUMNS`): the rest of its rows — history, practice, sprint, weather —
are the same for every grid. So the rows are built once with a canonical grid (the "base") and each
request recomputes only those columns from its grid (`compute.target_rows_with_grid`): the same
numbers the full build gives (tests/predictions/test_what_if_cache.py compares them on real data).

The base is keyed by everything it is computed from, so it can never be served stale:
- `what_if_inputs_stamp`: per table the feature frames read (`f1_frames_load`), its row count and
  the sum of its rows' `xmin` (PostgreSQL's id of the transaction that wrote each row version). Any
  insert, update or delete — by the sync, the admin, a dump load, raw SQL, whether or not a signal
  fires — changes a count or a sum; a write rolled back changes nothing, nor should it. ~20 ms.
  Without PostgreSQL there is no stamp and nothing is cached (every what-if is built in full).
- the race, its entrants (driver, team), `FEATURES_FORMAT` and `BASE_FORMAT` (bump when the base's
  content changes).
It lives in the process (a small LRU) and in the Django cache (shared by the workers; a base is
~20 rows, a few KB), for `WHAT_IF_BASE_TTL` seconds.

A base still costs a full build the first time (a race nobody asked about since the data last
changed), so builds are bounded: at most `WHAT_IF_MAX_BUILDS` at once site-wide (a Redis sorted set
of slots, each expiring after `WHAT_IF_BUILD_TIMEOUT` seconds so a killed worker cannot hold one;
without Redis, per process). Beyond that the request is refused with WhatIfBusy (API: 503
`what_if_busy` with Retry-After; the page says so) instead of queueing behind the others: cycling
through races cannot tie up every worker.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from f1site.clock import clock_to_text
from f1site.errors import PicklableError
from predictions.features.registry import FEATURES_FORMAT

logger = logging.getLogger(__name__)

BASE_FORMAT = 1
_LOCAL_MAX = 16


class WhatIfBusy(PicklableError):
    """Every what-if build slot is taken (`what_if_build_slot`): try again in `retry_after` s."""

    def __init__(self, retry_after: int):
        super().__init__(
            "Too many what-if predictions are being prepared on the site right now; "
            f"try again in {retry_after} s."
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class WhatIfBase:
    """A race's what-if feature rows built with a canonical grid, and its real qualifying rows
    (the times each grid slot takes: `what_if_qualifying`)."""

    rows: pd.DataFrame
    qualifying: pd.DataFrame


_local: OrderedDict[str, WhatIfBase] = OrderedDict()
_local_lock = threading.Lock()


def _stamp_tables() -> list[str]:
    from ingestion import models as m

    models = (
        m.Race, m.Circuit, m.Driver, m.Team, m.Status, m.RaceResult, m.SprintResult,
        m.QualifyingResult, m.PracticeResult, m.PitStop, m.RaceWeather, m.WeatherForecast,
    )  # fmt: skip
    return [model._meta.db_table for model in models]


def what_if_inputs_stamp() -> str | None:
    """A digest that changes whenever a row the feature frames read changes (see the module
    docstring); None without PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    qn = connection.ops.quote_name
    sql = " UNION ALL ".join(
        f"SELECT {i}, count(*), coalesce(sum(t.xmin::text::bigint), 0) FROM {qn(table)} t"  # noqa: S608 - model tables
        for i, table in enumerate(_stamp_tables())
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = sorted(cursor.fetchall())
    return hashlib.sha256(repr([(int(c), int(s)) for _, c, s in rows]).encode()).hexdigest()[:32]


def what_if_base_key(
    *, race_id: int, entries: pd.DataFrame, stamp: str, clock: datetime | None = None
) -> str:
    """`clock`: a what-if as of a past clock, whose base holds only what was known then — its own
    entry per clock (`:at:<clock>`, one spelling per moment), never today's nor another clock's."""
    pairs = sorted(zip(entries["driver_id"].astype(int), entries["team_id"].astype(int), strict=True))
    parts = (FEATURES_FORMAT, BASE_FORMAT, stamp, pairs)
    at = ""
    if clock is not None:
        at = f":at:{clock_to_text(clock=clock)}"
        parts = (*parts, at)
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"f1:whatif:base:{race_id}{at}:{digest}"


def _local_get(key: str) -> WhatIfBase | None:
    with _local_lock:
        base = _local.get(key)
        if base is not None:
            _local.move_to_end(key)
        return base


def _local_put(key: str, base: WhatIfBase) -> None:
    with _local_lock:
        _local[key] = base
        _local.move_to_end(key)
        while len(_local) > _LOCAL_MAX:
            _local.popitem(last=False)


def what_if_local_clear() -> None:
    """Forget this process's bases (tests)."""
    with _local_lock:
        _local.clear()


# KEYS[1] the slots (a sorted set: token -> expiry, unix ms); ARGV: now ms, ttl ms, max, token.
# Expired slots (a worker killed mid-build) are dropped first; 1 = slot taken, 0 = all busy.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_SLOTS_KEY = "f1:whatif:builds"
_process_slots: dict[int, threading.BoundedSemaphore] = {}
_process_slots_lock = threading.Lock()


def _process_semaphore(limit: int) -> threading.BoundedSemaphore:
    with _process_slots_lock:
        return _process_slots.setdefault(limit, threading.BoundedSemaphore(limit))


def _redis():
    get_client = getattr(getattr(cache, "client", None), "get_client", None)
    return get_client(write=True) if get_client is not None else None


@contextmanager
def what_if_build_slot() -> Iterator[None]:
    """Hold one of the WHAT_IF_MAX_BUILDS site-wide build slots, or raise WhatIfBusy at once."""
    limit = max(1, int(getattr(settings, "WHAT_IF_MAX_BUILDS", 1)))
    timeout = max(1, int(getattr(settings, "WHAT_IF_BUILD_TIMEOUT", 30)))
    retry_after = max(1, min(timeout, 2))  # a build takes ~1-2 s
    token = uuid.uuid4().hex
    client = None
    try:
        client = _redis()
        if client is not None:
            key = cache.make_key(_SLOTS_KEY)
            took = client.eval(_ACQUIRE, 1, key, int(time.time() * 1000), timeout * 1000, limit, token)
            if not took:
                raise WhatIfBusy(retry_after)
    except WhatIfBusy:
        raise
    except Exception:  # Redis down (or the breaker open): this process's slots only
        logger.warning("what-if build slots: Redis unavailable, limiting per process", exc_info=True)
        client = None
    if client is None:
        semaphore = _process_semaphore(limit)
        if not semaphore.acquire(blocking=False):
            raise WhatIfBusy(retry_after)
        try:
            yield
        finally:
            semaphore.release()
        return
    try:
        yield
    finally:
        try:
            client.zrem(key, token)
        except Exception:  # it expires on its own
            logger.warning("what-if build slot release failed", exc_info=True)


def _build_bounded(build) -> WhatIfBase:
    with what_if_build_slot():
        return build()


def what_if_base_get(
    *, race_id: int, entries: pd.DataFrame, build, clock: datetime | None = None
) -> WhatIfBase:
    """The race's base for these entrants (as of `clock`, a past one, or today): from this process,
    else the Django cache, else `build()` (stored in both). Without a stamp (not PostgreSQL), always
    `build()`."""
    stamp = what_if_inputs_stamp()
    if stamp is None:
        return _build_bounded(build)
    key = what_if_base_key(race_id=race_id, entries=entries, stamp=stamp, clock=clock)
    base = _local_get(key)
    if base is not None:
        return base
    try:
        raw = cache.get(key)
    except Exception:  # the cache is an optimisation: a broken one means building
        logger.warning("what-if base cache read failed", exc_info=True)
        raw = None
    if raw is not None:
        try:
            base = pickle.loads(raw)  # noqa: S301 - written by this module, in our own cache
        except Exception:
            base = None
    if not isinstance(base, WhatIfBase):
        base = _build_bounded(build)
        try:
            cache.set(key, pickle.dumps(base), timeout=getattr(settings, "WHAT_IF_BASE_TTL", 6 * 3600))
        except Exception:
            logger.warning("what-if base cache write failed", exc_info=True)
    _local_put(key, base)
    return base
