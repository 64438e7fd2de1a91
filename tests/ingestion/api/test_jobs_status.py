"""jobs/status and /health: real due times with an `overdue` flag, worker and beat liveness.

The real-worker half is tests/ingestion/services/test_liveness_worker.py; here the heartbeats are written by
the services themselves (real Redis) and by an in-process SingleBeatScheduler.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from f1site.celery import app
from ingestion.services import liveness
from ingestion.services.jobs import SingleBeatScheduler, beat_schedule_seed
from tests.drf_support import token_for
from tests.ingestion.helpers import clean_breakers, fast_http  # noqa: F401 - autouse fixtures

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="liveness is read from Redis (REDIS_URL)")


@pytest.fixture
def clean_liveness():
    def clear():
        client = liveness._redis()
        if client is not None:
            client.delete(liveness.WORKERS_KEY, liveness.BEAT_KEY)

    clear()
    yield
    clear()


@pytest.fixture
def steward(django_user_model):
    return django_user_model.objects.create_user(
        username="steward", password="correct-horse-battery-staple", is_staff=True
    )


@pytest.fixture
def staff_api(steward) -> APIClient:
    """A staff caller by JWT: the one that sees hostnames, tokens and error texts."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(client, 'steward')}")
    return client


@pytest.fixture
def keep_test_connection(monkeypatch):
    """The scheduler closes stale DB connections between ticks: not the one holding the test transaction."""
    monkeypatch.setattr("django_celery_beat.schedulers.close_old_connections", lambda: None)


def _jobs() -> dict:
    return APIClient().get("/api/v1/jobs/status").json()


def _by_name(body: dict) -> dict:
    return {j["name"]: j for j in body["jobs"]}


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- overdue ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_overdue_job_reports_its_real_due_time_and_overdue(settings):
    settings.JOB_OVERDUE_GRACE = 60
    beat_schedule_seed()
    now = timezone.now()
    # live_timing every 30 s, last sent an hour ago: due 59.5 minutes ago (was shown as "now")
    PeriodicTask.objects.filter(name="live_timing").update(last_run_at=now - timedelta(hours=1), enabled=True)
    # daily 06:00, last sent 3 days ago: due at the 06:00 after that
    last_daily = (now - timedelta(days=3)).replace(hour=6, minute=0, second=0, microsecond=0)
    PeriodicTask.objects.filter(name="daily_results_sync").update(last_run_at=last_daily, enabled=True)
    # cache_cleanup disabled: no due time, never overdue
    PeriodicTask.objects.filter(name="cache_cleanup").update(enabled=False)

    jobs = _by_name(_jobs())
    live = jobs["live_timing"]
    assert live["overdue"] is True
    assert abs(_parse(live["next_run_at"]) - (now - timedelta(hours=1) + timedelta(seconds=30))) < timedelta(
        seconds=2
    )
    daily = jobs["daily_results_sync"]
    assert daily["overdue"] is True
    assert _parse(daily["next_run_at"]) == last_daily + timedelta(days=1)
    assert jobs["cache_cleanup"]["next_run_at"] is None and jobs["cache_cleanup"]["overdue"] is False


@pytest.mark.django_db
def test_a_job_just_due_is_shown_due_in_the_past_but_not_overdue_within_the_grace(settings):
    settings.JOB_OVERDUE_GRACE = 60
    beat_schedule_seed()
    now = timezone.now()
    PeriodicTask.objects.filter(name="live_timing").update(
        last_run_at=now - timedelta(seconds=50), enabled=True
    )
    PeriodicTask.objects.filter(name="weather_forecasts").update(last_run_at=now - timedelta(minutes=1))
    jobs = _by_name(_jobs())
    live = jobs["live_timing"]
    due = _parse(live["next_run_at"])
    assert due < now and now - due < timedelta(seconds=25)  # 20 s ago, reported as such, not clamped
    assert live["overdue"] is False
    forecasts = jobs["weather_forecasts"]  # sent a minute ago; next in up to 6 h
    assert _parse(forecasts["next_run_at"]) > now and forecasts["overdue"] is False


