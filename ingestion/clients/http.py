"""A small JSON-over-HTTP client base shared by every external source (Jolpica, OpenF1, Open-Meteo).

    client = JsonHttpClient(base_url, name="openf1", auth_token=token,
                            rate_limiter=limiter, circuit_breaker=CircuitBreaker(name="openf1"))
    data = client.get_json("sessions", params={"year": 2024})   # parsed JSON or a SourceError
    client.requests_made                                          # every HTTP attempt, retries included

What it does for every call:
* connect + read timeouts (settings HTTP_CONNECT_TIMEOUT / HTTP_READ_TIMEOUT);
* up to HTTP_MAX_RETRIES retries with exponential backoff and full jitter
  (sleep uniform(0, min(HTTP_BACKOFF_MAX, HTTP_BACKOFF_BASE * 2**attempt))) on 5xx, timeouts,
  connection errors/resets, short bodies (fewer bytes than Content-Length) and bodies that are not
  JSON (truncated, empty, an HTML error page);
* on 429 / 503 it sleeps for `Retry-After` (capped at `retry_after_max`) instead of the backoff;
* before each attempt it waits on the optional rate limiter (`limiter.acquire()`), and asks the
  optional circuit breaker whether a request may go out at all.

Errors are typed and always name the URL: SourceError -> SourceUnavailable (network/5xx/circuit
open), SourceRateLimited (429 after all retries), SourcePayloadError (unusable body, or a payload a
subclass rejects), SourceNotFound (404). Other 4xx raise SourceError itself.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import requests
from django.conf import settings

from f1site.errors import PicklableError
from ingestion.clients.ratelimit import RateLimitTimeout

logger = logging.getLogger(__name__)


# Query parameters that carry credentials (Open-Meteo's commercial `apikey`): their values never
# reach a log line, an exception or a stored SyncRun error — requests' own ConnectionError text
# repeats the whole URL, so the redaction works on any text, not on a parsed URL.
_SECRET_PARAM = re.compile(r"(?i)([?&](?:apikey|api_key|key|token|access_token)=)[^&\s'\"]+")


def secrets_redact(text: str) -> str:
    """`text` with the values of credential query parameters replaced by ***."""
    return _SECRET_PARAM.sub(r"\1***", text)


# --------------------------------------------------------------------------------------- errors
class SourceError(PicklableError):
    """Data from an external source could not be obtained or used. `url` names the request, its
    credentials redacted (`secrets_redact`)."""

    def __init__(self, message: str, *, url: str, status: int | None = None):
        url, message = secrets_redact(url), secrets_redact(message)
        super().__init__(f"{message} [{url}]")
        self.url = url
        self.status = status


class SourceUnavailable(SourceError):
    """Network failure, timeout, 5xx after all retries, or the circuit breaker is open."""


class SourceRateLimited(SourceError):
    """Still throttled (429) after all retries, or our own rate budget is used up beyond what the
    caller may wait (`retry_in`: seconds to the next free slot; None for a 429)."""

    retry_in: float | None = None


class SourcePayloadError(SourceError):
    """The body is not usable: not JSON, truncated, or not the schema we expect."""


class SourceNotFound(SourceError):
    """404: the resource does not exist (not retried)."""


# --------------------------------------------------------------------------------------- hooks
class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until one request may be sent; raise RateLimitTimeout if that is too far away."""


