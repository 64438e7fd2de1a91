"""Structured logging: one line per event with timestamp, level, logger, message and key/values.

Key/values come from `extra={...}` on the log call and from the request/task context (request_id,
task_id) that RequestIdMiddleware and the Celery signals put in a contextvar.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging

log_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def bind_log_context(**values) -> contextvars.Token:
    current = dict(log_context.get() or {})
    current.update({k: v for k, v in values.items() if v is not None})
    return log_context.set(current)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (log_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _fields(record: logging.LogRecord) -> dict:
    out = {
        "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = value
    if record.exc_info:
        out["exc_info"] = logging.Formatter().formatException(record.exc_info)
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        head = f"{fields.pop('ts')} {fields.pop('level'):<7} {fields.pop('logger')}: {fields.pop('message')}"
        exc = fields.pop("exc_info", None)
        tail = " ".join(
            f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}" for k, v in fields.items()
        )
        return f"{head} {tail}".rstrip() + (f"\n{exc}" if exc else "")
