"""A completed race: no new live prediction through the API (409 before anything is queued), and
its current set is the one its page shows — the scored one, not a newer set made after the race."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from ingestion.models import JobRun, Race, RaceResult
from predictions.models import Prediction
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles
from tests.factories import ModelVersionFactory, PredictionFactory, RaceAccuracyFactory

pytestmark = pytest.mark.django_db


def _set(race: Race, *, backfilled: bool) -> uuid.UUID:
    batch, version = uuid.uuid4(), ModelVersionFactory()
    entrants = RaceResult.objects.filter(race=race, shared_car_index=0).order_by("grid")
    for pos, entry in enumerate(entrants, start=1):
        PredictionFactory(
            batch=batch, race=race, driver_id=entry.driver_id, team_id=entry.team_id, stage="post",
            predicted_position=pos, model_version=version, backfilled=backfilled, as_of=timezone.now(),
        )  # fmt: skip
    return batch


def test_a_completed_race_is_refused_and_serves_its_scored_set(api, staff_api, ergast_data):
    """QA: staff `POST predictions/race/2026_canada {"stage": "post"}` answered 201 and stored a
    post-race set, which `GET predictions/race/2026_canada` then served while the race page showed
    the scored backfill."""
    canada = Race.objects.get(slug="2026_canada")
    scored = _set(canada, backfilled=True)
    RaceAccuracyFactory(race=canada, stage="post", batch=scored, backfilled=True)
    _set(canada, backfilled=False)  # made after the race (as the 201 above did), the newest

    response = staff_api.post("/api/v1/predictions/race/2026_canada", {"stage": "post"}, format="json")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "cannot_predict" and "it has been run" in error["message"]
    assert error["details"] == {"reason": "it has been run (its results are in)"}  # was {} (QA)
    assert not JobRun.objects.filter(job__startswith="predictions_regenerate:").exists()
    assert Prediction.objects.filter(race=canada).values("batch").distinct().count() == 2

    (stage,) = api.get("/api/v1/predictions/race/2026_canada").json()["stages"]
    first = Prediction.objects.get(batch=scored, predicted_position=1)
    assert stage["backfilled"] is True and stage["clock"] is None
    assert stage["predictions"][0]["driver"]["id"] == first.driver.ref
    assert [p["predicted_position"] for p in stage["predictions"]] == list(
        range(1, len(stage["predictions"]) + 1)
    )
