"""sync_f1 at the command edge: `--only` parsing, requests for things upstream does not have,
Ctrl-C and unexpected errors. Against the f1mirror over HTTP, into the real test database."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from ingestion.models import RaceResult, SyncRun, SyncSource, SyncStatus
from ingestion.services.jolpica_sync import JolpicaSync

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
    with pytest.raises(CommandError, match="no kind given") as caught:
        call_command("sync_f1", "--seasons", "2021", "--only", value)
    assert caught.value.returncode == 2  # a usage error, as argparse's (QA: it exited 1)
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


def test_an_unexpected_error_is_one_line_exit_1_and_the_run_failed(mirror, ergast_data, monkeypatch):
    def broken(self, season):
        raise IntegrityError(
            'duplicate key value violates unique constraint "x"\nDETAIL:  Key (a)=(1) exists.'
        )

    monkeypatch.setattr(JolpicaSync, "sync_calendar", broken)
    with pytest.raises(CommandError) as caught:
        call_command("sync_f1", "--seasons", "2021")
    run = last_run()
    message = str(caught.value)
    assert caught.value.returncode == 1 and "\n" not in message
    assert message.startswith(f"Sync failed (SyncRun {run.pk}): IntegrityError: duplicate key value")
    assert "DETAIL: Key (a)=(1) exists." in message
    assert run.status == SyncStatus.FAILED and "IntegrityError" in run.errors[-1]["message"]


def test_ctrl_c_is_one_line_exit_130_and_the_run_interrupted(mirror, ergast_data, monkeypatch):
    def ctrl_c(self, season):
        raise KeyboardInterrupt

    monkeypatch.setattr(JolpicaSync, "sync_calendar", ctrl_c)
    with pytest.raises(CommandError) as caught:
        call_command("sync_f1", "--seasons", "2021")
    run = last_run()
    assert caught.value.returncode == 130
    assert str(caught.value).startswith(f"Sync interrupted by Ctrl-C (SyncRun {run.pk}):")
    assert run.status == SyncStatus.INTERRUPTED
    assert "interrupted by the user" in run.errors[-1]["message"]


@pytest.mark.parametrize(
    "args",
    [
        ("--seasons", "abc"),
        ("--seasons", "1900"),
        ("--seasons", "2021", "--rounds", "5-3"),
        ("--seasons", ","),
    ],
)
@pytest.mark.django_db
def test_malformed_seasons_or_rounds_are_usage_errors(args):
    """Exit 2, like argparse's own usage errors and the prediction commands' (was 1, the status of
    a failed sync); nothing is requested or recorded."""
    runs = SyncRun.objects.count()
    with pytest.raises(CommandError) as caught:
        call_command("sync_f1", *args)
    assert caught.value.returncode == 2
    assert SyncRun.objects.count() == runs
