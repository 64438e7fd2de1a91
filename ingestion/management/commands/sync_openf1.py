"""Map OpenF1 meetings/sessions to our races and optionally ingest ended sessions' results.

manage.py sync_openf1 --seasons 2023-2026            # sessions (2 requests a season)
manage.py sync_openf1 --seasons 2025 --results       # + practice/qualifying classifications
manage.py sync_openf1 --seasons 2023-2026 --results --reingest   # + those already ingested (repair)
manage.py sync_openf1 --seasons 2025 --results --reingest --replace-conflicts   # take OpenF1's car where it disagrees

The JSON summary's `requests` counts every request the command made (sessions and results;
`results.requests` is the `--results` part): it counted the sessions' alone.

A session whose classification fails validation is rejected (message on stderr and in the results
SyncRun's errors, status partial) and the others go on: the summary is printed and the command exits 0,
as `sync_f1` does for a partial run. A season OpenF1 lists no meetings for (before 2023, a typo) exits 1
after the summary (`not upstream: season 2022: …`; the other seasons are synced). A source outage exits 1 (sessions ingested before it stay); Ctrl-C
exits 130 with one line, as `sync_f1` (the SyncRun `interrupted`).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from f1site.cli import ranges_parse
from ingestion.clients.http import SourceError
from ingestion.management.sync_exit import ctrl_c_exits_130
from ingestion.services.openf1_results import openf1_sync


class Command(BaseCommand):
    help = "Sync OpenF1 sessions (mapped to races by date + circuit) and, with --results, session results."

    def add_arguments(self, parser):
        parser.add_argument("--seasons", default=str(timezone.now().year), help="e.g. 2023-2026")
        parser.add_argument("--results", action="store_true", help="ingest practice/qualifying results")
        parser.add_argument(
            "--reingest",
            action="store_true",
            help="with --results: also re-ingest the sessions already ingested (run once after upgrading, "
            "to repair teams an older version stored wrongly)",
        )
        parser.add_argument(
            "--replace-conflicts",
            action="store_true",
            help="with --results: where OpenF1 places a car on another driver than the stored row of that "
            "number, replace the stored row (default: keep it, leave OpenF1's car out and report the conflict)",
        )

    def handle(self, *args, seasons, results, reingest, replace_conflicts, **options):
        if reingest and not results:
            raise CommandError("--reingest re-ingests results: use it with --results", returncode=2)
        if replace_conflicts and not results:
            raise CommandError("--replace-conflicts applies to results: use it with --results", returncode=2)
        years = ranges_parse(seasons)
        # Ctrl-C: one line and exit 130 (was a KeyboardInterrupt traceback), the run `interrupted`
        with ctrl_c_exits_130(
            kept="what was stored so far is kept", rerun="rerun the same command to finish"
        ):
            try:
                counts = openf1_sync(
                    seasons=years, results=results, reingest=reingest, replace_conflicts=replace_conflicts
                )
            except SourceError as exc:
                raise CommandError(f"OpenF1 unavailable: {exc}") from exc
        self.stdout.write(json.dumps(counts, default=str, indent=2))
        for message in counts.get("results", {}).get("rejected", []):
            self.stderr.write(self.style.WARNING(f"rejected: {message}"))
        for message in counts.get("results", {}).get("incomplete", []):
            self.stderr.write(self.style.WARNING(f"incomplete: {message}"))
        for message in counts.get("results", {}).get("conflicts", []):
            self.stderr.write(self.style.WARNING(f"conflict: {message}"))
        if counts["missing"]:  # as sync_f1: a season upstream does not have must not read as success
            raise CommandError("not upstream: " + "; ".join(counts["missing"]))
