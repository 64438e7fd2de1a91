"""The daily job catches up on the post-race step an interrupted run left undone, with the real
prediction engine: results committed without their post-race step (what a run stopped by a source
503 on a later round, a killed worker or a restart leaves) get it from the next run, with one retrain
however many races were pending."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from ingestion.models import JobRun, Race, RaceResult, RaceWeather
from ingestion.services.jobs import job_daily_results, job_run_execute
from predictions.models import ModelActivation, ModelVersion, Prediction, RaceAccuracy

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


def test_a_race_left_without_its_post_race_step_gets_it_from_the_next_run(
    active_model, mirror, settings, time_machine
):
    settings.AUTO_RETRAIN_ENABLED = False
    (race,), morning = _interrupted_state(active_model, pending=1)
    time_machine.move_to(morning, tick=True)  # the refresh predicts 'now': then, not today
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
def test_several_races_are_scored_then_retrained_once(
    how, active_model, mirror, settings, monkeypatch, time_machine
):
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
    time_machine.move_to(morning, tick=True)  # the refresh predicts 'now': then, not today
    if how == "completed in this run":
        RaceResult.objects.filter(race__in=races).delete()  # both classifications arrive in this run
    versions = ModelVersion.objects.count()

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    assert run.status == "succeeded", run.error
    assert len(trained) == 1, trained
    assert trained[0]["reason"] == "post_race_retrain"
    assert trained[0]["note"].startswith("after ") and all(r.slug in trained[0]["note"] for r in races)
    for race in races:
        assert RaceAccuracy.objects.filter(race=race).exists(), race.slug
    assert ModelVersion.objects.count() == versions + 1 and len(trained) == 1
    refreshed = run.counts["post_race"]["refreshed"]
    assert refreshed  # upcoming races re-predicted once, not once per race
    for slug in refreshed:
        made = Prediction.objects.filter(race__slug=slug)
        assert made.values("batch").distinct().count() == made.values("stage").distinct().count()


# --- a step stopped after scoring: its retrain / refresh are caught up by the next daily run --------


def _latest_scored_race() -> Race:
    return Race.objects.filter(results__isnull=False).distinct().order_by("-date").first()


def _counting_retrain(monkeypatch, version: ModelVersion) -> list:
    """model_train standing in for a real fit (the training tests' business): `version` becomes the
    active model, trained through the latest race with results, as a real retrain's would be."""
    from predictions.services import model_version_activate

    trained = []

    def model_train(**kwargs):
        trained.append(kwargs)
        ModelVersion.objects.filter(pk=version.pk).update(trained_until_date=_latest_scored_race().date)
        return model_version_activate(
            version=ModelVersion.objects.get(pk=version.pk), reason=kwargs["reason"], note=kwargs["note"]
        )

    monkeypatch.setattr("predictions.services.training.model_train", model_train)
    return trained


def test_a_retrain_and_refresh_cut_off_after_scoring_are_done_by_the_next_run(
    active_model, second_model, mirror, settings, monkeypatch, time_machine
):
    settings.AUTO_RETRAIN_ENABLED = True
    (race,), morning = _interrupted_state(active_model, pending=1)
    time_machine.move_to(morning, tick=True)  # the refresh predicts 'now': then, not today

    def killed(**kwargs):  # the worker is stopped while the post-race step retrains
        raise SystemExit(1)

    monkeypatch.setattr("predictions.services.training.model_train", killed)
    with pytest.raises(SystemExit):
        job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert RaceAccuracy.objects.filter(race=race).exists()  # the marker is in: the race is not pending
    assert ModelVersion.objects.get(is_active=True) == active_model

    trained = _counting_retrain(monkeypatch, second_model)
    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=morning + timedelta(days=1))
    )

    assert run.status == "succeeded", run.error
    assert run.counts["post_race_pending"] == []
    post_race = run.counts["post_race"]
    assert "trained on data through" in post_race["pending"]["retrain"]
    assert len(trained) == 1 and post_race["retrained"] == second_model.label
    logged = ModelActivation.objects.get(version=second_model)  # the catch-up's, said so
    assert logged.reason == "post_race_retrain" and logged.note.startswith("daily catch-up: no model version")
    assert post_race["refreshed"] and not post_race.get("errors")
    for slug in post_race["refreshed"]:  # the upcoming races, predicted once by the new model
        made = Prediction.objects.filter(race__slug=slug)
        assert set(made.values_list("model_version_id", flat=True)) == {second_model.pk}, slug
        assert made.values("batch").distinct().count() == 1, slug

    # Caught up: the following mornings neither retrain nor refresh.
    for days in (2, 3):
        run = job_run_execute(
            job="daily_results_sync", func=lambda d=days: job_daily_results(now=morning + timedelta(days=d))
        )
        assert run.status == "succeeded" and run.counts["post_race"] == {}, run.counts["post_race"]
    assert len(trained) == 1


