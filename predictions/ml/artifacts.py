"""Trained-model artifacts on disk (joblib) and the per-process cache keyed by version label.

A cached bundle is served only while its file is unchanged (same path, inode, mtime and size): a
file truncated or replaced on disk is read again on the next load, so a corrupt active artifact is
noticed by the next caller (health turns degraded) rather than when the worker restarts."""

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


# label -> (file signature when loaded or saved, bundle). The signature is compared (one stat())
# before a cached bundle is served: a changed or vanished file is read again.
_CACHE: dict[str, tuple[tuple | None, ModelBundle]] = {}
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
    with _LOCK:
        _CACHE[bundle.label] = (_signature(path), bundle)
        _FAILED.pop(bundle.label, None)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifact_intact(path: Path, expected_sha256: str | None) -> bool:
    """The file exists, is not empty and, when a sha256 was recorded at training, still has it.
    Reads the file (~1.4 MB) but keeps nothing in memory; never consults the bundle cache."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    return bool(data) and (expected_sha256 is None or hashlib.sha256(data).hexdigest() == expected_sha256)


def bundle_load(path: Path, *, label: str, fresh: bool = False) -> ModelBundle:
    """Load once per unchanged file and process; ArtifactError with the reason if the file is
    missing or corrupt.

    The cached bundle is returned only while the file's signature is the one it was loaded (or
    saved) with; a changed, replaced or vanished file is read again. `fresh` always reads the file
    (activation: the file itself must load, not this process's memory of it).
    A failure is remembered per file: asking again for the same unchanged file raises the same
    reason with `repeated=True` without reading it; a changed (or reappeared) file is tried again.
    """
    with _LOCK:
        signature = _signature(path)
        cached = _CACHE.get(label)
        if cached is not None and not fresh and signature is not None and cached[0] == signature:
            return cached[1]
        _CACHE.pop(label, None)  # its file changed (or a fresh read): never serve the old copy
        failed = _FAILED.get(label)
        if failed is not None and failed[0] == signature and not fresh:
            raise ArtifactError(failed[1], repeated=True)
        try:
            bundle = _read(path, label=label, signature=signature)
        except ArtifactError as exc:
            _FAILED[label] = (signature, str(exc))
            raise
        _FAILED.pop(label, None)
        _CACHE[label] = (signature, bundle)
        return bundle


def _read(path: Path, *, label: str, signature: tuple | None) -> ModelBundle:
    if signature is None:
        raise ArtifactError(f"model artifact {path} for {label} is missing")
    try:
        bundle = joblib.load(path)
    except Exception as exc:  # joblib/pickle raise many types for a truncated or foreign file
        # A truncated pickle raises EOFError with an empty message: name the type then.
        reason = str(exc) or type(exc).__name__
        raise ArtifactError(f"model artifact {path} for {label} is unreadable: {reason}") from exc
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
