"""`manage.py load_ergast DIR [--seasons 2018-2026] [--wait SECONDS] [--json]`: bulk-load an
Ergast-format CSV dump.

Exit status: 0 loaded; 1 failed or a season asked for is not in the dump; 75 (`BUSY_EXIT`) refused,
nothing written, because a Jolpica sync (or another load) holds the race-data lock — at once, or
still after `--wait SECONDS`; 130 on Ctrl-C. While `--wait` waits, one line on stderr says so
(the holder and the bound); stdout keeps only the summary.
"""

import argparse
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ingestion.management.sync_exit import (
    BUSY_EXIT,
    busy_advice,
    ctrl_c_exits_130,
    parse_wait,
    wait_notice,
)
from ingestion.services.ergast_dump import DumpFormatError, ergast_dump_load
from ingestion.services.sync_lock import SyncAlreadyRunning


def parse_seasons(text: str) -> range:
    """'2018-2026' or '2021' -> range of years (inclusive). An argparse `type=`: a bad value is an
    ArgumentTypeError, which argparse reports as a usage error (exit 2; CommandError via call_command)."""
    first, _, last = text.partition("-")
    try:
        start, stop = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 2018-2026 or 2021, not {text!r}") from None
    if not (1950 <= start <= stop <= 2100):
        raise argparse.ArgumentTypeError(f"{text!r}: expected years from 1950 with start <= end")
    return range(start, stop + 1)


class Command(BaseCommand):
    help = "Load an Ergast-format CSV dump (idempotent; rejected races are reported, the rest loads)."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, help="Directory holding races.csv, results.csv, ...")
        parser.add_argument("--seasons", type=parse_seasons, help="Only these seasons, e.g. 2018-2026")
        parser.add_argument(
            "--wait",
            type=parse_wait,
            metavar="SECONDS",
            help="When a Jolpica sync (or another load) holds the race-data lock, wait up to SECONDS "
            "for it instead of giving up at once (exit 75)",
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as one JSON object")

    def handle(self, *args, directory: Path, seasons, wait, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        # Ctrl-C: one line, exit 130, the run `interrupted` (it was a traceback and a run left `running`)
        with ctrl_c_exits_130(
            what="Load",
            kept="nothing of the load was written (it is one transaction)",
            rerun="rerun the same command to load the dump",
        ):
            try:
                report = ergast_dump_load(
                    directory=directory,
                    seasons=seasons,
                    progress=not options["json"] and sys.stderr.isatty(),
                    lock_wait=wait or 0,
                    on_lock_wait=wait_notice(self),  # one line on stderr when a wait begins
                )
            except DumpFormatError as exc:
                raise CommandError(f"Dump not loaded (nothing written): {exc}") from None
            except SyncAlreadyRunning as exc:  # a sync_f1 / daily job writing the same tables
                raise CommandError(
                    f"Dump not loaded (nothing written): {exc}; {busy_advice(wait)}",
                    returncode=BUSY_EXIT,
                ) from None
            except Exception as exc:  # anything unforeseen: one line, as sync_f1 (it was a traceback)
                run = getattr(exc, "sync_run_id", None)
                message = " ".join(f"{exc.__class__.__name__}: {exc}".split())
                raise CommandError(
                    f"Load failed ({f'SyncRun {run}; ' if run else ''}nothing written): {message} "
                    "(--traceback for details)"
                ) from exc
        if options["json"]:
            self.stdout.write(_json_dumps(report.as_dict()))
            self._exit_if_missing(report)
            return
        self.stdout.write(
            f"Loaded {directory} in {report.seconds:.1f}s: {report.created} created, "
            f"{report.updated} updated, {report.deleted} deleted (SyncRun {report.sync_run_id}, {report.status})"
        )
        for table, counts in report.counts.items():
            self.stdout.write(f"  {table:<17} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
        for message in report.rejected:
            self.stderr.write(self.style.WARNING(f"rejected: {message}"))
        for message in report.warnings:
            if message != report.missing_message:  # said once, as the command's error
                self.stderr.write(self.style.WARNING(f"warning: {message}"))
        self._exit_if_missing(report)

    def _exit_if_missing(self, report) -> None:
        """Asked for a season the dump has no race of: exit 1 (the others were loaded), as
        `sync_f1 --seasons 2099` does, so a typo does not read as success (it said "0 created")."""
        if report.missing:
            raise CommandError(report.missing_message)


def _json_dumps(data) -> str:
    return json.dumps(data, default=str)
