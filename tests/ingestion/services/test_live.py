"""Live timing with the clock set by the test: zero requests outside sessions, the poll interval,
a 401 storm (at most one request per 30 s, page shows 'unavailable'), post-session catch-up."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.clients.openf1 import Interval, Lap, Position
from ingestion.models import OpenF1Session, QualifyingResult, Race, SessionType
from ingestion.services.live_timing import live_snapshots_merge, live_status_get, live_timing_tick
from ingestion.services.openf1_sessions import openf1_sessions_sync

LIVE_PATHS = ("/v1/position", "/v1/intervals", "/v1/laps", "/v1/race_control")


def test_merge_keeps_the_latest_record_per_driver():
    t = datetime(2024, 4, 21, 7, 0, tzinfo=UTC)
    merged = live_snapshots_merge(
        current={},
        positions=[
            Position(date=t + timedelta(seconds=5), session_key=1, driver_number=1, position=2),
            Position(date=t, session_key=1, driver_number=1, position=1),
            Position(date=t, session_key=1, driver_number=4, position=1),
        ],
        intervals=[Interval(date=t, session_key=1, driver_number=1, gap_to_leader=1.5, interval="+1 LAP")],
        laps=[
            Lap(session_key=1, driver_number=1, lap_number=3, lap_duration=95.1),
            Lap(session_key=1, driver_number=1, lap_number=2, lap_duration=99.9),
        ],
    )
    assert merged[1]["position"] == 2  # the later sample wins, whatever the order received
    assert merged[1]["gap_to_leader"] == "1.500" and merged[1]["interval"] == "+1 LAP"
    assert merged[1]["lap_number"] == 3 and merged[1]["last_lap_seconds"] == 95.1
    assert merged[1]["sample_at"] == t + timedelta(seconds=5)
    again = live_snapshots_merge(current=merged, positions=[], intervals=[], laps=[])
    assert again == merged


@pytest.fixture
def china(mirror, ergast_data):
    openf1_sessions_sync(seasons=[2024])
    OpenF1Session.objects.update(results_ingested_at=datetime(2024, 1, 1, tzinfo=UTC))
    mirror.reset_requests()
    return Race.objects.get(slug="2024_china")


def _live_requests(mirror) -> int:
    paths = mirror.requests()["paths"]
    return sum(paths.get(p, 0) for p in LIVE_PATHS)


def _ticks(start: datetime, end: datetime, step: int):
    t = start
    while t <= end:
        yield t
        t += timedelta(seconds=step)


@pytest.mark.django_db
def test_no_session_in_progress_means_zero_requests(mirror, china):
    quiet = [
        datetime(2024, 4, 17, 12, 0, tzinfo=UTC),  # the Wednesday before
        datetime(2024, 4, 19, 5, 0, tzinfo=UTC),  # between FP1 and sprint qualifying
        datetime(2024, 4, 22, 12, 0, tzinfo=UTC),  # the day after
    ]
    for now in quiet:
        for t in _ticks(now, now + timedelta(minutes=10), 30):
            assert live_timing_tick(now=t) == {"skipped": "no session in progress"}
    assert mirror.requests()["total"] == 0
    assert live_status_get(race=china, now=quiet[0]).state == "idle"


@pytest.mark.django_db
def test_polls_at_the_configured_interval_during_a_session(
    mirror, china, settings, django_assert_max_num_queries
):
    settings.LIVE_POLL_INTERVAL = 30
    quali = OpenF1Session.objects.get(race=china, session_type=SessionType.QUALIFYING)
    start = quali.date_start
    polls = []
    for t in _ticks(start, start + timedelta(seconds=175), 5):  # beat ticks every 5 s (e.g. two beats)
        before = _live_requests(mirror)
        live_timing_tick(now=t)
        if _live_requests(mirror) > before:
            polls.append(t)
    assert [(p - start).total_seconds() for p in polls] == [0, 30, 60, 90, 120, 150]
    assert all(mirror.requests()["paths"][p] == 6 for p in LIVE_PATHS)
    now = start + timedelta(seconds=175)
    with django_assert_max_num_queries(3):
        status = live_status_get(race=china, now=now)
    assert status.state == "live" and status.session_type == "qualifying"


@pytest.mark.django_db
def test_401_for_a_whole_session_costs_at_most_one_request_per_30s_then_results_catch_up(mirror, china):
    quali = OpenF1Session.objects.get(race=china, session_type=SessionType.QUALIFYING)
    QualifyingResult.objects.filter(race=china).delete()
    OpenF1Session.objects.filter(pk=quali.pk).update(results_ingested_at=None)
    mirror.set_faults({"prefix": "/v1/", "status": 401})
    start, end = quali.date_start, quali.date_end
    # First minutes in detail (a tick every 5 s, e.g. several beats): never more than one request per 30 s.
    seen: list[datetime] = []
    for t in _ticks(start - timedelta(minutes=1), start + timedelta(minutes=5), 5):
        before = mirror.requests()["total"]
        live_timing_tick(now=t)
        if mirror.requests()["total"] > before:
            assert mirror.requests()["total"] - before == 1
            seen.append(t)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen)]
    assert gaps and min(gaps) >= 30
    # The rest of the session, and past its end, at the beat's 30 s: still one request per 30 s at most,
    # and the page says live data is unavailable (with the reason), never an error.
    last_tick = end + timedelta(minutes=4)
    for t in _ticks(start + timedelta(minutes=5, seconds=30), last_tick, 30):
        live_timing_tick(now=t)
        if t <= end:
            status = live_status_get(race=china, now=t)
            assert status.state == "unavailable" and "401" in status.reason
    assert mirror.requests()["total"] <= (last_tick - start).total_seconds() / 30 + 1

    # The session is over and the token problem with it: the next ticks ingest its results.
    mirror.clear_faults()
    for t in _ticks(end + timedelta(minutes=25), end + timedelta(minutes=26), 30):
        live_timing_tick(now=t)
    quali.refresh_from_db()
    assert quali.results_ingested_at is not None
    assert QualifyingResult.objects.filter(race=china).count() == 20


@pytest.mark.django_db
def test_after_a_sprint_its_classification_is_fetched_from_jolpica(
    mirror, china, django_capture_on_commit_callbacks
):
    import csv

    from ingestion.models import SprintResult
    from tests.conftest import ERGAST_DUMP_DIR

    with open(ERGAST_DUMP_DIR / "sprint_results.csv", newline="") as fh:
        expected = {
            int(r["number"]): float(r["points"])
            for r in csv.DictReader(fh)
            if int(r["raceId"]) == china.ergast_id
        }
    SprintResult.objects.filter(race=china).delete()
    sprint = OpenF1Session.objects.get(race=china, session_type=SessionType.SPRINT)
    OpenF1Session.objects.filter(pk=sprint.pk).update(results_ingested_at=None)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = live_timing_tick(now=sprint.date_end + timedelta(minutes=25))  # past the live grace
    assert result["results"][sprint.session_key]["rows"] == len(expected) > 0
    assert {s.number: float(s.points) for s in SprintResult.objects.filter(race=china)} == expected
    assert result["results"][sprint.session_key]["predictions_refresh"] == "sprint"
    assert callbacks  # the prediction refresh is queued for after the commit
    sprint.refresh_from_db()
    assert sprint.results_ingested_at is not None


def _holder(pid: int) -> str:
    """The refusal of a lock held by a bare connection (no running SyncRun to name)."""
    return (
        f"another Jolpica sync or Ergast dump load (backend pid {pid}) is in progress "
        "(PostgreSQL advisory lock held)"
    )


@pytest.mark.django_db
def test_a_sprint_ended_while_another_sync_holds_the_lock_is_put_off_not_a_failed_tick(
    mirror, china, live_lock_free
):
    """Another sync (the daily job, a staff resync, a dump load) holds the race-data lock when the
    sprint's classification is due: the tick is recorded `succeeded`, the sprint says `skipped`
    naming the holder, stays awaited (not ingested, no refresh) and the retry ingests it. Before,
    SyncAlreadyRunning left the sprint path: the whole tick was a failed JobRun."""
    from ingestion.models import JobRun, JobStatus, SprintResult
    from ingestion.services.jobs import job_run_execute
    from ingestion.services.live_timing import IDLE_REASON, RESULTS_RETRY, live_timing_idle_reason
    from tests.ingestion.helpers import jolpica_lock_held

    SprintResult.objects.filter(race=china).delete()
    sprint = OpenF1Session.objects.get(race=china, session_type=SessionType.SPRINT)
    OpenF1Session.objects.filter(pk=sprint.pk).update(results_ingested_at=None)
    first = sprint.date_end + timedelta(minutes=25)  # past the live grace

    with jolpica_lock_held() as pid:
        run = job_run_execute(job="live_timing", func=lambda: live_timing_tick(now=first))
    run = JobRun.objects.get(pk=run.pk)
    assert (run.status, run.error) == (JobStatus.SUCCEEDED, "")
    assert run.counts["results"] == {
        str(sprint.session_key): {"rows": 0, "skipped": _holder(pid), "source": "jolpica"}
    }
    assert not any(p.startswith("/ergast/") for p in mirror.requests()["paths"])  # nothing asked
    sprint.refresh_from_db()
    assert sprint.results_ingested_at is None and sprint.results_attempted_at == first
    assert not SprintResult.objects.filter(race=china).exists()
    # asked again on the retries' cadence, as a sprint Jolpica had not published yet
    assert live_timing_idle_reason(now=first + timedelta(seconds=30)) == IDLE_REASON

    result = live_timing_tick(now=first + RESULTS_RETRY)  # the lock free
    outcome = result["results"][sprint.session_key]
    assert outcome["rows"] == SprintResult.objects.filter(race=china).count() > 0
    assert outcome["source"] == "jolpica" and outcome["predictions_refresh"] == "sprint"
    sprint.refresh_from_db()
    assert sprint.results_ingested_at == first + RESULTS_RETRY


def _qualifying_awaited(race) -> OpenF1Session:
    """The race's qualifying session ended with nothing ingested (the classification not stored)."""
    quali = OpenF1Session.objects.get(race=race, session_type=SessionType.QUALIFYING)
    QualifyingResult.objects.filter(race=race).delete()
    OpenF1Session.objects.filter(pk=quali.pk).update(results_ingested_at=None, results_attempted_at=None)
    return quali


