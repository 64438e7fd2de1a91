"""Client-side rate limiting over several sliding windows, e.g. "4/s,500/h" (Jolpica's published limits).

`acquire()` blocks until one request fits every window, then records it. With a Redis configured
(`JOB_LOCK_REDIS_URL`, default `REDIS_URL`) the log of request times lives in one Redis sorted set
per source and a Lua script checks and records atomically, using the Redis server's clock — so every
process and machine sharing the Redis shares one budget. Without Redis the same algorithm runs
in-process (shared by threads).

Each window is padded by `margin` seconds: our timestamp is taken when the request leaves, the
server's when it arrives, and jitter between the two must not turn an allowed burst into a 429.
If the wait for a slot would exceed `max_wait` seconds, or go past the caller's wait deadline
(`rate_wait_deadline`, set by every Celery pipeline task from its time limit), `RateLimitTimeout`
is raised at once, naming the exhausted window and when its next slot frees, instead of sleeping
until the task is killed. A wait longer than WAIT_LOG_SECONDS is logged before the sleep.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings

from f1site.env import parse_rate_limit

logger = logging.getLogger(__name__)


# A wait for a slot longer than this is logged (a CLI sync says it is waiting; a worker's log shows why
# a task is slow).
WAIT_LOG_SECONDS = 5.0

# The monotonic time by which the current caller must be done waiting (None: only `max_wait` bounds it).
_wait_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rate_wait_deadline", default=None
)


@contextmanager
def rate_wait_deadline(seconds: float | None) -> Iterator[None]:
    """Within the block, no limiter sleeps for a slot past `seconds` from now: a wait that would end
    later raises `RateLimitTimeout` at once. Celery pipeline tasks (f1site.celery.JobTask) set it from
    their time limit, so a sync never sleeps until SoftTimeLimitExceeded. None = no deadline."""
    token = _wait_deadline.set(None if seconds is None else time.monotonic() + max(0.0, seconds))
    try:
        yield
    finally:
        _wait_deadline.reset(token)


def wait_deadline_remaining() -> float | None:
    """Seconds left before the current wait deadline (None when there is none)."""
    deadline = _wait_deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class RateLimitTimeout(Exception):
    """The next free slot is further away than the caller may wait (`max_wait`, or its deadline).
    `wait`: seconds to that slot; `next_slot_at`: when it frees (UTC)."""

    def __init__(self, message: str, *, wait: float = 0.0, next_slot_at: dt.datetime | None = None):
        super().__init__(message)
        self.wait = wait
        self.next_slot_at = next_slot_at


def _window_label(limit: int, window: float) -> str:
    """(500, 3600) -> "hourly budget (500/h)"; (4, 1) -> "per-second budget (4/s)"."""
    named = {
        1.0: ("per-second", "s"),
        60.0: ("per-minute", "min"),
        3600.0: ("hourly", "h"),
        86400.0: ("daily", "d"),
    }
    if window in named:
        adjective, unit = named[window]
        return f"{adjective} budget ({limit}/{unit})"
    return f"budget ({limit} per {window:g}s)"


# Sliding-window log: one sorted set of request times per key. ARGV = margin, member, then
# (limit, window) pairs. Returns "0" when the request was recorded, else "<seconds to wait> <index of
# the window that binds, 1-based>".
_LUA = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local margin = tonumber(ARGV[1])
local longest = 0
for i = 3, #ARGV, 2 do
  local w = tonumber(ARGV[i + 1]) + margin
  if w > longest then longest = w end
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - longest)
local wait = 0
local binding = 0
for i = 3, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local window = tonumber(ARGV[i + 1]) + margin
  local count = redis.call('ZCOUNT', key, '(' .. (now - window), '+inf')
  if count >= limit then
    local oldest = redis.call('ZRANGEBYSCORE', key, '(' .. (now - window), '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
    local w = tonumber(oldest[2]) + window - now
    if w > wait then
      wait = w
      binding = (i - 1) / 2
    end
  end
end
if wait > 0 then return tostring(wait) .. ' ' .. tostring(binding) end
redis.call('ZADD', key, now, ARGV[2])
redis.call('PEXPIRE', key, math.ceil(longest * 1000) + 1000)
return '0'
"""


