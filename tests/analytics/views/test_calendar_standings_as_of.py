"""The calendar and standings pages as of a clock (`?as_of=`), and the menu carrying the clock to them.

QA: at a clock the menu's Calendar and Standings were marked "(today)": they showed every winner and
the standings after the latest round, results the clock hides. Real data: 2025 round 10, the
Canadian Grand Prix (2025-06-15, start 18:00 UTC); an hour before it rounds 1-9 had run.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.analytics.views.test_pages import HTMX, _csv, _driver_name, _forms, _race_row

pytestmark = pytest.mark.django_db

BEFORE_CANADA = "2025-06-15T17:00"
AFTER_CANADA_RESULTS = "2025-06-15T21:30"  # start + 3 h 30: its results known (start + 3 h)


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _winner(year: int, rnd: int) -> str:
    race_id = _race_row(year, rnd)["raceId"]
    row = next(r for r in _csv("results") if r["raceId"] == race_id and r["positionOrder"] == "1")
    return _driver_name(row["driverId"])


def _calendar_rows(html: str) -> list[str]:
    return html.split('id="calendar"')[1].split("</table>")[0].split("<tbody>")[1].split("</tr>")[:-1]


def test_the_calendar_as_of_a_clock_shows_no_winner_after_it(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # as today's page: the cut is a subquery
        response = client.get(reverse("analytics:calendar"), {"as_of": BEFORE_CANADA})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="calendar-h">2025 calendar</h1>' in html  # the clock's season, not 2026
    assert '<option value="2026"' not in html
    rows = _calendar_rows(html)
    assert len(rows) == sum(r["year"] == "2025" for r in _csv("races"))
    spain, canada = rows[8], rows[9]
    assert "Spanish Grand Prix" in spain and _winner(2025, 9) in spain
    assert "Canadian Grand Prix" in canada and _winner(2025, 10) not in canada
    assert '<span class="muted">—</span>' in canada
    assert all('<span class="muted">—</span>' in row for row in rows[9:])
    # its links keep the clock: races, winners; the season picker as a hidden field
    clock = f"as_of={BEFORE_CANADA}"
    hrefs = re.findall(r'href="([^"]+)"', "".join(rows))
    assert len(hrefs) == len(rows) + 9 and all(h.endswith(clock) for h in hrefs)
    (picker,) = [f for f in _forms(html) if "season-picker" in f["attrs"].get("class", "")]
    assert picker["fields"] == {"season": "2025", "as_of": BEFORE_CANADA}
    notice = html.split('<p class="notice">')[1].split("</p>")[0]
    assert "Showing the calendar as of 15 June 2025, 17:00 UTC" in notice
    assert '<a href="/races/">Back to today</a>' in notice
    # after the start, the race has its winner; today, every race run has one and no clock shows
    later = _calendar_rows(
        client.get(reverse("analytics:calendar"), {"as_of": AFTER_CANADA_RESULTS}).content.decode()
    )
    assert _winner(2025, 10) in later[9]
    today = client.get(reverse("analytics:calendar"), {"season": 2025}).content.decode()
    assert _winner(2025, 10) in _calendar_rows(today)[9] and "as_of" not in today
    # a season after the clock is not listed then
    assert (
        client.get(reverse("analytics:calendar"), {"season": 2026, "as_of": BEFORE_CANADA}).status_code == 404
    )


def _standings_points(race_id: str, driver_id: str) -> str:
    row = next(r for r in _csv("driver_standings") if r["raceId"] == race_id and r["driverId"] == driver_id)
    return row["points"]


def test_the_standings_as_of_a_clock_are_those_after_the_last_race_started(
    client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):  # as today's page
        response = client.get(reverse("analytics:standings"), {"as_of": BEFORE_CANADA})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-season="2025" data-round="9"' in html  # after round 9, not 10 nor 2026's
    round_9 = _race_row(2025, 9)["raceId"]
    leader = next(r for r in _csv("driver_standings") if r["raceId"] == round_9 and r["position"] == "1")
    table = html.split('id="driver-standings"')[1].split("</table>")[0]
    assert _driver_name(leader["driverId"]) in table.split("</tr>")[1]
    # Verstappen third with 137 (after Canada he had more)
    assert _standings_points(round_9, "830") == "137"
    assert _standings_points(_race_row(2025, 10)["raceId"], "830") != "137"
    rounds = re.findall(r'<option value="(\d+)"[^>]*>\d+ · ', html)
    assert rounds == [str(r) for r in range(1, 10)]
    assert '<option value="2026"' not in html
    assert "R10" not in html.split('data-chart="line"')[1]  # the progression ends at round 9
    # every link and both forms keep the clock
    clock = f"as_of={BEFORE_CANADA}"
    panel = html.split('id="standings-panel"')[1]
    links = re.findall(r'href="(/(?:races|drivers|teams)/[^"]+)"', panel)
    assert links and all(h.endswith(clock) for h in links)
    forms = [f for f in _forms(html) if f["attrs"].get("id") in ("season-form", "round-form")]
    assert len(forms) == 2 and all(f["fields"]["as_of"] == BEFORE_CANADA for f in forms)
    assert "Showing the standings as of 15 June 2025, 17:00 UTC" in html
    # a round after the clock is a 404 then (the swap falls back to the last round, URL with the clock)
    url = reverse("analytics:standings")
    assert client.get(url, {"season": 2025, "round": 10, "as_of": BEFORE_CANADA}).status_code == 404
    swap = client.get(url, {"season": 2025, "round": 10, "as_of": BEFORE_CANADA}, **HTMX)
    assert 'data-round="9"' in swap.content.decode()
    assert swap["HX-Push-Url"] == f"{url}?season=2025&round=9&as_of={BEFORE_CANADA}"
    # after the start the race counts; today the season's last round
    later = client.get(url, {"as_of": AFTER_CANADA_RESULTS}).content.decode()
    assert 'data-season="2025" data-round="10"' in later
    assert 'data-season="2026"' in client.get(url).content.decode()


def test_the_clock_is_part_of_the_standings_cache_keys(client, django_assert_max_num_queries):
    url = reverse("analytics:standings")
    for clock, rnd in ((BEFORE_CANADA, 9), (AFTER_CANADA_RESULTS, 10)):
        assert f'data-round="{rnd}"' in client.get(url, {"season": 2025, "as_of": clock}).content.decode()
    assert cache.get(f"f1:standings:2025:last:at:{BEFORE_CANADA}")["round"] == 9
    assert cache.get(f"f1:standings:2025:last:at:{AFTER_CANADA_RESULTS}")["round"] == 10
    assert cache.get(f"f1:standings:progression:2025:6:at:{BEFORE_CANADA}")["rounds"][-1] == 9
    with django_assert_max_num_queries(2):  # a page-cache hit per clock
        again = client.get(url, {"season": 2025, "as_of": BEFORE_CANADA}).content.decode()
    assert 'data-round="9"' in again
    assert 'data-round="24"' in client.get(url, {"season": 2025}).content.decode()


def test_the_menu_carries_the_clock_to_the_calendar_and_standings(client):
    html = client.get(reverse("analytics:standings"), {"as_of": BEFORE_CANADA}).content.decode()
    nav = html.split('<header class="site-header">')[1].split("</header>")[0]
    clock = f"as_of={BEFORE_CANADA}"
    assert (
        f'href="/races/?{clock}">Calendar</a>' in nav and f'href="/standings/?{clock}">Standings</a>' in nav
    )
    # and the championship and model pages, which honour it too (test_model_championship_as_of)
    assert f'<a href="/championship/?{clock}">Championship</a>' in nav and "(today)" not in nav


@pytest.mark.parametrize("name", ["calendar", "standings"])
@pytest.mark.parametrize("bad", ["", "x", "2025-13-01", "9999-12-31", ["2025-06-01", "2025-06-02"]])
def test_junk_clocks_are_404s_as_on_the_home_page(client, name, bad):
    assert client.get(reverse(f"analytics:{name}"), {"as_of": bad}).status_code == 404
