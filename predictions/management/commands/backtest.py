import argparse
import json

from django.core.management.base import BaseCommand, CommandError

from f1site.cli import ranges_parse
from predictions.ml.metrics import BRIER_METRICS, RANK_METRICS
from predictions.services.backtest import BacktestArgumentError, backtest_run

SEASONS = (1950, 2100)  # as sync_f1 / sync_openf1 / load_ergast: a typo must not mean 3 million seasons
MAX_WINDOW = 200  # seasons; more than the whole history, so it means "every earlier season"


def parse_seasons(value: str) -> list[int]:
    """`--seasons`: a sorted set within SEASONS (f1site.cli.ranges_parse, as the sync commands)."""
    return ranges_parse(value, what="seasons", lo=SEASONS[0], hi=SEASONS[1])


def _int_between(minimum: int, maximum: int | None = None):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {number}")
        return number

    return parse


class Command(BaseCommand):
    help = "Rolling-origin backtest (race by race, models trained only on earlier races); stored as a BacktestRun."

    def add_arguments(self, parser):
        parser.add_argument("--seasons", required=True, help="e.g. 2023-2025 or 2022,2024")
        parser.add_argument("--stage", choices=["pre", "post"], default="post")
        parser.add_argument(
            "--retrain-every",
            type=_int_between(0, 1000),  # more races than any backtest has: "never within a season"
            default=0,
            help="Also retrain every N races (0 = at season start only)",
        )
        parser.add_argument(
            "--window",
            type=_int_between(1, MAX_WINDOW),
            default=8,
            help=f"Training window in seasons (default 8, at most {MAX_WINDOW})",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        try:
            run = backtest_run(
                seasons=parse_seasons(opts["seasons"]),
                stage=opts["stage"],
                retrain_every=opts["retrain_every"],
                window=opts["window"],
            )
        except BacktestArgumentError as exc:  # a crash inside the run is a bug: its traceback shows
            raise CommandError(str(exc)) from exc
        report = run.results
        if opts["json"]:
            self.stdout.write(
                json.dumps({"id": run.pk, "duration_seconds": run.duration_seconds, **report}, indent=2)
            )
            return
        keys = [*RANK_METRICS, *BRIER_METRICS]
        self.stdout.write(
            f"backtest #{run.pk} {run.stage} {run.seasons}: {run.races} races in {run.duration_seconds}s"
        )
        self.stdout.write("method".ljust(15) + "".join(k[:14].rjust(15) for k in keys))
        for method, m in report["overall"].items():
            self.stdout.write(
                method.ljust(15)
                + "".join(("-" if m.get(k) is None else f"{m[k]:.3f}").rjust(15) for k in keys)
            )
        for name, floor in report.get("floors", {}).items():
            style = self.style.SUCCESS if floor["met"] else self.style.WARNING
            self.stdout.write(style(f"  {name}: {'met' if floor['met'] else 'NOT met'} {floor}"))
