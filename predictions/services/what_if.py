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
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from predictions.features.registry import FEATURES_FORMAT

logger = logging.getLogger(__name__)

BASE_FORMAT = 1
_LOCAL_MAX = 16


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


def what_if_base_key(*, race_id: int, entries: pd.DataFrame, stamp: str) -> str:
    pairs = sorted(zip(entries["driver_id"].astype(int), entries["team_id"].astype(int), strict=True))
    digest = hashlib.sha256(repr((FEATURES_FORMAT, BASE_FORMAT, stamp, pairs)).encode()).hexdigest()[:32]
    return f"f1:whatif:base:{race_id}:{digest}"


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


def what_if_base_get(*, race_id: int, entries: pd.DataFrame, build) -> WhatIfBase:
    """The race's base for these entrants: from this process, else the Django cache, else
    `build()` (stored in both). Without a stamp (not PostgreSQL), always `build()`."""
    stamp = what_if_inputs_stamp()
    if stamp is None:
        return build()
    key = what_if_base_key(race_id=race_id, entries=entries, stamp=stamp)
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
        base = build()
        try:
            cache.set(key, pickle.dumps(base), timeout=getattr(settings, "WHAT_IF_BASE_TTL", 6 * 3600))
        except Exception:
            logger.warning("what-if base cache write failed", exc_info=True)
    _local_put(key, base)
    return base
