"""GET predictions/race/{race_id}?as_of= and predictions/accuracy/{race_id}?as_of=: the sets and the
accuracy as known at a clock, by the race page's rules.

A frontend demo at a past clock got a race's predictions and accuracy as stored now: sets made
after the clock and accuracy scored after it. Real data: 2025 round 10, the Canadian Grand Prix
(qualifying 14 June 20:00, race 15 June 18:00 UTC, results in the dump). Prediction sets and accuracy
records are stored with factories at fixed times (no model needed); expected orders come from the
dump's results.csv read with plain Python, never from the code under test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ingestion.models import Race, RaceResult
from predictions.models import Prediction, RaceAccuracy
from tests.drf_support import clean_cache, csv_race, csv_rows  # noqa: F401 - clean_cache: autouse fixture
from tests.factories import ModelVersionFactory, PredictionFactory, RaceAccuracyFactory

pytestmark = pytest.mark.django_db

PREDICTIONS = "/api/v1/predictions/race/2025_canada"
ACCURACY = "/api/v1/predictions/accuracy/2025_canada"
EARLY_MADE = datetime(2025, 6, 12, 9, tzinfo=UTC)  # Thursday before the weekend
LATE_MADE = datetime(2025, 6, 13, 9, tzinfo=UTC)  # Friday morning, before FP1
BETWEEN = "2025-06-12T12:00"  # after the early set, before the late one


def _grid_refs() -> list[str]:
    """results.csv: the Canadian GP's drivers by grid slot (0 = pit lane last), then finishing order."""
    race = csv_race(2025, 10)
    assert (race["name"], race["date"], race["time"]) == ("Canadian Grand Prix", "2025-06-15", "18:00:00")
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    rows = [r for r in csv_rows("results") if r["raceId"] == race["raceId"]]
    rows.sort(key=lambda r: (int(r["grid"]) or 99, int(r["positionOrder"])))
    return [refs[r["driverId"]] for r in rows]


def _store(race: Race, refs: list[str], *, made: datetime, stage: str = "pre") -> uuid.UUID:
    """A set for `race` predicting `refs` in that order, made at `made`."""
    entries = {e.driver.ref: e for e in RaceResult.objects.filter(race=race).select_related("driver", "team")}
    version, batch = ModelVersionFactory(), uuid.uuid4()
    for i, ref in enumerate(refs, start=1):
        PredictionFactory(
            batch=batch, race=race, driver=entries[ref].driver, team=entries[ref].team, stage=stage,
            predicted_position=i, model_version=version,
        )  # fmt: skip
    Prediction.objects.filter(batch=batch).update(created_at=made, as_of=made)
    return batch


def _order(stage: dict) -> list[str]:
    return [p["driver"]["id"] for p in stage["predictions"]]


@pytest.fixture
def canada_sets(ergast_data):
    """Two pre-race sets of the Canadian GP either side of BETWEEN: the grid order (early) and the
    grid reversed (late)."""
    race = Race.objects.get(season_id=2025, round=10)
    grid = _grid_refs()
    early = _store(race, grid, made=EARLY_MADE)
    late = _store(race, grid[::-1], made=LATE_MADE)
    return {"race": race, "grid": grid, "early": early, "late": late}


# --- predictions/race/{race_id}?as_of= ----------------------------------------------------------------
def test_at_a_clock_only_the_set_made_by_then(api, canada_sets, django_assert_max_num_queries):
    grid = canada_sets["grid"]
    with django_assert_max_num_queries(5):  # race, its results, the sets, the records, the rows
        response = api.get(PREDICTIONS, {"as_of": BETWEEN})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["race"]["id"] == "2025_canada" and body["race"]["status"] == "scheduled"
    (stage,) = body["stages"]
    assert stage["stage"] == "pre" and stage["created_at"] == "2025-06-12T09:00:00Z"
    assert _order(stage) == grid and len(grid) == 20

    # today: the race is completed and the newer pre-race set is the one shown
    today = api.get(PREDICTIONS).json()
    assert today["race"]["status"] == "completed"
    (now,) = today["stages"]
    assert now["created_at"] == "2025-06-13T09:00:00Z" and _order(now) == grid[::-1]
    # after the later set was made, it is the one shown, as on the race page
    friday = api.get(PREDICTIONS, {"as_of": "2025-06-13T12:00"}).json()
    assert _order(friday["stages"][0]) == grid[::-1]


def test_before_any_set_the_race_answers_as_one_without_predictions(api, canada_sets):
    body = api.get(PREDICTIONS, {"as_of": "2025-06-12T08:59"}).json()
    assert body["stages"] == [] and body["race"]["status"] == "scheduled"
    # the shape of a race with no set at all (the 2025 Monaco GP has none)
    none = api.get("/api/v1/predictions/race/2025_monaco").json()
    assert none["stages"] == [] and set(none) == set(body) and set(none["race"]) == set(body["race"])


def test_a_race_completed_by_the_clock_shows_the_set_scored_by_then(api, canada_sets):
    """The race page's rule: after the race the set its accuracy record scored, once scored."""
    record = RaceAccuracyFactory(race=canada_sets["race"], stage="pre", batch=canada_sets["early"])
    RaceAccuracy.objects.filter(pk=record.pk).update(scored_at=datetime(2025, 6, 16, 6, tzinfo=UTC))
    grid = canada_sets["grid"]
    after_race = api.get(PREDICTIONS, {"as_of": "2025-06-15T21:30"}).json()
    assert after_race["race"]["status"] == "completed"
    assert _order(after_race["stages"][0]) == grid[::-1]  # not scored yet: the newest pre-race set
    scored = api.get(PREDICTIONS, {"as_of": "2025-06-16T12:00"}).json()
    assert _order(scored["stages"][0]) == grid  # the scored one


