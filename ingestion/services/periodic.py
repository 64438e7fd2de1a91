"""A daemon thread that repeats one small call while a block of work runs: the job lock's renewal
(`jobs.JobLock.heartbeat`) and a running row's heartbeat (`row_heartbeat`, behind
`stale_runs.run_heartbeat` for JobRuns and `sync_runs.sync_run_heartbeat` for SyncRuns)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)


class Periodic:
    """`with Periodic(name=, interval=, tick=): ...` calls `tick()` every `interval` seconds in a daemon
    thread until the block ends. A failing tick is logged and the next one retries (a Redis or
    database blip must not kill the job); `cleanup()` runs in the thread when it ends."""

    def __init__(
        self,
        *,
        name: str,
        interval: float,
        tick: Callable[[], None],
        cleanup: Callable[[], None] | None = None,
        log_extra: dict | None = None,
    ):
        self.interval = interval
        self._tick = tick
        self._cleanup = cleanup
        self._extra = log_extra or {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self._tick()
                except Exception:
                    logger.warning(
                        "%s failed; the next tick retries",
                        self._thread.name,
                        exc_info=True,
                        extra=self._extra,
                    )
        finally:
            if self._cleanup is not None:
                self._cleanup()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        return False


def row_heartbeat(*, rows: QuerySet, name: str, log_extra: dict) -> Periodic:
    """Writes `heartbeat_at = now` on `rows` (the one run, narrowed to while it is still running) every
    LIVENESS_HEARTBEAT_SECONDS until the block ends; the stale-run sweeps close a running row whose
    heartbeat has been silent for LIVENESS_MAX_SILENCE_SECONDS."""
    return Periodic(
        name=name,
        interval=settings.LIVENESS_HEARTBEAT_SECONDS,
        tick=lambda: rows.update(heartbeat_at=timezone.now()),
        cleanup=connections.close_all,  # this thread's own connection, if it opened one
        log_extra=log_extra,
    )
