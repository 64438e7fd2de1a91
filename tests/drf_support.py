"""API test fixtures and helpers, shared by the API tests of every app (a plain module, not a conftest).

Fixtures: `clean_cache` (autouse: an empty cache, a closed breaker and relaxed throttles), `api` (a DRF
client), `staff_user` (an operator: staff with `operator_permissions()`) / `fan_user` and `staff_api` (a
DRF client with its JWT). Helpers: `token_for`,
and the Ergast CSVs read with plain Python (`csv_rows`, `csv_race`) for independent expectations.

A fixture applies where it is imported. `tests/ingestion/api/conftest.py` and
`tests/analytics/api/conftest.py` import them all, so `clean_cache` runs for every test there; in
`tests/predictions/api/` and `tests/f1site/`, which also hold tests that never had it, each API test
module imports `clean_cache` itself (`tests/f1site/conftest.py` has its own autouse `clean_cache`,
without the relaxed throttles, which the import overrides for that module).
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from functools import cache as memoize
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from f1site import cache as f1cache
from f1site.cache import breaker
from tests.conftest import ERGAST_DUMP_DIR


@pytest.fixture(autouse=True)
def clean_cache(settings):
    """Each test starts with an empty cache, a closed breaker and throttles out of the way."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min"},
    }
    cache.clear()
    f1cache._local_copies.clear()  # per-process outage copies (f1site.cache._remember)
    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def operator_permissions():
    """What an operator role holds for the API's staff writes: `predictions.change_prediction`
    (regeneration), as the admin's matching action asks."""
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="predictions", codename="change_prediction")


@pytest.fixture
def staff_user(db, django_user_model):
    """A staff operator: `is_staff` plus `operator_permissions()`."""
    user = django_user_model.objects.create_user(
        username="steward", password="correct-horse-battery-staple", is_staff=True
    )
    user.user_permissions.add(*operator_permissions())
    return user


@pytest.fixture
def fan_user(db, django_user_model):
    return django_user_model.objects.create_user(username="fan", password="correct-horse-battery-staple")


def token_for(client: APIClient, username: str) -> str:
    response = client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": "correct-horse-battery-staple"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["access"]


@pytest.fixture
def staff_api(staff_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(client, 'steward')}")
    return client


# --- the dump CSVs read with plain Python: independent expectations ------------------------------
def _null(value: str):
    return None if value in ("\\N", "") else value


@memoize
def csv_rows(name: str) -> list[dict]:
    with (Path(ERGAST_DUMP_DIR) / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        return [{k: _null(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def csv_race(year: int, round_number: int) -> dict:
    return next(r for r in csv_rows("races") if int(r["year"]) == year and int(r["round"]) == round_number)


def csv_races_known_by(clock: datetime) -> set[str]:
    """races.csv: the raceIds whose results were known at `clock` — the start (date and time in
    UTC) + 3 h at or before it; without a time, from midnight UTC after race day."""
    out = set()
    for r in csv_rows("races"):
        if r["time"] is None:
            known = r["date"] < clock.date().isoformat()
        else:
            known = datetime.fromisoformat(f"{r['date']}T{r['time']}+00:00") + timedelta(hours=3) <= clock
        if known:
            out.add(r["raceId"])
    return out
