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