@pytest.mark.django_db
def test_openf1_down_after_qualifying_the_classification_comes_from_jolpica_before_the_race(
    mirror, china, django_capture_on_commit_callbacks
):
    quali = _qualifying_awaited(china)
    mirror.set_faults({"prefix": "/v1/", "status": 503})

    # The first try, once the session is no longer live: OpenF1 only (it usually publishes in minutes).
    first = live_timing_tick(now=quali.date_end + timedelta(minutes=25))
    assert (
        "error" in first["results"][quali.session_key]
        and "jolpica" not in first["results"][quali.session_key]
    )
    assert not any(p.startswith("/ergast/") for p in mirror.requests()["paths"])

    # The retry 10 min later, 35 min after the session: still down, so Jolpica's classification.
    mirror.reset_requests()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = live_timing_tick(now=quali.date_end + timedelta(minutes=35))
    outcome = result["results"][quali.session_key]
    assert (
        outcome["source"] == "jolpica"
        and outcome["rows"] == 20 == QualifyingResult.objects.filter(race=china).count()
    )
    assert outcome["predictions_refresh"] == "post_qualifying"
    assert callbacks  # the post-qualifying refresh is queued for after the commit
    ergast = {p: n for p, n in mirror.requests()["paths"].items() if p.startswith("/ergast/")}
    assert ergast == {"/ergast/f1/2024/races.json": 1, f"/ergast/f1/2024/{china.round}/qualifying.json": 1}
    quali.refresh_from_db()
    assert quali.results_ingested_at is not None  # not asked again
    assert live_timing_tick(now=quali.date_end + timedelta(minutes=50)) == {
        "skipped": "no session in progress"
    }


