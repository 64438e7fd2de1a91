"""A small trained model for tests that exercise the engine's consumers (API, pages), not its quality."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def small_trained_model(
    django_db_blocker, storage_dir, *, from_season: int, until_season: int, frames_since: int
):
    """Train on a short, recent window into `storage_dir`; afterwards remove every model row and
    prediction so later test modules see an untrained system again."""
    from django.conf import settings

    from predictions.features.frames import f1_frames_load
    from predictions.models import ModelVersion, Prediction, RaceAccuracy
    from predictions.services import model_train

    storage = settings.MODEL_STORAGE_PATH
    settings.MODEL_STORAGE_PATH = storage_dir
    try:
        with django_db_blocker.unblock():
            version = model_train(
                from_season=from_season,
                until_season=until_season,
                frames=f1_frames_load(since_season=frames_since),
            )
        yield version
    finally:
        with django_db_blocker.unblock():
            RaceAccuracy.objects.all().delete()
            Prediction.objects.all().delete()
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
