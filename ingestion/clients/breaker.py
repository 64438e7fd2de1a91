"""A circuit breaker whose state lives in the Django cache (Redis in production), shared by every worker.

The in-process breaker in `ingestion.clients.http` protects one process; OpenF1's live endpoints
need one breaker for the whole fleet (each 30 s poll may land on a different worker) and must count
401 "live session, token required" as a failure. Open after `threshold` consecutive failures, then
allow at most one probe per `probe_interval` seconds; a success closes it. `clock` is injectable so
tests can set the time. Reads and writes are not atomic across processes: callers (the live job)
already run under a per-job lock, so only one process uses a given breaker at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import cache


class SharedCircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        threshold: int = 3,
        probe_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        self.key = f"pitwall:breaker:{name}"
        self.threshold = threshold
        self.probe_interval = probe_interval
        self.clock = clock

    def _state(self) -> dict:
        return cache.get(self.key) or {"failures": 0, "opened_at": None, "last_probe_at": None}

    def _save(self, state: dict) -> None:
        cache.set(self.key, state, timeout=None)

    @property
    def state(self) -> str:
        st = self._state()
        if st["opened_at"] is None:
            return "closed"
        last = st["last_probe_at"] or st["opened_at"]
        return "half-open" if self.clock() - last >= self.probe_interval else "open"

    def is_open(self) -> bool:
        return self._state()["opened_at"] is not None

    def allow(self) -> bool:
        """True if a request may go out now; when open, at most once per probe_interval (the probe)."""
        st = self._state()
        if st["opened_at"] is None:
            return True
        now = self.clock()
        last = st["last_probe_at"] or st["opened_at"]
        if now - last < self.probe_interval:
            return False
        st["last_probe_at"] = now
        self._save(st)
        return True

    def record_success(self) -> None:
        if self._state() != {"failures": 0, "opened_at": None, "last_probe_at": None}:
            self.reset()

    def record_failure(self) -> None:
        st = self._state()
        now = self.clock()
        st["failures"] += 1
        if st["opened_at"] is None and st["failures"] >= self.threshold:
            st["opened_at"] = now
            st["last_probe_at"] = now
        self._save(st)

    def reset(self) -> None:
        cache.delete(self.key)