@pytest.mark.django_db
def test_a_job_sent_recently_is_not_overdue_although_beat_has_not_written_last_run_at_back(settings):
    """DatabaseScheduler writes last_run_at back only every sync_every (180 s): longer than a 30 s
    interval plus the grace. The job's latest JobRun or idle check says when it was really sent."""
    from ingestion.models import JobRun, JobStatus
    from ingestion.services.jobs import job_check_record

    settings.JOB_OVERDUE_GRACE = 60
    beat_schedule_seed()
    now = timezone.now()
    stale = now - timedelta(minutes=3)
    PeriodicTask.objects.filter(name="live_timing").update(last_run_at=stale, enabled=True)
    PeriodicTask.objects.filter(name="weather_forecasts").update(last_run_at=stale, enabled=True)
    JobRun.objects.create(
        job="live_timing", status=JobStatus.SUCCEEDED, started_at=now - timedelta(seconds=10)
    )
    jobs = _by_name(_jobs())
    live = jobs["live_timing"]
    assert live["overdue"] is False, live
    assert abs(_parse(live["next_run_at"]) - (now + timedelta(seconds=20))) < timedelta(seconds=2)

    # an idle tick (live_timing outside a session) leaves only a check: it counts the same
    JobRun.objects.filter(job="live_timing").update(started_at=now - timedelta(minutes=5))
    job_check_record(job="live_timing", at=now - timedelta(seconds=5), reason="no session")
    live = _by_name(_jobs())["live_timing"]
    assert live["overdue"] is False and _parse(live["next_run_at"]) > now, live

    # nothing fresher than the lagging column (the worker is down too): the grace covers beat's
    # write-back interval, so a healthy beat 3 min behind in the database is not flagged ...
    JobRun.objects.filter(job="live_timing").delete()
    job_check_record(job="live_timing", at=now - timedelta(minutes=5), reason="no session")
    assert _by_name(_jobs())["live_timing"]["overdue"] is False
    # ... but one that has sent nothing for longer than that is
    PeriodicTask.objects.filter(name="live_timing").update(last_run_at=now - timedelta(minutes=5))
    assert _by_name(_jobs())["live_timing"]["overdue"] is True


@pytest.mark.django_db
def test_a_job_beat_never_sent_is_overdue_counted_from_when_its_task_was_created(settings):
    """A fresh deploy whose beat never ran: no last_run_at, no JobRun. Counting from now, nothing
    was ever overdue; beat itself counts from the task's date_changed."""
    from django_celery_beat.models import CrontabSchedule

    settings.JOB_OVERDUE_GRACE = 60
    every_minute, _ = CrontabSchedule.objects.get_or_create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    now = timezone.now()
    for name in ("old", "new", "later"):
        PeriodicTask.objects.create(name=name, task="ingestion.tasks.cache_cleanup", crontab=every_minute)
    PeriodicTask.objects.filter(name="old").update(date_changed=now - timedelta(minutes=5))
    PeriodicTask.objects.filter(name="later").update(
        date_changed=now - timedelta(minutes=5), start_time=now + timedelta(hours=1)
    )
    jobs = _by_name(_jobs())
    old = jobs["old"]
    assert old["overdue"] is True and old["last_run_at"] is None
    assert _parse(old["next_run_at"]) <= now - timedelta(minutes=3)  # the minute after its creation
    assert jobs["new"]["overdue"] is False and _parse(jobs["new"]["next_run_at"]) <= now + timedelta(
        minutes=1
    )
    assert jobs["later"]["overdue"] is False  # beat holds it until start_time
    assert _parse(jobs["later"]["next_run_at"]) >= now + timedelta(minutes=59)


