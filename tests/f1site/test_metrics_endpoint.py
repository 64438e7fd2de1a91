"""/metrics: access control, the named series, and series that move when a request, a cache hit and
a Celery job happen (real PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set, as in CI)."""

from __future__ import annotations

import pytest
from celery import current_app

from tests.metrics_exposition import names, parse_exposition, sample

pytestmark = pytest.mark.django_db


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse_exposition(response.content.decode())


def test_metrics_refused_from_outside_the_allowlist_without_token(client, settings):
    settings.METRICS_TOKEN = None
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"pitwall_" not in response.content


def test_behind_a_proxy_metrics_judges_the_clients_address_not_the_proxys(client, settings):
    """Security QA: behind a same-host proxy every request came from 127.0.0.1, so /metrics was
    public. With API_NUM_PROXIES=1 the address the proxy saw is judged; a direct local scrape (no
    X-Forwarded-For) is still the loopback it is."""
    settings.METRICS_TOKEN = None
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert proxied.status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_a_forwarded_value_that_is_no_address_falls_back_to_the_peer(rf, settings):
    from f1site.throttling import client_address

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert (
        client_address(rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.66"))
        == "203.0.113.66"
    )
    assert (
        client_address(rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4:5678")) == "10.0.0.5"
    )
    assert client_address(rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="junk")) == "10.0.0.5"


def test_metrics_token_admits_any_address_and_a_wrong_token_does_not(client, settings):
    settings.METRICS_TOKEN = "s3cret-token-for-tests"
    settings.METRICS_ALLOWED_NETWORKS = []  # token only: even loopback must present it
    assert client.get("/metrics").status_code == 403
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    right = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token-for-tests"
    )
    assert right.status_code == 200
    assert b"pitwall_state_up 1.0" in right.content


def test_metrics_is_post_proof_and_never_cached(client):
    assert client.post("/metrics").status_code == 405
    assert "no-cache" in client.get("/metrics")["Cache-Control"]


def test_metrics_exposes_the_named_series(client):
    # Touch each process-level series once so its family has a sample to show.
    client.get("/admin/login/")
    found = names(scrape(client))
    for series in (
        "pitwall_request_latency_seconds_bucket",
        "pitwall_request_latency_seconds_count",
        "pitwall_state_up",
        "pitwall_api_requests_window",
        "pitwall_api_5xx_window",
        "pitwall_model_live_races",
        "pitwall_alert_firing",
    ):
        assert series in found, series


def test_request_latency_counts_the_view_that_served_it(client):
    before = scrape(client)
    labels = {"view": "admin:login", "method": "GET", "status": 200}
    client.get("/admin/login/")
    client.get("/admin/login/")
    after = scrape(client)
    assert sample(after, "pitwall_request_latency_seconds_count", **labels) == (
        sample(before, "pitwall_request_latency_seconds_count", **labels) + 2
    )
    # The scrape itself is not recorded, and unresolved paths share one label.
    assert (
        sample(after, "pitwall_request_latency_seconds_count", view="metrics", method="GET", status=200) == 0
    )
    client.get("/no-such-page-anywhere/")
    assert (
        sample(
            scrape(client),
            "pitwall_request_latency_seconds_count",
            view="<unmatched>",
            method="GET",
            status=404,
        )
        == sample(
            before, "pitwall_request_latency_seconds_count", view="<unmatched>", method="GET", status=404
        )
        + 1
    )


def test_cache_hit_and_miss_are_counted_per_tier(client):
    cache_layer = pytest.importorskip("f1site.cache")
    from django.core.cache import cache

    key = "tests:ops:metrics-cache-probe"
    cache.delete(key)
    before = scrape(client)
    compute_calls = []
    for _ in range(3):
        cache_layer.cached_json(
            key=key, ttl=60, tier="ops-test", compute=lambda: compute_calls.append(1) or {"a": 1}
        )
    after = scrape(client)
    assert len(compute_calls) == 1
    miss = sample(after, "pitwall_cache_events_total", tier="ops-test", outcome="miss") - sample(
        before, "pitwall_cache_events_total", tier="ops-test", outcome="miss"
    )
    hit = sample(after, "pitwall_cache_events_total", tier="ops-test", outcome="hit") - sample(
        before, "pitwall_cache_events_total", tier="ops-test", outcome="hit"
    )
    assert (miss, hit) == (1, 2)
    cache.delete(key)


