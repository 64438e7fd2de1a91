"""Race weather: observed (OpenF1 /v1/weather, summarised into RaceWeather) and forecasts (Open-Meteo).

manage.py sync_weather --observed --seasons 2018-2026     # the quick start runs this
manage.py sync_weather --forecast                         # upcoming races (also every 6 h by beat)

A season before the observed weather's first (2018) is not asked for: listed under `missing`, the
other seasons synced, then exit 1 with `not upstream: …`, as sync_f1 / sync_openf1. A source outage
exits 1; Ctrl-C exits 130 with one line (the SyncRun `interrupted`, races stored so
far kept: the same command goes on with the rest).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from f1site.cli import ranges_parse
from ingestion.clients.http import SourceError
from ingestion.management.sync_exit import ctrl_c_exits_130
from ingestion.services.weather_forecast import weather_forecasts_sync
from ingestion.services.weather_observed import OBSERVED_WEATHER_FIRST_SEASON, weather_observed_sync


class Command(BaseCommand):
    help = "Fetch observed race weather (--observed) and/or forecasts for upcoming races (--forecast)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--observed",
            action="store_true",
            help="observed weather of the finished races of --seasons (OpenF1 /v1/weather, "
            f"{OBSERVED_WEATHER_FIRST_SEASON} on), summarised per race",
        )
        parser.add_argument(
            "--forecast",
            action="store_true",
            help="Open-Meteo forecasts for the races of the next 16 days, per session start",
        )
        parser.add_argument("--seasons", help="for --observed, e.g. 2018-2026 (default: the current season)")
        parser.add_argument("--refresh", action="store_true", help="re-fetch races that already have weather")

    def handle(self, *args, observed, forecast, seasons, refresh, **options):
        if not observed and not forecast:
            raise CommandError("choose --observed and/or --forecast", returncode=2)
        if not observed:  # silently ignored before: --forecast fetches the upcoming races
            for option, given in (("--seasons", seasons is not None), ("--refresh", refresh)):
                if given:
                    raise CommandError(
                        f"{option} applies to --observed only (forecasts are for the upcoming races)",
                        returncode=2,
                    )
        seasons = seasons or str(timezone.now().year)
        out = {}
        # Ctrl-C: one line and exit 130 (was a KeyboardInterrupt traceback), the run `interrupted`
        with ctrl_c_exits_130(
            kept="races stored so far are kept", rerun="rerun the same command to fetch the rest"
        ):
            try:
                if observed:
                    out["observed"] = weather_observed_sync(seasons=ranges_parse(seasons), refresh=refresh)
                if forecast:
                    out["forecast"] = weather_forecasts_sync()
            except SourceError as exc:
                raise CommandError(f"weather source unavailable: {exc}") from exc
        self.stdout.write(json.dumps(out, default=str, indent=2))
        missing = out.get("observed", {}).get("missing")
        if missing:  # as sync_f1 / sync_openf1: a season with no data upstream is not a success
            raise CommandError("not upstream: " + "; ".join(missing))
