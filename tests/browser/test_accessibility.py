"""The accessibility gate: axe-core (the engine behind Lighthouse's and most tools' accessibility
checks, bundled in the `axe-playwright-python` wheel) runs in real headless Chromium over every fans'
page, in a desktop and a phone viewport, with the WCAG 2.0 / 2.1 level A and AA rules (and axe's
best-practice ones). A page with a violation fails, and the failure lists each rule (id, impact, tags,
help URL) with the elements it found (selector, markup, what to fix).

Injection under the Content-Security-Policy (script-src 'self', no 'unsafe-eval'): the library
injects axe with `page.evaluate` (not `add_script_tag`), which the DevTools protocol runs outside the
page's policy, so the contexts here do not need `bypass_csp`. `axe.run` then finishes asynchronously,
and that part does run under the policy (an eval there is refused); `test_axe_runs_under_the_policy`
checks that the browser refuses nothing while axe runs and that axe really evaluated its rules.

Pages are read from the session's committed dump by `reading_server`; the prediction sets, accuracy
record and backtest the pages show are committed once for the module (`shown_data`) and removed after.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from django.utils import timezone

from ingestion.models import Race, RaceResult
from predictions.models import BacktestRun, ModelVersion, Prediction, RaceAccuracy
from tests.browser.test_csp_browser import Violations
from tests.factories import ModelVersionFactory, PredictionFactory, RaceAccuracyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

# WCAG 2.0 and 2.1, levels A and AA (axe's tags): the level the site claims. Plus axe's
# best-practice rules (heading order, one <main>, unique landmark names, no empty table header…),
# which the pages pass too: not WCAG failures, but what a screen-reader user navigates by.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TAGS = [*WCAG_TAGS, "best-practice"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@dataclass(frozen=True)
class Shown:
    """What the module committed for the pages: race ids as the URLs take them."""

    completed: str  # 2026 round 7: results, an after-qualifying set, its accuracy (winner missed)
    upcoming: str  # the next race by the clock, with a before-qualifying set
    leader: str  # the driver predicted first for `completed` (the "Why?" to open)


def _prediction_set(race: Race, entrants: list[RaceResult], *, stage: str, version) -> uuid.UUID:
    batch = uuid.uuid4()
    n = len(entrants)
    for i, entry in enumerate(entrants, start=1):
        PredictionFactory(batch=batch, race=race, driver=entry.driver, team=entry.team, stage=stage,
                          predicted_position=i, model_version=version, win_probability=round(0.5 / i, 4),
                          podium_probability=min(1.0, round(1.5 / i, 4)), points_probability=min(1.0, 10 / i),
                          dnf_probability=0.05, low_confidence=i == n)  # fmt: skip
    return batch


@pytest.fixture(scope="module")
def shown_data(django_db_setup, django_db_blocker):
    """Committed (the live server's thread reads outside the tests' transactions) and deleted after."""
    with django_db_blocker.unblock():
        completed = Race.objects.get(season_id=2026, round=7)
        before = Race.objects.get(season_id=2026, round=6)  # the home page's other past card
        austria = Race.objects.get(season_id=2026, round=8)  # upcoming on the home page's clock
        # the next race by today's clock (after the data's last race, e.g. PITWALL_TEST_TRAVEL:
        # round 8, run and awaiting results)
        later = Race.objects.filter(start__gt=timezone.now() + timedelta(days=1)).order_by("start")
        upcoming = later.first() or austria
        entrants = list(
            RaceResult.objects.filter(race=completed, shared_car_index=0)
            .select_related("driver", "team")
            .order_by("grid")
        )
        version = ModelVersionFactory()
        scored = [_prediction_set(completed, entrants, stage="post", version=version)]
        scored.append(_prediction_set(before, entrants, stage="post", version=version))
        # both outcomes' badges: "missed" on round 7, "called it" on round 6
        for race, batch, hit in ((completed, scored[0], False), (before, scored[1], True)):
            RaceAccuracyFactory(race=race, stage="post", batch=batch, drivers=len(entrants), winner_hit=hit)
        for race in {upcoming.pk: upcoming, austria.pk: austria}.values():
            _prediction_set(race, entrants, stage="pre", version=version)
        backtest = BacktestRun.objects.create(
            status="succeeded",
            stage="post",
            seasons=[2022, 2023, 2024, 2025],
            races=92,
            results={
                "stage": "post",
                "overall": {
                    "model": {"races": 92, "mae": 3.1, "spearman": 0.6, "winner_hit_rate": 0.4,
                              "calibration_win": [{"bin": "0.0-0.1", "n": 400, "predicted": 0.03, "observed": 0.02},
                                                  {"bin": "0.5-0.6", "n": 20, "predicted": 0.55, "observed": 0.6}]},
                    "grid": {"races": 92, "mae": 3.6},
                    "ablation": {"races": 92, "mae": 3.4},
                },
                "seasons": {"2025": {"model": {"races": 24, "mae": 3.0}, "grid": {"races": 24, "mae": 3.5}}},
            },
        )  # fmt: skip
        cache.clear()  # pages cached by earlier tests knew none of this
    yield Shown(completed=completed.slug, upcoming=upcoming.slug, leader=entrants[0].driver.ref)
    with django_db_blocker.unblock():
        RaceAccuracy.objects.filter(batch__in=scored).delete()
        Prediction.objects.filter(model_version=version).delete()
        ModelVersion.objects.filter(pk=version.pk).delete()
        backtest.delete()
        cache.clear()


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def viewport_context(request, browser):
    context = browser.new_context(**VIEWPORTS[request.param])
    yield context
    context.close()


@pytest.fixture
def axe_page(viewport_context, reading_server, shown_data, ergast_data):
    page = viewport_context.new_page()
    page.set_default_timeout(15000)
    yield page
    page.close()


# --- the pages ------------------------------------------------------------------------------------


def _visit(path: str, *, ready: str | None = None, status: int = 200) -> Callable:
    def visit(page, base: str, shown: Shown) -> None:
        response = page.goto(base + path.format(shown=shown))
        assert response is not None and response.status == status, (path, response and response.status)
        if ready:
            page.wait_for_selector(ready)

    return visit


# axe checks only what is rendered: the collapsed tables (qualifying, sprint, chart data) are opened
OPEN_DISCLOSURES = "document.querySelectorAll('details').forEach(d => { d.open = true; })"


def _why_swapped(page, base: str, shown: Shown) -> None:
    _visit("/races/{shown.completed}/", ready="table .prob")(page, base, shown)
    page.locator(f"#pred-post-{shown.leader} a.why-link").click()
    page.wait_for_selector(f"#why-post-{shown.leader} .why")


def _what_if_submitted(page, base: str, shown: Shown) -> None:
    """The form's htmx answer: no model can be loaded in these tests, so the message that says so."""
    _visit("/races/{shown.completed}/what-if/", ready="input.grid-slot")(page, base, shown)
    page.click("form button[type=submit]")
    page.wait_for_selector("#what-if-result .notice")


