"""The daily job end to end against the mirror: incremental Jolpica sync, OpenF1 sessions, observed
weather and the post-race step for the race that just got its results, and the catch-up of what an
interrupted or failed run left undone (the post-race step with the real prediction engine is in
tests/predictions/test_daily_post_race.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from ingestion.models import OpenF1Session, Race, RaceResult, RaceWeather
from ingestion.services.jobs import job_daily_results, job_run_execute
from tests.ingestion.helpers import accuracy_marker, fake_post_race


@pytest.mark.django_db
def test_daily_job_syncs_and_runs_the_post_race_step_for_newly_completed_races(
    mirror, ergast_data, monkeypatch
):
    # The prediction engine's post-race step (training, scoring) is tested by its owner; here we only
    # check the pipeline hands it the right races.
    processed = fake_post_race(monkeypatch)
    done = list(Race.objects.filter(season_id=2026, results__isnull=False).distinct().order_by("round"))
    latest = done.pop()
    for race in done:  # earlier races went through their post-race step on earlier days
        accuracy_marker(race)
    expected_rows = RaceResult.objects.filter(race=latest).count()
    RaceResult.objects.filter(race=latest).delete()  # as if the race had just been run

    morning = datetime.combine(latest.date + timedelta(days=1), time(6), tzinfo=UTC)
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    assert run.status == "succeeded", run.error
    assert RaceResult.objects.filter(race=latest).count() == expected_rows
    assert processed == [latest.slug]
    assert run.counts["post_race"] == {"races": {latest.slug: {"ok": 1}}}
    assert OpenF1Session.objects.filter(race__season_id=2026).exists()
    assert RaceWeather.objects.filter(race=latest).exists(), run.counts["weather_observed"]

    # Nothing new the next morning: no post-race step again.
    processed.clear()
    next_morning = morning + timedelta(days=1)
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=next_morning))
    assert run.status == "succeeded" and processed == []


@pytest.mark.django_db
def test_a_failed_weather_fetch_is_retried_by_the_next_run(mirror, ergast_data, monkeypatch):
    processed = fake_post_race(monkeypatch)
    done = list(Race.objects.filter(season_id=2026, results__isnull=False).distinct().order_by("round"))
    latest = done.pop()
    for race in done:  # earlier races went through their post-race step on earlier days
        accuracy_marker(race)
    RaceResult.objects.filter(race=latest).delete()  # as if the race had just been run
    morning = datetime.combine(latest.date + timedelta(days=1), time(6), tzinfo=UTC)

    mirror.set_faults({"prefix": "/v1/weather", "status": 503})
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert run.status == "succeeded", run.error
    assert "weather_observed" in run.counts["errors"]
    # said on the run, where staff look (admin, jobs/status), not only in its counts (review)
    assert run.error.startswith("partial: weather_observed failed: "), run.error
    assert "503" in run.error
    assert processed == [latest.slug]
    assert not RaceWeather.objects.filter(race=latest).exists()

    # The source is back the next morning; nothing new in the results: the weather is fetched now.
    mirror.clear_faults()
    processed.clear()
    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=morning + timedelta(days=1))
    )
    assert run.status == "succeeded", run.error
    assert processed == [] and "errors" not in run.counts and run.error == ""
    assert RaceWeather.objects.filter(race=latest).exists(), run.counts["weather_observed"]

    no_samples = run.counts["weather_observed"]["no_samples"]

    # ...and only once: a third run asks again only for races the source had no samples for.
    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=morning + timedelta(days=2))
    )
    assert run.status == "succeeded", run.error
    assert RaceWeather.objects.filter(race=latest).count() == 1
    assert run.counts["weather_observed"]["races"] == len(no_samples)


@pytest.mark.django_db
def test_the_daily_job_asks_again_only_for_recent_races_without_weather_the_weekly_for_the_rest(
    mirror, ergast_data, monkeypatch
):
    """QA: every morning the daily job asked OpenF1 again for the weather of every 2026 race whose feed
    had no samples (Australia, China, Japan), all season long. It now asks again only while a race is
    within WEATHER_DAILY_RETRY_DAYS; the weekly job asks for the older ones, once a week."""
    from ingestion.services.jobs import WEATHER_DAILY_RETRY_DAYS, job_weekly_full

    fake_post_race(monkeypatch)
    monkeypatch.setattr(
        "predictions.services.backtest.model_evaluation_run", lambda *, season: {"skipped": "test"}
    )
    done = list(Race.objects.filter(season_id=2026, results__isnull=False).distinct().order_by("round"))
    for race in done:
        accuracy_marker(race)
    RaceWeather.objects.filter(race__in=done).delete()
    latest = done[-1]
    morning = datetime.combine(latest.date + timedelta(days=1), time(6), tzinfo=UTC)
    cutoff = morning.date() - timedelta(days=WEATHER_DAILY_RETRY_DAYS)
    recent = {r.slug for r in done if r.date >= cutoff}
    older = {r.slug for r in done if r.date < cutoff}
    assert latest.slug in recent and len(older) >= 3  # the 2026 data: races both sides of the bound

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert run.status == "succeeded", run.error
    asked = run.counts["weather_observed"]
    stored = set(RaceWeather.objects.filter(race__in=done).values_list("race__slug", flat=True))
    assert asked["races"] == len(recent) and stored | set(asked["no_samples"]) == recent

    # A week later, a Sunday: the weekly job asks for the older races, the feed's empty ones included
    sunday = morning + timedelta(days=(6 - morning.weekday()) or 7)
    counts = job_weekly_full(now=sunday)
    weekly = counts["weather_observed"]
    assert weekly["races"] == len(older | (recent - stored))
    stored = set(RaceWeather.objects.filter(race__in=done).values_list("race__slug", flat=True))
    assert stored | set(weekly["no_samples"]) == {r.slug for r in done}
    assert set(weekly["no_samples"]) & older, "the 2026 feed has no samples for its first races"

    # The next morning the daily job does not ask for those again; they are no longer recent.
    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=sunday + timedelta(hours=4))
    )
    assert run.status == "succeeded", run.error
    assert not set(run.counts["weather_observed"].get("no_samples", [])) & older


@pytest.mark.django_db
def test_the_incremental_sync_picks_the_rounds_due_by_the_jobs_clock_not_todays_date(
    mirror, ergast_data, monkeypatch
):
    """`job_daily_results(now=…)` (a test, a replay) against today's upstream, which has the whole
    2024 season: the database as it stood on the morning after 2024 Japan (round 4, Sunday 05:00
    UTC), the job at 06:00 that Sunday syncs round 4 (run by then) and round 3 (the latest with
    results), not the 20 rounds still to come. Before, the sync judged "due" by the real date, so
    every 2024 round was due and the job wrote the results of races run weeks to months after `now`.
    No time machine: the job's clock is its argument."""
    from tests.ingestion.helpers import race_weekend_state

    processed = fake_post_race(monkeypatch)
    japan = race_weekend_state(season=2024, round_=4, qualifying=True)
    for race in Race.objects.filter(season_id=2024, round__lt=4):  # their post-race step done
        accuracy_marker(race)
    sunday = datetime(2024, 4, 7, 6, 0, tzinfo=UTC)
    assert japan.start < sunday < datetime.now(UTC)

    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=sunday))

    assert run.status == "succeeded", run.error
    assert run.counts["jolpica"]["changed_race_ids"] == ["2024_japan"]
    with_results = Race.objects.filter(season_id=2024, results__isnull=False).distinct()
    assert sorted(with_results.values_list("round", flat=True)) == [1, 2, 3, 4]
    assert processed == ["2024_japan"]
