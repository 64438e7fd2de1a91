"""Staff see job runs and OpenF1 sessions in admin; 'run now' re-queues a job."""

from __future__ import annotations

import pytest

from ingestion.models import JobRun, JobStatus
from tests.ingestion.helpers import clean_breakers, fast_http  # noqa: F401 - autouse fixtures


@pytest.mark.django_db
def test_job_runs_are_listed_and_readable(admin_client, django_assert_max_num_queries):
    JobRun.objects.create(job="daily_results_sync", status=JobStatus.FAILED, error="jolpica: HTTP 503")
    JobRun.objects.create(
        job="cache_cleanup", status=JobStatus.SUCCEEDED, counts={"expired_sessions_deleted": 2}
    )
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/ingestion/jobrun/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "jolpica: HTTP 503" in body and "expired_sessions_deleted" in body
    run = JobRun.objects.get(job="cache_cleanup")
    assert admin_client.get(f"/admin/ingestion/jobrun/{run.pk}/change/").status_code == 200
    assert admin_client.get("/admin/ingestion/openf1session/").status_code == 200
    assert admin_client.get("/admin/django_celery_beat/periodictask/").status_code == 200


@pytest.mark.django_db
def test_run_now_queues_the_job_and_says_so(admin_client, settings):
    from f1site.celery import app

    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs a real broker (REDIS_URL)")
    queue = app.conf.task_default_queue
    with app.connection_for_write() as conn:
        conn.SimpleQueue(queue).clear()
    run = JobRun.objects.create(job="cache_cleanup", status=JobStatus.SUCCEEDED)
    # sent during the request, not on commit: only then can the page say whether the broker took it
    response = admin_client.post(
        "/admin/ingestion/jobrun/", {"action": "run_now", "_selected_action": [run.pk]}, follow=True
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["Queued: cache_cleanup"]
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue(queue).get(timeout=5)
        message.ack()
    assert message.headers["task"] == "ingestion.tasks.cache_cleanup"


@pytest.mark.django_db
def test_run_now_in_embedded_mode_runs_the_job(
    admin_client, embedded_celery, django_capture_on_commit_callbacks
):
    run = JobRun.objects.create(job="cache_cleanup", status=JobStatus.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/ingestion/jobrun/", {"action": "run_now", "_selected_action": [run.pk]}, follow=True
        )
    assert response.status_code == 200
    (new,) = JobRun.objects.filter(job="cache_cleanup").exclude(pk=run.pk)
    assert new.status == JobStatus.SUCCEEDED and new.task_id
    assert "expired_sessions_deleted" in new.counts
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["Ran here (embedded mode, no worker): cache_cleanup; the job runs show the outcome"]


@pytest.mark.django_db
def test_run_job_enqueue_in_embedded_mode_runs_the_job(embedded_celery):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("run_job", "cache_cleanup", "--enqueue", stdout=out)
    (run,) = JobRun.objects.filter(job="cache_cleanup")
    assert run.status == JobStatus.SUCCEEDED
    # it ran here: the output says so instead of "queued"
    assert (
        out.getvalue().strip()
        == f"ran ingestion.tasks.cache_cleanup here (embedded mode, no worker) as {run.task_id}"
    )


@pytest.mark.django_db
def test_job_runs_and_openf1_sessions_cannot_be_deleted(
    ergast_data, admin_client, rf, admin_user, django_assert_num_queries
):
    """Read-only means no delete either: job runs are the pipeline's history (pruned by the weekly
    job), sessions carry the ingestion markers and own the live data (pruned by the weekly job)."""
    from datetime import timedelta

    from django.contrib import admin
    from django.utils import timezone

    from ingestion.models import LiveDriverSnapshot, OpenF1Session, Race, RaceControlMessage
    from tests.admin_checks import assert_admin_cannot_delete

    assert_admin_cannot_delete(
        admin_client, JobRun.objects.create(job="cache_cleanup", status=JobStatus.SUCCEEDED)
    )
    start = timezone.now() - timedelta(days=1)
    session = OpenF1Session.objects.create(
        session_key=99_999_001, meeting_key=99_999, race=Race.objects.get(slug="2024_bahrain"),
        session_type="race", session_name="Race", date_start=start, date_end=start + timedelta(hours=2),
    )  # fmt: skip
    assert_admin_cannot_delete(admin_client, session)
    request = rf.get("/admin/")
    request.user = admin_user
    # named by its race, not by ids ("1121 Race (99999001)" before: admin review), with no query
    listed = admin.site._registry[OpenF1Session].get_queryset(request).get(pk=session.pk)
    with django_assert_num_queries(0):
        assert str(listed) == "2024 Bahrain Grand Prix — Race (OpenF1 99999001)"
    page = admin_client.get(f"/admin/ingestion/openf1session/{session.pk}/change/").content.decode()
    assert "2024 Bahrain Grand Prix — Race (OpenF1 99999001)" in page
    for model in (LiveDriverSnapshot, RaceControlMessage):
        assert not admin.site._registry[model].has_delete_permission(request)


@pytest.mark.django_db
def test_run_now_messages_keep_the_job_name_lowercase(admin_client):
    # the admin template capitalises a message's first letter ("Not_a_job is not …" before)
    run = JobRun.objects.create(job="not_a_job", status=JobStatus.SUCCEEDED)
    response = admin_client.post(
        "/admin/ingestion/jobrun/", {"action": "run_now", "_selected_action": [run.pk]}, follow=True
    )
    body = response.content.decode()
    assert "Not queued: not_a_job is not a scheduled job" in body and "Not_a_job" not in body


@pytest.mark.django_db
def test_a_sync_runs_counts_of_every_kind_are_shown(admin_client):
    """QA: the Sync runs admin showed only per-table counts, so a forecast run read `Counts: -` and
    `0 / 0` although it had counted races, rows and the all-null forecasts it did not store (with a
    note), and the observed weather's created / no_samples were hidden too."""
    from ingestion.models import SyncRun, SyncSource, SyncStatus

    note = "2 session forecast(s) with every value null not stored: 2026_qatar fp3, 2026_uae fp1"
    forecast = SyncRun.objects.create(
        source=SyncSource.WEATHER,
        status=SyncStatus.SUCCEEDED,
        counts={"races": 2, "rows": 4, "empty": 2, "note": note, "requests": 2},
    )
    observed = SyncRun.objects.create(
        source=SyncSource.WEATHER,
        status=SyncStatus.SUCCEEDED,
        counts={"races": 3, "created": 173, "updated": 0, "no_samples": [f"2026_{n}" for n in range(25)]},
    )
    jolpica = SyncRun.objects.create(
        source=SyncSource.JOLPICA,
        status=SyncStatus.SUCCEEDED,
        counts={
            "results": {"created": 20, "updated": 1, "unchanged": 0},
            "races": {"created": 1, "updated": 0},
        },
    )

    page = admin_client.get(f"/admin/ingestion/syncrun/{forecast.pk}/change/").content.decode()
    for shown in ("<b>races</b>: 2", "<b>rows</b>: 4", "<b>empty</b>: 2", f"<b>note</b>: {note}"):
        assert shown in page, shown
    page = admin_client.get(f"/admin/ingestion/syncrun/{observed.pk}/change/").content.decode()
    assert "<b>created</b>: 173" in page
    listed = ", ".join(f"2026_{n}" for n in range(20))
    assert f"<b>no_samples</b>: 25: {listed}, … 5 more" in page
    page = admin_client.get(f"/admin/ingestion/syncrun/{jolpica.pk}/change/").content.decode()
    assert "<tr><td>results</td><td>20</td><td>1</td><td>0</td><td>0</td><td>0</td></tr>" in page

    changelist = admin_client.get("/admin/ingestion/syncrun/").content.decode()

    def changed(run):  # the list's created / updated cell of a run
        return (
            changelist.split(f"/admin/ingestion/syncrun/{run.pk}/change/")[1]
            .split('class="field-changed">')[1]
            .split("<")[0]
        )

    assert changed(jolpica) == "21 / 1" and changed(observed) == "173 / 0" and changed(forecast) == "-"


# --- who may run the actions (QA security #1) --------------------------------------------------
# A staff user with only "view" permissions ran jobs and disabled every beat schedule from here.


def _job_enqueues(monkeypatch) -> list:
    sent = []
    monkeypatch.setattr("ingestion.tasks.job_enqueue", lambda *, name: sent.append(name))
    monkeypatch.setattr("ingestion.tasks.job_enqueue_runs_inline", lambda: False)
    return sent


@pytest.mark.django_db
def test_view_only_staff_cannot_run_jobs_now(monkeypatch):
    from tests.admin_checks import assert_action_refused, staff_client

    run = JobRun.objects.create(job="cache_cleanup", status=JobStatus.SUCCEEDED)
    sent = _job_enqueues(monkeypatch)
    assert_action_refused(staff_client("view"), JobRun, "run_now", [run.pk])
    assert sent == [] and list(JobRun.objects.all()) == [run]


@pytest.mark.django_db
def test_staff_with_change_jobrun_can_run_jobs_now(monkeypatch):
    from tests.admin_checks import action_post, offered_actions, staff_client

    run = JobRun.objects.create(job="cache_cleanup", status=JobStatus.SUCCEEDED)
    sent = _job_enqueues(monkeypatch)
    operator = staff_client("ingestion.change_jobrun")
    assert offered_actions(operator, JobRun) == ["run_now"]
    response = action_post(operator, JobRun, "run_now", [run.pk])
    assert sent == ["cache_cleanup"]
    assert [str(m) for m in response.context["messages"]] == ["Queued: cache_cleanup"]


BEAT_ACTIONS = ["enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"]


def _schedules():
    """The seeded schedule (migration ingestion/0004), all enabled."""
    from django_celery_beat.models import PeriodicTask

    tasks = PeriodicTask.objects.filter(name__in=["cache_cleanup", "daily_results_sync"])
    assert tasks.count() == 2
    tasks.update(enabled=True)
    return PeriodicTask, [t.pk for t in tasks]


@pytest.mark.django_db
@pytest.mark.parametrize("action", BEAT_ACTIONS)
def test_view_only_staff_cannot_touch_the_schedule(monkeypatch, action):
    from tests.admin_checks import assert_action_refused, staff_client

    PeriodicTask, pks = _schedules()
    sent = _job_enqueues(monkeypatch)
    before = list(PeriodicTask.objects.filter(pk__in=pks).values_list("pk", "enabled", "last_run_at"))
    assert_action_refused(staff_client("view"), PeriodicTask, action, pks)
    assert sent == []
    assert list(PeriodicTask.objects.filter(pk__in=pks).values_list("pk", "enabled", "last_run_at")) == before


@pytest.mark.django_db
def test_staff_with_change_periodictask_can_run_and_switch_schedules(monkeypatch):
    from tests.admin_checks import action_post, offered_actions, staff_client

    PeriodicTask, pks = _schedules()
    sent = _job_enqueues(monkeypatch)
    operator = staff_client("django_celery_beat.change_periodictask")
    assert offered_actions(operator, PeriodicTask) == BEAT_ACTIONS  # no "Delete selected"

    def enabled():
        return set(PeriodicTask.objects.filter(pk__in=pks).values_list("enabled", flat=True))

    action_post(operator, PeriodicTask, "disable_tasks", pks)
    assert enabled() == {False}
    action_post(operator, PeriodicTask, "toggle_tasks", pks)
    assert enabled() == {True}
    action_post(operator, PeriodicTask, "disable_tasks", pks)
    action_post(operator, PeriodicTask, "enable_tasks", pks)
    assert enabled() == {True}
    action_post(operator, PeriodicTask, "run_tasks", pks)
    assert sent == ["cache_cleanup", "daily_results_sync"]


@pytest.mark.django_db
def test_toggling_a_schedule_off_forgets_its_last_run_as_disabling_does(monkeypatch):
    """Upstream's toggle kept last_run_at on the tasks it switched off (its disable clears it), so a
    schedule toggled back on after a pause looked overdue and beat fired it at once."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.admin_checks import action_post, staff_client

    PeriodicTask, pks = _schedules()
    a_week_ago = timezone.now() - timedelta(days=7)
    PeriodicTask.objects.filter(pk__in=pks).update(last_run_at=a_week_ago)
    off_already = PeriodicTask.objects.get(pk=pks[1])
    PeriodicTask.objects.filter(pk=off_already.pk).update(enabled=False)  # toggled on below
    operator = staff_client("django_celery_beat.change_periodictask")
    action_post(operator, PeriodicTask, "toggle_tasks", pks)
    rows = dict(PeriodicTask.objects.filter(pk__in=pks).values_list("pk", "enabled"))
    assert rows == {pks[0]: False, pks[1]: True}
    assert PeriodicTask.objects.get(pk=pks[0]).last_run_at is None  # switched off: forgotten
    assert PeriodicTask.objects.get(pk=pks[1]).last_run_at == a_week_ago  # switched on: untouched
    action_post(operator, PeriodicTask, "toggle_tasks", [pks[0]])  # back on: counts from now
    assert (
        PeriodicTask.objects.get(pk=pks[0]).enabled
        and PeriodicTask.objects.get(pk=pks[0]).last_run_at is None
    )


@pytest.mark.django_db
def test_superusers_are_offered_every_pipeline_action(admin_client):
    from django_celery_beat.models import PeriodicTask

    from tests.admin_checks import offered_actions

    assert offered_actions(admin_client, JobRun) == ["run_now"]
    assert offered_actions(admin_client, PeriodicTask) == ["delete_selected", *BEAT_ACTIONS]


@pytest.mark.django_db
def test_view_only_staff_cannot_clean_up_access_attempts():
    """django-axes' own action deleted expired attempts for a "view" user too; it needs delete now."""
    from datetime import timedelta

    from axes.models import AccessAttempt
    from django.utils import timezone

    from tests.admin_checks import action_post, assert_action_refused, offered_actions, staff_client

    attempt = AccessAttempt.objects.create(
        username="someone", ip_address="203.0.113.9", failures_since_start=1
    )
    expired = AccessAttempt.objects.create(username="other", ip_address="203.0.113.9", failures_since_start=1)
    AccessAttempt.objects.filter(pk=expired.pk).update(attempt_time=timezone.now() - timedelta(days=2))
    assert_action_refused(staff_client("view"), AccessAttempt, "cleanup_expired_attempts", [attempt.pk])
    assert AccessAttempt.objects.count() == 2
    operator = staff_client("axes.view_accessattempt", "axes.delete_accessattempt", username="operator")
    assert "cleanup_expired_attempts" in offered_actions(operator, AccessAttempt)
    # upstream's action was a 500 here (request.axes_attempt_time unset outside a login)
    response = action_post(operator, AccessAttempt, "cleanup_expired_attempts", [attempt.pk])
    assert [str(m) for m in response.context["messages"]] == ["Cleaned up 1 expired access attempts."]
    assert list(AccessAttempt.objects.all()) == [attempt]
