"""models/performance, championship/{season} and the what-if as of a clock (`?as_of=`): what their
pages show at it (tests/analytics/views/test_model_championship_as_of.py, test_engine_pages.py),
from the same services, with one cache entry per clock. Real data: 2025 round 10, the Canadian
Grand Prix (2025-06-15, start 18:00 UTC); an hour before it rounds 1-9 had run. Two versions are
registered either side of the clock (the earlier one is the module's small model, trained on
2023-2024); the one registered after it is active now."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache

from tests.drf_support import clean_cache, csv_rows  # noqa: F401 - clean_cache: autouse fixture
from tests.model_fixtures import (
    AFTER_CANADA_RESULTS,
    BEFORE_CANADA,
    EARLIER_REGISTERED,
    LATER_REGISTERED,
    backtest_run_at,
    module_trained_model,
    version_activated_at,
    version_registered_at,
    versions_around_a_clock,
)

pytestmark = pytest.mark.django_db


trained_model = module_trained_model(from_season=2023, until_season=2024, frames_since=2021)


def _points_after(year: int, rnd: int, driver_ref: str) -> float:
    """A driver's standings points after a round, straight from the dump's CSV files."""
    race_id = next(
        r["raceId"] for r in csv_rows("races") if r["year"] == str(year) and r["round"] == str(rnd)
    )
    driver_id = next(d["driverId"] for d in csv_rows("drivers") if d["driverRef"] == driver_ref)
    row = next(
        r for r in csv_rows("driver_standings") if r["raceId"] == race_id and r["driverId"] == driver_id
    )
    return float(row["points"])


def _race_slug(year: int, rnd: int) -> str:
    from ingestion.models import Race

    return Race.objects.get(season_id=year, round=rnd).slug


# --- models/performance ---------------------------------------------------------------------------


def test_models_performance_as_of_a_clock_names_the_version_serving_then(
    api, ergast_data, django_assert_max_num_queries
):
    """The model page's rule (`model_version_at`, `backtest_headlines(as_of=)`): the version
    registered before the clock, never the one registered since (active now), and only backtests
    finished by then; one entry per clock in the "models" family."""
    from tests.factories import ModelVersionFactory

    earlier = version_registered_at(
        ModelVersionFactory(
            train_from_season=2023, train_until_season=2024, trained_until_date=date(2024, 12, 8)
        ),
        EARLIER_REGISTERED,
    )
    later = version_registered_at(ModelVersionFactory(is_active=True), LATER_REGISTERED)
    backtest_run_at(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC), mae=3.111)
    # started before the clock, finished after it: no results then
    backtest_run_at(datetime(2025, 6, 15, 16, tzinfo=UTC), datetime(2025, 6, 15, 19, tzinfo=UTC), mae=3.222)
    with django_assert_max_num_queries(3):  # the versions at the clock, the backtests (2)
        response = api.get("/api/v1/models/performance", {"as_of": BEFORE_CANADA})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active_model"]["label"] == body["serving_model"] == earlier.label
    assert body["active_model"]["train_until_season"] == 2024
    assert later.label not in response.content.decode()
    assert body["backtests"]["post"]["results"]["overall"]["model"]["mae"] == 3.111
    assert body["features"]  # today's catalogue
    # before any version: none named, no backtest
    before_any = api.get("/api/v1/models/performance", {"as_of": "2024-06-01"}).json()
    assert before_any["active_model"] is None and before_any["serving_model"] is None
    assert before_any["backtests"] == {}
    # today: the active (later) version
    assert api.get("/api/v1/models/performance").json()["active_model"]["label"] == later.label
    keys = sorted(cache.keys("f1:models:*"))
    assert len(keys) == 3
    assert [k for k in keys if ":at:" in k] == sorted(
        [
            k
            for k in keys
            if k.endswith(f":{earlier.label}:at:2025-06-15T17:00:00+00:00")
            or k.endswith(":none:at:2024-06-01T00:00:00+00:00")
        ]
    )
    with django_assert_max_num_queries(1):  # a hit: only the version at the clock (its key)
        again = api.get("/api/v1/models/performance", {"as_of": "2025-06-15T19:00+02:00"})  # the same moment
    assert again.json() == body
    assert len(cache.keys("f1:models:*")) == 3


def test_models_performance_names_the_version_a_what_if_runs_as_the_model_page_does(
    api, client, ergast_data, django_assert_max_num_queries
):
    """QA: the model page at a clock says which version a what-if as of then runs when it is not the
    one serving then (`model_serving_at`); models/performance named only the one serving then.
    `what_if_model` says the same as the page's line, with the same number of queries."""
    from django.urls import reverse

    from predictions.features.registry import FEATURES_FORMAT
    from tests.factories import ModelVersionFactory

    current = {"features_format": FEATURES_FORMAT}
    earlier = version_activated_at(
        version_registered_at(ModelVersionFactory(params=current), EARLIER_REGISTERED), EARLIER_REGISTERED
    )
    version_activated_at(
        version_registered_at(ModelVersionFactory(params=current, is_active=True), LATER_REGISTERED),
        LATER_REGISTERED,
    )

    def page_line() -> str | None:
        """The model page's what-if line at the clock (None when it shows none), text only."""
        html = client.get(reverse("analytics:model"), {"as_of": BEFORE_CANADA}).content.decode()
        if 'id="what-if-model">' not in html:
            return None
        return html.split('id="what-if-model">')[1].split("</p>")[0].replace("&#x27;", "'")

    # serving then, trained on this code's features: the what-if runs it too, the page says nothing
    body = api.get("/api/v1/models/performance", {"as_of": BEFORE_CANADA}).json()
    assert body["serving_model"] == earlier.label and page_line() is None
    assert body["what_if_model"] == {"label": earlier.label, "differs": False, "reason": ""}

    # activated after `earlier`, before the clock, with models of an older feature format
    moment = datetime(2025, 3, 1, tzinfo=UTC)
    old = version_activated_at(
        version_registered_at(ModelVersionFactory(label="v-old-format", params={}), moment), moment
    )
    cache.clear()
    with django_assert_max_num_queries(3):  # as before: the versions at the clock, the backtests (2)
        body = api.get("/api/v1/models/performance", {"as_of": BEFORE_CANADA}).json()
    assert body["serving_model"] == old.label
    what_if = body["what_if_model"]
    assert what_if["label"] == earlier.label and what_if["differs"] is True
    assert what_if["reason"].startswith("v-old-format was trained on older feature definitions")
    line = page_line()
    assert f"runs model <strong>{what_if['label']}</strong> instead" in line
    assert line.endswith(f": {what_if['reason']}.")  # the page's sentence, word for word

    # today: what a what-if runs now is the version serving now; none loads here (no files)
    now = api.get("/api/v1/models/performance").json()
    assert now["serving_model"] is None and now["what_if_model"] is None