class CircuitBreaker:
    """Stops calling a source that keeps failing: open after `failure_threshold` consecutive failed
    calls, then let one probe call through every `reset_timeout` seconds; a success closes it.

    In-process and thread-safe. A "failure" is a call that failed after all its retries with
    SourceUnavailable/SourceRateLimited (not 404s or payload errors, which are not outages).
    """

    def __init__(
        self,
        *,
        name: str = "source",
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._clock() - self._opened_at >= self.reset_timeout:
                return "half-open"
            return "open"

    def allow(self) -> bool:
        """True if a call may go out now (closed, or the one probe of a half-open breaker)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probe_in_flight or self._clock() - self._opened_at < self.reset_timeout:
                return False
            self._probe_in_flight = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probe_in_flight or self._failures >= self.failure_threshold:
                if self._opened_at is None:
                    logger.warning("circuit opened", extra={"source": self.name, "failures": self._failures})
                self._opened_at = self._clock()  # a failed probe restarts the wait
            self._probe_in_flight = False


# --------------------------------------------------------------------------------------- client
class _Retryable(Exception):
    def __init__(
        self, reason: str, *, status: int | None = None, wait: float | None = None, kind=SourceUnavailable
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait = wait  # server-requested wait (Retry-After), else None -> backoff
        self.kind = kind


def _setting(name: str, value):
    return getattr(settings, name) if value is None else value


class JsonHttpClient:
    """GET JSON from one base URL with timeouts, bounded retries, rate limiting and typed errors."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        name: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        retry_after_max: float = 60.0,
        auth_token: str | None = None,
        auth_header: str = "Authorization",
        auth_scheme: str = "Bearer",
        headers: Mapping[str, str] | None = None,
        rate_limiter: RateLimiter | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        if name:
            self.name = name
        self.timeout = (
            float(_setting("HTTP_CONNECT_TIMEOUT", connect_timeout)),
            float(_setting("HTTP_READ_TIMEOUT", read_timeout)),
        )
        self.max_retries = int(_setting("HTTP_MAX_RETRIES", max_retries))
        self.backoff_base = float(_setting("HTTP_BACKOFF_BASE", backoff_base))
        self.backoff_max = float(_setting("HTTP_BACKOFF_MAX", backoff_max))
        self.retry_after_max = retry_after_max
        self.rate_limiter = rate_limiter
        self.circuit_breaker = circuit_breaker
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "pitwall/1.0"})
        if headers:
            self.session.headers.update(headers)
        if auth_token:
            self.session.headers[auth_header] = f"{auth_scheme} {auth_token}".strip()
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests_made = 0  # HTTP attempts sent, retries included
        self.retries = 0

    # -- public -----------------------------------------------------------------------------
    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        return f"{url}?{urlencode(params, doseq=True)}" if params else url

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` (relative to base_url, or absolute) and return the parsed JSON."""
        url = self.url_for(path, params)
        if self.circuit_breaker is not None and not self.circuit_breaker.allow():
            raise SourceUnavailable(f"{self.name}: circuit breaker open, not calling the source", url=url)
        try:
            data = self._get_with_retries(url)
        except (SourceUnavailable, SourceRateLimited):
            if self.circuit_breaker is not None:
                self.circuit_breaker.record_failure()
            raise
        except SourceError:
            if self.circuit_breaker is not None:
                self.circuit_breaker.record_success()  # the source answered; not an outage
            raise
        if self.circuit_breaker is not None:
            self.circuit_breaker.record_success()
        return data

    def close(self) -> None:
        self.session.close()

    # -- internals --------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(max, base * 2**attempt))."""
        return random.uniform(0, min(self.backoff_max, self.backoff_base * (2**attempt)))

    def _get_with_retries(self, url: str) -> Any:
        attempt = 0
        while True:
            try:
                return self._attempt(url)
            except _Retryable as exc:
                if attempt >= self.max_retries:
                    raise exc.kind(
                        f"{self.name}: {exc.reason} (gave up after {attempt + 1} attempts)",
                        url=url,
                        status=exc.status,
                    ) from None
                wait = min(exc.wait, self.retry_after_max) if exc.wait is not None else self.backoff(attempt)
                logger.warning(
                    "retrying request",
                    extra={
                        "source": self.name,
                        "url": secrets_redact(url),
                        "reason": secrets_redact(exc.reason),
                        "attempt": attempt + 1,
                        "wait_s": round(wait, 3),
                    },
                )
                with self._lock:
                    self.retries += 1
                self._sleep(wait)
                attempt += 1

    def _attempt(self, url: str) -> Any:
        if self.rate_limiter is not None:
            try:
                self.rate_limiter.acquire()
            except RateLimitTimeout as exc:  # our own budget is used up: not retried here
                error = SourceRateLimited(f"{self.name}: {exc}", url=url)
                error.retry_in = exc.wait  # seconds to the next free slot, for a task's retry
                raise error from None
        with self._lock:
            self.requests_made += 1
        try:
            response = self.session.get(url, timeout=self.timeout)
            body = response.content  # reads the whole body: short bodies raise here
        except requests.Timeout as exc:
            raise _Retryable(f"timeout ({type(exc).__name__})") from None
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection error ({type(exc).__name__}: {exc})") from None
        except requests.RequestException as exc:  # ChunkedEncodingError, ContentDecodingError, ...
            raise _Retryable(f"incomplete response ({type(exc).__name__})") from None

        status = response.status_code
        if status == 429 or status == 503:
            kind = SourceRateLimited if status == 429 else SourceUnavailable
            raise _Retryable(f"HTTP {status}", status=status, wait=_retry_after(response), kind=kind)
        if status >= 500:
            raise _Retryable(f"HTTP {status}", status=status)
        if status == 404:
            raise SourceNotFound(f"{self.name}: not found (HTTP 404)", url=url, status=status)
        if status >= 400:
            raise SourceError(
                f"{self.name}: request rejected (HTTP {status}: {body[:200]!r})", url=url, status=status
            )

        declared = response.headers.get("Content-Length")
        if (
            declared
            and declared.isdigit()
            and int(declared) != len(body)
            and "Content-Encoding" not in response.headers
        ):
            raise _Retryable(f"short body ({len(body)} of {declared} bytes)", status=status)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Retryable(
                f"body is not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]}; {len(body)} bytes, "
                f"content-type {response.headers.get('Content-Type', '?')})",
                status=status,
                kind=SourcePayloadError,
            ) from None


def _retry_after(response: requests.Response) -> float | None:
    raw = (response.headers.get("Retry-After") or "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
