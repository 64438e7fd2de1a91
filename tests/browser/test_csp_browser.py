"""The Content-Security-Policy in real headless Chromium: the dashboards, the admin and the API docs
work under it without one violation (an inline style or script, an eval, a load from elsewhere is
refused by the browser and reported on the console and as a `securitypolicyviolation` event).

The probability bars are measured too: their width was an inline `style="width: …%"`, which the
policy refuses, leaving every bar empty (or full) — they are SVG now.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from ingestion.models import Race, RaceResult
from tests.factories import ModelVersionFactory, PredictionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

# Every violation in the document, with what was refused: Playwright adds this before any page
# script runs (the policy does not apply to it).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} refused ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Violations:
    """What the browser refused on the pages a test visited: console errors about the policy
    (they cover workers too) and the documents' violation events."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "content security policy" in message.text.lower():
            self.console.append(f"{self.page.url}: {message.text}")

    def events(self) -> list[str]:
        return [f"{self.page.url}: {v}" for v in self.page.evaluate("window.__cspViolations")]

    def visit(self, url: str, *, ready: str | None = None, settle_ms: int = 300) -> list[str]:
        """Load `url`, wait for `ready` (a selector) and a moment for late work, and return the
        violations seen on it."""
        response = self.page.goto(url)
        assert response is not None and response.ok, (url, response and response.status)
        assert response.headers.get("content-security-policy"), url  # the policy is in force
        if ready:
            self.page.wait_for_selector(ready)
        self.page.wait_for_timeout(settle_ms)
        return self.events()


@pytest.fixture
def csp_page(writing_page):
    return writing_page, Violations(writing_page)


def _race_with_predictions() -> Race:
    race = Race.objects.get(season_id=2026, round=7)
    version = ModelVersionFactory()
    batch = uuid.uuid4()
    entries = RaceResult.objects.filter(race=race).select_related("driver", "team").order_by("grid")[:5]
    for i, entry in enumerate(entries, start=1):
        PredictionFactory(batch=batch, race=race, driver=entry.driver, team=entry.team, stage="post",
                          predicted_position=i, model_version=version, win_probability=0.6 / i,
                          podium_probability=0.9 / i, points_probability=1.0, dnf_probability=0.0)  # fmt: skip
    return race


def _bar_widths(page, row: str) -> list[tuple[float, float]]:
    """(drawn width / bar width, the percentage printed next to it) for each bar of a table row."""
    return page.eval_on_selector_all(
        f"{row} .prob",
        """els => els.map(el => {
             const bar = el.querySelector('.bar').getBoundingClientRect();
             const rect = el.querySelector('.bar rect');
             const drawn = rect ? rect.getBoundingClientRect().width : 0;
             return [drawn / bar.width, parseFloat(el.querySelector('output').textContent)];
           })""",
    )


@pytest.mark.django_db(transaction=True)
def test_the_dashboards_run_under_the_policy_without_a_violation(csp_page):
    page, violations = csp_page
    race = _race_with_predictions()
    seen: list[str] = []
    base = page.base
    seen += violations.visit(f"{base}/?as_of=2026-06-20", ready=".race-card")
    seen += violations.visit(f"{base}/races/{race.slug}/", ready="table .prob")
    # the probability bars are drawn, as wide as the percentage they stand for
    leader = RaceResult.objects.filter(race=race).order_by("grid").first().driver.ref
    widths = _bar_widths(page, f"#pred-post-{leader}")
    assert [round(p) for _, p in widths] == [60, 90, 100, 0]  # win, podium, points, DNF
    for share, percent in widths:
        assert share == pytest.approx(percent / 100, abs=0.02)
    # the "Why?" explanation swapped in by htmx
    page.locator(f"#pred-post-{leader} a.why-link").click()
    page.wait_for_selector(f"#why-post-{leader} .why")
    seen += violations.events()
    # the standings' htmx swap with its indicator (htmx's own <style> for it is off)
    seen += violations.visit(f"{base}/standings/", ready="#standings-caption")
    inline_styles = page.locator("style").count()  # htmx's indicator <style>, when it adds one
    page.select_option("#season-select", "2021")
    page.click("#season-form button[type=submit]")
    page.wait_for_selector('#standings-caption[data-season="2021"]')
    page.wait_for_timeout(400)  # its fade-out
    assert page.locator("#standings-spinner").is_hidden()  # the indicator rules from pitwall.css
    seen += violations.events()
    seen += violations.visit(f"{base}/races/?season=2026", ready="#calendar")
    seen += violations.visit(f"{base}/drivers/max_verstappen/?season=2021", ready="svg.chart")
    seen += violations.visit(f"{base}/teams/mercedes/?season=2021", ready="svg.chart")
    seen += violations.visit(f"{base}/model/")
    seen += violations.visit(f"{base}/championship/?season=2021")
    # the what-if grid: its slots were sized by an inline style, now a class
    seen += violations.visit(f"{base}/races/{race.slug}/what-if/", ready="input.grid-slot")
    slot = page.locator("input.grid-slot").first
    font_size = float(slot.evaluate("el => getComputedStyle(el).fontSize").removesuffix("px"))
    assert slot.bounding_box()["width"] == pytest.approx(4.5 * font_size, abs=1)
    assert seen == [] and violations.console == []
    assert inline_styles == 0


