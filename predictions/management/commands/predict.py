import argparse
import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from f1site.clock import clock_from_text
from f1site.errors import NotFound
from ingestion.selectors import MalformedRaceId, race_get
from predictions.selectors import race_list_recent_completed, race_list_upcoming
from predictions.services import ModelUnavailable, prediction_generate
from predictions.services.post_race import race_accuracy_score
from predictions.services.predicting import (
    PredictionInputError,
    RaceRunError,
    prediction_clock_future_check,
    predictions_backfill,
)

NO_UPCOMING_RACES = 3  # exit status of `predict --upcoming` when no race is left on the calendar


def parse_as_of(value: str | None) -> datetime | None:
    """`--as-of`, read as the home page's `?as_of=` is (a date alone: 00:00 UTC that day)."""
    if not value:
        return None
    try:
        return clock_from_text(text=value)
    except ValueError:
        raise CommandError(
            f"--as-of {value!r} is not an ISO date (e.g. 2026-06-20, 00:00 UTC) or date-time (2026-06-20T14:00)"
        ) from None


def _clock_text(value: str) -> str:
    """argparse type of --as-of: an empty value is a usage error (exit 2), never "now" in disguise."""
    if not value.strip():
        raise argparse.ArgumentTypeError("needs a date or time (e.g. 2026-06-20); leave it out for now")
    return value


class Command(BaseCommand):
    help = "Generate and store predictions for one race (--race 2026_austria) or the next three (--upcoming)."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--race", help="Race id, e.g. 2026_austria or 2026_11")
        target.add_argument(
            "--upcoming",
            action="store_true",
            help="The next three races; also backfills the last three completed races that have no prediction",
        )
        parser.add_argument("--stage", choices=["pre", "post"], help="Default: every stage available")
        parser.add_argument(
            "--as-of",
            type=_clock_text,
            help="Clock (ISO date-time, UTC unless it says; a date alone is 00:00 UTC that day; default "
            "now) choosing the upcoming races and stages; a race run since that clock is refused (a "
            "backfill is its honest pre-race prediction)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        as_of = parse_as_of(opts["as_of"])
        if as_of is not None:
            # Before anything is written (--upcoming backfills first), for both modes alike.
            try:
                prediction_clock_future_check(as_of=as_of)
            except PredictionInputError as exc:
                raise CommandError(str(exc)) from exc
        if opts["upcoming"]:
            # The past three first, whatever lies ahead: off-season (no race left) they still get
            # their backfilled predictions and scores before "no upcoming races" ends the command.
            try:
                done = predictions_backfill(races=race_list_recent_completed(as_of=as_of))
                for race in done:
                    race_accuracy_score(race=race)
            except (PredictionInputError, ModelUnavailable) as exc:
                raise CommandError(str(exc)) from exc
            if done and not opts["json"]:
                self.stdout.write(f"backfilled and scored: {', '.join(r.slug for r in done)}")
            races = race_list_upcoming(as_of=as_of)
            if not races:
                # Exit status 3, not 1: the calendar has run out (nothing to predict), not a failure;
                # the quick start tells the two apart.
                raise CommandError("no upcoming races without results", returncode=NO_UPCOMING_RACES)
        else:
            try:
                races = [race_get(race_id=opts["race"])]
            except (MalformedRaceId, NotFound) as exc:
                raise CommandError(str(exc)) from exc
        out = []
        for race in races:
            try:
                rows = prediction_generate(race=race, stage=opts["stage"], as_of=as_of)
            except RaceRunError as exc:
                if not opts["upcoming"]:
                    raise CommandError(f"{race.slug}: {exc}") from exc
                # Race day: the race being run is still listed as upcoming (no results yet), but it
                # keeps its pre-race set; the quick start must not fail for it.
                self.stderr.write(f"skipped {race.slug}: {exc.details['reason']}; its pre-race set stands")
                continue
            except (PredictionInputError, ModelUnavailable) as exc:
                raise CommandError(f"{race.slug}: {exc}") from exc
            clock = next((p.clock for p in rows if p.clock is not None), None)
            out.append(
                {
                    "race": race.slug,
                    "stored": list(rows.stored),
                    "unchanged": list(rows.unchanged),
                    # set: computed at this past clock, kept in the history, never the current set
                    "clock": clock.isoformat() if clock else None,
                    "predictions": [
                        {
                            "stage": p.stage,
                            "driver_id": p.driver_id,
                            "driver": p.driver.ref,
                            "team": p.team.ref,
                            "predicted_position": p.predicted_position,
                            "win": round(p.win_probability, 4),
                            "podium": round(p.podium_probability, 4),
                            "points": round(p.points_probability, 4),
                            "dnf": round(p.dnf_probability, 4),
                            "confidence": round(p.confidence, 3),
                            "low_confidence": p.low_confidence,
                        }
                        for p in sorted(rows, key=lambda p: (p.stage, p.predicted_position))
                    ],
                }
            )
        if opts["json"]:
            self.stdout.write(json.dumps(out, indent=2))
            return
        for race in out:
            self.stdout.write(self.style.MIGRATE_HEADING(race["race"]))
            if race["clock"]:
                # Said plainly: the site keeps showing the set made without a clock.
                self.stdout.write(
                    f"  as of {race['clock']}: kept in the race's history, never its current "
                    "prediction (that one is made without --as-of)"
                )
            if race["unchanged"]:
                # Said plainly, so a re-run of the quick start shows why no new set appeared.
                self.stdout.write(
                    f"  unchanged ({', '.join(race['unchanged'])}): same model version and inputs as "
                    "the current set, which is kept (no new record)"
                )
            for p in race["predictions"]:
                self.stdout.write(
                    f"  [{p['stage']:4}] P{p['predicted_position']:<2} {p['driver']:<20} {p['team']:<14} "
                    f"win {p['win']:.3f} podium {p['podium']:.3f} points {p['points']:.3f} dnf {p['dnf']:.3f}"
                    f"{'  (low confidence)' if p['low_confidence'] else ''}"
                )
