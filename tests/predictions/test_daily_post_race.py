"""The daily job catches up on the post-race step an interrupted run left undone, with the real
prediction engine: results committed without their post-race step (what a run stopped by a source
503 on a later round, a killed worker or a restart leaves) get it from the next run, with one retrain
however many races were pending."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from ingestion.models import Race, RaceResult, RaceWeather
from ingestion.services.jobs import job_daily_results, job_run_execute
from predictions.models import ModelVersion, Prediction, RaceAccuracy

pytestmark = pytest.mark.django_db


def _interrupted_state(active_model, *, pending: int) -> tuple[list[Race], datetime]:
    """2026 so far: the last `pending` completed races have results but no post-race step, the
    earlier ones were processed on their day. The test model stands in for the 'trained on seasons
    before 2026' one the honest backfill asks for (so no test trains a model)."""
    ModelVersion.objects.filter(pk=active_model.pk).update(train_until_season=2025)
    done = list(Race.objects.filter(season_id=2026, results__isnull=False).distinct().order_by("round"))
    left = done[-pending:]
    for race in done[:-pending]:
        RaceAccuracy.objects.create(
            race=race, stage="pre", batch=uuid.uuid4(), drivers=20, mae=1.0, winner_hit=False,
            podium_overlap=0.0, points_accuracy=0.0, brier_win=0.0, brier_podium=0.0, brier_points=0.0,
        )  # fmt: skip
    morning = datetime.combine(left[-1].date + timedelta(days=2), time(6), tzinfo=UTC)
    return left, morning


def test_a_race_left_without_its_post_race_step_gets_it_from_the_next_run(active_model, mirror, settings):
    settings.AUTO_RETRAIN_ENABLED = False
    (race,), morning = _interrupted_state(active_model, pending=1)
    assert not RaceAccuracy.objects.filter(race=race).exists()

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    assert run.status == "succeeded", run.error
    assert set(RaceAccuracy.objects.filter(race=race).values_list("stage", flat=True)) == {"pre", "post"}
    assert Prediction.objects.filter(race=race, backfilled=True).exists()  # no stored one: backfilled
    assert RaceWeather.objects.filter(race=race).exists(), run.counts["weather_observed"]
    assert run.counts["post_race"]["refreshed"]
    assert run.counts["post_race_pending"] == [race.slug]

    # Done: the next run leaves it alone.
    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=morning + timedelta(days=1))
    )
    assert run.status == "succeeded" and run.counts["post_race"] == {}


@pytest.mark.parametrize("how", ["left pending", "completed in this run"])
def test_several_races_are_scored_then_retrained_once(how, active_model, mirror, settings, monkeypatch):
    settings.AUTO_RETRAIN_ENABLED = True
    trained = []

    def model_train(**kwargs):  # a real fit is the training tests' business; count the retrains
        trained.append(kwargs)
        return ModelVersion.objects.create(
            label=f"vtest-retrain-{len(trained)}", train_from_season=2023, train_until_season=2026,
            trained_until_date=active_model.trained_until_date, rows=1, data_fingerprint="x",
            artifact_path=active_model.artifact_path,
        )  # fmt: skip

    monkeypatch.setattr("predictions.services.training.model_train", model_train)
    races, morning = _interrupted_state(active_model, pending=2)
    if how == "completed in this run":
        RaceResult.objects.filter(race__in=races).delete()  # both classifications arrive in this run
    versions = ModelVersion.objects.count()

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    assert run.status == "succeeded", run.error
    assert len(trained) == 1, trained
    for race in races:
        assert RaceAccuracy.objects.filter(race=race).exists(), race.slug
    assert ModelVersion.objects.count() == versions + 1 and len(trained) == 1
    refreshed = run.counts["post_race"]["refreshed"]
    assert refreshed  # upcoming races re-predicted once, not once per race
    for slug in refreshed:
        made = Prediction.objects.filter(race__slug=slug)
        assert made.values("batch").distinct().count() == made.values("stage").distinct().count()