def test_a_failed_retrain_still_refreshes_the_upcoming_races_with_the_active_model(
    active_model, mirror, settings, time_machine, tmp_path
):
    """The post-race retrain fails (here for real: its artifact cannot be written — a full disk, a
    storage path gone). The upcoming races are still re-predicted with the active model from the
    new results, and the run fails (the error is where operators look), leaving the retrain to the
    next run's catch-up. Before, the error ended the step before the refresh, and every later run
    retried the retrain first, so while training kept failing the next three races were never
    re-predicted with the latest results."""
    from predictions.selectors import race_list_upcoming

    settings.AUTO_RETRAIN_ENABLED = True
    (race,), morning = _interrupted_state(active_model, pending=1)
    time_machine.move_to(morning, tick=True)  # the refresh predicts 'now': then, not today
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.MODEL_STORAGE_PATH = blocker / "models"  # not a directory: the artifact cannot be saved
    versions = ModelVersion.objects.count()
    upcoming = race_list_upcoming(as_of=morning)
    assert upcoming and not Prediction.objects.filter(race__in=upcoming).exists()

    with pytest.raises(OSError):
        job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    run = JobRun.objects.filter(job="daily_results_sync").latest("started_at")
    assert run.status == "failed" and "a-file" in run.error, run.error
    assert RaceAccuracy.objects.filter(race=race).exists()  # scored
    assert ModelVersion.objects.count() == versions  # nothing registered
    assert ModelVersion.objects.get(is_active=True) == active_model
    for upcoming_race in upcoming:  # re-predicted all the same, by the model still active
        made = Prediction.objects.filter(race=upcoming_race)
        assert set(made.values_list("model_version_id", flat=True)) == {active_model.pk}, upcoming_race.slug


def test_upcoming_predictions_of_an_older_model_are_refreshed_once_without_a_retrain(
    active_model, second_model, mirror, settings, monkeypatch, time_machine
):
    """The retrain went through but the refresh did not (or a new model was activated since): only
    the refresh is caught up. A model trained through the latest race is never retrained again, and
    a roll-back to an older version is left alone."""
    from predictions.selectors import race_list_upcoming
    from predictions.services import model_version_activate, prediction_generate

    settings.AUTO_RETRAIN_ENABLED = True
    latest = _latest_scored_race()
    morning = datetime.combine(latest.date + timedelta(days=2), time(6), tzinfo=UTC)
    time_machine.move_to(morning, tick=True)  # the refresh predicts 'now': then, not today
    for done in Race.objects.filter(season_id=2026, results__isnull=False).distinct():
        RaceAccuracy.objects.create(
            race=done, stage="pre", batch=uuid.uuid4(), drivers=20, mae=1.0, winner_hit=False,
            podium_overlap=0.0, points_accuracy=0.0, brier_win=0.0, brier_podium=0.0, brier_points=0.0,
        )  # fmt: skip
    ModelVersion.objects.filter(pk__in=[active_model.pk, second_model.pk]).update(
        trained_until_date=latest.date
    )
    upcoming = race_list_upcoming(as_of=morning)
    for race in upcoming:
        prediction_generate(race=race)  # by the model active then
    trained = _counting_retrain(monkeypatch, second_model)

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert run.status == "succeeded" and run.counts["post_race"] == {}, run.counts["post_race"]

    model_version_activate(
        version=ModelVersion.objects.get(pk=second_model.pk), reason="train_models"
    )  # refresh cut off
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    post_race = run.counts["post_race"]
    assert post_race["pending"] == {"retrain": None, "refresh": [r.slug for r in upcoming]}
    assert post_race["retrained"] is None and trained == []
    assert post_race["refreshed"] == [r.slug for r in upcoming] and post_race["refresh_unchanged"] == []
    for race in upcoming:
        current = Prediction.objects.filter(race=race).order_by("-created_at").first()
        assert current.model_version_id == second_model.pk
        assert Prediction.objects.filter(race=race).values("batch").distinct().count() == 2

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert run.counts["post_race"] == {} and trained == []

    # Staff roll back to the older version: not a pending retrain or refresh.
    model_version_activate(version=ModelVersion.objects.get(pk=active_model.pk), reason="train_models")
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert run.counts["post_race"] == {} and trained == []


# --- a correction after scoring; a race entering the next three without a prediction -------------