@pytest.mark.django_db
def test_the_qualifying_fallback_while_another_sync_holds_the_lock_is_put_off(mirror, china):
    """The same helper as the sprint's: skipped naming the holder, asked again on the next retry."""
    from ingestion.services.live_timing import RESULTS_RETRY
    from tests.ingestion.helpers import jolpica_lock_held

    quali = _qualifying_awaited(china)
    mirror.set_faults({"prefix": "/v1/", "status": 503})
    due = quali.date_end + timedelta(minutes=35)

    with jolpica_lock_held() as pid:
        outcome = live_timing_tick(now=due)["results"][quali.session_key]
    assert outcome["jolpica"] == {"rows": 0, "skipped": _holder(pid)}
    assert "rows" not in outcome and "predictions_refresh" not in outcome
    quali.refresh_from_db()
    assert quali.results_ingested_at is None

    outcome = live_timing_tick(now=due + RESULTS_RETRY)["results"][quali.session_key]
    assert outcome["source"] == "jolpica" and outcome["rows"] == 20
    quali.refresh_from_db()
    assert quali.results_ingested_at == due + RESULTS_RETRY


@pytest.mark.django_db
def test_after_the_race_start_jolpica_is_not_asked_for_the_qualifying(mirror, china):
    """A post-qualifying set made after the start would be no pre-race prediction; the daily sync
    brings the classification with the results."""
    quali = _qualifying_awaited(china)
    mirror.set_faults({"prefix": "/v1/", "status": 503})

    result = live_timing_tick(now=china.start + timedelta(hours=3))  # no other session then

    assert "jolpica" not in result["results"][quali.session_key]
    assert not any(p.startswith("/ergast/") for p in mirror.requests()["paths"])
    assert not QualifyingResult.objects.filter(race=china).exists()


