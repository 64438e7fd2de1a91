"""Usage errors exit 2 in every pipeline command, a season with no observed weather is said, not
fetched, and the options say what they do.

Before: `sync_openf1 --reingest` without `--results`, bare `run_job` and `run_job nope` exited 1 (a
failure's code; run_job's docstring says 2 = usage error); `sync_weather --observed --seasons 2010`
made 19 requests, listed every race under no_samples and exited 0, where `sync_openf1 --seasons 2020`
says "not upstream" and exits 1; run_job's job / --list / --seed-schedule and sync_weather's
--observed / --forecast had no help text."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command, load_command_class

from ingestion.models import SyncRun, SyncSource, SyncStatus


@pytest.mark.parametrize(
    "argv",
    [
        ["sync_openf1", "--reingest"],
        ["sync_openf1", "--replace-conflicts"],
        ["run_job"],
        ["run_job", "nope"],
    ],
)
def test_usage_errors_exit_2(argv):
    with pytest.raises(CommandError) as caught:
        call_command(*argv)
    assert caught.value.returncode == 2, str(caught.value)


@pytest.mark.django_db
def test_observed_weather_before_2018_is_not_asked_for_and_exits_1(mirror, ergast_data):
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^not upstream: season 2010: .*starts in 2018") as caught:
        call_command("sync_weather", "--observed", "--seasons", "2010", stdout=out)
    assert caught.value.returncode == 1  # as sync_f1 / sync_openf1 for a season upstream lacks
    assert mirror.requests()["total"] == 0  # it made 19 requests for nothing
    observed = json.loads(out.getvalue())["observed"]
    assert observed["races"] == 0 and observed["no_samples"] == []
    assert observed["missing"] == ["season 2010: no observed weather (OpenF1's /v1/weather starts in 2018)"]
    run = SyncRun.objects.filter(source=SyncSource.WEATHER).latest("pk")
    assert run.status == SyncStatus.SUCCEEDED and run.requests_made == 0
    assert run.errors == [{"level": "warning", "message": observed["missing"][0]}]


@pytest.mark.django_db
def test_the_seasons_with_observed_weather_are_still_synced(mirror, ergast_data):
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^not upstream: season 2017: "):
        call_command("sync_weather", "--observed", "--seasons", "2017-2018", stdout=out)
    observed = json.loads(out.getvalue())["observed"]
    assert observed["races"] == 21 and observed["created"] > 0  # 2018's races, one request each
    assert mirror.requests()["paths"] == {"/v1/weather": 21}


@pytest.mark.parametrize(
    ("command", "dests"),
    [
        ("run_job", ["job", "list_jobs", "seed_schedule", "enqueue", "wait"]),
        ("sync_weather", ["observed", "forecast", "seasons", "refresh"]),
    ],
)
def test_every_option_has_a_help_text(command, dests):
    parser = load_command_class("ingestion", command).create_parser("manage.py", command)
    helps = {action.dest: action.help for action in parser._actions}
    assert all(helps[dest] for dest in dests), {dest: helps[dest] for dest in dests}
