"""The race-data lock shared by the Jolpica sync and the Ergast dump load, held by another real
PostgreSQL connection (the pattern of test_jobs_jolpica_lock). Before, `load_ergast` took no lock: a
manual load during the beat's daily sync wrote the same races and results in between the sync's
race transactions. tests/ingestion/test_sync_lock_processes.py runs the two commands as concurrent
processes."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ingestion.models import Race, RaceResult, SyncRun, SyncSource
from ingestion.services.ergast_dump import ergast_dump_load
from ingestion.services.sync_lock import SyncAlreadyRunning, race_data_lock_held
from tests.conftest import ERGAST_DUMP_DIR
from tests.ingestion.helpers import jolpica_lock_held

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory lock is PostgreSQL-only"),
]


def _holder_line(pid: int) -> str:
    # no running SyncRun to name (the lock is held by a bare connection): the backend alone
    return f"another Jolpica sync or Ergast dump load (backend pid {pid}) is in progress (PostgreSQL advisory lock held)"


def test_load_ergast_is_refused_while_a_sync_holds_the_lock_and_writes_nothing(ergast_data):
    bahrain = Race.objects.get(slug="2021_bahrain")
    rows = RaceResult.objects.filter(race=bahrain).count()
    RaceResult.objects.filter(race=bahrain).delete()  # what the load would put back
    loads = SyncRun.objects.filter(source=SyncSource.ERGAST_DUMP).count()

    with jolpica_lock_held() as pid:
        with pytest.raises(CommandError) as refused:
            call_command("load_ergast", str(ERGAST_DUMP_DIR), "--seasons", "2021")
        assert race_data_lock_held()  # the refusal left the other session's lock alone

    assert refused.value.returncode == 75
    assert str(refused.value) == (
        f"Dump not loaded (nothing written): {_holder_line(pid)}; rerun when it has finished, or add --wait SECONDS"
    )
    assert not RaceResult.objects.filter(race=bahrain).exists()
    assert SyncRun.objects.filter(source=SyncSource.ERGAST_DUMP).count() == loads  # as a refused sync

    # the lock free, the same load runs (and releases the lock)
    report = ergast_dump_load(directory=ERGAST_DUMP_DIR, seasons=range(2021, 2022))
    assert report.status in ("succeeded", "partial")
    assert RaceResult.objects.filter(race=bahrain).count() == rows
    assert not race_data_lock_held()


def test_the_service_raises_naming_the_holder(ergast_data):
    with jolpica_lock_held() as pid, pytest.raises(SyncAlreadyRunning) as refused:
        ergast_dump_load(directory=ERGAST_DUMP_DIR, seasons=range(2021, 2022))
    assert str(refused.value) == _holder_line(pid)
    assert refused.value.holder == f"another Jolpica sync or Ergast dump load (backend pid {pid})"


def test_sync_f1_is_refused_with_the_busy_exit_status(mirror, ergast_data):
    syncs = SyncRun.objects.filter(source=SyncSource.JOLPICA).count()
    with jolpica_lock_held() as pid, pytest.raises(CommandError) as refused:
        call_command("sync_f1", "--seasons", "2021", "--rounds", "1", "--only", "results")
    assert refused.value.returncode == 75
    assert str(refused.value) == (
        f"Sync not started (nothing written): {_holder_line(pid)}; rerun when it has finished, or add --wait SECONDS"
    )
    assert SyncRun.objects.filter(source=SyncSource.JOLPICA).count() == syncs
