"""Typed access to environment variables — the one place settings read the environment.

Every getter fails loudly (ImproperlyConfigured naming the variable) on a value it cannot parse,
so a typo in production is a crash at start-up, not a silent default. An empty value (`NAME=`, a
blanked line of `.env`) is the same as unset — the default applies — for booleans, numbers, choices
and URLs: a blank boolean used to read as false, which turned off SECURE_SSL_REDIRECT or
AXES_ENABLED without a word. Two kinds keep a meaning for empty: a rate-limit spec (unlimited) and a
list (no items; a list that cannot be empty, ALLOWED_HOSTS, fails instead).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be >= {minimum}")
    return value


def env_float(name: str, default: float, *, lo: float | None = None, hi: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ImproperlyConfigured(f"{name}={value} must be within [{lo}, {hi}]")
    return value


def env_list(name: str, default: list[str], *, allow_empty: bool = True) -> list[str]:
    """Comma-separated. An empty value is an empty list (`METRICS_ALLOWED_NETWORKS=`: token only),
    unless `allow_empty` is False: then it fails loudly (`ALLOWED_HOSTS=` answered every request 400)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items and not allow_empty:
        raise ImproperlyConfigured(
            f"{name} is set but empty: give at least one value, or unset it for the default"
        )
    return items


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = (os.environ.get(name) or default).strip()
    if value.upper() in choices:
        return value.upper()
    raise ImproperlyConfigured(f"{name}={value!r} must be one of {sorted(choices)}")


def env_redis_url(name: str, default: str | None = None) -> str | None:
    """A Redis URL (redis://, rediss:// or unix://), or `default` when unset or empty. A typo such as
    `REDIS_URL=localhost:6379` was accepted here and made every cached request a 500 later."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a Redis URL (use redis://host:6379/0, rediss://… or unix:///path)"
        )
    return value


def env_http_url(name: str, default: str) -> str:
    """An http(s) base URL without its trailing slash (the API clients append paths)."""
    value = (env_str(name, default) or "").strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an http(s) URL (e.g. {default})")
    return value.rstrip("/")


def env_report_uri(name: str) -> str | None:
    """An absolute http(s) URL for browsers to POST reports to (a Content-Security-Policy
    `report-uri`), or None when unset or empty. It is written into a header as is, so whitespace,
    `;` and `,` (which would start another directive or policy) are refused with the rest."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"[\s;,'\"]", value):
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not an absolute http(s) URL without spaces, ';' or ',' "
            "(e.g. https://reports.example.org/csp)"
        )
    return value


def env_transport_url(name: str, *, schemes: set[str], what: str) -> str | None:
    """A URL whose scheme (before any `+`: `sqla+postgresql://`, `cache+memory://`) is one of
    `schemes` — Celery's broker transports or result backends — or None when unset or empty. A typo
    used to pass start-up and fail at the first connection ("Name or service not known")."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    scheme = urlsplit(value).scheme.split("+")[0] if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a {what} URL: its scheme must be one of {', '.join(sorted(schemes))}"
        )
    return value


# Time units of a client-side rate limit ("4/s,500/h", "30/10s"): ingestion.clients.ratelimit.
RATE_LIMIT_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate_limit(spec: str | None) -> list[tuple[int, float]]:
    """ "4/s,500/h" -> [(4, 1.0), (500, 3600.0)]. Empty spec = unlimited. ValueError on a typo."""
    windows = []
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        count, _, unit = part.partition("/")
        match = re.fullmatch(r"(\d*)\s*([a-z]+)", unit.strip().lower())
        if not count.strip().isdigit() or int(count) < 1 or not match or match[2] not in RATE_LIMIT_UNITS:
            raise ValueError(f"bad rate limit {part!r}: use e.g. '4/s,500/h' (units s, m, h, d)")
        windows.append((int(count), (int(match[1]) if match[1] else 1) * float(RATE_LIMIT_UNITS[match[2]])))
    return windows


def env_rate_limit(name: str, default: str) -> str:
    """A client-side rate limit spec ("4/s,500/h"), checked here: a typo used to surface only when a
    sync first ran."""
    value = env_str(name, default) or ""
    try:
        parse_rate_limit(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r}: {exc}") from None
    return value


_THROTTLE_RATE = re.compile(r"\s*([1-9][0-9]*)\s*/\s*([smhd][a-z]*)\s*")


def env_throttle_rate(name: str, default: str) -> str:
    """An API throttle rate, "<requests>/<period>" (period s, m, h or d — `600/min`), as
    f1site.throttling.parse_rate reads it; a bad one made every API request a 500."""
    value = env_str(name, default) or ""
    if not _THROTTLE_RATE.fullmatch(value.lower()):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a throttle rate (use <requests>/<period>, e.g. 600/min; periods s, m, h, d)"
        )
    return value
