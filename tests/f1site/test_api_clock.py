"""The API's clock (`?as_of=`) as one contract over every endpoint that declares it in the committed
schema (docs/openapi.yaml): the same 400 error shape for a clock that cannot be read, the same 404 for
one still to come, and an answer for a past one — so an endpoint that takes the clock later is
covered without a copy of these cases. What each endpoint shows at a clock is tested beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

pytestmark = pytest.mark.django_db

# Real ids of the dump for the path parameters of the declaring endpoints.
PATH_IDS = {
    "{race_id}": "2025_canada",
    "{driver_id}": "max_verstappen",
    "{team_id}": "red_bull",
    "{season}": "2025",
}
UNREADABLE = [
    "as_of=yesterday",
    "as_of=2025-13-01",
    "as_of=",  # an empty value is no clock the reader accepts, not "no clock"
    "as_of=2025-06-15&as_of=2025-06-16",  # repeated: which one would be meant?
    "as_of=2025-06-15%00",
    "as_of=0001-01-01T00:00%2B01:00",  # a moment before year 1 in UTC
]


def _clock_paths() -> list[str]:
    schema = yaml.safe_load(SNAPSHOT.read_text())
    paths = []
    for path, ops in schema["paths"].items():
        if any(p["name"] == "as_of" for p in ops.get("get", {}).get("parameters", [])):
            for name, value in PATH_IDS.items():
                path = path.replace(name, value)
            assert "{" not in path, f"no id for a parameter of {path}: add it to PATH_IDS"
            paths.append(path)
    return sorted(paths)


CLOCK_PATHS = _clock_paths()


def test_the_contract_covers_every_clock_endpoint():
    assert len(CLOCK_PATHS) >= 13, CLOCK_PATHS  # GETs declaring it; more may come


@pytest.mark.parametrize("path", CLOCK_PATHS)
def test_a_clock_is_read_refused_or_deferred_the_same_everywhere(api, ergast_data, path):
    for query in UNREADABLE:
        response = api.get(f"{path}?{query}")
        assert response.status_code == 400, (query, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid" and list(error["details"]) == ["as_of"], (query, error)
    future = api.get(path, {"as_of": "9999-12-31"})
    assert future.status_code == 404, future.content
    assert future.json()["error"]["code"] == "not_found"
    assert "is in the future" in future.json()["error"]["message"]
    past = api.get(path, {"as_of": "2025-06-15T17:00:00Z"})  # an hour before the Canadian GP
    if "/accuracy/" in path:  # the race had not been run, so nothing was scored: as before results
        assert past.status_code == 404, past.content
        assert "no results yet" in past.json()["error"]["message"]
    elif "/championship/" in path:  # no model version registered by then in this test's database
        assert past.status_code == 409, past.content
        assert past.json()["error"]["code"] == "no_model_at_clock"
    else:
        assert past.status_code == 200, past.content
