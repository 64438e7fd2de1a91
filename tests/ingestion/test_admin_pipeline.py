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
def test_job_runs_and_openf1_sessions_cannot_be_deleted(ergast_data, admin_client, rf, admin_user):
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
