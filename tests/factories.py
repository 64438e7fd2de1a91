"""factory_boy factories shared by the test suite (append-only for everyone but its owner)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import factory
from django.utils import timezone

from ingestion.models import (
    Circuit,
    CircuitType,
    Driver,
    PracticeResult,
    QualifyingResult,
    Race,
    RaceResult,
    Season,
    Status,
    Team,
)
from predictions.models import ModelVersion, Prediction, RaceAccuracy

# --- F1 data (ingestion) ----------------------------------------------------------------------
# The test database already holds the real 1950-2026 dump (tests/conftest.py), so these factories
# use values that cannot collide with it: seasons from 2101, refs prefixed "test_", no ergast ids.


class SeasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Season
        django_get_or_create = ("year",)

    year = factory.Sequence(lambda n: 2101 + n)
    url = ""


class CircuitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Circuit

    ref = factory.Sequence(lambda n: f"test_circuit_{n}")
    name = factory.Sequence(lambda n: f"Test Circuit {n}")
    locality = "Testville"
    country = factory.Sequence(lambda n: f"Testland {n}")
    latitude = 45.0
    longitude = 9.0
    circuit_type = CircuitType.PERMANENT
    length_km = 5.0


class DriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Driver

    ref = factory.Sequence(lambda n: f"test_driver_{n}")
    code = factory.Sequence(lambda n: f"T{n % 100:02d}")
    given_name = "Test"
    family_name = factory.Sequence(lambda n: f"Driver{n}")
    date_of_birth = date(2000, 1, 1)
    nationality = "Testish"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    ref = factory.Sequence(lambda n: f"test_team_{n}")
    name = factory.Sequence(lambda n: f"Test Team {n}")
    nationality = "Testish"


class StatusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Status
        django_get_or_create = ("status",)

    status = "Finished"


class RaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Race

    season = factory.SubFactory(SeasonFactory)
    round = factory.Sequence(lambda n: n % 30 + 1)
    name = factory.Sequence(lambda n: f"Test Grand Prix {n}")
    circuit = factory.SubFactory(CircuitFactory)
    slug = factory.LazyAttribute(lambda o: f"{o.season.year}_test_{o.round}")
    date = factory.LazyAttribute(lambda o: date(o.season.year, 3, 1 + o.round % 28))
    start = factory.LazyAttribute(lambda o: datetime(o.date.year, o.date.month, o.date.day, 14, tzinfo=UTC))


class RaceResultFactory(factory.django.DjangoModelFactory):
    """Pass `race` and a distinct `position_order` per driver for a coherent classification."""

    class Meta:
        model = RaceResult

    race = factory.SubFactory(RaceFactory)
    driver = factory.SubFactory(DriverFactory)
    team = factory.SubFactory(TeamFactory)
    number = factory.Sequence(lambda n: n % 99 + 1)
    grid = factory.LazyAttribute(lambda o: o.position_order)
    position_order = factory.Sequence(lambda n: n + 1)
    position = factory.LazyAttribute(lambda o: o.position_order)
    position_text = factory.LazyAttribute(lambda o: str(o.position_order))
    points = 0
    laps = 57
    status = factory.SubFactory(StatusFactory)


class QualifyingResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QualifyingResult

    race = factory.SubFactory(RaceFactory)
    driver = factory.SubFactory(DriverFactory)
    team = factory.SubFactory(TeamFactory)
    number = factory.Sequence(lambda n: n % 99 + 1)
    position = factory.Sequence(lambda n: n + 1)
    q1 = "1:30.000"
    q1_ms = 90000


# --- predictions ------------------------------------------------------------------------------


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


class PracticeResultFactory(factory.django.DjangoModelFactory):
    """One driver's free-practice classification; pass `race`, `session` ("FP1"/"FP2"/"FP3"),
    `driver` and `team`."""

    class Meta:
        model = PracticeResult

    race = factory.SubFactory(RaceFactory)
    session = "FP1"
    driver = factory.SubFactory(DriverFactory)
    team = factory.SubFactory(TeamFactory)
    number = factory.Sequence(lambda n: n % 99 + 1)
    position = factory.Sequence(lambda n: n % 30 + 1)
    milliseconds = 90000
    laps = 25
