"""The driver and team pages as of a clock (`?as_of=`), and the clock carried by every link of a
page shown as of one.

QA: a demo at `/?as_of=2026-06-20` clicking a driver (a podium, a winner, a result row) landed on
today's driver page — results, points and championship positions of races run after the clock: the
leak the clock exists to prevent. The driver and team pages now read the home page's clock (same
parser, same 404s) and show the season and career as they stood then: only results of races
started by the clock (`ingestion.selectors.races_started_by`, the race lists' rule). Real data:
2025 round 10, the Canadian Grand Prix (2025-06-15, start 18:00 UTC), expected values from the
dump's CSV files.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from ingestion.models import Race
from tests.analytics.views.test_pages import _csv, _forms, _race_row

pytestmark = pytest.mark.django_db

BEFORE_CANADA = "2025-06-15T17:00"  # race day, an hour before the start: rounds 1-9 had run
AFTER_CANADA_RESULTS = "2025-06-15T21:30"  # start + 3 h 30: its results known (start + 3 h)
MAX = "830"


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _race_ids(year: int, last_round: int) -> set[str]:
    return {r["raceId"] for r in _csv("races") if r["year"] == str(year) and int(r["round"]) <= last_round}


def _points(driver_id: str, race_ids: set[str]) -> float:
    rows = [r for name in ("results", "sprint_results") for r in _csv(name)]
    return sum(float(r["points"]) for r in rows if r["driverId"] == driver_id and r["raceId"] in race_ids)


def _results_table(html: str) -> str:
    return html.split('<table class="results">')[1].split("</table>")[0]


def _get(client, name: str, ref: str, **params) -> str:
    response = client.get(reverse(f"analytics:{name}", args=[ref]), params)
    assert response.status_code == 200, params
    return response.content.decode()


def test_a_driver_page_as_of_a_clock_shows_no_result_after_it(client, django_assert_max_num_queries):
    canada = _race_row(2025, 10)
    assert (canada["date"], canada["time"]) == ("2025-06-15", "18:00:00")
    with django_assert_max_num_queries(14):  # as many as today's page: the cut is a subquery
        html = _get(client, "driver", "max_verstappen", season=2025, as_of=BEFORE_CANADA)
    table = _results_table(html)
    run = _race_ids(2025, 9)
    assert (
        table.count("<tr>") - 1
        == sum(r["driverId"] == MAX and r["raceId"] in run for r in _csv("results"))
        == 9
    )
    assert "Spanish Grand Prix" in table and "Canadian Grand Prix" not in table
    assert "Austrian Grand Prix" not in html and "Abu Dhabi Grand Prix" not in html
    # the season's points and the championship as they stood after round 9 (137 points, third)
    assert _points(MAX, run) == 137
    assert "137 points scored in 9 races" in html and "421 points" not in html
    standing = next(
        r for r in _csv("driver_standings") if r["raceId"] == canada["raceId"] and r["driverId"] == MAX
    )
    assert standing["points"] != "137"  # today's page would show the standings after Canada
    assert "R9" in html and "R10" not in html  # the charts end at round 9
    # the notice and its way back to today (the season kept, the clock left out)
    notice = html.split('<p class="notice">')[1].split("</p>")[0]
    assert "Showing this driver as of 15 June 2025, 17:00 UTC" in notice
    assert (
        f'<a href="{reverse("analytics:driver", args=["max_verstappen"])}?season=2025">Back to today</a>'
        in notice
    )
    # today's page has the race and the whole season
    today = _get(client, "driver", "max_verstappen", season=2025)
    assert "Canadian Grand Prix" in _results_table(today) and "421 points" in today
    # the race-start rule, not the date: after the start the race counts
    later = _get(client, "driver", "max_verstappen", season=2025, as_of=AFTER_CANADA_RESULTS)
    assert "Canadian Grand Prix" in _results_table(later) and _results_table(later).count("<tr>") - 1 == 10


def test_a_driver_page_as_of_a_clock_defaults_to_that_season_and_hides_later_ones(client):
    html = _get(client, "driver", "max_verstappen", as_of=BEFORE_CANADA)
    assert '<h2 id="res-h">Results 2025</h2>' in html  # today the default is 2026
    (picker,) = [f for f in _forms(html) if "season-picker" in f["attrs"].get("class", "")]
    assert picker["fields"] == {"season": "2025", "as_of": BEFORE_CANADA}  # the picker keeps the clock
    assert '<option value="2026"' not in html
    # career figures too: no 2026 circuit visit, and 2026 is "No results" as of then
    assert "Madring" not in html
    response = client.get(
        reverse("analytics:driver", args=["max_verstappen"]), {"season": 2026, "as_of": BEFORE_CANADA}
    )
    assert response.status_code == 404 and "No results in 2026" in response.content.decode()


def test_a_team_page_as_of_a_clock_shows_no_result_after_it(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        html = _get(client, "team", "red_bull", season=2025, as_of=BEFORE_CANADA)
    table = _results_table(html)
    team_id = next(r["constructorId"] for r in _csv("constructors") if r["constructorRef"] == "red_bull")
    run = _race_ids(2025, 9)
    expected = sum(r["constructorId"] == team_id and r["raceId"] in run for r in _csv("results"))
    assert table.count("<tr>") - 1 == expected == 18
    assert "Canadian Grand Prix" not in table
    assert "Showing this team as of 15 June 2025, 17:00 UTC" in html
    # its links keep the clock: drivers (with the season), races
    clock = f"as_of={BEFORE_CANADA}"
    assert f'href="/drivers/max_verstappen/?season=2025&amp;{clock}"' in html
    assert re.search(rf'href="/races/2025_[a-z_]+/\?{clock}"', table)
    today = _get(client, "team", "red_bull", season=2025)
    assert "Canadian Grand Prix" in _results_table(today)


def test_driver_links_carry_the_clock(client):
    html = _get(client, "driver", "max_verstappen", season=2025, as_of=BEFORE_CANADA)
    table = _results_table(html)
    clock = f"as_of={BEFORE_CANADA}"
    hrefs = re.findall(r'href="([^"]+)"', table)
    assert len(hrefs) == 18 and all(h.endswith(clock) for h in hrefs)  # 9 races, 9 teams
    assert f'href="/teams/red_bull/?season=2025&amp;{clock}"' in table
    # the menu: every page it links to keeps the clock
    nav = html.split('<header class="site-header">')[1].split("</header>")[0]
    assert f'href="/?{clock}"' in nav
    assert (
        f'href="/races/?{clock}">Calendar</a>' in nav and f'href="/standings/?{clock}">Standings</a>' in nav
    )
    assert (
        f'href="/championship/?{clock}">Championship</a>' in nav
        and f'href="/model/?{clock}">Model</a>' in nav
    )
    assert "(today)" not in nav
    # today's page: no clock anywhere
    today = _get(client, "driver", "max_verstappen", season=2025)
    assert "as_of" not in today and "(today)" not in today


def test_home_and_race_page_driver_and_team_links_carry_the_clock(client, predicted_2026_7):
    race, _ = predicted_2026_7
    home_clock = "2026-06-13T18:00"  # round 7 upcoming with its after-qualifying set, round 6 run
    response = client.get(reverse("analytics:home"), {"as_of": home_clock})
    assert response.status_code == 200
    home = response.content.decode()
    winner = re.search(r"Winner: <a href=\"(/drivers/[^\"]+)\"", home).group(1)
    assert winner.endswith(f"?as_of={home_clock}")
    podium = re.findall(r'<li><a href="(/drivers/[^"]+)"', home)
    assert len(podium) == 3 and all(h.endswith(f"?as_of={home_clock}") for h in podium)
    assert f'class="brand" href="/?as_of={home_clock}"' in home
    # the race page after its start: result table (driver, team), prediction table
    clock = "2026-06-14T16:30"  # results known (start 13:00 + 3 h)
    page = _get(client, "race", race.slug, as_of=clock)
    result = page.split('id="res-h"')[1].split("</section>")[0]
    links = re.findall(r'href="(/(?:drivers|teams)/[^"]+)"', result)
    assert links and all(h.endswith(f"?season=2026&amp;as_of={clock}") for h in links)
    predicted = page.split('data-stage="post"')[1].split("</table>")[0]
    assert all(h.endswith(f"?as_of={clock}") for h in re.findall(r'href="(/drivers/[^"]+)"', predicted))
    # after the start no what-if can be made as of the clock: the button is off (the link carrying
    # a clock before the start is tests/analytics/views/test_engine_pages.py's)
    assert "/what-if/" not in page and 'id="what-if-off"' in page


@pytest.mark.parametrize("name,ref", [("driver", "max_verstappen"), ("team", "red_bull")])
@pytest.mark.parametrize("bad", ["", "x", "2025-13-01", "9999-12-31", ["2025-06-01", "2025-06-02"]])
def test_junk_clocks_are_404s_as_on_the_home_page(client, name, ref, bad):
    params = {"as_of": bad}
    assert client.get(reverse("analytics:home"), params).status_code == 404
    assert client.get(reverse(f"analytics:{name}", args=[ref]), params).status_code == 404


def test_the_clock_is_part_of_the_page_and_analytics_cache_keys(client, django_assert_max_num_queries):
    url = reverse("analytics:driver", args=["max_verstappen"])
    rows = {}
    for clock in (BEFORE_CANADA, AFTER_CANADA_RESULTS, None):
        params = {"season": 2025, **({"as_of": clock} if clock else {})}
        rows[clock] = _results_table(client.get(url, params).content.decode()).count("<tr>") - 1
    assert rows == {BEFORE_CANADA: 9, AFTER_CANADA_RESULTS: 10, None: 24}
    assert cache.get(f"f1:analytics:driver:max_verstappen:2025:at:{BEFORE_CANADA}")["form"]["races"] == 9
    assert cache.get("f1:analytics:driver:max_verstappen:2025")["form"]["races"] == 24
    # a page-cache hit per clock, each still its own page
    with django_assert_max_num_queries(2):
        again = client.get(url, {"season": 2025, "as_of": BEFORE_CANADA}).content.decode()
    assert _results_table(again).count("<tr>") - 1 == 9
    team = reverse("analytics:team", args=["red_bull"])
    first = client.get(team, {"season": 2025, "as_of": BEFORE_CANADA}).content.decode()
    assert "Canadian Grand Prix" not in _results_table(first)
    assert "Canadian Grand Prix" in _results_table(client.get(team, {"season": 2025}).content.decode())


def test_practice_only_driver_and_team_without_entries_as_of_a_clock(client):
    (fp1,) = [r for r in _csv("practice") if r["driverId"] == "893"]
    race = _race_row(2026, 7)
    assert fp1["raceId"] == race["raceId"] and (race["fp1_date"], race["fp1_time"]) == (
        "2026-06-12",
        "11:30:00",
    )
    before = _get(client, "driver", "herta", as_of="2026-06-12T11:00")
    assert "No race starts yet" in before and 'id="practice-sessions"' not in before
    assert "Showing this driver as of 12 June 2026, 11:00 UTC" in before
    # FP1 under way: begun, its classification not known until its hour is over (12:30)
    during = _get(client, "driver", "herta", as_of="2026-06-12T12:00")
    assert 'id="practice-sessions"' not in during
    after = _get(client, "driver", "herta", as_of="2026-06-12T12:30")
    assert 'id="practice-sessions"' in after
    assert f'href="/races/{Race.objects.get(season_id=2026, round=7).slug}/?as_of=2026-06-12T12:30"' in after
    # Cadillac's only season is 2026: as of 2025, no entry yet
    cadillac = _get(client, "team", "cadillac", as_of=BEFORE_CANADA)
    assert "No race entries" in cadillac and "Showing this team as of 15 June 2025" in cadillac


def test_what_if_as_of_a_clock_without_a_model_then_runs_none_and_says_why(client):
    """No model version had been registered by the clock (none at all here): no form, no model
    run — the page says so and links to today's what-if (tests/analytics/views/test_engine_pages.py
    has the what-if made with the model serving at a clock)."""
    race = Race.objects.get(season_id=2025, round=10)
    url = reverse("analytics:what_if", args=[race.slug])
    html = _get(client, "what_if", race.slug, as_of=BEFORE_CANADA)
    notice = html.split('id="what-if-at-clock"')[1].split("</p>")[0]
    assert "No what-if as of 15 June 2025, 17:00 UTC" in notice and f'<a href="{url}">' in notice
    assert "no prediction model had been trained by 2025-06-15 17:00 UTC" in notice
    assert "<form" not in html.split("<main")[1] and 'id="what-if-result"' not in html
    assert f'href="/races/{race.slug}/?as_of={BEFORE_CANADA}"' in html
    # a grid at a clock: the same answer, never a model run
    response = client.get(url, {"as_of": BEFORE_CANADA, "grid_max_verstappen": "1"})
    assert response.status_code == 200 and 'id="what-if-at-clock"' in response.content.decode()
    assert client.get(url, {"as_of": "x"}).status_code == 404
    assert client.get(url, {"as_of": "9999-12-31"}).status_code == 404
