"""The dashboards in real headless Chromium (Debian's package; fixtures in conftest.py) against a live server.

Screenshots of the main pages go to artifacts/screenshots/ (kept by CI as artifacts).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ingestion.models import Race, RaceResult
from tests.factories import ModelVersionFactory, PredictionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_home_shows_three_upcoming_and_three_past_races(page, browser):
    page.goto(f"{page.base}/?as_of=2026-06-20")
    assert page.locator(".race-card.upcoming").count() == 3
    assert page.locator(".race-card.past").count() == 3
    assert page.locator(".race-card.upcoming h3").first.inner_text() == "Austrian Grand Prix"
    _shot(page, "home")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    mobile.goto(f"{page.base}/?as_of=2026-06-20")
    # usable on a phone: nothing wider than the screen
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
    mobile.screenshot(path=str(SCREENSHOTS / "home-phone.png"), full_page=True)
    phone.close()


def _standings_requests(page) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/standings/" in r.url else None)
    return sent


def test_standings_season_selector_swaps_the_table_without_reload(page):
    page.goto(f"{page.base}/standings/")
    sent = _standings_requests(page)
    caption = page.locator("#standings-caption")
    assert caption.get_attribute("data-season") == "2026" and caption.get_attribute("data-round") == "7"
    assert page.title() == "Standings 2026 · Pitwall"
    spinner = page.locator("#standings-spinner")
    assert spinner.is_hidden()  # "Loading…" is not read out while nothing loads (not opacity alone)
    page.evaluate("window.__noReload = 'still here'")
    history = page.evaluate("history.length")
    # choosing (or arrowing through) the options sends nothing: only the visible Show button does
    page.focus("#season-select")
    page.select_option("#season-select", "2019")
    page.keyboard.press("ArrowDown")
    page.select_option("#season-select", "2021")
    page.wait_for_timeout(300)
    assert sent == [] and caption.get_attribute("data-season") == "2026"
    page.click("#season-form button[type=submit]")
    page.wait_for_selector('#standings-caption[data-season="2021"]')
    page.wait_for_timeout(300)
    assert page.evaluate("window.__noReload") == "still here"  # same document: swapped in place
    assert len(sent) == 1 and page.evaluate("history.length") == history + 1  # one request, one entry
    # a season change shows that season's final round, not the round the old season was on (7)
    assert caption.get_attribute("data-round") == "22" and "after round 22" in caption.inner_text()
    assert "season=2021" in page.url and "round=" not in page.url  # and the address bar follows
    assert page.title() == "Standings 2021 · Pitwall"  # and the title
    assert spinner.is_hidden()
    assert page.locator("#driver-standings tbody tr").first.inner_text().split("\t")[1] == "Max Verstappen"
    page.select_option("#round-select", "5")
    page.click("#round-form button[type=submit]")
    page.wait_for_selector('#standings-caption[data-round="5"]')
    assert page.evaluate("window.__noReload") == "still here" and len(sent) == 2
    _shot(page, "standings")


def test_back_past_htmxs_history_cache_restores_the_whole_page(page):
    """QA: on a miss in htmx's history cache (10 pages; emptied here) Back re-requests the URL as a
    history restore and puts the answer in place of <body>: it was the bare partial, so the header,
    nav, h1 and footer vanished."""
    page.goto(f"{page.base}/standings/")
    for season in ("2021", "2019"):
        page.select_option("#season-select", season)
        page.click("#season-form button[type=submit]")
        page.wait_for_selector(f'#standings-caption[data-season="{season}"]')
    page.evaluate("sessionStorage.removeItem('htmx-history-cache')")
    with page.expect_response(lambda r: "season=2021" in r.url):
        page.go_back()
    page.wait_for_selector('#standings-caption[data-season="2021"]')
    assert page.locator("header.site-header nav").count() == 1
    assert page.locator("h1").inner_text() == "Championship standings"
    assert page.locator("footer.site-footer").count() == 1
    assert page.locator("#standings-panel").count() == 1
    assert page.title() == "Standings 2021 · Pitwall"


def test_charts_render(page):
    page.goto(f"{page.base}/drivers/max_verstappen/?season=2021")
    chart = page.locator('svg[data-chart="line"]').first
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100
    assert page.locator('svg[data-chart="line"] polyline').count() >= 2
    assert chart.get_attribute("role") == "img" and chart.locator(":scope > title").count() == 1
    _shot(page, "driver")
    page.goto(f"{page.base}/teams/mercedes/?season=2021")
    assert page.locator('svg[data-chart="bar"] rect').count() >= 10
    _shot(page, "team")
    page.goto(f"{page.base}/model/")
    _shot(page, "model")
    page.goto(f"{page.base}/races/?season=2026")
    assert page.locator("#calendar tbody tr").count() == 23  # races.csv: the 2026 calendar
    _shot(page, "calendar")


# Every text of each line chart (axis title, ticks, round labels, legend) against the series' lines
# and points, as Chromium lays them out: a 1-unit grid over each text's box, tested with the shapes'
# own hit tests (stroke width and point radius included); and the texts' boxes against one another.
_LABEL_HITS = """() => {
  const hits = [];
  for (const svg of document.querySelectorAll('svg[data-chart="line"]')) {
    const name = svg.querySelector(':scope > title').textContent;
    const marks = [...svg.querySelectorAll('g.series:not(.legend) polyline, g.series:not(.legend) circle')];
    const texts = [...svg.querySelectorAll('text')];
    const pt = svg.createSVGPoint();
    texts.forEach((text, i) => {
      const b = text.getBBox();
      for (let x = b.x; x <= b.x + b.width; x += 1) {
        for (let y = b.y; y <= b.y + b.height; y += 1) {
          pt.x = x; pt.y = y;
          const mark = marks.find((m) => m.isPointInStroke(pt) || (m.tagName === 'circle' && m.isPointInFill(pt)));
          if (mark) { hits.push(`${name}: ${mark.tagName} over "${text.textContent}"`); return; }
        }
      }
      for (const other of texts.slice(i + 1)) {
        // em boxes include the font's leading: two texts whose boxes meet by under a unit (the
        // bottom tick's "0" and the first round's "R1" corner to corner) do not touch as glyphs
        const o = other.getBBox();
        if (b.x + 1 < o.x + o.width && o.x + 1 < b.x + b.width && b.y + 1 < o.y + o.height && o.y + 1 < b.y + b.height) {
          hits.push(`${name}: "${text.textContent}" over "${other.textContent}"`);
        }
      }
    });
  }
  return hits;
}"""


def test_chart_lines_and_labels_keep_apart(page):
    """QA: Verstappen led the 2023 championship after every round, and his position line, drawn
    along the top of the chart, ran over the axis title "Position" (and that over the tick "1")."""
    page.goto(f"{page.base}/drivers/max_verstappen/?season=2023")
    position = page.locator('svg[data-chart="line"]').nth(1)
    ys = {pt.split(",")[1] for pt in position.locator("polyline").get_attribute("points").split()}
    assert len(ys) == 1  # P1 all season: one flat line at the top
    assert page.evaluate(_LABEL_HITS) == []
    page.goto(f"{page.base}/standings/?season=2023")  # a legend of several series
    assert page.evaluate(_LABEL_HITS) == []


@pytest.mark.django_db(transaction=True)
def test_a_race_opened_from_the_home_page_as_of_a_clock_stays_at_that_clock(writing_page):
    """QA: /?as_of= → a race card landed on today's race page (results, accuracy, sets made since)."""
    from datetime import UTC, datetime

    from predictions.models import Prediction

    page = writing_page
    race = Race.objects.get(season_id=2026, round=7)  # qualifying 06-13 14:00, race 06-14 13:00 UTC
    entrants = list(
        RaceResult.objects.filter(race=race).select_related("driver", "team").order_by("grid")[:5]
    )
    version, batch = ModelVersionFactory(), uuid.uuid4()
    for i, entry in enumerate(entrants, start=1):
        PredictionFactory(batch=batch, race=race, driver=entry.driver, team=entry.team, stage="post",
                          predicted_position=i, model_version=version)  # fmt: skip
    made = datetime(2026, 6, 13, 16, tzinfo=UTC)
    Prediction.objects.filter(batch=batch).update(created_at=made, as_of=made)
    page.goto(f"{page.base}/?as_of=2026-06-13T18:00")
    page.locator(f'.race-card[data-race="{race.slug}"] h3 a').click()
    page.wait_for_url(f"**/races/{race.slug}/?as_of=2026-06-13T18:00")
    assert "Showing this race as of 13 June 2026, 18:00 UTC" in page.locator(".notice").first.inner_text()
    assert page.locator("#q-h").count() == 1 and page.locator("#res-h").count() == 0
    assert page.locator("#live-panel").count() == 0
    ref = entrants[0].driver.ref
    page.locator(f"#pred-post-{ref} a.why-link").click()  # the HTMX swap keeps the clock
    page.wait_for_selector(f"#why-post-{ref} .why")
    assert (
        f"Why {entrants[0].driver.full_name} is predicted P1" in page.locator(f"#why-post-{ref}").inner_text()
    )
    page.get_by_role("link", name="Back to today").click()
    page.wait_for_url(f"**/races/{race.slug}/")
    assert page.locator("#res-h").count() == 1 and page.locator(".notice").count() == 0


