"""How the sync commands (`sync_f1`, `sync_openf1`, `sync_weather`, and `load_ergast`, `run_job`) end
when they stop short.

Ctrl-C (KeyboardInterrupt) is one line on stderr and exit status 130, as a shell reports SIGINT,
never a traceback: "Sync interrupted by Ctrl-C (SyncRun N): <what is kept>; <how to go on>"; SIGTERM
(`timeout`, systemd, `docker stop`) likewise, exit status 143: "Sync stopped by SIGTERM (…)". The run
itself is recorded `interrupted` by the sync (`sync_runs.sync_run_recorded`, `jolpica_sync`), which
puts its id on the exception as `sync_run_id`. `sync_weather` and `sync_openf1` printed the whole
KeyboardInterrupt traceback (through psycopg's wait) before.

Busy (another run holds a lock the command needs) is exit 75 and one line naming the holder; the
commands that take a lock (`run_job`, `sync_f1`, `load_ergast`) share `--wait SECONDS` (`parse_wait`),
the line's ending (`busy_advice`) and, while they wait, one line on stderr naming the holder and the
bound (`wait_notice`; stdout keeps the summary, so `--json` stays one JSON object).
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError

from ingestion.services.sync_runs import Terminated

CTRL_C_EXIT = 130  # 128 + SIGINT
TERM_EXIT = 143  # 128 + SIGTERM
# Refused, nothing done: another run holds the lock it needs (the race-data lock of `sync_f1` and
# `load_ergast`, the job lock or the Jolpica step's lock of `run_job`). EX_TEMPFAIL of sysexits.h,
# "try again later", so a script can tell "busy" from "failed" (1) and a usage error (2).
BUSY_EXIT = 75
MAX_WAIT_SECONDS = 6 * 3600  # a weekly full sync at Jolpica's 500 requests an hour takes ~1.5 h


def parse_wait(text: str) -> int:
    """`--wait SECONDS`: whole seconds from 0 to MAX_WAIT_SECONDS (an argparse `type=`: a bad value is
    argparse's usage error, exit 2)."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"whole seconds, not {text!r}") from None
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise argparse.ArgumentTypeError(f"{seconds}: from 0 to {MAX_WAIT_SECONDS} seconds")
    return seconds


def busy_advice(wait: int | None) -> str:
    """The end of a busy line: how long the command waited for the lock, or how to get past it."""
    return f"waited {wait}s" if wait else "rerun when it has finished, or add --wait SECONDS"


def wait_notice(command: BaseCommand) -> Callable[[str], None]:
    """What a command passes as the services' `on_lock_wait` / `on_wait`: the line they compose when a
    wait for a busy lock begins ("Waiting up to 900s for the race-data lock: a Jolpica sync (SyncRun
    812: …; backend pid 4242) is in progress …"), written to the command's stderr as a warning. Before,
    only a log line was written: a person at a terminal saw the command hang for up to --wait seconds."""
    return lambda line: command.stderr.write(line, style_func=command.style.WARNING)


def sync_run_of(exc: BaseException) -> str:
    """ " (SyncRun N)" for an exception a recorded sync raised, else ""."""
    run_id = getattr(exc, "sync_run_id", None)
    return f" (SyncRun {run_id})" if run_id else ""


def job_run_of(exc: BaseException) -> str:
    """ " (JobRun N)" for an exception a recorded job raised (`jobs.job_run_execute`), else ""."""
    run_id = getattr(exc, "job_run_id", None)
    return f" (JobRun {run_id})" if run_id else ""


@contextmanager
def ctrl_c_exits_130(
    *,
    kept: str,
    rerun: str = "rerun the same command to resume after them",
    what: str = "Sync",
    run_of=sync_run_of,
) -> Iterator[None]:
    """Turn a KeyboardInterrupt in the block into the one-line CommandError with exit status 130:
    "<what> interrupted by Ctrl-C (<run>): <kept>; <rerun>" (`load_ergast` and `run_job` name
    their own operation and run); and SIGTERM, for the block, into `Terminated` and then the same
    line with exit status 143 ("<what> stopped by SIGTERM …")."""
    previous = _sigterm_raises()
    try:
        yield
    except KeyboardInterrupt as exc:
        raise CommandError(
            f"{what} interrupted by Ctrl-C{run_of(exc)}: {kept}; {rerun}", returncode=CTRL_C_EXIT
        ) from None
    except Terminated as exc:
        raise CommandError(
            f"{what} stopped by SIGTERM{run_of(exc)}: {kept}; {rerun}", returncode=TERM_EXIT
        ) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM while the run is recorded kills
    raise Terminated(TERM_EXIT)


def _sigterm_raises():
    """SIGTERM raises `Terminated` in the block (Python's default is to die on the spot: exit 143
    with nothing said, the run left `running` until the stale-run sweep). Only in the main thread
    (signal handlers can be set nowhere else); returns the handler to restore, else None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)
