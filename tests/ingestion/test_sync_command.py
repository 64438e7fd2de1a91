"""sync_f1 at the command edge: `--only` parsing, requests for things upstream does not have,
Ctrl-C and unexpected errors. Against the f1mirror over HTTP, into the real test database."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from ingestion.models import RaceResult, SyncRun, SyncSource, SyncStatus

SEASON = 2021


def last_run() -> SyncRun:
    return SyncRun.objects.filter(source=SyncSource.JOLPICA).latest("pk")


def test_only_races_reads_the_calendar_only(mirror, ergast_data, capsys):
    RaceResult.objects.filter(race__season_id=SEASON, race__round=1).delete()

    call_command("sync_f1", "--seasons", "2021", "--only", "races", "--json")

    data = json.loads(capsys.readouterr().out)
    assert data["requests_made"] == 1 and data["counts"].keys() <= {"seasons", "circuits", "races"}
    assert mirror.requests()["paths"] == {"/ergast/f1/2021/races.json": 1}
    assert not RaceResult.objects.filter(race__season_id=SEASON, race__round=1).exists()
    assert last_run().params["only"] == []


@pytest.mark.parametrize("value", [",", ""])
def test_only_naming_no_kind_is_a_usage_error(mirror, ergast_data, value):
    with pytest.raises(CommandError, match="no kind given"):
        call_command("sync_f1", "--seasons", "2021", "--only", value)
    assert mirror.requests()["total"] == 0
