"""A daemon thread that repeats one small call while a block of work runs: the job lock's renewal and
a job run's own heartbeat (`jobs.JobLock.heartbeat`, `stale_runs.run_heartbeat`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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