def _swap_first_two(race: Race) -> None:
    """An upstream correction as a sync writes it: P1 and P2 change places."""
    first, second = RaceResult.objects.filter(race=race, shared_car_index=0).order_by("position_order")[:2]
    RaceResult.objects.filter(pk=first.pk).update(position_order=99)
    RaceResult.objects.filter(pk=second.pk).update(position_order=1)
    RaceResult.objects.filter(pk=first.pk).update(position_order=2)


def test_a_result_corrected_after_scoring_is_scored_again_by_the_next_run(
    active_model, mirror, settings, time_machine
):
    """QA (real stack): a correction that reached the database by another path than the daily
    sync's own changes (the weekly full sync, a staff resync, a daily run killed after its sync
    committed) was never scored again: the home page said "Predicted winner: Russell · missed"
    after the result was corrected to a Russell win. Each record keeps a fingerprint of the result
    it was scored against; a changed result makes the race pending again."""
    from ingestion.services.jobs import races_post_race_pending
    from predictions.services.post_race import races_results_process

    settings.AUTO_RETRAIN_ENABLED = False
    (corrected, latest), morning = _interrupted_state(active_model, pending=2)
    time_machine.move_to(morning, tick=True)
    races_results_process(races=[corrected])
    first = {r.stage: r for r in RaceAccuracy.objects.filter(race=corrected)}
    assert set(first) == {"pre", "post"} and all(r.results_fingerprint for r in first.values())
    assert races_post_race_pending(now=morning) == [latest]

    _swap_first_two(corrected)
    assert races_post_race_pending(now=morning) == [corrected, latest]
    time_machine.shift(timedelta(minutes=5))
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    assert run.status == "succeeded", run.error
    assert run.counts["post_race_pending"] == [corrected.slug, latest.slug]
    winner = RaceResult.objects.get(race=corrected, shared_car_index=0, position_order=1).driver_id
    for stage, before in first.items():
        (after,) = RaceAccuracy.objects.filter(race=corrected, stage=stage)  # updated, not duplicated
        picked = Prediction.objects.get(batch=after.batch, predicted_position=1).driver_id
        assert after.batch == before.batch and after.winner_hit == (picked == winner), stage
        assert after.results_fingerprint != before.results_fingerprint
        assert after.scored_at > before.scored_at + timedelta(minutes=4), stage

    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=morning + timedelta(days=1))
    )
    assert run.counts["post_race_pending"] == [] and run.counts["post_race"] == {}


def test_an_upcoming_race_without_any_prediction_is_predicted_by_the_daily_catch_up(
    active_model, mirror, settings, time_machine
):
    """QA (real stack): the race that enters the next three when a race starts was predicted only by
    the post-race refresh; while that race's results were late, the home page said "No prediction
    yet" for it every day. The catch-up now refreshes when an upcoming race has no set at all."""
    from predictions.selectors import race_list_upcoming
    from predictions.services import prediction_generate

    settings.AUTO_RETRAIN_ENABLED = False
    latest = _latest_scored_race()
    morning = datetime.combine(latest.date + timedelta(days=2), time(6), tzinfo=UTC)
    time_machine.move_to(morning, tick=True)
    for done in Race.objects.filter(season_id=2026, results__isnull=False).distinct():
        RaceAccuracy.objects.create(
            race=done, stage="pre", batch=uuid.uuid4(), drivers=20, mae=1.0, winner_hit=False,
            podium_overlap=0.0, points_accuracy=0.0, brier_win=0.0, brier_podium=0.0, brier_points=0.0,
        )  # fmt: skip
    ModelVersion.objects.filter(pk=active_model.pk).update(trained_until_date=latest.date)
    *predicted, newcomer = race_list_upcoming(as_of=morning)
    for race in predicted:
        prediction_generate(race=race)
    assert not Prediction.objects.filter(race=newcomer).exists()

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    post_race = run.counts["post_race"]
    assert post_race["pending"] == {"retrain": None, "refresh": [newcomer.slug]}
    assert newcomer.slug in post_race["refreshed"]
    assert Prediction.objects.filter(race=newcomer).values("batch").distinct().count() >= 1
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert run.counts["post_race"] == {}


# --- the job's clock within three hours of a start: the results it stored are known ---------------