# --- predictions/accuracy/{race_id}?as_of= ------------------------------------------------------------
@pytest.fixture
def canada_scored(canada_sets):
    """Two pre-race accuracy records: the early set scored on 16 June (MAE 3.25), the late one on
    1 July (MAE 2.5). One record per set (a rescoring updates its set's record), so a later scoring
    of the stage is another set's."""
    race = canada_sets["race"]
    for batch, scored_at, mae in (
        (canada_sets["early"], datetime(2025, 6, 16, 6, tzinfo=UTC), 3.25),
        (canada_sets["late"], datetime(2025, 7, 1, 6, tzinfo=UTC), 2.5),
    ):
        record = RaceAccuracyFactory(race=race, stage="pre", batch=batch, mae=mae)
        RaceAccuracy.objects.filter(pk=record.pk).update(scored_at=scored_at)
    return canada_sets


def test_accuracy_only_once_scored_by_the_clock(api, canada_scored, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # race, its results, the records with their version
        response = api.get(ACCURACY, {"as_of": "2025-06-20"})
    assert response.status_code == 200, response.content
    (stage,) = response.json()["stages"]
    assert stage["stage"] == "pre" and stage["mae"] == 3.25 and stage["scored_at"] == "2025-06-16T06:00:00Z"
    (now,) = api.get(ACCURACY).json()["stages"]
    assert now["mae"] == 2.5  # today the latest scoring


def test_before_its_scoring_the_race_answers_as_an_unscored_one(api, canada_scored):
    unscored = api.get("/api/v1/predictions/accuracy/2025_monaco")  # results, nothing scored
    assert unscored.status_code == 404
    after_race = api.get(ACCURACY, {"as_of": "2025-06-15T21:30"})
    assert after_race.status_code == 404, after_race.content
    assert after_race.json()["error"]["code"] == unscored.json()["error"]["code"] == "not_found"
    assert "have been scored" in after_race.json()["error"]["message"]
    assert "have been scored" in unscored.json()["error"]["message"]


def test_before_the_race_the_accuracy_answers_as_a_race_without_results(api, canada_scored):
    before = api.get(ACCURACY, {"as_of": "2025-06-15T17:00"})
    assert before.status_code == 404, before.content
    assert "no results yet" in before.json()["error"]["message"]


# --- errors (the 400 / 404 every clock endpoint shares: tests/f1site/test_api_clock.py), cache ---------
@pytest.mark.parametrize("route", ["predictions/race", "predictions/accuracy"])
def test_the_race_id_is_checked_first_then_the_clock_then_the_race(api, ergast_data, route):
    malformed = api.get(f"/api/v1/{route}/2025-CANADA", {"as_of": "junk"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "bad_request"
    junk = api.get(f"/api/v1/{route}/2025_atlantis", {"as_of": "junk"})
    assert junk.status_code == 400 and list(junk.json()["error"]["details"]) == ["as_of"]
    assert api.get(f"/api/v1/{route}/2025_atlantis", {"as_of": BETWEEN}).status_code == 404


def test_each_clock_has_its_own_cache_entry_and_a_new_set_retires_them(
    api, canada_scored, django_assert_max_num_queries
):
    from predictions.signals import predictions_changed

    between = api.get(PREDICTIONS, {"as_of": BETWEEN}).json()
    friday = api.get(PREDICTIONS, {"as_of": "2025-06-13T12:00"}).json()
    today = api.get(PREDICTIONS).json()
    scored = api.get(ACCURACY, {"as_of": "2025-06-20"}).json()
    assert _order(between["stages"][0]) != _order(friday["stages"][0])
    with django_assert_max_num_queries(0):  # each its own warm entry
        assert api.get(PREDICTIONS, {"as_of": BETWEEN}).json() == between
        assert api.get(PREDICTIONS, {"as_of": "2025-06-12T14:00+02:00"}).json() == between  # same moment
        assert api.get(PREDICTIONS, {"as_of": "2025-06-13T12:00"}).json() == friday
        assert api.get(PREDICTIONS).json() == today
        assert api.get(ACCURACY, {"as_of": "2025-06-20"}).json() == scored

    # a corrected early set (as a re-run would store) and a rescoring: cached until the signal is sent
    race = canada_scored["race"]
    Prediction.objects.filter(batch=canada_scored["early"]).update(win_probability=0.99)
    RaceAccuracy.objects.filter(race=race, mae=3.25).update(mae=3.0)
    assert api.get(PREDICTIONS, {"as_of": BETWEEN}).json() == between
    predictions_changed.send(sender=Prediction, race_ids=[race.pk])  # as storing and scoring do
    fresh = api.get(PREDICTIONS, {"as_of": BETWEEN}).json()
    assert {p["win_probability"] for p in fresh["stages"][0]["predictions"]} == {0.99}
    assert api.get(ACCURACY, {"as_of": "2025-06-20"}).json()["stages"][0]["mae"] == 3.0
