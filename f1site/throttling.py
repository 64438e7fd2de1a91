"""`WindowThrottle`: anonymous and user rate limits as fixed-window counters in the cache.

Why not DRF's SimpleRateThrottle: it keeps a sliding-window list of timestamps per client and
re-pickles the whole list on every request (600 floats at 600/min) — one cache INCR is enough.
Kept apart from f1site/api.py because DRF imports throttle classes while loading its settings.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_address(request) -> str:
    """The client's address, told apart as the API throttles tell clients apart (DRF's `get_ident`):
    REMOTE_ADDR, or behind `API_NUM_PROXIES` trusted proxies the address the outermost of them saw
    (X-Forwarded-For; ignored without proxies, so it cannot be spoofed). django-axes
    (AXES_CLIENT_IP_CALLABLE) and the /metrics allow-list use it too: on REMOTE_ADDR alone, behind a
    proxy every client was the proxy, so ten wrong passwords from anywhere locked a staff account
    for everyone, and a same-host proxy made /metrics public (security QA)."""
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        # Not an address (a load balancer's "1.2.3.4:5678", junk): django-axes stores the address in a
        # GenericIPAddressField, where junk made the login a 500 (review). The peer's own address then.
        return request.META.get("REMOTE_ADDR", "")


def window_count(key: str, period: int) -> int | None:
    """Count one request in the window `key`; None when the cache is unavailable (fail open).

    On django-redis this is ONE round trip: a pipeline of INCR and EXPIRE NX (the key expires one
    second after its window). django-redis's own incr() sends a Lua script and, on a new window,
    needs two more commands (add, incr). Other backends (LocMem in tests) use the portable path.
    """
    client_of = getattr(getattr(cache, "client", None), "get_client", None)
    if client_of is not None:
        try:
            pipe = client_of(write=True).pipeline(transaction=False)
            full_key = cache.make_key(key)
            pipe.incr(full_key)
            pipe.expire(full_key, period + 1, nx=True)
            count, _ = pipe.execute()
            return int(count)
        except (redis.exceptions.RedisError, OSError):
            return None
    try:
        return cache.incr(key)
    except ValueError:  # first request of the window
        added = cache.add(key, 1, timeout=period + 1)
        # None = cache unavailable (fail open); False = another request created it first.
        return cache.incr(key) if added is False else 1


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' -> (600, 60). Only the first letter of the period counts (s, m, h, d)."""
    number, period = rate.split("/")
    return int(number), _PERIODS[period.strip()[0].lower()]


@dataclass
class DeferredCount:
    """One request's count in a fixed window, taken later: by f1site.cache.cached_json in the
    same Redis round trip as the cached body (f1site.cache.RequestCounter), or by
    `CachedJSONView.finalize_response` when the view answered without reading the cache."""

    throttle: WindowThrottle
    key: str
    period: int
    limit: int
    window_end: float
    settled: bool = False

    def settle(self, count: int | None) -> None:
        """Decide on `count` (None: the cache is unavailable, fail open); raises Throttled (429)."""
        self.settled = True
        if count is not None and count > self.limit:
            self.throttle._wait = self.window_end - time.time()
            raise exceptions.Throttled(self.throttle.wait())

    def count_now(self) -> None:
        self.settle(window_count(self.key, self.period))


class WindowThrottle(BaseThrottle):
    """Anonymous clients by IP ('anon' rate), authenticated users by id ('user' rate); fixed windows.

    With the cache unavailable the throttle fails open (counts cannot be kept): availability wins.
    Views with `defer_throttle` (cached GET endpoints, f1site.api.CachedJSONView) get the count
    deferred to their cache read: one Redis round trip per warm request instead of two. Every
    request is still counted exactly once, and before any database work.
    """

    def allow_request(self, request, view) -> bool:
        rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            scope, ident = "user", str(user.pk)
        else:
            scope, ident = "anon", self.get_ident(request)
        limit, period = parse_rate(rates[scope])
        now = time.time()
        window = int(now // period)
        key = f"throttle:{scope}:{ident}:{window}"
        if (
            getattr(view, "defer_throttle", False)
            and request.method in ("GET", "HEAD")
            and getattr(view, "deferred_count", None) is None
        ):
            view.deferred_count = DeferredCount(self, key, period, limit, (window + 1) * period)
            return True
        count = window_count(key, period)
        if count is None:
            return True
        self._wait = (window + 1) * period - now
        return count <= limit

    def wait(self) -> float:
        return max(1.0, round(self._wait))

    def allow_bucket(self, request, bucket: str, rate: str) -> bool:
        """Count one request in the client's (`get_ident`: address, API_NUM_PROXIES-aware) window
        of `bucket` at `rate`; False over it (`wait()` then says how long). Fails open."""
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        count = window_count(f"throttle:{bucket}:{self.get_ident(request)}:{window}", period)
        if count is None:
            return True
        self._wait = (window + 1) * period - now
        return count <= limit


class ExpensiveThrottle(WindowThrottle):
    """Endpoints that run the models on every request (what-if): a tighter per-client rate
    ('expensive', API_THROTTLE_EXPENSIVE) on top of the usual one. The championship, cached, charges
    the same bucket only for a request that simulates (`expensive_charge`), never for a cached answer
    nor for a completed season (its stored standings)."""

    def allow_request(self, request, view) -> bool:
        if not super().allow_request(request, view):
            return False
        return self.allow_expensive(request)

    def allow_expensive(self, request) -> bool:
        rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        return self.allow_bucket(request, "expensive", rates.get("expensive", "30/min"))


def expensive_charge(request) -> None:
    """Count one computed request in the client's 'expensive' window (the bucket what-if uses);
    raises Throttled (429 with Retry-After) over API_THROTTLE_EXPENSIVE. Called from inside a cached
    view's compute, so answers served from the cache never count."""
    throttle = ExpensiveThrottle()
    if not throttle.allow_expensive(request):
        raise exceptions.Throttled(throttle.wait())


def page_render_charge(request) -> None:
    """Count one rendered fans' page (a page-cache miss, or any page for a logged-in user) in the
    client's 'page' window (PAGE_THROTTLE); raises Throttled (429 with Retry-After) over it. Called
    by analytics.views before rendering, so pages served from the cache never count. Any Django
    request will do: the client's identity is the API throttles' (address, API_NUM_PROXIES)."""
    throttle = WindowThrottle()
    if not throttle.allow_bucket(request, "page", settings.PAGE_THROTTLE):
        raise exceptions.Throttled(throttle.wait())
