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
    """A model artifact is missing, unreadable or not a Pitwall model bundle.

    `repeated` is True when this process already failed to load the same file (same path, inode,
    mtime and size) and did not try again: callers log only the first failure.
    """

    def __init__(self, message: str, *, repeated: bool = False):
        super().__init__(message)
        self.repeated = repeated


@dataclass
class ModelBundle:
    label: str
    stages: dict[str, StageModels]
    format: int = ARTIFACT_FORMAT
    meta: dict = field(default_factory=dict)


_CACHE: dict[str, ModelBundle] = {}
# label -> (file signature, reason) of the last failed load. The health check polls the model every
# few seconds: without this a corrupt artifact was re-read (decompressing up to ~1.4 MB) and logged
# as an error on every poll. A failure is retried only once the file changes (signature differs) —
# or for another label, i.e. another version activated.
_FAILED: dict[str, tuple[tuple | None, str]] = {}
_LOCK = threading.Lock()


def _signature(path: Path) -> tuple | None:
    """What identifies one file's content cheaply: None when it does not exist. The inode catches an
    atomic replace (bundle_save's rename) even within the same mtime tick and size."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # what Path.exists() reported as missing
        return None
    return (str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def bundle_save(bundle: ModelBundle, path: Path) -> str:
    """Write atomically (temp file + rename) and return the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(bundle, tmp, compress=3)
    tmp.replace(path)
    _CACHE[bundle.label] = bundle
    _FAILED.pop(bundle.label, None)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bundle_load(path: Path, *, label: str) -> ModelBundle:
    """Load once per process; ArtifactError with the reason if the file is missing or corrupt.

    A failure is remembered per file: asking again for the same unchanged file raises the same
    reason with `repeated=True` without reading it; a changed (or reappeared) file is tried again.
    """
    with _LOCK:
        if label in _CACHE:
            return _CACHE[label]
        signature = _signature(path)
        failed = _FAILED.get(label)
        if failed is not None and failed[0] == signature:
            raise ArtifactError(failed[1], repeated=True)
        try:
            bundle = _read(path, label=label, signature=signature)
        except ArtifactError as exc:
            _FAILED[label] = (signature, str(exc))
            raise
        _FAILED.pop(label, None)
        _CACHE[label] = bundle
        return bundle


def _read(path: Path, *, label: str, signature: tuple | None) -> ModelBundle:
    if signature is None:
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
    return bundle


def cache_clear() -> None:
    """Forget loaded bundles and remembered failures (as a fresh process would)."""
    _CACHE.clear()
    _FAILED.clear()