# --- championship/{season} -------------------------------------------------------------------------


@pytest.mark.slow
def test_championship_as_of_a_clock_simulates_from_then_with_the_version_serving_then(
    api, ergast_data, trained_model, tmp_path, django_assert_max_num_queries
):
    """An hour before the 2025 Canadian GP: the standings after round 9 (Verstappen 137 points, read
    from the dump's CSV), Canada onwards simulated with the model registered before the clock, not
    the one active now; the page's own cache entry, one per clock."""
    earlier, later = versions_around_a_clock(
        trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED
    )
    verstappen = _points_after(2025, 9, "max_verstappen")
    assert verstappen == 137
    left = [r for r in csv_rows("races") if r["year"] == "2025" and int(r["round"]) >= 10]
    with django_assert_max_num_queries(26):  # as the page: calendar, standings, versions, entrants, frames
        response = api.get("/api/v1/championship/2025", {"as_of": BEFORE_CANADA})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == earlier.label and later.label not in response.content.decode()
    assert body["remaining_races"][0] == _race_slug(2025, 10) and len(body["remaining_races"]) == len(left)
    assert body["n_sims"] > 0
    assert {d["driver"]: d["current_points"] for d in body["drivers"]}["max_verstappen"] == verstappen
    assert sum(d["title_probability"] for d in body["drivers"]) == pytest.approx(1.0, abs=0.01)
    (key,) = cache.keys("f1:championship:*")
    assert key.endswith(f":2025:{earlier.label}:at:{BEFORE_CANADA}")  # the page's entry
    # after Canada's start: its points count, Austria onwards simulated, in an entry of its own
    after = api.get("/api/v1/championship/2025", {"as_of": AFTER_CANADA_RESULTS}).json()
    assert after["remaining_races"][0] == _race_slug(2025, 11)
    assert {d["driver"]: d["current_points"] for d in after["drivers"]}["max_verstappen"] == _points_after(
        2025, 10, "max_verstappen"
    )
    keys = sorted(cache.keys("f1:championship:*"))
    assert [k.rsplit(":at:", 1)[1] for k in keys] == sorted([BEFORE_CANADA, AFTER_CANADA_RESULTS])
    with django_assert_max_num_queries(4):  # a hit: the version serving then (its key), no simulation
        assert api.get("/api/v1/championship/2025", {"as_of": BEFORE_CANADA}).json() == body
    assert sorted(cache.keys("f1:championship:*")) == keys