def _standings_swapped(page, base: str, shown: Shown) -> None:
    _visit("/standings/", ready="#standings-caption")(page, base, shown)
    page.select_option("#season-select", "2021")
    page.click("#season-form button[type=submit]")
    page.wait_for_selector('#standings-caption[data-season="2021"]')
    page.wait_for_timeout(400)  # the indicator's fade-out


PAGES: dict[str, Callable] = {
    "home": _visit("/?as_of=2026-06-20", ready=".race-card"),
    "home-today": _visit("/"),
    "calendar": _visit("/races/?season=2026", ready="#calendar"),
    "race-completed": _visit("/races/{shown.completed}/", ready="table .prob"),
    "race-upcoming": _visit("/races/{shown.upcoming}/"),
    "race-sprint-weekend": _visit("/races/2025_china/"),
    # as of a clock between qualifying and the race: the notice, qualifying, no result or live panel
    "race-as-of": _visit("/races/{shown.completed}/?as_of=2026-06-13T18:00", ready="#q-h"),
    "race-why-swapped": _why_swapped,
    "what-if": _visit("/races/{shown.completed}/what-if/", ready="input.grid-slot"),
    "what-if-submitted": _what_if_submitted,
    "driver": _visit("/drivers/max_verstappen/?season=2021", ready="svg.chart"),
    "driver-no-starts": _visit("/drivers/herta/"),
    "team": _visit("/teams/mercedes/?season=2021", ready="svg.chart"),
    "standings": _visit("/standings/", ready="#standings-caption"),
    "standings-swapped": _standings_swapped,
    "championship-running": _visit("/championship/", status=503),  # no model can be loaded here
    "championship-final": _visit("/championship/?season=2021"),
    "model-and-feature-catalogue": _visit("/model/", ready="#feature-catalogue"),
    "not-found": _visit("/races/1900_1/", status=404),
}


def _report(name: str, violations: list[dict]) -> str:
    lines = [f"{name}: {len(violations)} accessibility rule(s) violated (axe-core, {', '.join(TAGS)})"]
    for v in violations:
        tags = ", ".join(t for t in v["tags"] if t in TAGS)
        lines.append(f"- {v['id']} ({v['impact']}; {tags}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {target}\n      {node['html'][:200]}\n      {summary[:300]}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_accessibility_violation(axe_page, reading_server, shown_data, name):
    PAGES[name](axe_page, reading_server, shown_data)
    axe_page.evaluate(OPEN_DISCLOSURES)
    violations = Axe().run(axe_page, options=AXE_OPTIONS).response["violations"]
    assert violations == [], _report(name, violations)


def test_axe_runs_under_the_policy(browser, reading_server, ergast_data):
    """axe is injected and runs with the page's Content-Security-Policy in force (no `bypass_csp`):
    the browser refuses nothing while it does, and it really evaluated the rules."""
    context = browser.new_context()
    page = context.new_page()
    violations = Violations(page)
    violations.visit(f"{reading_server}/standings/", ready="#standings-caption")
    policy = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    results = Axe().run(page, options=AXE_OPTIONS).response
    assert results["testEngine"]["version"].startswith("4.12")
    assert len(results["passes"]) > 10  # rules were evaluated, not skipped
    page.wait_for_timeout(200)
    assert violations.events() == [] and violations.console == []
    context.close()
