"""Trained-model artifacts on disk (joblib) and the per-process cache keyed by version label."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import joblib

from predictions.ml.models import StageModels

# Bumped whenever a model set's inputs change shape: 2 = DNF inputs split into car failures and
# incidents plus the grid terms, and the pace index. An older artifact cannot be scored by this code.
ARTIFACT_FORMAT = 2


class ArtifactError(RuntimeError):
    """A model artifact is missing, unreadable or not a Pitwall model bundle."""


@dataclass
class ModelBundle:
    label: str
    stages: dict[str, StageModels]
    format: int = ARTIFACT_FORMAT
    meta: dict = field(default_factory=dict)


_CACHE: dict[str, ModelBundle] = {}
_LOCK = threading.Lock()


def bundle_save(bundle: ModelBundle, path: Path) -> str:
    """Write atomically (temp file + rename) and return the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(bundle, tmp, compress=3)
    tmp.replace(path)
    _CACHE[bundle.label] = bundle
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bundle_load(path: Path, *, label: str) -> ModelBundle:
    """Load once per process; ArtifactError with the reason if the file is missing or corrupt."""
    with _LOCK:
        if label in _CACHE:
            return _CACHE[label]
        if not path.exists():
            raise ArtifactError(f"model artifact {path} for {label} is missing")
        try:
            bundle = joblib.load(path)
        except Exception as exc:  # joblib/pickle raise many types for a truncated or foreign file
            raise ArtifactError(f"model artifact {path} for {label} is unreadable: {exc}") from exc
        if not isinstance(bundle, ModelBundle) or bundle.label != label:
            raise ArtifactError(f"model artifact {path} is not the Pitwall model bundle {label}")
        if bundle.format != ARTIFACT_FORMAT:
            raise ArtifactError(
                f"model artifact {path} for {label} was written by another engine version (format "
                f"{bundle.format}, this code reads {ARTIFACT_FORMAT}): retrain with `manage.py train_models`"
            )
        _CACHE[label] = bundle
        return bundle


def cache_clear() -> None:
    _CACHE.clear()