@pytest.mark.django_db(transaction=True)
def test_expanding_why_loads_the_explanation(writing_page):
    page = writing_page
    race = Race.objects.get(season_id=2026, round=7)
    version = ModelVersionFactory()
    batch = uuid.uuid4()
    entrants = list(
        RaceResult.objects.filter(race=race).select_related("driver", "team").order_by("grid")[:5]
    )
    for i, entry in enumerate(entrants, start=1):
        PredictionFactory(batch=batch, race=race, driver=entry.driver, team=entry.team, stage="post",
                          predicted_position=i, model_version=version)  # fmt: skip
    page.goto(f"{page.base}/races/{race.slug}/")
    ref = entrants[0].driver.ref
    target = page.locator(f"#why-post-{ref}")
    assert target.inner_text() == ""
    page.evaluate("window.__noReload = 1")
    page.locator(f"#pred-post-{ref} a.why-link").click()
    page.wait_for_selector(f"#why-post-{ref} .why")
    text = target.inner_text()
    assert f"Why {entrants[0].driver.full_name}" in text and "−2.50" in text
    assert page.evaluate("window.__noReload") == 1
    # the schedule was rewritten into the visitor's time zone (Tokyo here) by the tiny script
    assert page.locator("time[data-localised]").count() >= 1
    assert "GMT+9" in page.locator("time[data-localised]").first.inner_text()
    _shot(page, "race")
    # QA: on a phone the race page scrolled sideways (798 px wide at 375 px): the probability
    # labels' .visually-hidden spans (position: absolute) escaped the tables' scroll box
    phone = page.context.browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    mobile = phone.new_page()
    mobile.goto(f"{page.base}/races/{race.slug}/")
    assert mobile.locator(".prob .visually-hidden").count() >= 5
    assert mobile.evaluate("document.scrollingElement.scrollWidth") <= 375
    phone.close()
