"""The weekly job (full season sync, evaluation, pruning) and the daily cache cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from ingestion.models import JobRun, JobStatus, LiveDriverSnapshot, OpenF1Session, Race, RaceResult
from ingestion.services.jobs import job_cache_cleanup, job_weekly_full


@pytest.mark.django_db
def test_weekly_job_syncs_the_season_evaluates_and_prunes(
    mirror, ergast_data, monkeypatch, settings, tmp_path
):
    from predictions.ml.artifacts import ModelBundle, bundle_save, cache_clear
    from predictions.models import ModelVersion
    from tests.factories import ModelVersionFactory

    evaluated = []
    # The evaluation itself (a backtest: model training) is the prediction engine's, tested there.
    monkeypatch.setattr(
        "predictions.services.backtest.model_evaluation_run",
        lambda *, season: evaluated.append(season) or {"ok": 1},
    )
    now = datetime(2026, 6, 21, 2, 0, tzinfo=UTC)
    settings.JOB_RUN_RETENTION_DAYS = 90
    old = JobRun.objects.create(
        job="cache_cleanup", status=JobStatus.SUCCEEDED, started_at=now - timedelta(days=91)
    )
    recent = JobRun.objects.create(
        job="cache_cleanup", status=JobStatus.SUCCEEDED, started_at=now - timedelta(days=3)
    )
    race = Race.objects.get(slug="2026_monaco")
    ended = OpenF1Session.objects.create(
        session_key=1, meeting_key=1, race=race, session_type="race", session_name="Race",
        date_start=now - timedelta(days=30), date_end=now - timedelta(days=30, hours=-2),
    )  # fmt: skip
    LiveDriverSnapshot.objects.create(session=ended, driver_number=1, position=1)
    wrong = RaceResult.objects.filter(race=race).order_by("position_order").first()
    RaceResult.objects.filter(pk=wrong.pk).update(laps=1)  # drift the full sync must repair

    # Three model versions with real artifacts; MODEL_ARTIFACTS_KEEP = 1 keeps the active + one.
    settings.MODEL_STORAGE_PATH = tmp_path
    settings.MODEL_ARTIFACTS_KEEP = 1
    models = []
    for i in range(3):
        path = tmp_path / f"vweekly-{i}.joblib"
        sha = bundle_save(ModelBundle(label=f"vweekly-{i}", stages={}), path)
        version = ModelVersionFactory(
            label=f"vweekly-{i}", artifact_path=str(path), metrics={"artifact_sha256": sha}, is_active=i == 2
        )
        ModelVersion.objects.filter(pk=version.pk).update(created_at=now - timedelta(weeks=3 - i))
        models.append(path)
    cache_clear()

    counts = job_weekly_full(now=now)

    assert evaluated == [2026] and counts["evaluation"] == {"ok": 1}
    assert counts["jolpica"]["status"] == "succeeded"
    wrong.refresh_from_db()
    assert wrong.laps > 1
    assert (
        counts["maintenance"]["job_runs_deleted"] == 1
        and counts["maintenance"]["live_snapshots_deleted"] == 1
    )
    assert not JobRun.objects.filter(pk=old.pk).exists() and JobRun.objects.filter(pk=recent.pk).exists()
    assert counts["maintenance"]["model_artifacts_pruned"] == 1
    assert counts["maintenance"]["model_artifact_bytes_freed"] > 0
    assert [p.exists() for p in models] == [False, True, True]


@pytest.mark.django_db
def test_cache_cleanup_removes_expired_sessions_and_stale_skipped_runs():
    now = datetime.now(UTC)
    live = SessionStore()
    live.create()
    Session.objects.create(session_key="expired-one", session_data="", expire_date=now - timedelta(days=1))
    JobRun.objects.create(job="live_timing", status=JobStatus.SKIPPED, started_at=now - timedelta(days=2))
    fresh = JobRun.objects.create(job="live_timing", status=JobStatus.SKIPPED, started_at=now)
    assert job_cache_cleanup(now=now) == {"expired_sessions_deleted": 1, "skipped_runs_deleted": 1}
    assert Session.objects.filter(session_key=live.session_key).exists()
    assert list(JobRun.objects.filter(job="live_timing")) == [fresh]