def test_the_daily_job_soon_after_a_start_takes_the_results_it_stored_as_known(
    active_model, second_model, mirror, settings, monkeypatch, time_machine
):
    """2026 Japan starts 05:00 UTC (races.csv), as Las Vegas starts 04:00: the 06:00 daily job syncs
    its results an hour after the start, two before they count as known at a clock (start + 3 h:
    a view at 06:00 still shows Japan being run). The job cannot have stored results of a race not
    run yet, so to it Japan is done (`race_list_upcoming(live=True)`): scored, then neither
    re-predicted by the post-race refresh nor reported as a pending refresh by a later run of the
    morning. Without `live` the refresh tried to re-predict it (refused: it has results) and every
    run until 08:00 reported it pending."""
    from predictions.selectors import race_list_upcoming
    from tests.drf_support import csv_race
    from tests.ingestion.helpers import race_weekend_state

    settings.AUTO_RETRAIN_ENABLED = True
    japan = race_weekend_state(season=2026, round_=3, qualifying=True)  # the night before the race
    assert (csv_race(2026, 3)["date"], csv_race(2026, 3)["time"]) == ("2026-03-29", "05:00:00")
    for done in Race.objects.filter(season_id=2026, round__lt=3):  # scored on their day
        RaceAccuracy.objects.create(
            race=done, stage="pre", batch=uuid.uuid4(), drivers=20, mae=1.0, winner_hit=False,
            podium_overlap=0.0, points_accuracy=0.0, brier_win=0.0, brier_podium=0.0, brier_points=0.0,
        )  # fmt: skip
    ModelVersion.objects.filter(pk=active_model.pk).update(train_until_season=2025)  # honest backfill
    morning = datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    time_machine.move_to(morning, tick=True)  # the refresh predicts 'now': then, not today
    trained = _counting_retrain(monkeypatch, second_model)
    next_three = [r.slug for r in Race.objects.filter(season_id=2026, round__in=[4, 5, 6]).order_by("round")]

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    assert run.status == "succeeded", run.error
    assert RaceResult.objects.filter(race=japan).exists()  # synced by this run
    assert japan in race_list_upcoming(as_of=morning)  # a view at the job's clock: being run
    post_race = run.counts["post_race"]
    assert list(post_race["races"]) == [japan.slug] and RaceAccuracy.objects.filter(race=japan).exists()
    assert len(trained) == 1 and post_race["retrained"] == second_model.label
    assert post_race["refreshed"] == next_three and not post_race["errors"], post_race
    assert not Prediction.objects.filter(race=japan, model_version=second_model).exists()

    # Later that morning (a retry, a manual run), still before 08:00: nothing is pending.
    later = morning + timedelta(minutes=30)
    time_machine.move_to(later, tick=True)
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=later))
    assert run.status == "succeeded", run.error
    assert run.counts["post_race_pending"] == [] and run.counts["post_race"] == {}, run.counts["post_race"]
    assert len(trained) == 1


def test_a_daily_run_that_lost_its_lock_while_scoring_stops_before_the_retrain_and_the_next_run_does_it(
    active_model, second_model, mirror, settings, monkeypatch, time_machine
):
    """The review's case at its costliest point: the worker froze past JOB_LOCK_TTL while scoring and
    another run took the job's lock; the first must not retrain and refresh too. It stops before the
    retrain (recorded `interrupted`), and the retrain and refresh are done once, by a run holding the
    lock (here the next one: the scoring marker is in, so its catch-up does them)."""
    import redis
    from django.db import connection

    from ingestion.services.job_guard import JobLockLost
    from ingestion.services.jobs import JobLock

    settings.AUTO_RETRAIN_ENABLED = True
    (race,), morning = _interrupted_state(active_model, pending=1)
    time_machine.move_to(morning, tick=True)
    trained = _counting_retrain(monkeypatch, second_model)
    key = JobLock("daily_results_sync").key
    direct = redis.Redis.from_url(settings.JOB_LOCK_REDIS_URL)
    other = "otherhost:4242:" + "f" * 32

    def take_over_once_scored(execute, sql, params, many, context):  # the other run, mid-scoring
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("INSERT") and "predictions_raceaccuracy" in sql:
            direct.set(key, other, px=60_000)
        return result

    try:
        with connection.execute_wrapper(take_over_once_scored), pytest.raises(JobLockLost):
            job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
        run = JobRun.objects.filter(job="daily_results_sync").latest("pk")
        assert run.status == "interrupted"
        assert run.error == (
            f"job lock lost: another run may have taken over (lock now held by {other}); "
            "stopped before the post-race retrain step; steps it had committed were kept"
        )
        assert RaceAccuracy.objects.filter(race=race).exists()  # scored before the loss: kept
        # ... and said: the steps before it are on the run (diff review: the post-race step's own
        # checks raised without them, so the run read counts {})
        assert {"jolpica", "openf1_sessions", "weather_observed"} <= set(run.counts), run.counts
        assert trained == [] and ModelVersion.objects.get(is_active=True) == active_model
    finally:
        direct.delete(key)  # the other run has finished

    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=morning + timedelta(days=1))
    )
    assert run.status == "succeeded", run.error
    assert len(trained) == 1 and run.counts["post_race"]["retrained"] == second_model.label
    assert run.counts["post_race"]["refreshed"]
