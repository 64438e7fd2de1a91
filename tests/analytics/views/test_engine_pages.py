"""Pages that run the prediction engine (what-if, championship, generated predictions) against a
small model trained once for this module on the real dump."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

from f1site import cache as f1cache
from ingestion.models import Race, RaceResult
from tests.conftest import in_season
from tests.model_fixtures import module_trained_model, versions_around_a_clock

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

HTMX = {"HTTP_HX_REQUEST": "true"}


trained_model = module_trained_model(from_season=2024, until_season=2025, frames_since=2022)


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def test_what_if_predicts_the_chosen_grid(client, trained_model):
    url = reverse("analytics:what_if", args=["2026_8"])
    refs = re.findall(r'name="grid_([a-z0-9_]+)"', client.get(url).content.decode())
    chosen = list(reversed(refs))  # the whole field reversed: last of round 7 on pole
    response = client.get(url, {f"grid_{ref}": slot for slot, ref in enumerate(chosen, start=1)}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and 'id="what-if-table"' in body
    rows = body.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == len(chosen)
    # every row names the grid slot we gave that driver
    grid_of = {ref: slot for slot, ref in enumerate(chosen, start=1)}
    from ingestion.models import Driver

    names = {d.full_name: d.ref for d in Driver.objects.filter(ref__in=chosen)}
    for row in rows:
        name = next(n for n in names if n in row)
        assert re.search(rf'<td class="num">{grid_of[names[name]]}</td>', row)
    predicted = [int(re.search(r'<td class="num">(\d+)</td>', r).group(1)) for r in rows]
    assert predicted == list(range(1, len(rows) + 1))


def test_what_if_page_says_when_the_site_is_busy(client, trained_model, settings, monkeypatch):
    """Every what-if build slot taken: a clear message and Retry-After, never cached."""
    from predictions.services import what_if

    settings.WHAT_IF_MAX_BUILDS = 1
    monkeypatch.setattr(what_if, "what_if_inputs_stamp", lambda: uuid.uuid4().hex)  # never cached
    url = reverse("analytics:what_if", args=["2026_8"])
    refs = re.findall(r'name="grid_([a-z0-9_]+)"', client.get(url).content.decode())
    params = {f"grid_{ref}": slot for slot, ref in enumerate(refs, start=1)}
    with what_if.what_if_build_slot():
        plain = client.get(url, params)
        partial = client.get(url, params, **HTMX)
    assert plain.status_code == 503 and partial.status_code == 200
    for response in (plain, partial):
        assert response["Retry-After"] and "no-store" in response["Cache-Control"]
        assert "being prepared on the site right now" in response.content.decode()
    assert 'id="what-if-table"' in client.get(url, params, **HTMX).content.decode()  # not kept


# The 'expensive' throttle counts in fixed one-minute windows: a test that crossed a window boundary
# between its charges saw a fresh budget (a championship computation takes seconds under load), so
# these run with the clock stopped mid-window.
BUDGET_CLOCK = pytest.mark.time_machine(datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC), tick=False)


@BUDGET_CLOCK
def test_the_what_if_page_spends_the_api_what_if_budget(client, trained_model, settings):
    """The page ran the models for every new grid with no limit while the API's what-if answered
    429 (QA: three grids at 1.3-1.6 s each): both now charge one 'expensive' bucket per client."""
    from rest_framework.test import APIClient

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "expensive": "1/min"},
    }
    url = reverse("analytics:what_if", args=["2026_8"])
    refs = re.findall(r'name="grid_([a-z0-9_]+)"', client.get(url).content.decode())

    def grid(order):
        return {f"grid_{ref}": slot for slot, ref in enumerate(order, start=1)}

    assert client.get(url, grid(refs)).status_code == 200  # computed: the budget's one prediction
    page = client.get(url, grid(list(reversed(refs))))
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1
    assert "Too many what-if predictions" in page.content.decode()
    assert 'id="what-if-table"' not in page.content.decode()
    swapped = client.get(url, grid(refs[1:] + refs[:1]), **HTMX)  # htmx swaps only 2xx
    assert swapped.status_code == 200 and "Too many what-if predictions" in swapped.content.decode()
    assert "no-store" in swapped["Cache-Control"]
    api = APIClient().post("/api/v1/predictions/what-if/2026_8", {"grid": refs}, format="json")
    assert api.status_code == 429 and api.json()["error"]["code"] == "throttled"
    # the refusal was not cached as the answer for that grid: with budget again, it computes
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "expensive": "100/min"},
    }
    again = client.get(url, grid(refs[1:] + refs[:1]), **HTMX)
    assert again.status_code == 200 and 'id="what-if-table"' in again.content.decode()


def test_championship_shows_title_probabilities(client, trained_model):
    response = client.get(reverse("analytics:championship"), {"season": 2026})
    assert response.status_code == 200
    html = response.content.decode()
    rows = (
        html.split('id="title-probabilities"')[1].split("<tbody>")[1].split("</table>")[0].split("</tr>")[:-1]
    )
    # "<0.1" / ">99.9" for a chance rounding to 0 or 100 (escaped in the HTML): counted at the bound
    probabilities = [float(x) for x in re.findall(r"<output>(?:&lt;|&gt;)?([\d.]+)%</output>", "".join(rows))]
    assert len(probabilities) == len(rows) > 10
    assert sum(probabilities) == pytest.approx(100, abs=0.5 * len(rows) / 10 + 0.5)  # rounded to 0.1 %
    assert 'data-chart="bar"' in html


@BUDGET_CLOCK
def test_the_championship_page_shares_the_apis_simulation_and_its_budget(client, trained_model, settings):
    """QA: the page ran its own 5,000-season simulation on every cache miss — any extra query
    parameter was one — and never charged the 'expensive' budget the API's championship spends."""
    from rest_framework.test import APIClient

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "expensive": "1/min"},
    }
    url = reverse("analytics:championship")
    page = client.get(url, {"season": 2026})  # computes: the budget's one simulation
    assert page.status_code == 200 and 'id="title-probabilities"' in page.content.decode()
    api = APIClient().get("/api/v1/championship/2026")  # the same cache entry: nothing computed
    assert api.status_code == 200
    # the page rendered again (an htmx request: a page-cache entry of its own; junk parameters such
    # as ?utm= no longer make one), reading the same entry: no new run
    again = client.get(url, {"season": 2026, "utm": "x"}, **HTMX)
    assert again.status_code == 200 and again.templates
    # A completed season is its stored standings, nothing simulated: never charged, so still served.
    for season in (2025, 1990, 1975):
        decided = client.get(url, {"season": season})
        assert decided.status_code == 200 and "final points" in decided.content.decode(), season
    f1cache.bump_families(["championship"])  # the simulation is stale (e.g. a new model)
    restore = {**HTMX, "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}  # a third page-cache entry
    refused = client.get(url, {"season": 2026}, **restore)  # simulates again: over the budget
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many championship simulations" in refused.content.decode()
    assert "no-store" in refused["Cache-Control"]


@in_season  # Qatar (round 22) still to come: a live prediction of a race run since is refused
def test_race_page_shows_engine_predictions_and_why(client, trained_model):
    from predictions.services import prediction_generate

    race = Race.objects.get(season_id=2026, round=22)
    prediction_generate(race=race)
    html = client.get(reverse("analytics:race", args=[race.slug])).content.decode()
    entrants = RaceResult.objects.filter(race__season_id=2026, race__round=7).count()
    assert html.count('class="why-link"') == entrants
    ref = re.search(r'id="pred-pre-([a-z0-9_]+)"', html).group(1)
    why = client.get(reverse("analytics:why", args=[race.slug, ref]), {"stage": "pre"}, **HTMX)
    assert why.status_code == 200 and "<li>" in why.content.decode()


def test_model_page_names_the_model_serving_when_the_active_ones_files_are_gone(client, trained_model):
    """The active version's artifact cannot be loaded: predictions come from the fallback (here the
    module's trained model), and /model/ says so instead of implying the active one serves; the
    passing state is not kept by the page cache."""
    from predictions.models import ModelVersion
    from tests.factories import ModelVersionFactory

    healthy = client.get(reverse("analytics:model"))
    assert "cannot be loaded right now" not in healthy.content.decode()
    cache.clear()
    ModelVersion.objects.filter(pk=trained_model.pk).update(is_active=False)
    broken = ModelVersionFactory(is_active=True, artifact_path="/nonexistent/broken.joblib")
    try:
        response = client.get(reverse("analytics:model"))
        html = response.content.decode()
        assert f"Active model <strong>{broken.label}</strong>" in html
        assert "The active model's files cannot be loaded right now" in html
        assert f"predictions are made by model <strong>{trained_model.label}</strong>" in html
        assert "no-store" in response["Cache-Control"]
    finally:
        broken.delete()
        ModelVersion.objects.filter(pk=trained_model.pk).update(is_active=True)


def test_cached_championship_odds_follow_the_model_that_can_serve(client, trained_model):
    """QA: odds cached while one model served were served (200) after it stopped loading, and those a
    stand-in simulated were served after the repair, for CACHE_TTL_PREDICTIONS: the entry is per
    model version serving. No model loads -> the 503 the schema promises; the file back -> 200."""

    url = "/api/v1/championship/2026"
    first = client.get(url)
    assert first.status_code == 200 and first.json()["model_version"] == trained_model.label
    artifact = Path(trained_model.artifact_path)
    aside = artifact.with_suffix(".aside")
    artifact.rename(aside)
    try:
        gone = client.get(url)
        assert gone.status_code == 503 and gone.json()["error"]["code"] == "model_unavailable"
        page = client.get(reverse("analytics:championship"), {"season": 2026})
        assert page.status_code == 503 and "no-store" in page["Cache-Control"]
        assert "no prediction model can be loaded (none trained yet, or its files are missing)" in (
            page.content.decode()
        )
    finally:
        aside.rename(artifact)
    back = client.get(url)
    assert back.status_code == 200 and back.json() == first.json()


# --- what-if as of a clock -------------------------------------------------------------------
# 2026 Barcelona (round 7, run now): qualifying 2026-06-13 14:00 UTC, race 2026-06-14 13:00 UTC.
AFTER_QUALIFYING = "2026-06-13T18:00"
# The module's model registered after the 2025 season it is trained on, and the same models under
# another label registered after the clock and active now (`versions_around_a_clock`).
EARLIER_REGISTERED = datetime(2026, 1, 10, tzinfo=UTC)
LATER_REGISTERED = datetime(2026, 7, 1, tzinfo=UTC)


def _grid_params(html: str, *, reverse_order: bool = False) -> dict:
    refs = re.findall(r'name="grid_([a-z0-9_]+)"', html)
    assert refs
    if reverse_order:
        refs = refs[::-1]
    return {f"grid_{ref}": slot for slot, ref in enumerate(refs, start=1)}


def test_what_if_as_of_a_clock_uses_the_model_serving_then(
    client, trained_model, tmp_path, django_assert_max_num_queries
):
    """QA: the what-if at a clock ran no model at all. It now predicts from the model registered
    before the clock (never the one registered since, active now) and the race as known then."""
    earlier, later = versions_around_a_clock(
        trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED
    )
    race = Race.objects.get(season_id=2026, round=7)
    url = reverse("analytics:what_if", args=[race.slug])
    with django_assert_max_num_queries(12):
        form = client.get(url, {"as_of": AFTER_QUALIFYING})
    assert form.status_code == 200
    html = form.content.decode()
    assert "Showing this what-if as of 13 June 2026, 18:00 UTC" in html
    assert f'<a href="{url}">Back to today</a>' in html
    assert f'<input type="hidden" name="as_of" value="{AFTER_QUALIFYING}">' in html
    assert "Pre-filled with the qualifying order" in html  # the grid known then: no results yet
    params = _grid_params(html, reverse_order=True)
    response = client.get(url, {"as_of": AFTER_QUALIFYING, **params}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="what-if-table"' in body
    caption = body.split('id="what-if-model">')[1].split("</p>")[0]
    assert caption == f"Model {earlier.label}, registered before 13 June 2026, 18:00 UTC."
    assert later.label not in body
    # today: the active (later) version
    today = client.get(url, _grid_params(client.get(url).content.decode(), reverse_order=True), **HTMX)
    assert f"Model {later.label}." in today.content.decode()


def test_what_if_as_of_a_clock_before_any_model_or_after_the_start_says_why(client, trained_model, tmp_path):
    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    race = Race.objects.get(season_id=2026, round=7)
    url = reverse("analytics:what_if", args=[race.slug])
    for clock, why in (
        ("2026-01-05", "no prediction model had been trained by 2026-01-05 00:00 UTC"),
        ("2026-06-14T13:30", "the race had started by 2026-06-14 13:30 UTC (at 2026-06-14 13:00 UTC)"),
    ):
        response = client.get(url, {"as_of": clock})
        assert response.status_code == 200
        html = response.content.decode()
        notice = html.split('id="what-if-at-clock">')[1].split("</p>")[0]
        assert why in notice and f'<a href="{url}">Open the what-if as of today</a>' in notice
        assert "<form" not in html.split("<main")[1]
        # a grid at such a clock: the same answer, no model run, not kept
        with_grid = client.get(url, {"as_of": clock, "grid_max_verstappen": "1"})
        assert with_grid.status_code == 200 and why in with_grid.content.decode()


def test_what_if_pages_are_cached_per_clock(client, trained_model, tmp_path):
    """Two clocks of the weekend (before and after qualifying) are two answers: the grid known then
    differs (no qualifying before it), and neither is today's."""
    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    race = Race.objects.get(season_id=2026, round=7)
    url = reverse("analytics:what_if", args=[race.slug])
    before = client.get(url, {"as_of": "2026-06-12T12:00"}).content.decode()
    after = client.get(url, {"as_of": AFTER_QUALIFYING}).content.decode()
    assert "Pre-filled with the qualifying order" in after and "qualifying order" not in before
    assert "Pre-filled with the actual starting grid" in client.get(url).content.decode()
    # a page-cache hit per clock stays that clock's page
    assert client.get(url, {"as_of": "2026-06-12T12:00"}).content.decode() == before


def test_a_what_if_of_a_race_the_model_was_trained_on_says_it_is_in_hindsight(client, trained_model):
    """Review: a what-if of a completed race without a clock ran the active model, fitted on that
    race's own result, and read like a forecast. The page now says it is in hindsight (the model's
    training window, 2024-2025, ends with 2025 Abu Dhabi); an upcoming race's says nothing of it."""
    for slug, hindsight in (("2025_24", True), ("2026_8", False)):
        url = reverse("analytics:what_if", args=[slug])
        body = client.get(url, _grid_params(client.get(url).content.decode(), reverse_order=True), **HTMX)
        html = body.content.decode()
        assert 'id="what-if-table"' in html, slug
        assert ('id="what-if-hindsight"' in html) is hindsight, slug
        assert ("In hindsight: this model was trained on races up to this one" in html) is hindsight


def test_the_race_page_as_of_a_clock_offers_the_what_if_only_when_it_can_run(client, trained_model, tmp_path):
    """Review: the race page as of a clock after the start (or before any model) still offered
    "What if?", whose page then refused. The button is off there, saying why; before the start,
    with a model registered by then, it links to the what-if as of the clock."""
    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    race = Race.objects.get(season_id=2026, round=7)
    page = reverse("analytics:race", args=[race.slug])
    what_if = reverse("analytics:what_if", args=[race.slug])
    for clock, why in (
        ("2026-01-05", "no prediction model had been trained by 2026-01-05 00:00 UTC"),
        ("2026-06-14T13:30", "the race had started by 2026-06-14 13:30 UTC (at 2026-06-14 13:00 UTC)"),
    ):
        html = client.get(page, {"as_of": clock}).content.decode()
        off = html.split('id="what-if-off"')[1].split("</span>")[0]
        assert "Not available as of this clock" in off and why in off, clock
        assert f'href="{what_if}?as_of=' not in html, clock
    html = client.get(page, {"as_of": AFTER_QUALIFYING}).content.decode()
    assert 'id="what-if-off"' not in html
    assert f'href="{what_if}?as_of={AFTER_QUALIFYING}"' in html
    # a race no clock can make predictable (before 1996) says why without "as of this clock"
    old = client.get(
        reverse("analytics:race", args=["1995_brazil"]), {"as_of": "2024-01-01"}
    ).content.decode()
    off = old.split('id="what-if-off"')[1].split("</span>")[0]
    assert "Not available: predictions are available from season 1996" in off
