"""A small trained model for tests that exercise the engine's consumers (API, pages), not its quality."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest

# The 2025 clock the API's and the pages' clock tests share, and model versions either side of it.
BEFORE_CANADA = "2025-06-15T17:00"  # an hour before the 2025 Canadian GP (round 10)
AFTER_CANADA_RESULTS = "2025-06-15T21:30"  # start + 3 h 30: its results known (start + 3 h)
EARLIER_REGISTERED = datetime(2025, 1, 10, tzinfo=UTC)  # after the 2024 season it is trained on
LATER_REGISTERED = datetime(2025, 7, 1, tzinfo=UTC)  # after the clock: active now


@contextlib.contextmanager
def small_trained_model(
    django_db_blocker, storage_dir, *, from_season: int, until_season: int, frames_since: int
):
    """Train on a short, recent window into `storage_dir`; afterwards remove every model row and
    prediction so later test modules see an untrained system again."""
    from django.conf import settings

    from predictions.features.frames import f1_frames_load
    from predictions.models import ModelActivation, ModelVersion, Prediction, RaceAccuracy
    from predictions.services import model_train

    storage = settings.MODEL_STORAGE_PATH
    settings.MODEL_STORAGE_PATH = storage_dir
    try:
        with django_db_blocker.unblock():
            version = model_train(
                from_season=from_season,
                until_season=until_season,
                frames=f1_frames_load(since_season=frames_since),
                reason="train_models",
            )
        yield version
    finally:
        with django_db_blocker.unblock():
            RaceAccuracy.objects.all().delete()
            Prediction.objects.all().delete()
            ModelActivation.objects.all().delete()  # the log PROTECTs its versions
            ModelVersion.objects.all().delete()
        settings.MODEL_STORAGE_PATH = storage


def module_trained_model(*, from_season: int, until_season: int, frames_since: int):
    """A module-scoped `trained_model` fixture: one small model for the module (a short, recent
    window keeps the fit fast; the consumers, not the model's quality, are under test), removed again
    so other modules see no model. Use as `trained_model = module_trained_model(...)`."""

    @pytest.fixture(scope="module")
    def trained_model(django_db_setup, django_db_blocker, tmp_path_factory):
        with small_trained_model(
            django_db_blocker,
            tmp_path_factory.mktemp("models"),
            from_season=from_season,
            until_season=until_season,
            frames_since=frames_since,
        ) as version:
            yield version

    return trained_model


# --- versions and backtests registered at given moments (the model serving at a clock) ------------


def version_registered_at(version, when, **fields):
    """`version` as if registered (`created_at`) at `when`, with any other `fields` set; re-read."""
    from predictions.models import ModelVersion

    ModelVersion.objects.filter(pk=version.pk).update(created_at=when, **fields)
    return ModelVersion.objects.get(pk=version.pk)


def version_activated_at(version, *moments, reason="train_models"):
    """`version` logged as activated at each of `moments` (ModelActivation rows, as
    `model_version_activate` writes them); returns it."""
    from predictions.models import ModelActivation

    for when in moments:
        ModelActivation.objects.create(version=version, activated_at=when, reason=reason)
    return version


def versions_around_a_clock(trained_model, tmp_path, *, earlier_at, later_at):
    """The module's trained version registered and activated at `earlier_at` (inactive now) and the
    same models saved under another label, registered and activated at `later_at`, active now: a
    page or endpoint as of a clock between the two must use the first, today's the second. Returns
    (earlier, later)."""
    import dataclasses
    from pathlib import Path

    from predictions.ml.artifacts import bundle_load, bundle_save
    from predictions.models import ModelVersion

    label = f"{trained_model.label}-later"
    path = tmp_path / f"{label}.joblib"
    bundle = bundle_load(Path(trained_model.artifact_path), label=trained_model.label)
    bundle_save(dataclasses.replace(bundle, label=label), path)
    # Each activated when registered, as `train_models` does.
    earlier = version_activated_at(
        version_registered_at(trained_model, earlier_at, is_active=False), earlier_at
    )
    later = ModelVersion.objects.create(
        **{
            f.name: getattr(trained_model, f.name)
            for f in ModelVersion._meta.concrete_fields
            if f.name not in ("id", "label", "created_at", "is_active", "artifact_path", "metrics")
        },
        label=label,
        artifact_path=str(path),
        is_active=True,
    )
    return earlier, version_activated_at(version_registered_at(later, later_at), later_at)


def backtest_run_at(created, finished, *, mae: float):
    """A succeeded after-qualifying backtest over 2022-2025 created at `created` and finished at
    `finished` (None: still running), with the model's MAE `mae` and a grid baseline's."""
    from predictions.models import BacktestRun

    run = BacktestRun.objects.create(
        status="succeeded",
        stage="post",
        seasons=[2022, 2023, 2024, 2025],
        races=90,
        finished_at=finished,
        results={"overall": {"model": {"races": 90, "mae": mae}, "grid": {"races": 90, "mae": 9.99}}},
    )
    BacktestRun.objects.filter(pk=run.pk).update(created_at=created)
    return run
