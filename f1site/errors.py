"""Domain errors shared by every app's selectors and services. Nothing from Django's HTTP layer.

The edges translate them, each in one place: the API in f1site/api.py (`_domain_error`), the pages
in f1site.middleware.DomainErrorMiddleware, management commands into a CommandError.
"""

from __future__ import annotations


def _error_rebuild(cls: type[BaseException], args: tuple, state: dict) -> BaseException:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class PicklableError(Exception):
    """Base (mixin) for a domain exception whose `__init__` is not `(*args)`: it unpickles without
    calling `__init__` again, with its `args` (the message) and its attributes as they were.

    Python's default rebuilds an exception as `cls(*self.args)`, which fails for a required
    keyword-only argument (`SourceError(message, *, url=...)`: TypeError) and garbles the message of
    one that formats it from other arguments. Celery pickles a task's exception to log and store it
    (`celery.utils.serialization.get_pickleable_exception`): one that does not round-trip was logged
    as `UnpickleableExceptionWrapper(...)` instead of itself."""

    def __reduce__(self):
        return (_error_rebuild, (type(self), self.args, dict(self.__dict__)))


class NotFound(PicklableError, LookupError):
    """What a selector was asked for does not exist (-> 404). `what` names the kind of thing
    ("race", "driver", "team", "standings"); the message says which, as users read it."""

    def __init__(self, message: str, *, what: str = "") -> None:
        super().__init__(message)
        self.what = what
