"""A worker shutting down mid-job (SIGTERM -> SystemExit in the task) is an interruption, not a
failure: the JobRun and the SyncRun say `interrupted` with a readable reason."""

from __future__ import annotations

import pytest

from ingestion.models import SyncRun, SyncStatus


class _ShuttingDownClient:
    """A Jolpica client whose first request meets the worker's shutdown."""

    requests_made = 0

    def close(self) -> None:
        pass

    def __getattr__(self, name):
        def stop(*args, **kwargs):
            raise SystemExit(-241)

        return stop


@pytest.mark.django_db
def test_a_shutdown_mid_sync_records_the_sync_run_interrupted_with_a_readable_error():
    from ingestion.services.jolpica_sync import jolpica_sync

    with pytest.raises(SystemExit):
        jolpica_sync(seasons=[2099], client=_ShuttingDownClient(), resume=False)
    run = SyncRun.objects.latest("pk")
    assert run.status == SyncStatus.INTERRUPTED and run.finished_at is not None
    messages = [e.get("message", "") for e in run.errors if isinstance(e, dict)]
    assert any("worker shut down during the run" in m for m in messages), run.errors


class _ShuttingDownOpenF1:
    """An OpenF1 client whose first request meets the worker's shutdown (SIGTERM -> SystemExit)."""

    requests_made = 0

    def __getattr__(self, name):
        def stop(*args, **kwargs):
            raise SystemExit("worker shutting down")

        return stop


def _openf1_sessions(client):
    from ingestion.services.openf1_sessions import openf1_sessions_sync

    openf1_sessions_sync(seasons=[2024], client=client)


def _weather_observed(client):
    from datetime import UTC, datetime

    from ingestion.services.weather_observed import weather_observed_sync

    weather_observed_sync(
        seasons=[2021],
        race_ids=["2021_belgium"],
        client=client,
        now=datetime(2022, 1, 1, tzinfo=UTC),
        refresh=True,
    )


@pytest.mark.parametrize(
    "sync", [_openf1_sessions, _weather_observed], ids=["openf1_sessions", "weather_observed"]
)
def test_a_shutdown_mid_openf1_or_weather_sync_records_it_interrupted_with_the_reason(sync, ergast_data):
    """The OpenF1 and weather syncs record through `sync_run_recorded`, which let SystemExit (a
    BaseException) pass: the run said `failed` with `errors: []`, no reason at all (QA rel #4).
    Now as the Jolpica sync: `interrupted`, "worker shut down during the run", and re-raised."""
    with pytest.raises(SystemExit) as caught:
        sync(_ShuttingDownOpenF1())
    run = SyncRun.objects.latest("pk")
    assert run.source in ("openf1", "weather")
    assert run.status == SyncStatus.INTERRUPTED and run.finished_at is not None
    (error,) = run.errors
    assert error["fatal"] is True
    assert error["message"] == "interrupted: worker shut down during the run; what it had committed was kept"
    assert caught.value.sync_run_id == run.pk  # for the command's message
