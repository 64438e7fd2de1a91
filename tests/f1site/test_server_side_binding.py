"""DATABASE_SERVER_SIDE_BINDING: settings validation, and the hot API queries under server-side
binding on the real PostgreSQL test database (prepared after the threshold, same rows)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from ingestion.api import selectors as ingestion_sql
from ingestion.models import Race
from predictions.api import selectors as predictions_sql

ROOT = Path(__file__).resolve().parents[2]
PG_URL = "postgres://postgres@127.0.0.1:5432/pitwall"


def _database_options(**env) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_SERVER_SIDE_BINDING", "DATABASE_PREPARE_THRESHOLD"}
    }
    environment.update(DEBUG="true", **env)
    code = "import json, f1site.settings as s; print(json.dumps(s.DATABASES['default'].get('OPTIONS', {})))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )


def test_on_by_default_with_psycopg_default_threshold():
    result = _database_options(DATABASE_URL=PG_URL)
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout.strip().splitlines()[-1])
    assert options == {"server_side_binding": True, "prepare_threshold": 5}


def test_off_leaves_django_defaults():
    result = _database_options(DATABASE_URL=PG_URL, DATABASE_SERVER_SIDE_BINDING="false")
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout.strip().splitlines()[-1])
    assert "server_side_binding" not in options and "prepare_threshold" not in options


def test_sqlite_ignores_it(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    code = "import json, f1site.settings as s; print(json.dumps(s.DATABASES['default'].get('OPTIONS', {}), default=str))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **environment,
            "DEBUG": "true",
            "DATABASE_SERVER_SIDE_BINDING": "true",
            "PITWALL_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "server_side_binding" not in json.loads(result.stdout.strip().splitlines()[-1])


def test_on_sets_binding_and_threshold():
    result = _database_options(
        DATABASE_URL=PG_URL, DATABASE_SERVER_SIDE_BINDING="true", DATABASE_PREPARE_THRESHOLD="2"
    )
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout.strip().splitlines()[-1])
    assert options == {"server_side_binding": True, "prepare_threshold": 2}


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DATABASE_SERVER_SIDE_BINDING": "sometimes"}, "DATABASE_SERVER_SIDE_BINDING"),
        (
            {"DATABASE_SERVER_SIDE_BINDING": "true", "DATABASE_PREPARE_THRESHOLD": "-1"},
            "DATABASE_PREPARE_THRESHOLD",
        ),
        ({"DATABASE_PREPARE_THRESHOLD": "five"}, "DATABASE_PREPARE_THRESHOLD"),
    ],
)
def test_bad_values_fail_loudly(env, name):
    result = _database_options(DATABASE_URL=PG_URL, **env)
    assert result.returncode != 0
    assert name in result.stderr and "ImproperlyConfigured" in result.stderr


@pytest.fixture
def server_binding_connection(db):
    """A second connection to the test database with server-side binding and threshold 2,
    whatever the suite's own DATABASE_SERVER_SIDE_BINDING says."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    settings_dict = {
        **connection.settings_dict,
        "OPTIONS": {
            **connection.settings_dict.get("OPTIONS", {}),
            "server_side_binding": True,
            "prepare_threshold": 2,
        },
    }
    wrapper = DatabaseWrapper(settings_dict, alias="server_binding")
    yield wrapper
    wrapper.close()


def _hot_payloads() -> list:
    race_ids = list(Race.objects.filter(season_id=2024).order_by("round").values_list("pk", flat=True)[:3])
    assert race_ids, "the Ergast dump should hold the 2024 races"
    return [
        ingestion_sql.race_list(season=2024, limit=50, offset=0),
        ingestion_sql.race_list(season=None, limit=20, offset=100),
        ingestion_sql.race_list(season=2024, limit=5, offset=500),  # past the end: the count query
        ingestion_sql.standings_get(season=None, round_number=None),
        ingestion_sql.standings_get(season=2010, round_number=5),
        ingestion_sql.standings_get(season=None, round_number=3),
        predictions_sql.upcoming_race_rows(today=dt.date(2024, 6, 1), limit=3),
        predictions_sql.stages_by_race(race_ids=race_ids),
    ]


def test_hot_api_selectors_run_prepared_with_the_same_results(server_binding_connection, monkeypatch):
    expected = _hot_payloads()  # the suite's own connection
    # sql_rows (used by both selector modules) reads ingestion.api.selectors.connection.
    monkeypatch.setattr(ingestion_sql, "connection", server_binding_connection)
    for _ in range(4):  # threshold 2: the later rounds run the prepared statements
        assert _hot_payloads() == expected
    with server_binding_connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [text for (text,) in cursor.fetchall()]
    for sql in (
        predictions_sql._UPCOMING_RACES_SQL,
        predictions_sql.current_rows_sql(race_count=3),
        ingestion_sql._RACE_LIST_SQL[True],
        ingestion_sql._RACE_LIST_SQL[False],
        ingestion_sql._RACE_COUNT_SQL[True],
        ingestion_sql._DRIVER_STANDINGS_SQL,
        ingestion_sql._TEAM_STANDINGS_SQL,
        ingestion_sql._STANDINGS_LATEST_SEASON_SQL,
    ):
        assert _numbered(sql) in prepared, sql


def _numbered(sql: str) -> str:
    """The text psycopg sends: %s placeholders as $1, $2, ..."""
    parts = sql.split("%s")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], start=1)) + parts[-1]
