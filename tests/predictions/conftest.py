"""Prediction-engine fixtures: real-data frames and one small trained model set per test session.

The models are trained once (2023-2024, both stages) on the Ergast dump the shared conftest loads,
saved as a joblib artifact under a session temp dir; `active_model` registers it inside each test's
transaction, so tests never retrain unless that is what they test.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import DATA_DIR

WEATHER_CSV = DATA_DIR / "openf1" / "weather.csv"
TEST_WINDOW = (2023, 2024)


@pytest.fixture(scope="session")
def real_frames(django_db_setup, django_db_blocker):
    """F1Frames of the whole dump plus observed weather (built from the OpenF1 CSV), read via the ORM."""
    from django.db import transaction

    from predictions.features.frames import f1_frames_load
    from tests.predictions.weather_csv import race_weather_load_csv

    with django_db_blocker.unblock(), transaction.atomic():
        race_weather_load_csv(WEATHER_CSV, seasons=range(2018, 2027))
        frames = f1_frames_load(since_season=1996)
        transaction.set_rollback(True)  # leave the shared test database as the dump left it
    return frames


@pytest.fixture(scope="session")
def real_features(real_frames):
    from predictions.features.compute import build_features

    return build_features(real_frames)


@pytest.fixture(scope="session")
def trained_bundle(real_features, tmp_path_factory):
    from predictions.ml.artifacts import bundle_save
    from predictions.services.training import models_fit

    label = "vtest-2023-2024"
    bundle = models_fit(
        real_features, from_season=TEST_WINDOW[0], until_season=TEST_WINDOW[1], label=label, n_jobs=2
    )
    path = tmp_path_factory.mktemp("models") / f"{label}.joblib"
    bundle_save(bundle, path)
    return bundle, path


@pytest.fixture
def active_model(ergast_data, trained_bundle):
    """The session's trained models registered as the active ModelVersion (in this test's transaction)."""
    from predictions.models import ModelVersion

    bundle, path = trained_bundle
    return ModelVersion.objects.create(
        label=bundle.label,
        train_from_season=TEST_WINDOW[0],
        train_until_season=TEST_WINDOW[1],
        trained_until_date=date(2024, 12, 8),
        rows=1,
        features={},
        params={},
        data_fingerprint="test",
        artifact_path=str(path),
        is_active=True,
    )


@pytest.fixture
def race_weather(ergast_data):
    """Observed race weather for 2018-2026 in this test's transaction."""
    from tests.predictions.weather_csv import race_weather_load_csv

    return race_weather_load_csv(WEATHER_CSV, seasons=range(2018, 2027))


@pytest.fixture(scope="session")
def second_bundle(trained_bundle, tmp_path_factory):
    """The session's models saved again under another label: a second model version for tests of
    what a new version changes, without training one."""
    import dataclasses

    from predictions.ml.artifacts import bundle_save

    bundle, _ = trained_bundle
    copy = dataclasses.replace(bundle, label=f"{bundle.label}-b")
    path = tmp_path_factory.mktemp("models-b") / f"{copy.label}.joblib"
    bundle_save(copy, path)
    return copy, path


@pytest.fixture
def second_model(active_model, second_bundle):
    """A second ModelVersion (same window as `active_model`, registered after it, inactive): the
    test activates it when it needs a newer active model."""
    from predictions.models import ModelVersion

    bundle, path = second_bundle
    return ModelVersion.objects.create(
        label=bundle.label,
        train_from_season=active_model.train_from_season,
        train_until_season=active_model.train_until_season,
        trained_until_date=active_model.trained_until_date,
        rows=1,
        features={},
        params={},
        data_fingerprint="test",
        artifact_path=str(path),
    )
