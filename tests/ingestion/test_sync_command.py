"""sync_f1 at the command edge: `--only` parsing, requests for things upstream does not have,
Ctrl-C and unexpected errors. Against the f1mirror over HTTP, into the real test database."""

from __future__ import annotations

import json
import re

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


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--seasons", "2021", "--rounds", "30"],
            "2021 round 30 not in the upstream calendar (2021 has rounds 1-22)",
        ),
        (["--seasons", "2099"], "season 2099 does not exist upstream (no races in its calendar)"),
    ],
)
def test_a_season_or_round_upstream_lacks_is_said_and_exits_1(mirror, ergast_data, capsys, args, expected):
    with pytest.raises(CommandError, match=re.escape(f"not upstream: {expected}")):
        call_command("sync_f1", *args)
    assert "0 races written" in capsys.readouterr().out  # the summary is still printed
    run = last_run()
    assert run.status == SyncStatus.SUCCEEDED  # nothing failed: the calendar was read
    assert {"level": "warning", "message": expected} in run.errors


def test_some_rounds_missing_still_syncs_the_rest_and_says_which(mirror, ergast_data, capsys):
    with pytest.raises(CommandError, match=r"2021 rounds 23, 24 not in the upstream calendar"):
        call_command("sync_f1", "--seasons", "2021", "--rounds", "22-24", "--only", "results", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["races_written"] == 1 and data["missing"] == [
        "2021 rounds 23, 24 not in the upstream calendar (2021 has rounds 1-22)"
    ]
