"""The daily and weekly jobs while another Jolpica sync (an admin resync, `sync_f1`) holds the sync
lock — the real PostgreSQL advisory lock, held by another connection. Before, the job's first step
raised SyncAlreadyRunning: the whole job failed with no retry, and the OpenF1, weather and post-race
steps, which do not need that lock, were skipped until the next day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from celery.exceptions import Retry
from django.db import connection

from f1site.celery import app
from ingestion.models import JobRun, JobStatus, OpenF1Session, Race, RaceResult, RaceWeather, SyncRun
from ingestion.services import resync
from ingestion.services.jobs import JolpicaStepLocked, job_daily_results, job_run_execute, job_weekly_full
from ingestion.services.jolpica_sync import jolpica_sync_lock_held
from tests.ingestion.helpers import accuracy_marker, fake_post_race, jolpica_lock_held

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory lock is PostgreSQL-only")


def _season_2026(*, pending: int = 0):
    """2026 with its latest race's results not in yet; `pending` earlier races still lack their
    post-race step. Returns (latest race, pending races, rows upstream has for the latest)."""
    done = list(Race.objects.filter(season_id=2026, results__isnull=False).distinct().order_by("round"))
    latest = done.pop()
    left = done[len(done) - pending :] if pending else []
    for race in done[: len(done) - pending]:
        accuracy_marker(race)
    rows = RaceResult.objects.filter(race=latest).count()
    RaceResult.objects.filter(race=latest).delete()
    return latest, left, rows


@pytest.mark.django_db
def test_daily_job_runs_the_lock_free_steps_and_the_retry_syncs_once_the_lock_is_free(
    mirror, ergast_data, monkeypatch
):
    processed = fake_post_race(monkeypatch)
    latest, pending, rows = _season_2026(pending=1)
    RaceWeather.objects.filter(race=pending[0]).delete()
    OpenF1Session.objects.filter(race__season_id=2026).delete()
    morning = datetime.combine(latest.date + timedelta(days=1), time(6), tzinfo=UTC)
    syncs = SyncRun.objects.filter(source="jolpica").count()

    with jolpica_lock_held() as pid:
        assert jolpica_sync_lock_held()
        with pytest.raises(JolpicaStepLocked, match=f"Jolpica sync not run: .*backend pid {pid}"):
            job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))

    run = JobRun.objects.filter(job="daily_results_sync").latest("pk")
    assert run.status == JobStatus.FAILED
    assert "Jolpica sync not run" in run.error and "advisory lock held" in run.error
    # the steps that do not need the lock ran, and their counts are on the run
    assert run.counts["jolpica"]["skipped"] == "locked"
    assert "openf1_sessions" in run.counts and OpenF1Session.objects.filter(race__season_id=2026).exists()
    assert RaceWeather.objects.filter(race=pending[0]).exists(), run.counts["weather_observed"]
    assert processed == [pending[0].slug]  # the race already pending got its post-race step
    assert not RaceResult.objects.filter(race=latest).exists()
    assert SyncRun.objects.filter(source="jolpica").count() == syncs  # no sync was attempted

    # the retry of the Jolpica part, the lock now free: the sync and the race it completed
    processed.clear()
    assert not jolpica_sync_lock_held()
    run = job_run_execute(
        job="daily_results_sync", func=lambda: job_daily_results(now=morning, jolpica_only=True)
    )
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counts["steps"] == "jolpica_only (retry)" and "openf1_sessions" not in run.counts
    assert RaceResult.objects.filter(race=latest).count() == rows
    assert processed == [latest.slug]
    assert RaceWeather.objects.filter(race=latest).exists()


@pytest.mark.django_db
def test_weekly_job_evaluates_and_prunes_when_the_lock_is_held(mirror, ergast_data, monkeypatch, settings):
    evaluated: list[int] = []
    monkeypatch.setattr(
        "predictions.services.backtest.model_evaluation_run",
        lambda *, season: evaluated.append(season) or {"ok": 1},
    )
    sunday = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    with jolpica_lock_held(), pytest.raises(JolpicaStepLocked):
        job_run_execute(job="weekly_full_sync", func=lambda: job_weekly_full(now=sunday))
    run = JobRun.objects.filter(job="weekly_full_sync").latest("pk")
    assert run.status == JobStatus.FAILED and run.counts["jolpica"]["skipped"] == "locked"
    assert evaluated == [2026] and "job_runs_deleted" in run.counts["maintenance"]

    run = job_run_execute(job="weekly_full_sync", func=lambda: job_weekly_full(now=sunday, jolpica_only=True))
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counts["jolpica"]["status"] in ("succeeded", "partial") and evaluated == [2026]


@pytest.fixture
def worker_request():
    """The daily task as a worker runs it (not eager), at a given retry; the retry it sends to the
    real broker is removed afterwards (no worker reads this test's queue)."""
    from ingestion.tasks import daily_results_sync

    pushed = []

    def push(*, retries: int = 0, kwargs: dict | None = None):
        daily_results_sync.push_request(
            id=f"t-daily-{retries}",
            retries=retries,
            is_eager=False,
            called_directly=False,
            kwargs=kwargs or {},
        )
        pushed.append(1)
        return daily_results_sync

    yield push
    for _ in pushed:
        daily_results_sync.pop_request()
    with app.connection_for_write() as conn:
        conn.SimpleQueue(app.conf.task_default_queue).clear()


@pytest.mark.django_db
@pytest.mark.time_machine(datetime(2026, 11, 27, 6, 0, tzinfo=UTC), tick=True)
def test_the_task_retries_the_jolpica_part_every_30s_then_gives_up(
    mirror, ergast_data, monkeypatch, settings, worker_request
):
    settings.AUTO_RETRAIN_ENABLED = False
    processed = fake_post_race(monkeypatch)
    _season_2026()

    with jolpica_lock_held():
        task = worker_request()
        with pytest.raises(Retry) as retried:
            task.run()
        assert retried.value.when == resync.RESYNC_LOCK_RETRY_SECONDS
        assert retried.value.sig.kwargs == {"jolpica_only": True}
        first = JobRun.objects.filter(job="daily_results_sync").latest("pk")
        assert first.status == JobStatus.FAILED and "retried every 30s" in first.error
        assert "openf1_sessions" in first.counts

        # a retry that finds the lock still held is put off again without running or recording
        runs = JobRun.objects.count()
        task = worker_request(retries=1, kwargs={"jolpica_only": True})
        with pytest.raises(Retry):
            task.run(jolpica_only=True)
        assert JobRun.objects.count() == runs

        # the last retry runs, records the failure and gives up
        task = worker_request(retries=resync.RESYNC_LOCK_RETRIES, kwargs={"jolpica_only": True})
        with pytest.raises(JolpicaStepLocked):
            task.run(jolpica_only=True)
        last = JobRun.objects.filter(job="daily_results_sync").latest("pk")
        assert last.status == JobStatus.FAILED and "gave up waiting for the lock" in last.error
        assert last.counts["steps"] == "jolpica_only (retry)"
    assert processed == []


@pytest.mark.django_db
@pytest.mark.time_machine(datetime(2026, 11, 27, 6, 0, tzinfo=UTC), tick=True)
def test_the_task_retries_when_the_used_up_rate_budget_frees_not_on_the_usual_backoff(
    mirror, ergast_data, monkeypatch, settings, worker_request
):
    """The shared Jolpica hour used up (real Redis window): the task's sync fails at once within its
    time budget, and the task retries once the next slot frees (capped at the task time limit)."""
    from ingestion.clients.ratelimit import rate_limiter_for

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (the shared Jolpica budget)")
    settings.AUTO_RETRAIN_ENABLED = False
    fake_post_race(monkeypatch)
    _season_2026()
    settings.ERGAST_RATE_LIMIT = "50/s,2/40m"  # a slot 40 min away: within max_wait, past the budget
    shared = rate_limiter_for("jolpica", settings.ERGAST_RATE_LIMIT)
    shared.reset()
    try:
        shared.acquire()
        shared.acquire()
        task = worker_request()
        with pytest.raises(Retry) as retried:
            task(jolpica_only=False)  # through JobTask.__call__, which sets the wait deadline
    finally:
        shared.reset()
    assert retried.value.when == settings.CELERY_TASK_TIME_LIMIT  # the slot is 40 min away: capped
    run = JobRun.objects.filter(job="daily_results_sync").latest("pk")
    assert run.status == JobStatus.FAILED and "budget (2 per 2400s) exhausted" in run.error
    assert "beyond the 1530s this caller may wait" in run.error  # the task's budget, not max_wait
    assert run.error.endswith(f"retrying in {settings.CELERY_TASK_TIME_LIMIT}s")


@pytest.mark.django_db
def test_daily_job_runs_the_other_steps_when_jolpica_answers_a_broken_payload_then_fails_naming_it(
    mirror, ergast_data, monkeypatch
):
    """Review: a Jolpica failure other than the lock (broken JSON) ended the daily job at once: the
    OpenF1 sessions, the weather and the post-race step of the races already pending waited for the
    next day, and a payload error is not retried. They run now, as when the lock is held; the job
    still fails, naming the error, with the other steps' counts."""
    from ingestion.clients.http import SourcePayloadError

    processed = fake_post_race(monkeypatch)
    latest, pending, rows = _season_2026(pending=1)
    RaceWeather.objects.filter(race=pending[0]).delete()
    OpenF1Session.objects.filter(race__season_id=2026).delete()
    morning = datetime.combine(latest.date + timedelta(days=1), time(6), tzinfo=UTC)

    mirror.set_faults({"prefix": "/ergast/", "body": "malformed"})
    with pytest.raises(SourcePayloadError):
        job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    mirror.clear_faults()

    run = JobRun.objects.filter(job="daily_results_sync").latest("pk")
    assert run.status == JobStatus.FAILED and run.error.startswith("SourcePayloadError:"), run.error
    assert run.counts["jolpica"]["failed"].startswith("SourcePayloadError:")
    assert "openf1_sessions" in run.counts and OpenF1Session.objects.filter(race__season_id=2026).exists()
    assert RaceWeather.objects.filter(race=pending[0]).exists(), run.counts["weather_observed"]
    assert processed == [pending[0].slug]  # the race already pending got its post-race step
    assert SyncRun.objects.filter(source="jolpica").latest("pk").status == "failed"  # says more
    assert not RaceResult.objects.filter(race=latest).exists()

    # the next run, the source mended: the sync and the race it completed
    processed.clear()
    run = job_run_execute(job="daily_results_sync", func=lambda: job_daily_results(now=morning))
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert RaceResult.objects.filter(race=latest).count() == rows and processed == [latest.slug]