@pytest.mark.django_db
def test_a_job_run_by_hand_before_beat_ever_sent_it_still_has_a_due_time(settings):
    """`run_job cache_cleanup` (or admin "Run now") before beat's first send: a JobRun but no
    last_run_at. Comparing the missing column with the run raised TypeError, swallowed into
    next_run_at null (never overdue)."""
    from django.core.management import call_command

    settings.JOB_OVERDUE_GRACE = 60
    beat_schedule_seed()
    PeriodicTask.objects.filter(name="cache_cleanup").update(last_run_at=None, enabled=True)
    call_command("run_job", "cache_cleanup", verbosity=0)
    now = timezone.now()

    cleanup = _by_name(_jobs())["cache_cleanup"]
    due = _parse(cleanup["next_run_at"])  # 03:30 UTC after the run
    assert now < due <= now + timedelta(days=1), cleanup
    assert (due.hour, due.minute) == (3, 30)
    assert cleanup["overdue"] is False and cleanup["last_status"] == "succeeded"


# --- liveness -----------------------------------------------------------------------------------
@needs_redis
@pytest.mark.django_db
def test_no_worker_or_beat_ever_seen_degrades_health_and_says_missing(clean_liveness):
    response = APIClient().get("/api/v1/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"  # degraded, not down
    for role in ("worker", "beat"):
        check = body["checks"][role]
        assert check["status"] == "degraded" and check["required"] is False
        assert check["detail"]["state"] == "missing" and check["detail"]["last_seen_at"] is None
    status = _jobs()["liveness"]
    assert status["mode"] == "workers"
    assert status["worker"]["status"] == "missing" and status["worker"]["workers"] == []
    assert status["beat"]["status"] == "missing"
    assert status["detail"].startswith("no worker seen in the last")


@needs_redis
@pytest.mark.django_db
def test_a_worker_silent_past_the_threshold_is_missing_and_a_fresh_one_ok(
    clean_liveness, settings, staff_api
):
    settings.LIVENESS_MAX_SILENCE_SECONDS = 90
    now = timezone.now()
    liveness.worker_heartbeat_record(hostname="old@host", at=now - timedelta(seconds=200))
    body = staff_api.get("/api/v1/health").json()
    worker = body["checks"]["worker"]
    assert worker["status"] == "degraded" and worker["detail"]["state"] == "missing"
    assert worker["detail"]["name"] == "old@host" and 199 <= worker["detail"]["seconds_ago"] < 230

    liveness.worker_heartbeat_record(hostname="new@host", at=now - timedelta(seconds=5))
    status = staff_api.get("/api/v1/jobs/status").json()["liveness"]["worker"]
    assert status["status"] == "ok" and status["name"] == "new@host"
    assert {w["name"]: w["status"] for w in status["workers"]} == {"old@host": "missing", "new@host": "ok"}
    assert APIClient().get("/api/v1/health").json()["checks"]["worker"]["status"] == "ok"


@needs_redis
@pytest.mark.django_db
def test_a_running_beat_is_ok_and_missing_once_closed(clean_liveness, keep_test_connection, staff_api):
    scheduler = SingleBeatScheduler(app=app, lazy=False)
    try:
        beat = staff_api.get("/api/v1/health").json()["checks"]["beat"]
        assert beat["status"] == "ok", beat
        assert beat["detail"]["name"] == scheduler._beat_lock.token and beat["detail"]["seconds_ago"] < 10
        assert _jobs()["liveness"]["beat"]["status"] == "ok"
    finally:
        scheduler.close()
    assert APIClient().get("/api/v1/health").json()["checks"]["beat"]["detail"]["state"] == "missing"


@needs_redis
@pytest.mark.django_db
def test_a_clean_stop_is_missing_at_once_and_says_when_it_stopped(
    clean_liveness, keep_test_connection, admin_client
):
    """The entry was deleted on a clean stop, so the page said "missing, never seen"; it is now a
    stopped-at marker. A restart (a new heartbeat) clears it."""
    scheduler = SingleBeatScheduler(app=app, lazy=False)
    scheduler.close()
    liveness.worker_heartbeat_record(hostname="w1@host")
    liveness.worker_heartbeat_forget(hostname="w1@host")

    health = APIClient().get("/api/v1/health").json()["checks"]
    for role in ("worker", "beat"):
        assert health[role]["status"] == "degraded" and health[role]["detail"]["state"] == "missing"
        assert health[role]["detail"]["stopped_at"] is not None
    live = _jobs()["liveness"]
    assert live["beat"]["status"] == "missing" and live["beat"]["stopped_at"] is not None
    assert live["worker"]["status"] == "missing" and live["worker"]["stopped_at"] is not None
    # health's copy of the times was isoformat() text ("+00:00"); jobs/status' DRF's ("Z"): the same
    for role in ("worker", "beat"):
        detail = health[role]["detail"]
        assert detail["stopped_at"] == detail["last_seen_at"] == live[role]["stopped_at"]
        assert detail["stopped_at"].endswith("Z"), detail

    html = admin_client.get("/staff/freshness/").content.decode()
    section = html[html.index('id="pipeline-liveness"') : html.index('id="job-runs"')]
    beat_line = section[section.index("Beat:") :].split("</li>")[0]
    worker_line = section[section.index("Worker:") :].split("</li>")[0]
    assert "stopped cleanly at" in beat_line and "never seen" not in beat_line
    assert "w1@host, stopped cleanly at" in worker_line and "never seen" not in worker_line

    liveness.worker_heartbeat_record(hostname="w1@host")  # restarted
    worker = _jobs()["liveness"]["worker"]
    assert worker["status"] == "ok" and worker["stopped_at"] is None


@needs_redis
@pytest.mark.django_db
def test_anonymous_callers_get_a_redacted_status_and_staff_everything(
    clean_liveness, keep_test_connection, staff_api, steward, client
):
    """jobs/status and /health are public: error texts (internal hosts, URLs), worker hostnames and
    the beat's lock holder (host:pid:token) are for staff only, by JWT or by session."""
    from ingestion.models import JobRun, JobStatus

    beat_schedule_seed()
    secret = "ConnectionError: http://openf1.internal:8443/v1/laps refused"
    JobRun.objects.create(job="live_timing", status=JobStatus.FAILED, error=secret)
    liveness.worker_heartbeat_record(hostname="worker@db-host-7.internal")
    scheduler = SingleBeatScheduler(app=app, lazy=False)
    token = scheduler._beat_lock.token
    try:
        anonymous = APIClient().get("/api/v1/jobs/status")
        staff = staff_api.get("/api/v1/jobs/status")
        client.force_login(steward)
        session = client.get("/api/v1/jobs/status")
        health_anonymous = APIClient().get("/api/v1/health").json()
        health_staff = staff_api.get("/api/v1/health").json()
    finally:
        scheduler.close()

    body = anonymous.json()
    assert anonymous["Cache-Control"] == "private, no-store"
    assert body["redacted"] is True
    text = anonymous.content.decode() + json.dumps(health_anonymous)
    for leak in ("openf1.internal", "db-host-7", token):
        assert leak not in text, leak
    live = _by_name(body)["live_timing"]
    assert live["last_status"] == "failed" and live["last_error"] == "" and live["last_run_at"]
    assert body["liveness"]["worker"]["status"] == "ok" and body["liveness"]["worker"]["workers"] == []
    assert body["liveness"]["beat"]["status"] == "ok" and body["liveness"]["beat"]["last_seen_at"]
    assert health_anonymous["checks"]["beat"]["status"] == "ok"
    assert health_anonymous["checks"]["beat"]["detail"]["name"] == ""

    for response in (staff, session):
        body = response.json()
        assert body["redacted"] is False
        assert _by_name(body)["live_timing"]["last_error"] == secret
        assert body["liveness"]["beat"]["name"] == token
        assert [w["name"] for w in body["liveness"]["worker"]["workers"]] == ["worker@db-host-7.internal"]
    assert health_staff["checks"]["beat"]["detail"]["name"] == token
    assert health_staff["checks"]["worker"]["detail"]["name"] == "worker@db-host-7.internal"


@pytest.mark.django_db
def test_eager_mode_says_jobs_run_in_process_and_no_beat_runs_without_degrading_health(
    settings, admin_client
):
    """Embedded mode: a triggered job runs in-process, but nothing sends the schedule (the quick
    start starts no beat). Saying "ok" for the beat hid that; "n/a" says it without turning health
    red (or even degraded) for `make up`."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    body = APIClient().get("/api/v1/health").json()
    worker, beat = body["checks"]["worker"], body["checks"]["beat"]
    assert worker["status"] == "ok" and worker["detail"]["mode"] == "eager"
    assert "in-process" in worker["detail"]["detail"]
    assert beat["status"] == "n/a" and beat["detail"]["mode"] == "eager"
    assert beat["detail"]["state"] == "not running" and "make stack" in beat["detail"]["detail"]
    others = {name: c["status"] for name, c in body["checks"].items() if name not in ("worker", "beat")}
    expected = "ok" if set(others.values()) == {"ok"} else "degraded"
    assert body["status"] == expected, body  # the beat's n/a changes nothing
    live = _jobs()["liveness"]
    assert live["mode"] == "eager" and "in-process" in live["detail"]
    assert "beat not running (embedded mode: schedules run only under `make stack`)" in live["detail"]
    assert live["worker"] is None and live["beat"] is None

    html = admin_client.get("/staff/freshness/").content.decode()
    section = html[html.index('id="pipeline-liveness"') : html.index('id="job-runs"')]
    assert 'Beat: <span class="badge">n/a</span>' in section
    assert "not running (embedded mode: schedules run only under `make stack`)" in section


@pytest.mark.django_db
@pytest.mark.parametrize("embedded", [True, False], ids=["embedded", "workers"])
def test_no_job_is_overdue_in_the_embedded_mode_which_runs_no_beat(request, settings, admin_client, embedded):
    """QA: in the embedded mode (the quick start: eager tasks, no beat) jobs/status and the staff
    page showed live_timing overdue (the others following), while /health calls the beat "n/a" and
    not a fault. There no job is overdue and each says why (`overdue_note`); with workers, a job
    beat has not sent for an hour is overdue as before."""
    if embedded:
        request.getfixturevalue("embedded_celery")
    else:
        settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.JOB_OVERDUE_GRACE = 60
    beat_schedule_seed()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    PeriodicTask.objects.filter(name="live_timing").update(last_run_at=an_hour_ago, enabled=True)
    PeriodicTask.objects.filter(name="cache_cleanup").update(enabled=False)
    note = "n/a: the beat is not running (embedded mode: schedules run only under `make stack`)"

    body = _jobs()  # anonymous: the redacted view keeps the note
    assert body["liveness"]["mode"] == ("eager" if embedded else "workers")
    jobs = _by_name(body)
    live = jobs["live_timing"]
    assert _parse(live["next_run_at"]) < timezone.now()  # the schedule's due time, as with workers
    assert live["overdue"] is (not embedded)
    assert live["overdue_note"] == (note if embedded else "")
    if embedded:
        assert not any(j["overdue"] for j in jobs.values())
        assert all(j["overdue_note"] == note for j in jobs.values() if j["enabled"])
    assert jobs["cache_cleanup"]["overdue"] is False and jobs["cache_cleanup"]["overdue_note"] == ""

    html = admin_client.get("/staff/freshness/").content.decode()
    table = html[html.index('id="scheduled-jobs"') : html.index('id="job-runs"')]
    row = table[table.index("<td>live_timing</td>") :].split("</tr>")[0]
    assert ("overdue</span>" in row) is (not embedded)
    assert ('<span class="badge">n/a</span>' in row) is embedded
    assert (
        "Overdue: n/a — the beat is not running (embedded mode: schedules run only under `make stack`)"
        in table
    ) is embedded


def test_the_liveness_threshold_must_cover_the_heartbeats():
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "LIVENESS_HEARTBEAT_SECONDS": "30", "LIVENESS_MAX_SILENCE_SECONDS": "60"}
    result = subprocess.run(
        [sys.executable, "-c", "import f1site.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert (
        "LIVENESS_MAX_SILENCE_SECONDS=60 must be >= 3 x LIVENESS_HEARTBEAT_SECONDS + 20 = 110"
        in result.stderr
    )
    env["LIVENESS_MAX_SILENCE_SECONDS"] = "soon"
    result = subprocess.run(
        [sys.executable, "-c", "import f1site.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "LIVENESS_MAX_SILENCE_SECONDS='soon' is not an integer" in result.stderr


# --- staff page ---------------------------------------------------------------------------------
@needs_redis
@pytest.mark.django_db
def test_the_freshness_page_shows_liveness_and_overdue_jobs(admin_client, clean_liveness):
    beat_schedule_seed()
    PeriodicTask.objects.filter(name="live_timing").update(
        last_run_at=datetime.now(UTC) - timedelta(hours=1), enabled=True
    )
    liveness.worker_heartbeat_record(hostname="w1@host")
    html = admin_client.get("/staff/freshness/").content.decode()
    section = html[html.index('id="pipeline-liveness"') : html.index('id="job-runs"')]
    assert 'Worker: <span class="badge ok">ok</span>' in section and "w1@host" in section
    assert 'Beat: <span class="badge low">missing</span>' in section
    row = section[section.index("<td>live_timing</td>") :].split("</tr>")[0]
    assert "overdue" in row


# --- stale runs (ingestion.services.stale_runs) -------------------------------------------------
def _dead_run(job: str, *, silent_for: int):
    """A JobRun as a worker killed mid-run leaves it: running, its worker recorded, silent since."""
    from ingestion.models import JobRun

    since = timezone.now() - timedelta(seconds=silent_for)
    return JobRun.objects.create(job=job, worker="lost-host:4242", started_at=since, heartbeat_at=since)


@pytest.mark.django_db
def test_jobs_status_and_the_admin_show_a_dead_run_interrupted_not_running(staff_api, admin_client):
    from ingestion.models import JobRun, JobStatus

    beat_schedule_seed()
    silence = settings.LIVENESS_MAX_SILENCE_SECONDS
    dead = _dead_run("daily_results_sync", silent_for=silence + 5)
    alive = _dead_run("weather_forecasts", silent_for=silence - 30)  # a live run's last beat: recent
    jobs = {j["name"]: j for j in staff_api.get("/api/v1/jobs/status").json()["jobs"]}
    assert jobs["daily_results_sync"]["last_status"] == "interrupted"
    assert jobs["daily_results_sync"]["last_error"].startswith(
        "worker lost-host:4242 stopped heartbeating at "
    )
    assert jobs["daily_results_sync"]["last_finished_at"] is not None
    assert jobs["weather_forecasts"]["last_status"] == "running"
    alive.refresh_from_db()
    assert alive.status == JobStatus.RUNNING

    # the admin's Job runs list closes them too before it shows them
    other = _dead_run("races_resync", silent_for=silence + 5)
    html = admin_client.get("/admin/ingestion/jobrun/").content.decode()
    assert "lost-host:4242 stopped heartbeating" in html
    assert JobRun.objects.get(pk=other.pk).status == JobStatus.INTERRUPTED
    assert JobRun.objects.get(pk=dead.pk).status == JobStatus.INTERRUPTED


@pytest.mark.django_db
def test_the_beat_tick_sweeps_stale_runs_at_most_every_heartbeat():
    from ingestion.models import JobRun, JobStatus

    scheduler = SingleBeatScheduler(app=app, lazy=True)
    first = _dead_run("cache_cleanup", silent_for=settings.LIVENESS_MAX_SILENCE_SECONDS + 5)
    scheduler._stale_runs_sweep()
    assert JobRun.objects.get(pk=first.pk).status == JobStatus.INTERRUPTED
    second = _dead_run("cache_cleanup", silent_for=settings.LIVENESS_MAX_SILENCE_SECONDS + 5)
    scheduler._stale_runs_sweep()  # throttled: the next sweep is a heartbeat interval away
    assert JobRun.objects.get(pk=second.pk).status == JobStatus.RUNNING


def test_the_queued_bound_must_be_a_whole_minute_or_more():
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    for value, message in (("30", "JOB_QUEUED_MAX_SECONDS=30 must be >= 60"),
                           ("1h", "JOB_QUEUED_MAX_SECONDS='1h' is not an integer")):  # fmt: skip
        env = {**os.environ, "JOB_QUEUED_MAX_SECONDS": value}
        result = subprocess.run(
            [sys.executable, "-c", "import f1site.settings"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0 and message in result.stderr