def test_an_api_request_served_from_the_cache_counts_a_hit_for_its_tier(client, ergast_data):
    """End to end through the API: a cold request misses, the same request again hits (Redis in CI)."""
    from f1site.cache import bump_families

    bump_families(["teams"])  # a new generation of the teams list keys: the first request is cold
    url = "/api/v1/teams?season=2021"
    before = scrape(client)
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    after = scrape(client)

    def delta(outcome):
        labels = {"tier": "teams", "outcome": outcome}
        return sample(after, "pitwall_cache_events_total", **labels) - sample(
            before, "pitwall_cache_events_total", **labels
        )

    assert (delta("miss"), delta("hit")) == (1, 1)
    latency = {"view": "api-teams", "method": "GET", "status": 200}
    assert (
        sample(after, "pitwall_request_latency_seconds_count", **latency)
        - sample(before, "pitwall_request_latency_seconds_count", **latency)
        == 2
    )


def test_celery_job_outcomes_and_durations_are_recorded(client):
    """celery.accumulate is Celery's built-in echo task: `index` past the end makes it fail."""
    task = current_app.tasks["celery.accumulate"]
    before = scrape(client)
    assert task.apply(args=(1, 2)).get() == (1, 2)
    failed = task.apply(args=(1,), kwargs={"index": 5}, throw=False)
    assert failed.failed()
    after = scrape(client)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    job = "celery.accumulate"
    assert delta("pitwall_job_runs_total", job=job, status="success") == 1
    assert delta("pitwall_job_runs_total", job=job, status="failure") == 1
    assert delta("pitwall_job_duration_seconds_count", job=job, status="success") == 1
    assert delta("pitwall_job_duration_seconds_count", job=job, status="failure") == 1
    assert sample(after, "pitwall_job_duration_seconds_sum", job=job, status="success") >= 0


@pytest.mark.django_db
def test_a_job_run_recorded_as_skipped_is_counted_as_skipped_not_success(client):
    """Celery sees a task that skipped (its lock held by a live run) as a success; the metric
    reports the JobRun's outcome."""
    import ingestion.tasks  # noqa: F401 - registers the pipeline tasks
    from ingestion.models import JobRun, JobStatus
    from ingestion.services.jobs import JobLock

    task = current_app.tasks["ingestion.tasks.cache_cleanup"]
    job = task.name
    lock = JobLock("cache_cleanup")
    lock.release()
    assert lock.acquire()  # this (live) process holds it: the trigger is skipped
    try:
        before = scrape(client)
        result = task.apply().get()
        after = scrape(client)
    finally:
        lock.release()
    assert JobRun.objects.get(pk=result["job_run"]).status == JobStatus.SKIPPED

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("pitwall_job_runs_total", job=job, status="skipped") == 1
    assert delta("pitwall_job_runs_total", job=job, status="success") == 0


def test_sync_rows_changed_are_counted(client):
    from f1site.metrics import record_sync_rows

    before = scrape(client)
    record_sync_rows(source="jolpica", table="race_result", created=20, updated=3)
    record_sync_rows(source="jolpica", table="race_result", created=0, updated=0)
    after = scrape(client)
    for change, amount in (("created", 20), ("updated", 3)):
        labels = {"source": "jolpica", "table": "race_result", "change": change}
        assert (
            sample(after, "pitwall_sync_rows_total", **labels)
            - sample(before, "pitwall_sync_rows_total", **labels)
            == amount
        )


def test_rows_changed_by_the_last_successful_sync_per_source_come_from_sync_runs(client):
    from ingestion.models import SyncRun, SyncSource, SyncStatus

    SyncRun.objects.create(
        source=SyncSource.WEATHER,
        status=SyncStatus.SUCCEEDED,
        counts={"weather_forecast": {"created": 12, "updated": 5, "unchanged": 0}},
    )
    SyncRun.objects.create(  # a later failed run does not replace the last successful one
        source=SyncSource.WEATHER, status=SyncStatus.FAILED, counts={"weather_forecast": {"created": 99}}
    )
    metrics = scrape(client)
    labels = {"source": "weather", "table": "weather_forecast"}
    assert sample(metrics, "pitwall_sync_last_run_rows", change="created", **labels) == 12
    assert sample(metrics, "pitwall_sync_last_run_rows", change="updated", **labels) == 5
    assert 0 <= sample(metrics, "pitwall_last_successful_sync_age_seconds", source="weather") < 600


def test_metrics_scrape_query_count_is_bounded(client, django_assert_max_num_queries):
    client.get("/metrics")  # warm: first scrape may load content types etc.
    # + the stale-run sweep before the job failure streaks: one select (with its savepoint pair in
    # this test's transaction); + one aggregate over the cache-invalidation outbox
    with django_assert_max_num_queries(10):
        assert client.get("/metrics").status_code == 200
