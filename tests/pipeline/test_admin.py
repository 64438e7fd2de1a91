"""Staff see job runs and OpenF1 sessions in admin; 'run now' re-queues a job."""

from __future__ import annotations

import pytest

from ingestion.models import JobRun, JobStatus


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
def test_run_now_queues_the_job_after_commit(admin_client, django_capture_on_commit_callbacks, settings):
    from f1site.celery import app

    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs a real broker (REDIS_URL)")
    queue = app.conf.task_default_queue
    with app.connection_for_write() as conn:
        conn.SimpleQueue(queue).clear()
    run = JobRun.objects.create(job="cache_cleanup", status=JobStatus.SUCCEEDED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            "/admin/ingestion/jobrun/", {"action": "run_now", "_selected_action": [run.pk]}, follow=True
        )
    assert response.status_code == 200 and len(callbacks) == 1  # nothing sent before the commit
    callbacks[0]()
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue(queue).get(timeout=5)
        message.ack()
    assert message.headers["task"] == "ingestion.tasks.cache_cleanup"