# ---------------------------------------------------------------- the beat task: idle ticks leave no row
@pytest.fixture
def live_lock_free():
    from django.conf import settings as django_settings
    from django.core.cache import cache

    from ingestion.services.jobs import JobLock, job_check_key, redis_client_for

    key = JobLock("live_timing").key
    if django_settings.JOB_LOCK_REDIS_URL:
        redis_client_for(django_settings.JOB_LOCK_REDIS_URL).delete(key)
    cache.delete_many([key, job_check_key("live_timing")])
    yield
    cache.delete(job_check_key("live_timing"))


@pytest.mark.django_db
def test_the_beat_task_records_in_session_ticks_and_leaves_no_row_for_idle_ones(
    mirror, china, live_lock_free, settings
):
    """The real task (`apply` runs it here with a task id): an idle tick adds no JobRun, a tick inside
    a session adds one, and jobs/status shows the last real run plus the later idle check."""
    from django.utils import timezone
    from rest_framework.test import APIClient

    from ingestion.models import JobRun, JobStatus
    from ingestion.services.jobs import beat_schedule_seed
    from ingestion.tasks import live_timing_poll

    beat_schedule_seed()  # the PeriodicTask rows jobs/status lists (a flushed test DB may lack them)
    assert live_timing_poll.apply().get() == {"job_run": None, "status": "idle"}  # warm-up tick
    rows_before = JobRun.objects.count()
    for _ in range(3):
        assert live_timing_poll.apply().get() == {"job_run": None, "status": "idle"}
    assert JobRun.objects.count() == rows_before  # no row of any status, for any job
    assert mirror.requests()["total"] == 0

    # A session in progress now: the tick polls and is recorded as before.
    settings.LIVE_POLL_INTERVAL = 30
    quali = OpenF1Session.objects.get(race=china, session_type=SessionType.QUALIFYING)
    now = timezone.now()
    OpenF1Session.objects.filter(pk=quali.pk).update(
        date_start=now - timedelta(minutes=5), date_end=now + timedelta(minutes=55), live_polled_at=None
    )
    result = live_timing_poll.apply().get()
    assert JobRun.objects.count() == rows_before + 1
    run = JobRun.objects.get(pk=result["job_run"])
    assert run.job == "live_timing" and run.status == JobStatus.SUCCEEDED and run.task_id
    assert run.counts["poll"]["session"] == quali.session_key
    assert _live_requests(mirror) > 0

    # The session moves away: idle again, no row; jobs/status keeps the real run and the later check.
    OpenF1Session.objects.filter(pk=quali.pk).update(
        date_start=quali.date_start, date_end=quali.date_end, live_polled_at=None
    )
    checked_from = timezone.now()
    assert live_timing_poll.apply().get() == {"job_run": None, "status": "idle"}
    assert JobRun.objects.count() == rows_before + 1
    body = APIClient().get("/api/v1/jobs/status").json()
    live = next(j for j in body["jobs"] if j["name"] == "live_timing")
    assert live["last_status"] == "succeeded"
    assert datetime.fromisoformat(live["last_run_at"].replace("Z", "+00:00")) == run.started_at
    last_checked = datetime.fromisoformat(live["last_checked_at"].replace("Z", "+00:00"))
    assert last_checked >= checked_from > run.started_at