class SlidingWindowLimiter:
    """Blocks in `acquire()` until a request fits every window; Redis-backed when given a URL."""

    def __init__(
        self,
        spec: str | None,
        *,
        key: str = "default",
        redis_url: str | None = None,
        margin: float = 0.05,
        max_wait: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.spec = spec or ""
        self.windows = parse_rate_limit(spec)
        self.key = f"pitwall:ratelimit:{key}"
        self.margin = margin
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._log: deque[float] = deque()
        self._redis = None
        self._script = None
        if redis_url and self.windows:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            self._script = self._redis.register_script(_LUA)
        self.waited = 0.0  # total seconds slept, for reports

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    def acquire(self) -> None:
        if not self.windows:
            return
        deadline_wait = 0.0
        while True:
            wait, binding = self._try()
            if wait <= 0:
                return
            allowed = self.max_wait - deadline_wait
            remaining = wait_deadline_remaining()
            if remaining is not None:
                allowed = min(allowed, remaining)
            if wait > allowed:
                raise self._timeout(wait=wait, binding=binding, allowed=allowed)
            if wait > WAIT_LOG_SECONDS:
                limit, window = self.windows[binding]
                logger.warning(
                    f"rate limit: waiting {wait:.0f}s for the next request slot "
                    f"({_window_label(limit, window)} of {self.key} used up)",
                    extra={"key": self.key, "wait_s": round(wait, 1), "spec": self.spec},
                )
            wait += 0.005  # a little past the slot, so the retry is not refused by rounding
            self._sleep(wait)
            deadline_wait += wait
            self.waited += wait

    def _timeout(self, *, wait: float, binding: int, allowed: float) -> RateLimitTimeout:
        limit, window = self.windows[binding]
        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
        stamp = at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return RateLimitTimeout(
            f"{_window_label(limit, window)} exhausted ({self.key}, rate limit {self.spec!r}); next "
            f"request slot at {stamp} (next slot in {wait:.1f}s), beyond the {max(0.0, allowed):.0f}s "
            "this caller may wait",
            wait=wait,
            next_slot_at=at,
        )

    def reset(self) -> None:
        """Forget recorded requests (tests, or after changing the spec)."""
        with self._lock:
            self._log.clear()
        if self._redis is not None:
            self._redis.delete(self.key)

    # -- backends ---------------------------------------------------------------------------
    def _try(self) -> tuple[float, int]:
        """(seconds to wait, index of the window that binds); (0, 0) when the request was recorded."""
        if self._redis is not None:
            try:
                args = [self.margin, uuid.uuid4().hex]
                for limit, window in self.windows:
                    args += [limit, window]
                answer = self._script(keys=[self.key], args=args)
                answer = answer.decode() if isinstance(answer, bytes) else str(answer)
                wait, _, binding = answer.partition(" ")
                return float(wait), max(0, int(binding or 1) - 1)
            except Exception as exc:  # redis down: keep limiting, per process, rather than stop
                logger.warning(
                    "rate limiter falling back to in-process", extra={"key": self.key, "error": str(exc)}
                )
                self._redis = None
        return self._try_local()

    def _try_local(self) -> tuple[float, int]:
        now = self._clock()
        longest = max(window for _, window in self.windows) + self.margin
        with self._lock:
            log = self._log
            while log and log[0] <= now - longest:
                log.popleft()
            wait, binding = 0.0, 0
            for index, (limit, window) in enumerate(self.windows):
                window += self.margin
                inside = [t for t in log if t > now - window]
                if len(inside) >= limit:
                    w = inside[len(inside) - limit] + window - now
                    if w > wait:
                        wait, binding = w, index
            if wait > 0:
                return wait, binding
            log.append(now)
            return 0.0, 0


def rate_limiter_for(source: str, spec: str | None, *, max_wait: float = 3600.0) -> SlidingWindowLimiter:
    """The limiter for one source, shared through Redis when one is configured: the coordination
    store of the job locks (`JOB_LOCK_REDIS_URL`, default `REDIS_URL`), not the cache's. A budget is
    a key with a TTL, and the cache's Redis may evict such keys under memory pressure
    (`volatile-lru`, README "Memory and eviction"): an evicted budget would let the workers exceed
    the upstream's rate limit."""
    return SlidingWindowLimiter(
        spec, key=source, redis_url=getattr(settings, "JOB_LOCK_REDIS_URL", None), max_wait=max_wait
    )
