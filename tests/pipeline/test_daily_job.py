"""The daily job end to end against the mirror: incremental Jolpica sync, OpenF1 sessions, observed
weather and the post-race step for the race that just got its results."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from ingestion.models import OpenF1Session, Race, RaceResult, RaceWeather
from ingestion.services.jobs import job_daily_results, job_run_execute


@pytest.mark.django_db
def test_daily_job_syncs_and_runs_the_post_race_step_for_newly_completed_races(
    mirror, ergast_data, monkeypatch
):
    processed = []
    # The prediction engine's post-race step (training, scoring) is tested by its owner; here we only
    # check the pipeline hands it the right races.
    monkeypatch.setattr(
        "predictions.tasks.race_results_process_run", lambda *, race: processed.append(race.slug) or {"ok": 1}
    )
    latest = Race.objects.filter(season_id=2026, results__isnull=False).distinct().order_by("-round").first()
    expected_rows = RaceResult.objects.filter(race=latest).count()
    RaceResult.objects.filter(race=latest).delete()  # as if the race had just been run

    morning = datetime.combine(latest.date + timedelta(days=1), time(6), tzinfo=UTC)
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    assert run.status == "succeeded", run.error
    assert RaceResult.objects.filter(race=latest).count() == expected_rows
    assert processed == [latest.slug]
    assert run.counts["post_race"] == {latest.slug: {"ok": 1}}
    assert OpenF1Session.objects.filter(race__season_id=2026).exists()
    assert RaceWeather.objects.filter(race=latest).exists(), run.counts["weather_observed"]

    # Nothing new the next morning: no post-race step again.
    processed.clear()
    next_morning = morning + timedelta(days=1)
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=next_morning))
    assert run.status == "succeeded" and processed == []
