"""Training, the model registry (ModelVersion) and loading the active models with fallback."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from f1site.clock import clock_display
from f1site.errors import PicklableError
from predictions.features.compute import build_features
from predictions.features.frames import F1Frames, f1_frames_load
from predictions.features.registry import FEATURES_FORMAT, STAGES, feature_names
from predictions.ml.artifacts import ArtifactError, ModelBundle, artifact_intact, bundle_load, bundle_save
from predictions.ml.models import PARAMS, calibration_from_season, stage_fit
from predictions.models import ActivationReason, ModelActivation, ModelVersion
from predictions.signals import models_changed

logger = logging.getLogger(__name__)

TRAINING_WINDOW_SEASONS = 8
HISTORY_FROM_SEASON = 1996  # career features need each current driver's whole history


class ModelUnavailable(PicklableError, RuntimeError):
    """No trained model can be loaded (none trained, or every artifact missing/corrupt).

    `str(exc)` carries each version's reason, artifact paths included: what the operator running
    `predict` or reading the logs needs. `public_message` is the same advice without them, for
    answers to anyone else (the API's 503): a server path is no business of an anonymous client."""

    public_message = "no usable trained model: run `python manage.py train_models`"

    def __init__(self, reasons: list[str] | None = None):
        self.reasons = list(reasons or [])
        detail = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        super().__init__(self.public_message + detail)


def data_fingerprint(features: pd.DataFrame) -> str:
    cols = ["race_id", "driver_id", "team_id", "finish", "dnf", "grid"]
    payload = (
        pd.util.hash_pandas_object(features[cols].astype(float).fillna(-1), index=False).to_numpy().tobytes()
    )
    return hashlib.sha256(payload).hexdigest()[:32]


def training_rows(features: pd.DataFrame, *, from_season: int, until_season: int) -> pd.DataFrame:
    window = features["season"].between(from_season, until_season)
    return features[window & features["finish"].notna()]


def models_fit(
    features: pd.DataFrame,
    *,
    from_season: int,
    until_season: int,
    label: str,
    n_jobs: int = 1,
    score_block: bool = False,
) -> ModelBundle:
    """Pure: fit both stages on the window of a feature frame (`score_block`: with each stage's
    quality on its calibration block, `stage_fit`)."""
    rows = training_rows(features, from_season=from_season, until_season=until_season)
    if rows.empty:
        raise ValueError(f"no race results between {from_season} and {until_season} to train on")
    stages = {s: stage_fit(rows, s, n_jobs=n_jobs, score_block=score_block) for s in STAGES}
    return ModelBundle(label=label, stages=stages)


# What ModelVersion.metrics["quality"] measures, stored with the figures so they are never read as
# more than they are.
QUALITY_BASIS = (
    "Measured per stage on the ranking layer's calibration block (`seasons`: the window's latest "
    "seasons), predicted by base models fitted only on the seasons before it (`fitted_on_seasons`). "
    "`held_out`: the base models' own outputs (position model MAE against the finishing rank among "
    "finishers, points-model Brier, DNF log loss / AUC against the constant-rate log loss), out of "
    "sample. `simulated`: the published predictions (2000 simulated races per race, scored as the "
    "backtest scores them), whose ranking-layer weights were fitted on this same block and pace "
    "index on the whole window: in-sample for those few weights, so optimistic. The stored models "
    "are refitted on the whole window, block included, so none of this is their score on unseen "
    "data: that is the backtest's."
)


def model_train(
    *,
    until_season: int | None = None,
    from_season: int | None = None,
    activate: bool = True,
    frames: F1Frames | None = None,
    reason: ActivationReason | None = None,
    activated_by_id: int | None = None,
    note: str = "",
) -> ModelVersion:
    """Train position / points / DNF models for both stages on completed seasons and register them.

    `activate`: make the new version the active one, logged with the caller's `reason` (required
    then: which path retrained), `activated_by_id` (the staff user who asked) and `note`
    (`model_version_activate`)."""
    if activate and reason is None:  # before the fit: a missing reason costs no training
        raise ValueError("model_train(activate=True) needs the activation's reason (ActivationReason)")
    started = time.perf_counter()
    frames = frames if frames is not None else f1_frames_load(since_season=HISTORY_FROM_SEASON)
    features = build_features(frames)
    done = features[features["finish"].notna()]
    if done.empty:
        raise ValueError("no race results in the database: load data first (load_ergast)")
    first, last = int(done["season"].min()), int(done["season"].max())
    with_results = set(done["season"])
    # `is None`, not `or`: season 0 is a bad argument, not "the default".
    until = last if until_season is None else int(until_season)
    start = max(until - TRAINING_WINDOW_SEASONS + 1, first) if from_season is None else int(from_season)
    # The window's ends must be seasons with results: otherwise the label ("2023-2030") would claim
    # seasons the model never saw. The default start is clamped to the first season with results.
    # Seasons before the features' history are refused as such (the database may well hold them).
    for name, season in (("last", until), ("first", start)):
        if season < HISTORY_FROM_SEASON:
            raise ValueError(
                f"season {season} (the window's {name} season) is before the model's history, which "
                f"starts in {HISTORY_FROM_SEASON} (HISTORY_FROM_SEASON): seasons before it cannot be trained on"
            )
    if start > until:
        raise ValueError(
            f"the training window {start}-{until} is empty: the first season comes after the last"
        )
    for season in (until, start):
        if season not in with_results:
            raise ValueError(
                f"no race results for season {season} to train on "
                f"(the model's history has results for {first}-{last})"
            )
    rows = training_rows(features, from_season=start, until_season=until)
    if rows.empty:
        raise ValueError(f"no race results between {start} and {until} to train on")
    _calibration_check(rows=rows, done=done, start=start, until=until)
    label = f"v{timezone.now():%Y%m%d-%H%M%S%f}-{start}-{until}"
    bundle = models_fit(
        features, from_season=start, until_season=until, label=label, n_jobs=2, score_block=True
    )
    uncalibrated = [s for s in STAGES if bundle.stages[s].metrics.get("calibration_from_season") is None]
    if uncalibrated:  # the check above should make this unreachable: never register such a set
        raise ValueError(f"the {', '.join(uncalibrated)} stage(s) were fitted without a calibration block")
    path = settings.MODEL_STORAGE_PATH / f"{label}.joblib"
    sha = bundle_save(bundle, path)
    seconds = time.perf_counter() - started
    with transaction.atomic():
        version = ModelVersion.objects.create(
            label=label,
            train_from_season=start,
            train_until_season=until,
            trained_until_date=rows["date"].max().date(),
            rows=len(rows),
            features={s: feature_names(s) for s in STAGES},
            params={
                **PARAMS,
                "features_format": FEATURES_FORMAT,
                "ranking_weights": {s: bundle.stages[s].ranking.weights.round(4).tolist() for s in STAGES},
                # the pace index's weight per input (PACE_INPUTS order; post adds grid, gap, sprint)
                "pace_weights": {s: bundle.stages[s].pace.weights.round(4).tolist() for s in STAGES},
            },
            data_fingerprint=data_fingerprint(rows),
            metrics={
                "artifact_sha256": sha,
                "calibration_from_season": bundle.stages["post"].metrics.get("calibration_from_season"),
                "quality": {
                    "basis": QUALITY_BASIS,
                    **{s: bundle.stages[s].metrics["quality"] for s in STAGES},
                },
            },
            artifact_path=str(path),
            training_seconds=round(seconds, 2),
        )
        if activate:
            model_version_activate(version=version, reason=reason, activated_by_id=activated_by_id, note=note)
        else:  # listed with the others (activation sends its own signal)
            transaction.on_commit(lambda: models_changed.send(sender=ModelVersion, reason="trained"))
    logger.info("trained model %s on %s rows in %.1fs", label, len(rows), seconds)
    return version


def _calibration_check(*, rows: pd.DataFrame, done: pd.DataFrame, start: int, until: int) -> None:
    """The window must hold the ranking layer's calibration block (`models.calibration_from_season`: the
    latest whole seasons with at least `calibration_min_races` races, predicted by models fitted on
    the window's earlier seasons). Without it the layer is fitted on the base models' own training
    rows, over-confident (a one-season 1996 model gave three drivers P(DNF) = 1.0), and such a
    version must never be registered, let alone activated."""
    if calibration_from_season(rows) is not None:
        return
    needed = PARAMS["calibration_min_races"]
    races = done[done["season"] <= until].groupby("season")["race_id"].nunique().sort_index()
    block, total = [], 0
    for season in reversed(races.index.tolist()):
        block.append(int(season))
        total += int(races[season])
        if total >= needed:
            break
    seasons = len(block) + 1  # the block, and at least one season before it to fit on
    what = (
        f"the training window {start}-{until} ({until - start + 1} season(s), "
        f"{rows['race_id'].nunique()} races) is too short to calibrate the ranking layer: it is fitted "
        f"on the window's latest whole seasons holding at least {needed} races, predicted by models "
        "trained on the window's earlier seasons"
    )
    earliest = until - seasons + 1
    if total < needed or earliest < int(races.index.min()):
        raise ValueError(
            f"{what}; the model's history (from {HISTORY_FROM_SEASON}) has too few seasons before "
            f"{until} for that: end the window in a later season"
        )
    raise ValueError(
        f"{what}, so a window ending in {until} needs at least {seasons} seasons "
        f"(--from-season {earliest} or earlier)"
    )


@transaction.atomic
def model_version_activate(
    *,
    version: ModelVersion,
    reason: ActivationReason,
    activated_by_id: int | None = None,
    note: str = "",
) -> ModelVersion:
    """Make `version` the one active model set (also the roll-back: activate an older version),
    logging it as a `ModelActivation` in the same transaction: the moment (the model serving at a
    past clock: `model_versions_at`), the caller's `reason`, the staff user who asked
    (`activated_by_id`; None for automated paths; an account deleted since is logged as nobody's,
    the note saying so: `_activated_by_resolve`) and an optional `note`.

    Sends `models_changed` on commit, so cached views of the active model are dropped. A version
    whose artifact was pruned (or is missing / corrupt) is refused with ArtifactError. The file
    itself is checked, never this process's memory of it: its sha256 against the one recorded at
    training, and a load that reads the file when no sha256 was recorded."""
    pruned = _pruned_message(version)
    if pruned:
        raise ArtifactError(pruned)
    if _uncalibrated(version):  # over-confident probabilities: never the active set
        raise ArtifactError(
            f"{version.label} was trained without a calibration block (window "
            f"{version.train_from_season}-{version.train_until_season} too short): train a new version "
            "with `manage.py train_models`"
        )
    artifact_verify(version=version)
    ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    # On condition: prune_models marks a row before deleting its file, so a version it pruned after
    # the check above is not activated (the row lock orders the two updates).
    if not ModelVersion.objects.filter(pk=version.pk, artifact_pruned_at__isnull=True).update(is_active=True):
        raise ArtifactError(_pruned_message(ModelVersion.objects.get(pk=version.pk)) or "version is gone")
    if activated_by_id is not None:
        activated_by_id, note = _activated_by_resolve(user_id=activated_by_id, note=note)
    ModelActivation.objects.create(
        version=version,
        activated_at=timezone.now(),
        reason=reason,
        activated_by_id=activated_by_id,
        note=note,
    )
    version.is_active = True
    transaction.on_commit(lambda: models_changed.send(sender=ModelVersion, reason="activated"))
    return version


def _activated_by_resolve(*, user_id: int, note: str) -> tuple[int | None, str]:
    """(user id, note) for the activation log: the user who asked while the account exists, else
    nobody, the note naming the id. A queued job (the admin's retrain) carries the clicking user's
    id, and the account may be deleted before the job activates: the log's foreign key then failed
    the commit — after the fit, leaving its artifact on disk and no version, and the task's retry the
    same. The row is locked until the activation commits, so a deletion meanwhile waits and then
    fails on the log's foreign key (existing rows keep who activated what: PROTECT)."""
    from django.contrib.auth import get_user_model

    # FOR KEY SHARE would do (it blocks only the delete), but Django 5.2's select_for_update has no
    # such mode; FOR NO KEY UPDATE, the weakest it offers, also holds the user's own updates (last_login)
    # for the few statements until this transaction commits.
    if list(get_user_model().objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk")):
        return user_id, note
    gone = f"requested by deleted user #{user_id}"
    return None, f"{note}; {gone}" if note else gone


def _path(version: ModelVersion) -> Path:
    return Path(version.artifact_path)


def artifact_verify(*, version: ModelVersion) -> ModelBundle:
    """The version's artifact file as it is on disk now, or ArtifactError saying what is wrong with
    it: missing, changed since training (sha256 recorded then differs: truncated, replaced) or
    unreadable. A bundle this process loaded earlier is no evidence the file is still good."""
    path = _path(version)
    expected = (version.metrics or {}).get("artifact_sha256")
    if expected is not None and not artifact_intact(path, expected):
        state = (
            "missing"
            if not path.exists()
            else "corrupt or replaced (its sha256 differs from the one recorded at training)"
        )
        raise ArtifactError(
            f"model artifact {path} for {version.label} is {state}: "
            "train a new version with `manage.py train_models`"
        )
    # Hash matches: the file is the one trained, so a cached bundle of this very file will do
    # (bundle_load compares the file's signature); with no hash recorded, read the file itself.
    return bundle_load(path, label=version.label, fresh=expected is None)


def _pruned_message(version: ModelVersion) -> str:
    if version.artifact_pruned_at is None:
        return ""
    return (
        f"the artifact of {version.label} was pruned on {clock_display(clock=version.artifact_pruned_at)} "
        "(prune_models): train a new version with `manage.py train_models`"
    )


def model_bundle_load(*, version: ModelVersion | None = None) -> tuple[ModelVersion, ModelBundle]:
    """The active (or given) version's models; if its artifact is missing or corrupt, log the reason
    (once per unchanged file and process: bundle_load remembers failures) and fall back to an older
    version whose artifact loads: the one trained on the latest data (`trained_until_date`), the
    newest first among equals — not merely the newest registered, which may be a backfill model
    trained up to an earlier season for honest past predictions.

    Serving the active model (no `version` given), the versions registered after it come last, as
    a last resort in the same order: a staff roll-back to an older version must not silently jump
    to a newer one it deactivated, but any loadable model beats none (QA: the active artifact broke
    right after `make up`, the only good versions were a newer inactive one and a backfill model
    registered later, and the API answered 503). A given `version` (a backfill's, trained only on
    the seasons before its race) falls back only to versions trained on no later data
    (`trained_until_date` at most its own): an older-registered version may be trained on later
    races (the active one usually is), and a backfill must not learn from the race it predicts."""
    if version is None:
        _, candidates = model_serving_candidates()
    else:
        # Pruned versions have no file any more: never a fallback.
        others = (
            ModelVersion.objects.exclude(pk=version.pk)
            .filter(artifact_pruned_at__isnull=True)
            .order_by("-trained_until_date", "-created_at", "-id")
        )
        candidates = [version, *(v for v in others if v.trained_until_date <= version.trained_until_date)]
    return model_bundle_load_first(candidates=candidates)


def model_serving_candidates() -> tuple[ModelVersion | None, list[ModelVersion]]:
    """The active version (None when none is) and the versions serving tries, in `model_bundle_load`'s
    order: the active one, then the versions registered before it (trained on the latest data first),
    then as a last resort the ones registered after it; every unpruned version when none is active.
    One query (health's model check reports both the active version and the one that loads)."""
    # The active version even if pruned (it is tried first and fails); the others only unpruned.
    versions = list(
        ModelVersion.objects.filter(Q(is_active=True) | Q(artifact_pruned_at__isnull=True)).order_by(
            "-trained_until_date", "-created_at", "-id"
        )
    )
    active = next((v for v in versions if v.is_active), None)  # at most one (model_version_one_active)
    if active is None:
        return None, versions
    others = [v for v in versions if v.pk != active.pk]
    return active, [
        active,
        *(v for v in others if v.created_at <= active.created_at),
        *(v for v in others if v.created_at > active.created_at),
    ]


def model_bundle_load_first(*, candidates: list[ModelVersion]) -> tuple[ModelVersion, ModelBundle]:
    """The first of `candidates` whose artifact loads, with its models; ModelUnavailable (with every
    candidate's error) when none does. A failure is logged once per unchanged file and process."""
    errors = []
    for candidate in candidates:
        try:
            return candidate, bundle_load(_path(candidate), label=candidate.label)
        except ArtifactError as exc:
            if not exc.repeated:  # logged once per file and process: health polls land here often
                logger.error("model %s unusable, falling back: %s", candidate.label, exc)
            errors.append(str(exc))
    raise ModelUnavailable(errors)


def model_version_features_current(*, version: ModelVersion) -> bool:
    """Whether `version` was trained on this code's feature definitions (`FEATURES_FORMAT`); a
    version trained before the format was recorded was not."""
    return (version.params or {}).get("features_format") == FEATURES_FORMAT


def model_version_serving() -> ModelVersion | None:
    """The version predictions are made with now: the active one, or the fallback serving in its
    place (`model_bundle_load`); None when none loads. What health's model check reports as
    `serving` and models/performance as `serving_model`."""
    try:
        return model_bundle_load()[0]
    except ModelUnavailable:
        return None


def model_bundle_known_at(
    *, clock: datetime, frames: F1Frames | None = None
) -> tuple[ModelVersion, ModelBundle]:
    """The models for a prediction at a past `clock`: trained only on races run before it.

    The active model is trained on everything up to now, races after the clock included, so a
    prediction "as of" then would use what was learnt since (QA: `predict --race 2026_qatar
    --as-of 2026-06-01` used a model trained through 2026-06-14). Taken instead: the version trained
    on the latest data whose last training race (`trained_until_date`) is before the clock's day (UTC)
    and whose artifact loads — the active one first among equals; a race on the clock's own day is
    not counted as known, whatever its start. None → `model_version_for_season(season=<the clock's
    season>)`: one trained on the seasons before it (found, or trained and registered inactive).
    Never a fallback to a version trained since the clock."""
    day = clock.astimezone(UTC).date()
    eligible = ModelVersion.objects.filter(
        trained_until_date__lt=day, artifact_pruned_at__isnull=True
    ).order_by("-trained_until_date", "-is_active", "-created_at", "-id")
    errors = []
    for candidate in eligible:
        try:
            return candidate, bundle_load(_path(candidate), label=candidate.label)
        except ArtifactError as exc:
            if not exc.repeated:
                logger.error("model %s unusable for a clock of %s: %s", candidate.label, day, exc)
            errors.append(str(exc))
    version = model_version_for_season(season=day.year, frames=frames)
    try:
        return version, bundle_load(_path(version), label=version.label)
    except ArtifactError as exc:
        raise ModelUnavailable([*errors, str(exc)]) from exc


class NoModelAtClock(Exception):
    """No model version had been registered by a past clock: nothing can predict as of then without
    training one now, which a page request never does (`model_bundle_at`)."""


def model_versions_at(*, clock: datetime) -> list[ModelVersion]:
    """The versions registered (`created_at`) before `clock`, in the order the one serving then is
    looked for:

    1. the versions activated before the clock (the `ModelActivation` log, strictly before it), the
       latest such activation first: the one activated last before the clock was the active one
       then, a roll-back to an older version included, however often it was re-activated since;
    2. then the others — no activation logged (never activated, e.g. `train_models --no-activate`
       or a backfill model) or activated only since the clock — trained on the latest data first
       (`trained_until_date`, a backfill model trained only up to an earlier season last), then the
       newest registered: `train_models` activates each new version, so the newest of the latest
       data is the likeliest fallback.

    Pruned versions included (they existed then); a version fitted without a calibration block is
    not (`model_version_activate` refuses it: it never served). One query: each version's latest
    activation before the clock is a subquery on the log."""
    last_before = (
        ModelActivation.objects.filter(version=OuterRef("pk"), activated_at__lt=clock)
        .order_by("-activated_at", "-id")
        .values("activated_at")[:1]
    )
    versions = [
        version
        for version in ModelVersion.objects.filter(created_at__lt=clock)
        .annotate(activated_then=Subquery(last_before))
        .order_by("-trained_until_date", "-created_at", "-id")
        if not _uncalibrated(version)
    ]
    activated = sorted(
        (v for v in versions if v.activated_then is not None),
        key=lambda v: (v.activated_then, v.id),
        reverse=True,
    )
    known = {v.pk for v in activated}
    return [*activated, *(v for v in versions if v.pk not in known)]


def _uncalibrated(version: ModelVersion) -> bool:
    """Recorded as fitted without a calibration block (trained on too short a window before
    model_train refused those): over-confident probabilities, never activated."""
    metrics = version.metrics or {}
    return "calibration_from_season" in metrics and metrics["calibration_from_season"] is None


@dataclass(frozen=True)
class ServingAt:
    """The registry as of a past clock (`model_serving_at`): the version serving then, and the one
    a what-if (or championship simulation) as of then runs, which can differ.

    `versions`: `model_versions_at`'s order. `serving`: the first of them whose files had not been
    pruned by the clock — the version serving then, as the model page names it. `runnable`: the ones
    a what-if as of then tries, in the same order — files not pruned (now) and trained on this code's
    feature definitions (an older version's models expect other inputs than the ones built now).
    `skipped`: each other version's reason (pk → a sentence naming it)."""

    versions: list[ModelVersion]
    serving: ModelVersion | None
    runnable: list[ModelVersion]
    skipped: dict[int, str]

    @property
    def what_if(self) -> ModelVersion | None:
        """The version a what-if as of then runs, provided its file loads (not checked here)."""
        return self.runnable[0] if self.runnable else None

    @property
    def serving_skipped(self) -> str:
        """Why the version serving then is not the one a what-if runs ("" when it is)."""
        return "" if self.serving is None else self.skipped.get(self.serving.pk, "")


def model_serving_at(*, clock: datetime) -> ServingAt:
    """The model serving at a past `clock` and the one a what-if as of then runs (`ServingAt`): the
    one lookup behind the model page (`model_version_at`) and the what-if / championship
    (`model_bundle_at`), so the page can say which version the what-if uses when it is not the one
    serving then. No artifact loaded. One query."""
    versions = model_versions_at(clock=clock)
    skipped = {}
    for version in versions:
        if version.artifact_pruned_at is not None:
            skipped[version.pk] = (
                f"{version.label}'s files were pruned on {version.artifact_pruned_at:%Y-%m-%d} (prune_models)"
            )
        elif not model_version_features_current(version=version):
            skipped[version.pk] = (
                f"{version.label} was trained on older feature definitions than this code's "
                "(its models expect other inputs)"
            )
    return ServingAt(
        versions=versions,
        serving=next(
            (v for v in versions if v.artifact_pruned_at is None or v.artifact_pruned_at >= clock), None
        ),
        runnable=[v for v in versions if v.pk not in skipped],
        skipped=skipped,
    )


def model_version_at(*, clock: datetime) -> ModelVersion | None:
    """The version serving at a past `clock`, as a record (the model page and models/performance as
    of then): `model_serving_at(clock=).serving`. A version pruned since the clock was serving then
    and is named (its `artifact_pruned_at` says it is gone now: a what-if as of the clock,
    `model_bundle_at`, runs `model_serving_at(clock=).what_if`). None when none had been registered
    by then. One query."""
    return model_serving_at(clock=clock).serving


def model_bundle_at(*, clock: datetime) -> tuple[ModelVersion, ModelBundle]:
    """The models serving at a past `clock` (a what-if as of then): the first of
    `model_serving_at(clock=).runnable` whose artifact loads — never a version registered since (it
    may have learnt from races after the clock), never one pruned or trained on older feature
    definitions, and never one trained now. NoModelAtClock when none had been registered by then;
    ModelUnavailable (each version's reason) when some had but none loads any more (pruned, missing).

    Unlike `model_bundle_known_at` (`predict --as-of`, which trains a model on the seasons before
    the clock when none fits), this takes only what existed at the clock: a page request trains
    nothing."""
    at = model_serving_at(clock=clock)
    if not at.versions:
        raise NoModelAtClock(f"no prediction model had been trained by {clock_display(clock=clock)}")
    try:
        return model_bundle_load_first(candidates=at.runnable)
    except ModelUnavailable as exc:
        raise ModelUnavailable([*at.skipped.values(), *exc.reasons]) from None


def model_version_for_season(*, season: int, frames: F1Frames | None = None) -> ModelVersion:
    """A model trained only on seasons before `season` (for honest backfilled predictions); trained
    and registered (inactive) when none exists (or only pruned ones do)."""
    existing = (
        ModelVersion.objects.filter(train_until_season=season - 1, artifact_pruned_at__isnull=True)
        .order_by("-is_active", "-created_at")
        .first()
    )
    if existing is not None:
        try:
            bundle_load(_path(existing), label=existing.label)
            return existing
        except ArtifactError as exc:
            if not exc.repeated:
                logger.error("backfill model %s unusable, retraining: %s", existing.label, exc)
    return model_train(until_season=season - 1, activate=False, frames=frames)
