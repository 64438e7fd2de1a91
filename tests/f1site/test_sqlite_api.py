"""The hand-written SQL of the hot API endpoints also runs on the embedded SQLite default (what
`make up` uses without DATABASE_URL): standings, race lists, the driver list's order and prediction
sets, answered in a separate process against a fresh SQLite database and compared with PostgreSQL's
answer or with the rows the test wrote. Regressions: DISTINCT ON and `= ANY(array)` answered 500 there, and raw
timestamps lost their `Z`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ERGAST_DUMP_DIR, IN_SEASON, in_season

ROOT = Path(__file__).resolve().parents[2]

# Runs in the child process (DATABASE_URL unset -> SQLite under PITWALL_VAR_DIR).
_CHILD = r"""
import datetime as dt, json, os, sys, uuid
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")
import django
import time_machine
# the API's upcoming list follows today's date: answer at the parent's moment in the season
time_machine.travel(dt.datetime.fromisoformat(sys.argv[2]), tick=True).start()
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from ingestion.models import Driver, Race, Team
from predictions.models import Prediction
from tests.factories import ModelVersionFactory, PredictionFactory

assert connection.vendor == "sqlite", connection.vendor
call_command("migrate", verbosity=0)
call_command("load_ergast", sys.argv[1], "--seasons", "2024-2026", verbosity=0)

race = Race.objects.get(slug="2024_bahrain")
drivers = list(Driver.objects.filter(ref__in=["max_verstappen", "norris", "leclerc"]).order_by("ref"))
team = Team.objects.get(ref="red_bull")
version = ModelVersionFactory(label="v-sqlite")
def prediction_set(stage, created, win, order, low):
    batch = uuid.uuid4()
    for position, driver in zip(order, drivers):
        PredictionFactory(batch=batch, race=race, driver=driver, team=team, stage=stage,
                          predicted_position=position, win_probability=win, low_confidence=low,
                          model_version=version)
    Prediction.objects.filter(batch=batch).update(created_at=created)
utc = dt.timezone.utc
prediction_set("pre", dt.datetime(2024, 2, 20, 9, 0, tzinfo=utc), 0.11, [1, 2, 3], False)  # superseded
prediction_set("pre", dt.datetime(2024, 2, 27, 9, 0, tzinfo=utc), 0.22, [3, 1, 2], True)
prediction_set("post", dt.datetime(2024, 3, 1, 18, 30, tzinfo=utc), 0.33, [2, 3, 1], False)

client = Client()
out = {}
for path in ["/api/v1/standings?season=2024", "/api/v1/standings?season=2024&round=5",
             "/api/v1/races?season=2024", "/api/v1/drivers?season=2024&limit=200",
             "/api/v1/predictions/upcoming",
             "/api/v1/predictions/race/2024_bahrain"]:
    response = client.get(path)
    out[path] = [response.status_code, response.json()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def sqlite_answers(tmp_path_factory):
    dump = ERGAST_DUMP_DIR
    if not dump.is_dir():
        pytest.skip(f"no Ergast dump at {dump}")
    var_dir = tmp_path_factory.mktemp("sqlite")
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_NAME"}
    }
    env.update(DEBUG="true", PITWALL_VAR_DIR=str(var_dir))
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(dump), IN_SEASON.isoformat()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/standings?season=2024", "/api/v1/standings?season=2024&round=5"])
def test_standings_on_sqlite_equal_postgresql(sqlite_answers, api, ergast_data, path):
    status, body = sqlite_answers[path]
    assert status == 200, body
    assert body == api.get(path).json()
    # and the facts themselves, from the 2024 season
    leader = body["drivers"][0]
    if path.endswith("season=2024"):
        assert (leader["driver"]["id"], leader["points"], leader["wins"]) == ("max_verstappen", 437.0, 9)
    assert leader["team"] == {"id": "red_bull", "name": "Red Bull"}


@pytest.mark.django_db
@in_season  # the child process answers at the same moment (IN_SEASON), so both list the next races
def test_race_lists_on_sqlite_equal_postgresql(sqlite_answers, api, ergast_data):
    status, body = sqlite_answers["/api/v1/races?season=2024"]
    assert status == 200, body
    assert body == api.get("/api/v1/races?season=2024").json()
    assert body["results"][0]["start"] == "2024-03-02T15:00:00Z"  # Bahrain, races.csv 15:00:00 UTC
    # the next races (as of IN_SEASON, 2026-11-26), with the same timestamps as PostgreSQL's
    status, upcoming = sqlite_answers["/api/v1/predictions/upcoming"]
    assert status == 200, upcoming
    expected = api.get("/api/v1/predictions/upcoming").json()["races"]
    assert upcoming["races"] == expected
    assert [r["race"]["id"] for r in upcoming["races"]] == ["2026_qatar", "2026_uae"]
    assert all(r["race"]["start"] is None or r["race"]["start"].endswith("Z") for r in upcoming["races"])


@pytest.mark.django_db
def test_driver_list_order_on_sqlite_equals_postgresql(sqlite_answers, api, ergast_data):
    """Dictionary order (accents and case folded in Python), whatever each database's collation."""
    path = "/api/v1/drivers?season=2024&limit=200"
    status, body = sqlite_answers[path]
    assert status == 200, body
    assert body == api.get(path).json()
    names = [d["family_name"] for d in body["results"]]
    assert names.index("Hamilton") < names.index("Hülkenberg") < names.index("Lawson")
    assert names.index("Ocon") < names.index("Pérez") < names.index("Piastri")


def test_current_prediction_sets_on_sqlite(sqlite_answers):
    status, body = sqlite_answers["/api/v1/predictions/race/2024_bahrain"]
    assert status == 200, body
    stages = {s["stage"]: s for s in body["stages"]}
    assert list(stages) == ["pre", "post"]
    pre, post = stages["pre"], stages["post"]
    # the newest pre set, not the superseded one; rows by predicted position
    assert {p["win_probability"] for p in pre["predictions"]} == {0.22}
    # drivers by ref: leclerc, max_verstappen, norris took positions 3, 1, 2
    assert [p["driver"]["id"] for p in pre["predictions"]] == ["max_verstappen", "norris", "leclerc"]
    assert [p["predicted_position"] for p in pre["predictions"]] == [1, 2, 3]
    assert pre["created_at"] == "2024-02-27T09:00:00Z"
    assert all(p["low_confidence"] is True for p in pre["predictions"])
    assert pre["backfilled"] is False and pre["model_version"] == "v-sqlite"
    assert post["created_at"] == "2024-03-01T18:30:00Z"
    assert [p["driver"]["id"] for p in post["predictions"]] == ["norris", "leclerc", "max_verstappen"]
    assert all(p["low_confidence"] is False for p in post["predictions"])
    assert post["predictions"][0]["explanation"][0] == {"feature": "grid", "value": 1.0, "contribution": -2.5}
