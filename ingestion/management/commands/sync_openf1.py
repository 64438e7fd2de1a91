"""Map OpenF1 meetings/sessions to our races and optionally ingest ended sessions' results.

manage.py sync_openf1 --seasons 2023-2026            # sessions (2 requests a season)
manage.py sync_openf1 --seasons 2025 --results       # + practice/qualifying classifications
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ingestion.clients.http import SourceError
from ingestion.clients.openf1 import OpenF1Client
from ingestion.models import OpenF1Session
from ingestion.services.openf1_results import INGESTED_TYPES, openf1_session_results_ingest
from ingestion.services.openf1_sessions import openf1_sessions_sync


def parse_seasons(text: str) -> list[int]:
    """'2023-2026' or '2021,2023' -> years; CommandError on anything else."""
    years: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            first, _, last = part.partition("-")
            lo, hi = int(first), int(last or first)
            if not (1950 <= lo <= hi <= 2100):
                raise ValueError
            years.update(range(lo, hi + 1))
    except ValueError:
        raise CommandError(f"--seasons {text!r}: use e.g. 2023-2026 or 2021,2023") from None
    if not years:
        raise CommandError("--seasons is empty")
    return sorted(years)


class Command(BaseCommand):
    help = "Sync OpenF1 sessions (mapped to races by date + circuit) and, with --results, session results."

    def add_arguments(self, parser):
        parser.add_argument("--seasons", default=str(timezone.now().year), help="e.g. 2023-2026")
        parser.add_argument("--results", action="store_true", help="ingest practice/qualifying results")

    def handle(self, *args, seasons, results, **options):
        years = parse_seasons(seasons)
        client = OpenF1Client()
        try:
            counts = openf1_sessions_sync(seasons=years, client=client)
            if results:
                ended = OpenF1Session.objects.select_related("race").filter(
                    race__season_id__in=years,
                    session_type__in=INGESTED_TYPES,
                    date_end__lt=timezone.now(),
                    results_ingested_at__isnull=True,
                )
                counts["results"] = {
                    s.session_key: openf1_session_results_ingest(session=s, client=client) for s in ended
                }
        except SourceError as exc:
            raise CommandError(f"OpenF1 unavailable: {exc}") from exc
        self.stdout.write(json.dumps(counts, default=str, indent=2))
