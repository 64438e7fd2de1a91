"""Alert conditions: the pure evaluation on hand-made states, and the database read on real data."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict

import pytest
from django.utils import timezone

from f1site.observability import (
    AlertThresholds,
    OpsState,
    RaceScore,
    alerts_evaluate,
    alerts_from_state,
    grid_baseline_mae,
    ops_state_get,
    request_window,
)

T = AlertThresholds()  # the documented defaults: 26 h, 2 failures, 5 % of >= 20 requests, 5 races


def by_name(alerts: list[dict]) -> dict[str, dict]:
    assert all(set(a) == {"name", "firing", "value", "threshold", "description"} for a in alerts)
    return {a["name"]: a for a in alerts}


def score(model: float, grid: float | None, race_id: int = 1) -> RaceScore:
    return RaceScore(race_id, model, grid, winner_hit=True, podium_overlap=1.0, points_accuracy=1.0)


# --- pure ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ages_hours", "firing", "value"),
    [
        ({"jolpica": 25.0}, False, 25.0),
        ({"jolpica": 27.0}, True, 27.0),
        ({"jolpica": 30.0, "ergast_dump": 2.0}, False, 2.0),  # the freshest results source counts
        ({"openf1": 1.0}, True, None),  # OpenF1/weather syncs do not keep results current
        ({}, True, None),  # never synced
    ],
)
def test_sync_stale_after_26_hours(ages_hours, firing, value):
    state = OpsState(sync_age_seconds={k: v * 3600 for k, v in ages_hours.items()})
    alert = by_name(alerts_from_state(state, T))["sync_stale"]
    assert (alert["firing"], alert["value"], alert["threshold"]) == (firing, value, 26.0)


def test_job_failing_twice_in_a_row():
    alerts = by_name(alerts_from_state(OpsState(job_failure_streaks={"daily": 1, "weather": 0}), T))
    assert alerts["job_failing"]["firing"] is False and alerts["job_failing"]["value"] == 1
    alerts = by_name(alerts_from_state(OpsState(job_failure_streaks={"daily": 2, "weather": 3}), T))
    assert alerts["job_failing"]["firing"] is True and alerts["job_failing"]["value"] == 3
    assert "daily, weather" in alerts["job_failing"]["description"]


@pytest.mark.parametrize(
    ("requests", "errors", "firing"),
    [(100, 5, False), (100, 6, True), (19, 19, False), (20, 2, True), (0, 0, False)],
)
def test_api_5xx_rate_above_5_percent_of_at_least_20_requests(requests, errors, firing):
    alert = by_name(alerts_from_state(OpsState(api_requests=requests, api_5xx=errors), T))["api_5xx_rate"]
    assert alert["firing"] is firing


def test_model_below_grid_baseline_over_the_last_5_races():
    worse = tuple(score(4.0, 3.0, i) for i in range(5))
    alert = by_name(alerts_from_state(OpsState(recent_scores=worse), T))["model_below_grid_baseline"]
    assert (alert["firing"], alert["value"], alert["threshold"]) == (True, 4.0, 3.0)
    better = (score(1.0, 3.0), score(5.0, 3.0), score(2.0, 3.0), score(2.0, 3.0), score(2.0, 3.0))
    alert = by_name(alerts_from_state(OpsState(recent_scores=better), T))["model_below_grid_baseline"]
    assert (alert["firing"], alert["value"]) == (False, 2.4)  # (1+5+2+2+2)/5, one bad race is not enough
    alert = by_name(alerts_from_state(OpsState(recent_scores=worse[:4]), T))["model_below_grid_baseline"]
    assert alert["firing"] is False and alert["value"] is None and "have 4" in alert["description"]


@pytest.mark.parametrize(
    ("pending", "oldest_seconds", "firing", "value"),
    [
        (0, None, False, None),  # normal operation: nothing refused
        (3, 9 * 60, False, 9.0),  # within the replay's reach (beat ticks every minute)
        (1, 11 * 60, True, 11.0),  # stale answers for longer than the 10 min threshold
    ],
)
def test_cache_invalidation_pending_after_10_minutes(pending, oldest_seconds, firing, value):
    state = OpsState(cache_outbox_pending=pending, cache_outbox_oldest_seconds=oldest_seconds)
    alert = by_name(alerts_from_state(state, T))["cache_invalidation_pending"]
    assert (alert["firing"], alert["value"], alert["threshold"]) == (firing, value, 10.0)
    assert f"{pending} pending" in alert["description"]


def test_grid_baseline_mae_by_hand():
    # grid ranks 1,2,3; finishing ranks 2,1,3 -> |1-2| + |2-1| + 0 = 2, over 3 entrants
    assert grid_baseline_mae([(1, 2), (2, 1), (3, 3)]) == pytest.approx(2 / 3)
    # a pit-lane starter (grid 0) takes the mean of the ranks behind the gridded cars: here rank 3
    # grid ranks: A=3 (pit lane), B=2, C=1; finishing ranks A=1, B=2, C=3 -> 2 + 0 + 2 = 4, over 3
    assert grid_baseline_mae([(0, 1), (2, 2), (1, 3)]) == pytest.approx(4 / 3)
    # two pit-lane starters share ranks 2 and 3 -> 2.5 each; finishing 1,2,3 -> 0 + 0.5 + 0.5 = 1, over 3
    assert grid_baseline_mae([(1, 1), (0, 2), (None, 3)]) == pytest.approx(1 / 3)
    assert grid_baseline_mae([]) is None and grid_baseline_mae([(0, 1), (0, 2)]) is None


# --- database + cache ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_state_reads_sync_runs_and_job_run_streaks():
    from ingestion.models import SyncRun, SyncSource, SyncStatus
    from ingestion.models.job_run import JobRun, JobStatus

    now = timezone.now()
    SyncRun.objects.all().delete()  # inside this test's transaction only
    old = SyncRun.objects.create(
        source=SyncSource.JOLPICA,
        status=SyncStatus.SUCCEEDED,
        counts={"race_result": {"created": 20, "updated": 3, "unchanged": 400}, "errors": ["ignored"]},
    )
    SyncRun.objects.filter(pk=old.pk).update(finished_at=now - dt.timedelta(hours=30))
    failed = SyncRun.objects.create(source=SyncSource.JOLPICA, status=SyncStatus.FAILED)
    SyncRun.objects.filter(pk=failed.pk).update(finished_at=now - dt.timedelta(hours=1))

    def run(job, status, minutes_ago):
        JobRun.objects.create(job=job, status=status, started_at=now - dt.timedelta(minutes=minutes_ago))

    JobRun.objects.all().delete()
    run("daily_results", JobStatus.SUCCEEDED, 50)
    run("daily_results", JobStatus.FAILED, 40)
    run("daily_results", JobStatus.SKIPPED, 30)  # skipped runs neither break nor extend a streak
    run("daily_results", JobStatus.INTERRUPTED, 20)
    run("weather", JobStatus.FAILED, 15)
    run("weather", JobStatus.SUCCEEDED, 5)
    run("live", JobStatus.RUNNING, 1)

    state = ops_state_get(now=now)
    assert state.sync_age_seconds["jolpica"] == pytest.approx(30 * 3600, abs=5)  # the failure is ignored
    assert state.job_failure_streaks == {"daily_results": 2, "weather": 0}
    assert state.sync_rows == {
        ("jolpica", "race_result", "created"): 20,
        ("jolpica", "race_result", "updated"): 3,
    }
    alerts = by_name(alerts_from_state(state, T))
    assert alerts["sync_stale"]["firing"] and alerts["job_failing"]["firing"]


@pytest.mark.django_db
def test_state_reads_the_cache_invalidation_outbox():
    from ingestion.models import CacheInvalidation

    now = timezone.now()
    assert ops_state_get(now=now).cache_outbox_pending == 0
    CacheInvalidation.objects.create(keys=["f1:a"], created_at=now - dt.timedelta(minutes=12))
    CacheInvalidation.objects.create(families=["races"], created_at=now - dt.timedelta(minutes=2))
    state = ops_state_get(now=now)
    assert state.cache_outbox_pending == 2
    assert state.cache_outbox_oldest_seconds == pytest.approx(12 * 60)
    assert by_name(alerts_from_state(state, T))["cache_invalidation_pending"]["firing"] is True


@pytest.mark.django_db
def test_retry_attempts_of_one_trigger_count_once_in_the_job_failure_streak():
    """Each Celery autoretry attempt records its own JobRun (same task id): two failed attempts of
    one trigger that a later attempt completed are not a failure streak; two triggers are."""
    from ingestion.models.job_run import JobRun, JobStatus

    now = timezone.now()
    JobRun.objects.all().delete()  # inside this test's transaction only

    def run(job, task_id, status, seconds_ago):
        JobRun.objects.create(
            job=job, task_id=task_id, status=status, started_at=now - dt.timedelta(seconds=seconds_ago)
        )

    run("weather", "t-1", JobStatus.FAILED, 40)  # an outage: two attempts fail 9 s apart ...
    run("weather", "t-1", JobStatus.FAILED, 31)
    run("weather", "t-1", JobStatus.SUCCEEDED, 1)  # ... and the next retry succeeds
    run("daily", "t-2", JobStatus.FAILED, 40)  # one trigger still retrying: one failure so far
    run("daily", "t-2", JobStatus.FAILED, 31)
    run("cleanup", "t-3", JobStatus.FAILED, 90)  # two triggers that failed for good
    run("cleanup", "t-4", JobStatus.FAILED, 30)
    run("live", "", JobStatus.FAILED, 20)  # no task id (run_job command): each row is a trigger
    run("live", "", JobStatus.FAILED, 10)

    state = ops_state_get(now=now)
    assert state.job_failure_streaks == {"weather": 0, "daily": 1, "cleanup": 2, "live": 2}
    assert by_name(alerts_from_state(state, T))["job_failing"]["value"] == 2


@pytest.mark.django_db
def test_5xx_window_is_shared_through_the_cache(client, settings):
    """Counts flushed by one process are read by any other: here, requests answered 5xx for real."""
    before = request_window.read(minutes=5)
    settings.ALLOWED_HOSTS = ["testserver"]
    client.get("/metrics", HTTP_HOST="evil.example")  # DisallowedHost -> 400 (not a 5xx)
    client.get("/admin/login/")
    request_window.flush()
    after = request_window.read(minutes=5)
    assert after[0] - before[0] == 2 and after[1] - before[1] == 0

    from django.test import Client

    crashing = Client(raise_request_exception=False)
    settings.ROOT_URLCONF = "tests.f1site.urls_crash"
    for _ in range(3):
        assert crashing.get("/crash").status_code == 500
    request_window.flush()
    final = request_window.read(minutes=5)
    assert final[0] - after[0] == 3 and final[1] - after[1] == 3


def _csv_grid_mae(results_by_race: dict[int, list[tuple[int, int]]], ergast_id: int) -> float:
    rows = results_by_race[ergast_id]
    return sum(abs(grid - order) for grid, order in rows) / len(rows)


@pytest.mark.django_db
def test_model_accuracy_alert_on_real_races(ergast_data):
    """The 5 latest real races with a full grid (1..n, no pit-lane start): the grid baseline MAE is
    mean |grid - positionOrder| straight from results.csv, compared with stored RaceAccuracy rows."""
    from ingestion.models import Race
    from predictions.models import RaceAccuracy
    from tests.factories import ModelVersionFactory, RaceAccuracyFactory

    results_by_race: dict[int, list[tuple[int, int]]] = defaultdict(list)
    with open(ergast_data / "results.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            results_by_race[int(row["raceId"])].append((int(row["grid"]), int(row["positionOrder"])))
    full_grid = {
        rid
        for rid, rows in results_by_race.items()
        if sorted(g for g, _ in rows) == list(range(1, len(rows) + 1))
    }
    races = list(Race.objects.filter(ergast_id__in=full_grid).order_by("-date")[:6])
    assert len(races) == 6
    latest, older = races[:5], races[5]
    expected_grid = sum(_csv_grid_mae(results_by_race, r.ergast_id) for r in latest) / 5

    RaceAccuracy.objects.all().delete()  # this test's transaction only
    version = ModelVersionFactory(is_active=True, label="v-ops-live")
    model_mae = round(expected_grid + 0.5, 3)  # worse than the grid on every race
    for race in latest:
        RaceAccuracyFactory(race=race, stage="post", mae=model_mae, model_version=version)
        RaceAccuracyFactory(race=race, stage="pre", mae=0.1, model_version=version)  # post preferred
    RaceAccuracyFactory(race=older, stage="post", mae=0.1, model_version=version)  # not in the last 5
    RaceAccuracyFactory(race=latest[0], stage="post", mae=0.1, backfilled=True)  # not live

    state = ops_state_get()
    assert state.active_model == "v-ops-live"
    assert [s.race_id for s in state.recent_scores] == [r.id for r in latest]
    alert = by_name(alerts_evaluate())["model_below_grid_baseline"]
    assert alert["firing"] is True
    assert alert["value"] == pytest.approx(model_mae, abs=1e-3)
    assert alert["threshold"] == pytest.approx(expected_grid, abs=1e-3)

    RaceAccuracy.objects.filter(stage="post", backfilled=False, race__in=latest).update(
        mae=expected_grid - 0.5
    )
    assert by_name(alerts_evaluate())["model_below_grid_baseline"]["firing"] is False
