"""A Jolpica race numbered below 1 is a payload error, not a database error (Race's `race_round_gte_1`)."""

from __future__ import annotations

import shutil

import pytest
from django.core.management import CommandError, call_command
from pydantic import ValidationError

from ingestion.clients.jolpica_schemas import Race as RacePayload
from ingestion.models import Race, SyncRun, SyncSource, SyncStatus
from tests.conftest import ERGAST_DUMP_DIR, start_mirror
from tests.ingestion.helpers import csv_read, csv_write

RACE = {
    "season": "2021",
    "round": "1",
    "raceName": "Bahrain Grand Prix",
    "date": "2021-03-28",
    "Circuit": {"circuitId": "bahrain", "circuitName": "Bahrain International Circuit", "Location": {}},
}


@pytest.mark.parametrize(("value", "message"), [("0", "rounds start at 1"), ("-1", "should match pattern")])
def test_a_race_payload_with_round_below_1_fails_validation_naming_the_field(value, message):
    assert RacePayload.model_validate(RACE).round == "1"
    with pytest.raises(ValidationError) as caught:
        RacePayload.model_validate({**RACE, "round": value})
    (error,) = caught.value.errors()
    assert error["loc"] == ("round",) and message in error["msg"] and error["input"] == value


@pytest.fixture(scope="module")
def round_0_mirror(tmp_path_factory):
    """A mirror whose 2021 calendar numbers its first race 0 (the real data never does)."""
    data = tmp_path_factory.mktemp("round_0")
    shutil.copytree(ERGAST_DUMP_DIR, data / "ergast")
    (data / "openf1").mkdir()
    fields, races = csv_read(data / "ergast" / "races.csv")
    next(r for r in races if r["year"] == "2021" and r["round"] == "1")["round"] = "0"
    csv_write(data / "ergast" / "races.csv", fields, races)
    mirror = start_mirror(data)
    yield mirror
    mirror.server.shutdown()


def test_sync_of_a_calendar_with_round_0_fails_clearly_and_writes_nothing(
    round_0_mirror, ergast_data, settings
):
    settings.ERGAST_API_BASE = round_0_mirror.ergast
    settings.ERGAST_RATE_LIMIT = "1000/s"
    before = list(Race.objects.filter(season_id=2021).order_by("pk").values_list("pk", "slug", "round"))
    with pytest.raises(CommandError) as caught:
        call_command("sync_f1", "--seasons", "2021", "--only", "races")
    message = str(caught.value)
    assert "\n" not in message and "IntegrityError" not in message
    assert (
        "Sync failed" in message
        and "jolpica: Races[].round: Value error, rounds start at 1 (got '0')" in message
    )
    run = SyncRun.objects.filter(source=SyncSource.JOLPICA).latest("pk")
    assert run.status == SyncStatus.FAILED and "rounds start at 1" in run.errors[-1]["message"]
    assert (
        list(Race.objects.filter(season_id=2021).order_by("pk").values_list("pk", "slug", "round")) == before
    )
