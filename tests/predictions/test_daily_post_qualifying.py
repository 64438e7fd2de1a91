"""The scheduled jobs make the post-qualifying set the live job did not (OpenF1 down or late over
qualifying), with the real prediction engine, against a mirror serving 2025 as upstream stood on the
Saturday of Las Vegas (qualifying 04:00 UTC, the race Sunday 04:00 UTC; tests/ingestion/helpers.py:
race_weekend_data), the clock set there (time_machine) and the refresh task run eagerly when the job's
transaction commits (as in the embedded set-up; a worker runs the same task from the broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F, Value
from django.db.models.functions import Concat

from ingestion.models import JobRun, QualifyingResult, Race
from ingestion.services.jobs import job_daily_results, job_run_execute, job_weekly_full
from predictions.models import Prediction, RaceAccuracy
from predictions.selectors import (
    POST_QUALIFYING_CHANGED,
    POST_QUALIFYING_MISSING,
    race_list_post_qualifying_due,
    race_list_upcoming,
)
from predictions.services import prediction_generate
from predictions.services.refresh import race_predictions_refresh
from tests.conftest import start_mirror
from tests.ingestion.helpers import (  # noqa: F401 - fast_http, clean_breakers: autouse fixtures
    accuracy_marker,
    clean_breakers,
    fast_http,
    race_weekend_data,
    race_weekend_state,
)

pytestmark = pytest.mark.django_db

AFTER_SAO_PAULO = datetime(2025, 11, 10, 6, 0, tzinfo=UTC)  # the daily job predicted the next three
QUALIFYING_OVER = datetime(2025, 11, 22, 5, 10, tzinfo=UTC)  # the live job's refresh, when it works
SATURDAY_DAILY = datetime(2025, 11, 22, 6, 0, tzinfo=UTC)
SUNDAY_WEEKLY = datetime(2025, 11, 23, 2, 0, tzinfo=UTC)
SUNDAY_DAILY = datetime(2025, 11, 23, 6, 0, tzinfo=UTC)  # the race started at 04:00


@pytest.fixture(scope="module")
def vegas_mirror(tmp_path_factory):
    mirror = start_mirror(race_weekend_data(tmp_path_factory.mktemp("vegas"), season=2025, round_=22))
    yield mirror
    mirror.server.shutdown()


def _vegas_weekend(*, qualifying: bool, settings, vegas_mirror, time_machine) -> Race:
    """The database on the Las Vegas weekend: 2025 run and scored through São Paulo, the next three
    races predicted (pre-qualifying) by the daily job after it, Las Vegas' qualifying stored or not
    (`qualifying`: the live job ingested it, or OpenF1 was down)."""
    settings.ERGAST_API_BASE = vegas_mirror.ergast
    settings.OPENF1_API_BASE = vegas_mirror.openf1
    settings.WEATHER_API_BASE = vegas_mirror.weather
    settings.ERGAST_RATE_LIMIT = "1000/s"
    settings.AUTO_RETRAIN_ENABLED = False
    vegas = race_weekend_state(season=2025, round_=22, qualifying=qualifying)
    for race in Race.objects.filter(season_id=2025, results__isnull=False).distinct():
        accuracy_marker(race)  # their post-race step ran on their day
    time_machine.move_to(AFTER_SAO_PAULO, tick=True)
    upcoming = race_list_upcoming()
    assert [r.slug for r in upcoming] == ["2025_las_vegas", "2025_qatar", "2025_uae"]
    for race in upcoming:
        prediction_generate(race=race, stage="pre")
    vegas_mirror.reset_requests()
    return vegas


def _post_sets(race: Race) -> list:
    return sorted(set(Prediction.objects.filter(race=race, stage="post").values_list("batch", flat=True)))


def _refresh_runs(race: Race):
    return JobRun.objects.filter(job=f"predictions_refresh:{race.pk}")


def _run_daily(now: datetime, time_machine, capture) -> JobRun:
    time_machine.move_to(now, tick=True)
    with capture(execute=True):
        run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=now))
    assert run.status == "succeeded", run.error
    return run


def test_the_daily_job_makes_the_post_qualifying_set_the_live_job_did_not(
    active_model, vegas_mirror, embedded_celery, settings, time_machine, django_capture_on_commit_callbacks
):
    vegas = _vegas_weekend(
        qualifying=False, settings=settings, vegas_mirror=vegas_mirror, time_machine=time_machine
    )
    assert not _post_sets(vegas)
    pre_before = Prediction.objects.filter(race=vegas, stage="pre").count()

    run = _run_daily(SATURDAY_DAILY, time_machine, django_capture_on_commit_callbacks)

    assert QualifyingResult.objects.filter(race=vegas).count() == 20  # brought by the sync
    post = _post_sets(vegas)
    assert len(post) == 1, "no post-qualifying set for the race"
    assert run.counts["post_qualifying"] == {"queued": {vegas.slug: POST_QUALIFYING_MISSING}}
    (refresh,) = _refresh_runs(vegas)  # the live job's refresh task: its lock, its JobRun
    assert refresh.status == "succeeded", refresh.error
    assert refresh.counts["trigger"] == "post_qualifying" and refresh.counts["predictions"] == 20
    made = Prediction.objects.filter(batch=post[0])
    assert made.count() == 20 and {p.model_version_id for p in made} == {active_model.pk}
    assert all(SATURDAY_DAILY <= p.created_at < vegas.start for p in made)  # made before the race
    assert Prediction.objects.filter(race=vegas, stage="pre").count() == pre_before  # post only

    # Nothing changed by noon (`run_job daily_results_sync` by hand): nothing queued, no new set.
    rows = Prediction.objects.count()
    run = _run_daily(SATURDAY_DAILY + timedelta(hours=6), time_machine, django_capture_on_commit_callbacks)
    assert run.counts["post_qualifying"] == {}
    assert Prediction.objects.count() == rows and _refresh_runs(vegas).count() == 1


def test_a_post_qualifying_set_the_live_job_made_is_left_alone(
    active_model, vegas_mirror, embedded_celery, settings, time_machine, django_capture_on_commit_callbacks
):
    vegas = _vegas_weekend(
        qualifying=True, settings=settings, vegas_mirror=vegas_mirror, time_machine=time_machine
    )
    time_machine.move_to(QUALIFYING_OVER, tick=True)
    assert race_predictions_refresh(race_id=vegas.pk, trigger="post_qualifying")["predictions"] == 20
    rows = Prediction.objects.count()

    run = _run_daily(SATURDAY_DAILY, time_machine, django_capture_on_commit_callbacks)

    assert run.counts["post_qualifying"] == {}
    assert Prediction.objects.count() == rows and not _refresh_runs(vegas).exists()


@pytest.mark.parametrize(
    ("provisional", "new_set"),
    [
        ({"q1_ms": F("q1_ms") + 250}, True),  # a lap time the official classification corrects
        ({"q1": Concat("q1", Value("0"))}, False),  # the same times written another way
    ],
    ids=["times differ", "same inputs"],
)
def test_a_set_made_from_a_classification_the_sync_then_changed_is_made_again_only_if_its_inputs_changed(
    provisional,
    new_set,
    active_model,
    vegas_mirror,
    embedded_celery,
    settings,
    time_machine,
    django_capture_on_commit_callbacks,
):
    """The live job made the set from OpenF1's classification; the daily sync then writes Jolpica's,
    which differs from it. The refresh is queued again; it stores a new set only when the prediction's
    inputs changed (the refresh's `unchanged`: same model, same inputs fingerprint)."""
    vegas = _vegas_weekend(
        qualifying=True, settings=settings, vegas_mirror=vegas_mirror, time_machine=time_machine
    )
    QualifyingResult.objects.filter(race=vegas, q1_ms__isnull=False).update(**provisional)
    time_machine.move_to(QUALIFYING_OVER, tick=True)
    race_predictions_refresh(race_id=vegas.pk, trigger="post_qualifying")
    (live_set,) = _post_sets(vegas)

    run = _run_daily(SATURDAY_DAILY, time_machine, django_capture_on_commit_callbacks)

    assert vegas.slug in run.counts["jolpica"]["changed_race_ids"]
    assert run.counts["post_qualifying"] == {"queued": {vegas.slug: POST_QUALIFYING_CHANGED}}
    (refresh,) = _refresh_runs(vegas)
    assert refresh.status == "succeeded", refresh.error
    assert refresh.counts["unchanged"] == ([] if new_set else ["post"])
    assert len(_post_sets(vegas)) == (2 if new_set else 1) and live_set in _post_sets(vegas)


def test_a_race_that_has_started_gets_no_post_qualifying_set(
    active_model, vegas_mirror, embedded_celery, settings, time_machine, django_capture_on_commit_callbacks
):
    """Sunday's daily run comes two hours after the Las Vegas start: its sync brings the qualifying,
    but a set made now would be no pre-race prediction."""
    vegas = _vegas_weekend(
        qualifying=False, settings=settings, vegas_mirror=vegas_mirror, time_machine=time_machine
    )
    assert vegas.start < SUNDAY_DAILY

    run = _run_daily(SUNDAY_DAILY, time_machine, django_capture_on_commit_callbacks)

    assert QualifyingResult.objects.filter(race=vegas).count() == 20
    assert run.counts["post_qualifying"] == {}
    assert not _post_sets(vegas) and not _refresh_runs(vegas).exists()
    assert not RaceAccuracy.objects.filter(race=vegas).exists()


def test_the_weekly_job_before_an_early_race_makes_the_missing_set(
    active_model,
    vegas_mirror,
    embedded_celery,
    settings,
    time_machine,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    """Sunday 02:00 is before a 04:00 UTC start (Las Vegas, Australia, Japan), which the daily job
    reaches only after it: the weekly job's full sync reads the qualifying, and the set is made."""
    monkeypatch.setattr(  # the season's backtest is the evaluation tests' business (and takes minutes)
        "predictions.services.backtest.model_evaluation_run", lambda *, season: {"skipped": "test"}
    )
    vegas = _vegas_weekend(
        qualifying=False, settings=settings, vegas_mirror=vegas_mirror, time_machine=time_machine
    )
    time_machine.move_to(SUNDAY_WEEKLY, tick=True)

    with django_capture_on_commit_callbacks(execute=True):
        run = job_run_execute(job="weekly_full_sync", func=lambda: job_weekly_full(now=SUNDAY_WEEKLY))

    assert run.status == "succeeded", run.error
    (batch,) = _post_sets(vegas)
    assert run.counts["post_qualifying"] == {"queued": {vegas.slug: POST_QUALIFYING_MISSING}}
    assert all(SUNDAY_WEEKLY <= p.created_at < vegas.start for p in Prediction.objects.filter(batch=batch))


def test_a_refused_broker_leaves_the_daily_job_succeeded_and_names_the_race_not_queued(
    active_model, vegas_mirror, embedded_celery, settings, time_machine, django_capture_on_commit_callbacks
):
    """The catch-up sent the refresh at once (the job runs outside a transaction): a refused broker
    raised into the job, whose JobRun was recorded failed after its sync and post-race step had
    committed. Now the race is named not queued, with the broker's error, and stays due: the next
    run (broker back) queues it. A real refused port, as a stopped broker."""
    from f1site.celery import app
    from predictions.services.refresh import POST_QUALIFYING_BROKER_DOWN
    from tests.brokers import broker_url, closed_port

    vegas = _vegas_weekend(
        qualifying=False, settings=settings, vegas_mirror=vegas_mirror, time_machine=time_machine
    )
    time_machine.move_to(SATURDAY_DAILY, tick=True)

    def daily():  # on-commit callbacks run as the job returns, as in autocommit
        with django_capture_on_commit_callbacks(execute=True):
            return job_daily_results(now=SATURDAY_DAILY)

    app.conf.task_always_eager = False  # sent to the broker, which refuses
    with broker_url(f"redis://127.0.0.1:{closed_port()}/0"):
        run = job_run_execute(job="daily_results_sync", func=daily)

    assert run.status == "succeeded", run.error
    assert QualifyingResult.objects.filter(race=vegas).count() == 20  # the sync ran and committed
    assert "post_race" in run.counts and "openf1_sessions" in run.counts  # the other steps ran
    post = run.counts["post_qualifying"]
    assert post["not_queued"] == {vegas.slug: POST_QUALIFYING_BROKER_DOWN} and "queued" not in post
    assert "Connection refused" in post["error"]
    assert not _post_sets(vegas) and not _refresh_runs(vegas).exists()

    app.conf.task_always_eager = True  # the broker is back (the embedded mode runs it here)
    run = _run_daily(SATURDAY_DAILY + timedelta(hours=6), time_machine, django_capture_on_commit_callbacks)
    assert run.counts["post_qualifying"] == {"queued": {vegas.slug: POST_QUALIFYING_MISSING}}
    assert len(_post_sets(vegas)) == 1


def test_with_no_qualifying_start_a_set_made_on_saturday_is_not_queued_again_on_race_day(
    active_model, vegas_mirror, embedded_celery, settings, time_machine
):
    """Without a qualifying start, qualifying counts as begun at midnight UTC of race day (the clock
    rule): the set the live job made on Saturday looked older than that, so every race-day run queued
    the refresh again (which, inputs unchanged, stored nothing). The catch-up is called directly: the
    jobs' sync would write the mirror's qualifying start back."""
    from predictions.services.refresh import post_qualifying_refresh_catch_up

    vegas = _vegas_weekend(
        qualifying=True, settings=settings, vegas_mirror=vegas_mirror, time_machine=time_machine
    )
    Race.objects.filter(pk=vegas.pk).update(qualifying_start=None)
    assert SUNDAY_WEEKLY.date() == vegas.date  # race day, before the 04:00 start
    time_machine.move_to(SUNDAY_WEEKLY, tick=True)
    # no set yet: still due on race day
    assert [r.slug for r, _ in race_list_post_qualifying_due(as_of=SUNDAY_WEEKLY)] == [vegas.slug]

    time_machine.move_to(QUALIFYING_OVER, tick=True)  # the live job's refresh, on Saturday
    assert race_predictions_refresh(race_id=vegas.pk, trigger="post_qualifying")["predictions"] == 20
    time_machine.move_to(SUNDAY_WEEKLY, tick=True)

    assert post_qualifying_refresh_catch_up(now=SUNDAY_WEEKLY) == {}
    assert len(_post_sets(vegas)) == 1 and not _refresh_runs(vegas).exists()
