"""GET championship/{season} on the real dump, without a trained model: a completed season from the
standings (checked against the Ergast CSVs read with plain Python, tests/drf_support.py), the
model-unavailable answer, the season parameter, the expensive-rate charge and the error answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import in_season
from tests.drf_support import clean_cache, csv_rows  # noqa: F401 - clean_cache: autouse fixture

pytestmark = pytest.mark.django_db


def test_championship_of_a_completed_season_answers_from_the_standings_without_a_model(api, ergast_data):
    """No model is trained here: a completed season needs no simulation (it was a 503 before), while
    a season with rounds left still needs the model. Points and champions from the dump's CSVs."""
    race_ids = {r["raceId"]: int(r["round"]) for r in csv_rows("races") if r["year"] == "2025"}
    last = max(race_ids, key=race_ids.get)
    ref_of = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    team_of = {c["constructorId"]: c["constructorRef"] for c in csv_rows("constructors")}
    drivers = {ref_of[s["driverId"]]: s for s in csv_rows("driver_standings") if s["raceId"] == last}
    teams = {team_of[s["constructorId"]]: s for s in csv_rows("constructor_standings") if s["raceId"] == last}
    response = api.get("/api/v1/championship/2025")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["remaining_races"] == [] and body["model_version"] is None
    assert {d["driver"]: d["current_points"] for d in body["drivers"]} == {
        k: float(s["points"]) for k, s in drivers.items()
    }
    assert {t["team"]: t["current_points"] for t in body["teams"]} == {
        k: float(s["points"]) for k, s in teams.items()
    }
    assert [d["driver"] for d in body["drivers"] if d["title_probability"] == 1] == [
        k for k, s in drivers.items() if s["position"] == "1"
    ]
    assert [t["team"] for t in body["teams"] if t["title_probability"] == 1] == [
        k for k, s in teams.items() if s["position"] == "1"
    ]
    unavailable = api.get("/api/v1/championship/2026")
    assert unavailable.status_code == 503 and unavailable.json()["error"]["code"] == "model_unavailable"


@in_season  # Qatar still to come, so `predict --race` reaches the model on any date
def test_a_model_unavailable_answer_names_no_server_path(api, ergast_data, settings, tmp_path, caplog):
    """QA: anonymous `GET championship/2026` and what-if 503s quoted ModelUnavailable's reasons,
    which name the artifacts' paths on the server. Those stay in the log and in the error of the
    command-line `predict`, where the operator needs them."""
    import logging

    from django.core.management import CommandError, call_command

    from ingestion.models import Race, RaceResult
    from tests.factories import ModelVersionFactory

    missing = tmp_path / "models" / "vgone.joblib"
    ModelVersionFactory(label="vgone", artifact_path=str(missing), is_active=True)
    latest = Race.objects.filter(results__isnull=False).order_by("-date").first()
    grid = list(RaceResult.objects.filter(race=latest).values_list("driver__ref", flat=True))
    with caplog.at_level(logging.WARNING):
        championship = api.get("/api/v1/championship/2026")
        what_if = api.post("/api/v1/predictions/what-if/2026_qatar", {"grid": grid}, format="json")
    for response in (championship, what_if):
        assert response.status_code == 503, response.content
        assert response.json()["error"] == {
            "code": "model_unavailable",
            "message": "No usable trained model: run `python manage.py train_models`",
            "details": {},
        }
        assert str(tmp_path) not in response.content.decode() and ".joblib" not in response.content.decode()
    assert f"model artifact {missing} for vgone is missing" in caplog.text
    with pytest.raises(
        CommandError, match=f"run `python manage.py train_models` \\(model artifact {missing}"
    ):
        call_command("predict", "--race", "2026_qatar")


@pytest.mark.parametrize(
    "season",
    [
        "02026",  # not canonical: was 404 "no races in season 02026"
        "99999999999999999999",  # was 404
        "2026.0",
        "-1",
        "abc",
        "+2026",
        "2026%20",
        "%D9%A2%D9%A0%D9%A2%D9%A6",  # Arabic-Indic digits: str.isdigit() is true for them
        "1949",  # below the documented minimum (1950)
        "2101",  # above the documented maximum (2100)
        "0",
    ],
)
def test_a_championship_season_that_is_not_a_canonical_integer_in_range_is_400_invalid(
    api, ergast_data, season
):
    """QA: the schema declares an integer 1950..2100 and documents 400 for a non-integer, but
    `02026` and a 20-digit number answered 404 while `2026.0`, `-1` and `abc` answered 400
    (`bad_request`, no details). Everything outside the declared parameter is one 400 `invalid`."""
    response = api.get(f"/api/v1/championship/{season}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"season"} and "1950" in error["details"]["season"][0]
    assert api.get("/api/v1/championship/1950").status_code == 200  # the bounds themselves are valid


# fixed one-minute throttle windows: the clock stopped mid-window, so no boundary falls between charges
@pytest.mark.time_machine(datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC), tick=False)
def test_only_a_simulating_championship_request_counts_against_the_expensive_rate(api, ergast_data, settings):
    """One client, 'expensive' at 2/min. QA: browsing completed seasons (1960..1995, stored final
    standings, nothing simulated) was charged per cache miss and got 429 after the budget, spending
    the what-if budget too. Now only a request that simulates (2026: rounds left) is charged — here
    without a model, so each 2026 request is charged and answers 503 (not cached) until the third,
    refused with 429 and Retry-After; completed and cached seasons are still served."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "expensive": "2/min"},
    }
    for season in range(1960, 1996):  # 36 computations of completed seasons in one window
        response = api.get(f"/api/v1/championship/{season}")
        assert response.status_code == 200, (season, response.content)
        assert response.json()["remaining_races"] == []
    for _ in range(6):
        assert api.get("/api/v1/championship/2024").status_code == 200  # computed once, then cached
    for _ in range(2):  # simulating: charged (503 without a model, after the charge)
        assert api.get("/api/v1/championship/2026").status_code == 503
    refused = api.get("/api/v1/championship/2026")  # the third simulation in the window
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"]["code"] == "throttled" and int(refused["Retry-After"]) >= 1
    assert api.get("/api/v1/championship/2023").status_code == 200  # completed: still served
    # the what-if budget (the same bucket) was spent by the simulations only
    what_if = api.post("/api/v1/predictions/what-if/2026_qatar", {"grid": ["a"]}, format="json")
    assert what_if.status_code == 429, what_if.content


def test_an_engine_error_in_the_championship_is_a_500_not_a_404(api, ergast_data, monkeypatch):
    """Only a season without races is a 404. Any other ValueError out of the simulation (a strict
    zip, pandas, sklearn) is a bug: it was a 404 `not_found` carrying the internal message."""

    def crash(**kwargs):
        raise ValueError("zip() argument 2 is shorter than argument 1")

    monkeypatch.setattr("predictions.api.views.championship_simulate", crash)
    api.raise_request_exception = False
    response = api.get("/api/v1/championship/2026")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "zip()" not in response.content.decode()


@pytest.mark.parametrize("season", ["2027", "2099"])
def test_a_championship_without_races_has_one_wording(api, ergast_data, season):
    """A season in the documented range without races stored is one 404 wording."""
    response = api.get(f"/api/v1/championship/{season}")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"no races in season {season}"
