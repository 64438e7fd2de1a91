"""How the sync commands (`sync_f1`, `sync_openf1`, `sync_weather`) end when a sync stops short.

Ctrl-C (KeyboardInterrupt) is one line on stderr and exit status 130, as a shell reports SIGINT,
never a traceback: "Sync interrupted by Ctrl-C (SyncRun N): <what is kept>; <how to go on>". The run
itself is recorded `interrupted` by the sync (`sync_runs.sync_run_recorded`, `jolpica_sync`), which
puts its id on the exception as `sync_run_id`. `sync_weather` and `sync_openf1` printed the whole
KeyboardInterrupt traceback (through psycopg's wait) before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError

CTRL_C_EXIT = 130  # 128 + SIGINT


def sync_run_of(exc: BaseException) -> str:
    """ " (SyncRun N)" for an exception a recorded sync raised, else ""."""
    run_id = getattr(exc, "sync_run_id", None)
    return f" (SyncRun {run_id})" if run_id else ""


@contextmanager
def ctrl_c_exits_130(
    *, kept: str, rerun: str = "rerun the same command to resume after them"
) -> Iterator[None]:
    """Turn a KeyboardInterrupt in the block into the one-line CommandError with exit status 130."""
    try:
        yield
    except KeyboardInterrupt as exc:
        raise CommandError(
            f"Sync interrupted by Ctrl-C{sync_run_of(exc)}: {kept}; {rerun}", returncode=CTRL_C_EXIT
        ) from None
