import errno
import json
import os

from django.core.management.base import BaseCommand, CommandError

from predictions.features.registry import feature_catalogue_markdown
from predictions.models import ActivationReason
from predictions.services import model_train


class Command(BaseCommand):
    help = "Train the position / points / DNF models (both stages) and register them as the active version."

    def add_arguments(self, parser):
        parser.add_argument(
            "--until-season",
            type=int,
            help="Last season in the training window (default: latest with results)",
        )
        parser.add_argument("--from-season", type=int, help="First season in the window (default: 8 seasons)")
        parser.add_argument("--no-activate", action="store_true", help="Register without activating")
        parser.add_argument("--json", action="store_true", help="Print the new version as JSON")
        parser.add_argument(
            "--write-catalogue",
            metavar="PATH",
            help="Also write the feature catalogue (e.g. docs/features.md)",
        )

    def handle(self, *args, **opts):
        catalogue = opts["write_catalogue"]
        if catalogue:  # checked before training, so a bad path fails fast
            _writable_check(catalogue)
        try:
            version = model_train(
                until_season=opts["until_season"],
                from_season=opts["from_season"],
                activate=not opts["no_activate"],
                reason=ActivationReason.TRAIN_MODELS,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        # written only once the arguments have passed the training's own checks: a refused window
        # (--until-season 2030) must leave nothing written
        if catalogue:
            try:
                with open(catalogue, "w", encoding="utf-8") as fh:
                    fh.write(feature_catalogue_markdown())
            except OSError as exc:
                raise CommandError(
                    f"--write-catalogue: cannot write {catalogue}: {exc.strerror} "
                    f"(the model {version.label} was trained and registered)"
                ) from exc
        data = {
            "label": version.label,
            "active": version.is_active,
            "window": [version.train_from_season, version.train_until_season],
            "rows": version.rows,
            "features": {k: len(v) for k, v in version.features.items()},
            "data_fingerprint": version.data_fingerprint,
            "training_seconds": version.training_seconds,
            "artifact": version.artifact_path,
            # as registered: hyper-parameters (+ fitted ranking and pace weights) and metrics
            # (artifact sha256, calibration block, quality figures with what they measure)
            "params": version.params,
            "metrics": version.metrics,
        }
        if opts["json"]:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"trained {version.label} on {version.rows} rows ({data['window'][0]}-{data['window'][1]}) "
                    f"in {version.training_seconds}s{' and activated it' if version.is_active else ''}"
                )
            )


def _writable_check(path: str) -> None:
    """Refuse a catalogue path that cannot be written, without writing it: an existing directory,
    a missing or read-only parent directory, a read-only file."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        problem = errno.EISDIR
    elif not os.path.isdir(parent):
        problem = errno.ENOENT
    elif not os.access(path if os.path.exists(path) else parent, os.W_OK):
        problem = errno.EACCES
    else:
        return
    raise CommandError(f"--write-catalogue: cannot write {path}: {os.strerror(problem)}")
