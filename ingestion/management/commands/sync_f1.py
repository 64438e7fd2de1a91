"""`manage.py sync_f1 --seasons 2018-2026 [--rounds 1-5] [--only results,qualifying] [--incremental]
[--wait SECONDS] [--json]`.

Syncs from Jolpica-F1 (ERGAST_API_BASE) race by race; see ingestion.services.jolpica_sync.
Exit status: 0 when the run succeeded (also with rejected races, listed); 1 when it failed (one
line naming the SyncRun; `--traceback` shows the traceback), or when a season/round asked for does
not exist upstream; 75 (`BUSY_EXIT`) when another sync or a dump load holds the race-data lock — at
once, or still after `--wait SECONDS` (one line naming it; nothing written, no SyncRun); 130 on
Ctrl-C (the run is `interrupted`, committed races stay and the same command resumes after them).
While `--wait` waits, one line on stderr says so (the holder and the bound); stdout keeps only
the summary (`--json`: one JSON object).
Bad arguments: CommandError.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from f1site.cli import ranges_parse
from ingestion.clients.http import SourceError
from ingestion.management.sync_exit import (
    BUSY_EXIT,
    busy_advice,
    ctrl_c_exits_130,
    parse_wait,
    wait_notice,
)
from ingestion.management.sync_exit import sync_run_of as _run_of
from ingestion.services.jolpica_sync import KINDS, SyncAborted, SyncAlreadyRunning, jolpica_sync, parse_only


class Command(BaseCommand):
    help = "Sync seasons from Jolpica-F1: idempotent, one transaction per race, resumable."

    def add_arguments(self, parser):
        parser.add_argument("--seasons", required=True, help="e.g. 2018-2026 or 2021")
        parser.add_argument("--rounds", help="only these rounds, e.g. 1-5")
        parser.add_argument("--only", help=f"comma-separated kinds: {', '.join(KINDS)}, standings")
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="only what may have changed: races without results, the latest round, standings",
        )
        parser.add_argument("--no-resume", action="store_true", help="ignore an interrupted run's cursor")
        parser.add_argument(
            "--wait",
            type=parse_wait,
            metavar="SECONDS",
            help="when another sync or a dump load holds the race-data lock, wait up to SECONDS for it "
            "instead of giving up at once (exit 75)",
        )
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    def handle(self, *args, **options):
        seasons = ranges_parse(options["seasons"], what="seasons", lo=1950, hi=2100)
        rounds = ranges_parse(options["rounds"], what="rounds", lo=1, hi=40) if options["rounds"] else None
        try:
            only = parse_only(options["only"])
        except ValueError as exc:
            raise CommandError(f"--only: {exc}", returncode=2) from None  # a usage error, as argparse's
        with ctrl_c_exits_130(kept="races committed so far are kept"):  # one line, exit 130
            try:
                summary = jolpica_sync(
                    seasons=seasons,
                    rounds=rounds,
                    only=only,
                    incremental=options["incremental"],
                    resume=not options["no_resume"],
                    progress=not options["json"] and sys.stderr.isatty(),
                    lock_wait=options["wait"] or 0,
                    on_lock_wait=wait_notice(self),  # one line on stderr when a wait begins
                )
            except SourceError as exc:
                raise CommandError(
                    f"Sync failed{_run_of(exc)} (races committed so far are kept; rerun to resume): {exc}"
                ) from None
            except SyncAborted as exc:
                raise CommandError(f"Sync interrupted{_run_of(exc)}: {exc}") from None
            except SyncAlreadyRunning as exc:
                raise CommandError(
                    f"Sync not started (nothing written): {exc}; {busy_advice(options['wait'])}",
                    returncode=BUSY_EXIT,
                ) from None
            except Exception as exc:  # anything unforeseen: the run is marked failed with the message
                message = " ".join(f"{exc.__class__.__name__}: {exc}".split())  # one line
                raise CommandError(f"Sync failed{_run_of(exc)}: {message} (--traceback for details)") from exc
        data = summary.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data, default=str))
            self._exit_if_missing(data)
            return
        self.stdout.write(
            f"Sync {data['status']} in {data['duration_s']}s (SyncRun {data['run_id']}): "
            f"{data['races_written']} races written, {data['created']} created, {data['updated']} updated, "
            f"{data['deleted']} deleted (no longer upstream), "
            f"{data['requests_made']} requests"
            + (f", resumed from run {data['resumed_from']}" if data["resumed_from"] else "")
        )
        for table, counts in data["counts"].items():
            self.stdout.write(f"  {table:<17} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
        if data["changed_race_ids"]:
            self.stdout.write("  changed races: " + ", ".join(data["changed_race_ids"]))
        for change in data["calendar"]:  # races renumbered / added / deleted upstream
            self.stdout.write(f"  calendar: {change['message']}")
        for kept in data["kept_manual"]:
            self.stderr.write(self.style.WARNING(kept["message"]))
        for error in data["errors"]:
            # a race gone from the calendar upstream but kept, or a race id conflict: staff must act
            label = "CALENDAR" if error.get("kind") == "calendar" else "rejected"
            self.stderr.write(self.style.WARNING(f"{label}: {error.get('message')}"))
            for problem in error.get("problems", [])[:5]:
                self.stderr.write(f"    {problem}")
        self._exit_if_missing(data)

    def _exit_if_missing(self, data: dict) -> None:
        """Asked for a season or round upstream does not have: exit 1 (anything else that was asked
        for has been synced), so a typo does not read as success."""
        if data["missing"]:
            raise CommandError("not upstream: " + "; ".join(data["missing"]))
