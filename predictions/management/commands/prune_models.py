import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictions.services.pruning import model_artifacts_prune


class Command(BaseCommand):
    help = (
        "Delete the artifact files of old inactive model versions, keeping the active version and the "
        "newest intact ones (the load fallback's); the rows stay, marked pruned."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep",
            type=int,
            help="Intact inactive versions to keep besides the active one, >= 1 "
            "(default: MODEL_ARTIFACTS_KEEP)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be deleted; change nothing"
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON")

    def handle(self, *args, **opts):
        keep = settings.MODEL_ARTIFACTS_KEEP if opts["keep"] is None else opts["keep"]
        if keep < 1:
            raise CommandError(f"--keep must be at least 1 (the active version's fallback), not {keep}")
        summary = model_artifacts_prune(keep=keep, dry_run=opts["dry_run"])
        if opts["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            verb = "would prune" if summary["dry_run"] else "pruned"
            self.stdout.write(
                self.style.SUCCESS(
                    f"{verb} {len(summary['pruned'])} model artifact(s), "
                    f"{summary['bytes_freed'] / 1e6:.1f} MB; kept {len(summary['kept'])} "
                    f"(active {summary['active'] or 'none'} + up to {keep} more)"
                )
            )
            for label in summary["pruned"]:
                self.stdout.write(f"  {verb}: {label}")
            for label in summary["missing"]:
                self.stdout.write(f"  artifact already missing (left as is): {label}")
            for label, reason in {**summary["skipped"], **summary["errors"]}.items():
                self.stdout.write(f"  not pruned: {label}: {reason}")
        if summary["errors"]:
            raise CommandError(f"could not delete {len(summary['errors'])} artifact(s); see above")