@pytest.mark.slow
def test_championship_as_of_a_clock_before_any_model_over_or_not_begun(
    api, ergast_data, trained_model, tmp_path
):
    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    # 2024 in September: rounds left, but no model registered before January 2025 — a fact of then
    response = api.get("/api/v1/championship/2024", {"as_of": "2024-09-01"})
    assert response.status_code == 409, response.content
    assert response.json()["error"] == {
        "code": "no_model_at_clock",
        "message": "No prediction model had been trained by 2024-09-01 00:00 UTC",
        "details": {},
    }
    # 2025 at New Year's Eve: no race left, the final standings as they stood then (no model)
    decided = api.get("/api/v1/championship/2025", {"as_of": "2025-12-31"})
    assert decided.status_code == 200, decided.content
    assert decided.json()["remaining_races"] == [] and decided.json()["model_version"] is None
    # a season not begun by the clock: 404, as on the page
    early = api.get("/api/v1/championship/2025", {"as_of": "2025-03-01"})
    assert early.status_code == 404 and early.json()["error"]["code"] == "not_found"
    assert "no race of it had its results known by then" in early.json()["error"]["message"]


# --- what-if ---------------------------------------------------------------------------------------


def _grid_known_at(slug: str, as_of: datetime) -> list[str]:
    from analytics.selectors import what_if_grid_prefill
    from ingestion.models import Race

    entrants, _ = what_if_grid_prefill(race=Race.objects.get(slug=slug), as_of=as_of)
    return [e["ref"] for e in entrants]


@pytest.mark.slow
def test_what_if_as_of_a_clock_uses_the_version_serving_then(
    api, ergast_data, trained_model, tmp_path, django_assert_max_num_queries
):
    earlier, later = versions_around_a_clock(
        trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED
    )
    canada = _race_slug(2025, 10)
    grid = _grid_known_at(canada, datetime(2025, 6, 15, 17, tzinfo=UTC))[::-1]
    url = f"/api/v1/predictions/what-if/{canada}"
    with django_assert_max_num_queries(30):
        response = api.post(f"{url}?as_of={BEFORE_CANADA}", {"grid": grid}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == earlier.label and later.label not in response.content.decode()
    assert body["race"]["status"] == "scheduled"  # as it stood then
    assert [p["driver"]["id"] for p in sorted(body["predictions"], key=lambda p: p["grid"])] == grid
    # today: the active (later) version
    assert api.post(url, {"grid": grid}, format="json").json()["model_version"] == later.label


@pytest.mark.slow
def test_what_if_as_of_a_clock_refuses_a_race_started_by_then_or_before_any_model(
    api, ergast_data, trained_model, tmp_path
):
    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    spain = _race_slug(2025, 9)  # run two weeks before the clock
    grid = _grid_known_at(_race_slug(2025, 10), datetime(2025, 6, 15, 17, tzinfo=UTC))
    started = api.post(
        f"/api/v1/predictions/what-if/{spain}?as_of={BEFORE_CANADA}", {"grid": grid}, format="json"
    )
    assert started.status_code == 409, started.content
    error = started.json()["error"]
    assert (
        error["code"] == "cannot_predict"
        and "the race had started by 2025-06-15 17:00 UTC" in error["message"]
    )
    canada = f"/api/v1/predictions/what-if/{_race_slug(2025, 10)}"
    no_model = api.post(f"{canada}?as_of=2024-12-01", {"grid": grid}, format="json")
    assert no_model.status_code == 409, no_model.content
    assert no_model.json()["error"]["code"] == "no_model_at_clock"
    # the clock's contract, on a POST too: unreadable 400, still to come 404
    bad = api.post(f"{canada}?as_of=yesterday", {"grid": grid}, format="json")
    assert bad.status_code == 400 and list(bad.json()["error"]["details"]) == ["as_of"]
    future = api.post(f"{canada}?as_of=9999-12-31", {"grid": grid}, format="json")
    assert future.status_code == 404 and future.json()["error"]["code"] == "not_found"
