"""Pruning old model artifacts: each trained version leaves a ~1.4 MB joblib file under
MODEL_STORAGE_PATH, and the post-race retrain adds one per race, so files of old inactive versions
are deleted while the active version and the load fallback's candidates are kept.

The ModelVersion row stays (its metrics, window and the predictions that reference it are the
record); `artifact_pruned_at` marks the file as gone so the fallback, activation and admin know.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from predictions.ml.artifacts import artifact_intact
from predictions.models import ModelVersion
from predictions.signals import models_changed

logger = logging.getLogger(__name__)


def _intact(version: ModelVersion) -> bool:
    """The artifact is on disk and, when its sha256 was recorded at training, unchanged. Hashing
    (~1.4 MB) is far cheaper than loading a bundle and keeps nothing in the worker's memory."""
    return artifact_intact(Path(version.artifact_path), (version.metrics or {}).get("artifact_sha256"))


def _inside(path: Path, storage: Path) -> bool:
    return path.resolve().is_relative_to(storage)


def model_artifacts_prune(*, keep: int | None = None, dry_run: bool = False) -> dict:
    """Delete the artifact files of old inactive versions and mark their rows pruned.

    Kept: the active version; the `keep` (default MODEL_ARTIFACTS_KEEP) newest versions whose
    artifact is intact; and the `keep` newest intact versions created before the active one — the
    load fallback's first candidates (`model_bundle_load` tries older versions before newer ones),
    which after a roll-back are not the newest. Corrupt artifacts are not counted as kept and are pruned when
    not needed. Never deleted: a file outside MODEL_STORAGE_PATH; rows whose file is already
    missing are reported and left as they are (a storage path not mounted must not mark them all).
    `dry_run` reports the same plan and changes nothing.
    """
    keep = settings.MODEL_ARTIFACTS_KEEP if keep is None else keep
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the active version's fallback), not {keep}")
    storage = Path(settings.MODEL_STORAGE_PATH).resolve()
    versions = list(
        ModelVersion.objects.filter(artifact_pruned_at__isnull=True).order_by("-created_at", "-id")
    )
    active = next((v for v in versions if v.is_active), None)
    kept, candidates, missing, skipped = [], [], [], {}
    newest_left = keep
    chain_left = keep if active is not None else 0
    before_active = False  # versions are newest first: after the active one come its fallbacks
    for version in versions:
        if version is active:
            kept.append(version)
            before_active = True
            continue
        wanted = newest_left > 0 or (before_active and chain_left > 0)
        if wanted and _intact(version):
            kept.append(version)
            newest_left -= 1
            chain_left -= 1 if before_active else 0
            continue
        path = Path(version.artifact_path)
        if not path.exists():
            missing.append(version.label)
        elif not _inside(path, storage):
            skipped[version.label] = f"{path} is outside MODEL_STORAGE_PATH: not deleted"
        else:
            candidates.append(version)

    pruned, freed, errors = [], 0, {}
    now = timezone.now()
    for version in candidates:
        path = Path(version.artifact_path)
        size = path.stat().st_size
        if dry_run:
            pruned.append(version.label)
            freed += size
            continue
        # Mark first, on condition: a version activated since the plan was made is not touched, and
        # activation refuses a marked version (model_version_activate), so the two cannot cross.
        marked = ModelVersion.objects.filter(
            pk=version.pk, is_active=False, artifact_pruned_at__isnull=True
        ).update(artifact_pruned_at=now)
        if not marked:
            skipped[version.label] = "activated or pruned meanwhile: not deleted"
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            ModelVersion.objects.filter(pk=version.pk).update(artifact_pruned_at=None)
            errors[version.label] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        pruned.append(version.label)
        freed += size
    if pruned and not dry_run:
        logger.info("pruned %d model artifacts (%d bytes)", len(pruned), freed)
        # The model page and models/performance at a past clock name the version a what-if would run
        # there, which skips pruned files: their cached answers must go (`f1site.cache`'s receiver).
        transaction.on_commit(lambda: models_changed.send(sender=ModelVersion, reason="pruned"))
    return {
        "dry_run": dry_run,
        "keep": keep,
        "active": active.label if active is not None else None,
        "kept": [v.label for v in kept],
        "pruned": pruned,
        "bytes_freed": freed,
        "missing": missing,
        "skipped": skipped,
        "errors": errors,
    }