@pytest.mark.django_db(transaction=True)
def test_the_admin_runs_under_the_policy_without_a_violation(csp_page):
    page, violations = csp_page
    get_user_model().objects.create_superuser("csp-admin", "csp@example.org", "a-long-test-password")
    seen = violations.visit(f"{page.base}/admin/login/", ready="#login-form")
    page.fill("#id_username", "csp-admin")
    page.fill("#id_password", "a-long-test-password")
    page.click("#login-form [type=submit]")
    page.wait_for_selector("#site-name")
    seen += violations.events()
    race = Race.objects.get(season_id=2026, round=7)
    for url, ready in [
        ("/admin/", "#content-main"),
        ("/admin/ingestion/race/?season__id__exact=2026", "#result_list"),
        (f"/admin/ingestion/race/{race.pk}/change/", "#race_form"),
        ("/admin/ingestion/jobrun/", "#changelist"),
        ("/admin/predictions/modelversion/", "#changelist"),
        ("/admin/django_celery_beat/periodictask/", "#changelist"),
    ]:
        seen += violations.visit(f"{page.base}{url}", ready=ready)
    # the changelist's select-all box and action bar are driven by the admin's scripts (files)
    page.goto(f"{page.base}/admin/ingestion/race/?season__id__exact=2026")
    page.check("#action-toggle")
    assert page.locator(".action-counter").inner_text().startswith(str(page.locator("tr.selected").count()))
    seen += violations.events()
    assert seen == [] and violations.console == []


# Redoc's footer draws its logo from cdn.redoc.ly: refused on purpose (images from this site only),
# the one violation the docs have; Redoc hides the image when it fails to load.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_the_api_docs_run_under_the_policy(browser, reading_server, ergast_data):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    violations = Violations(page)
    seen = violations.visit(f"{reading_server}/api/docs/", ready=".swagger-ui .opblock", settle_ms=800)
    assert page.locator(".swagger-ui .opblock").count() > 10  # the operations were read and drawn
    # "Try it out" calls the API from the page (connect-src 'self')
    health = page.locator(".opblock", has=page.locator(".opblock-summary-path[data-path='/api/v1/health']"))
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    status = health.locator(".live-responses-table tr.response .response-col_status")
    status.wait_for()
    assert status.inner_text().strip().isdigit()  # an answer came back (a refused call has none)
    seen += violations.events()
    seen += violations.visit(f"{reading_server}/api/redoc/", ready="[role=search] input", settle_ms=800)
    assert page.locator("h1").first.inner_text() == "Pitwall API (1.0.0)"  # the schema was read and drawn
    # the search runs in Redoc's worker (made from a blob: URL)
    page.fill("[role=search] input", "standings")
    page.wait_for_selector("[data-role='search:results'] li")
    seen += violations.events()
    context.close()
    logo = [v for v in seen if v.endswith(f"img-src refused {REDOC_LOGO} at :0")]
    assert logo and [v for v in seen if v not in logo] == []
    assert [m for m in violations.console if REDOC_LOGO not in m] == []
