"""factory_boy factories shared by the test suite (append-only for everyone but its owner)."""

from __future__ import annotations

import uuid
from datetime import date

import factory
from django.utils import timezone

from predictions.models import ModelVersion, Prediction, RaceAccuracy


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    label = factory.Sequence(lambda n: f"v-test-{n}")
    train_from_season = 2018
    train_until_season = 2025
    trained_until_date = date(2025, 12, 7)
    rows = 3000
    features = factory.LazyFunction(lambda: ["grid", "driver_form"])
    params = factory.LazyFunction(dict)
    data_fingerprint = "test"
    artifact_path = "/nonexistent/model.joblib"
    is_active = False


class PredictionFactory(factory.django.DjangoModelFactory):
    """One driver's prediction; pass the same `batch` for every row of one prediction set."""

    class Meta:
        model = Prediction

    batch = factory.LazyFunction(uuid.uuid4)
    stage = "pre"
    predicted_position = 1
    expected_position = factory.LazyAttribute(lambda o: float(o.predicted_position))
    win_probability = 0.1
    podium_probability = 0.3
    points_probability = 0.6
    dnf_probability = 0.1
    confidence = 0.8
    low_confidence = False
    explanation = factory.LazyFunction(
        lambda: [
            {"feature": "grid", "value": 1.0, "contribution": -2.5},
            {"feature": "driver_form", "value": 18.0, "contribution": 0.75},
        ]
    )
    model_version = factory.SubFactory(ModelVersionFactory)
    as_of = factory.LazyFunction(timezone.now)


class RaceAccuracyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RaceAccuracy

    stage = "post"
    batch = factory.LazyFunction(uuid.uuid4)
    drivers = 20
    mae = 2.5
    mae_finishers = 2.1
    spearman = 0.7
    winner_hit = True
    podium_overlap = 2 / 3
    points_accuracy = 0.8
    brier_win = 0.04
    brier_podium = 0.1
    brier_points = 0.2
