"""Domain errors shared by every app's selectors and services. Nothing from Django's HTTP layer.

The edges translate them, each in one place: the API in f1site/api.py (`_domain_error`), the pages
in f1site.middleware.DomainErrorMiddleware, management commands into a CommandError.
"""

from __future__ import annotations


class NotFound(LookupError):
    """What a selector was asked for does not exist (-> 404). `what` names the kind of thing
    ("race", "driver", "team", "standings"); the message says which, as users read it."""

    def __init__(self, message: str, *, what: str = "") -> None:
        super().__init__(message)
        self.what = what
