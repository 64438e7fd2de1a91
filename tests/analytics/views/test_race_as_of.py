"""The race page as of a clock (`/races/<id>/?as_of=`), as the home page's `?as_of=` shows the site.

QA: a demo at `/?as_of=2026-06-20` clicking a race landed on today's race page — its results,
accuracy and the predictions made since: the leakage the clock exists to avoid. The race page now
reads the home page's clock (same parser, same 404s), the home page's race links carry it, and the
"Why?" partials keep it. Real data: 2026 round 7 (Barcelona: FP1 06-12 11:30, qualifying 06-13
14:00, race 06-14 13:00 UTC) and round 2 (China, a sprint weekend: sprint 03-14 03:00, qualifying
07:00 UTC), expected values from the dump's CSV files.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from ingestion.models import Race, RaceWeather, WeatherForecast
from tests.analytics.views.test_pages import HTMX, _csv, _predict, _race_row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _page(client, race: Race, **params) -> str:
    response = client.get(reverse("analytics:race", args=[race.slug]), params)
    assert response.status_code == 200, params
    return response.content.decode()


def _rows(html: str, section_id: str) -> int:
    """Body rows of the table in the section headed `section_id` (0 when there is no such section)."""
    if f'id="{section_id}"' not in html:
        return 0
    section = html.split(f'id="{section_id}"')[1].split("</section>")[0]
    return section.split("<tbody>")[1].split("</tbody>")[0].count("<tr")


def _first_predicted(html: str, stage: str) -> str:
    table = html.split(f'data-stage="{stage}"')[1].split("</table>")[0]
    return re.search(r'<tr id="pred-[a-z]+-([^"]+)"', table).group(1)


def _in_race(csv_name: str, race_row: dict) -> int:
    return sum(r["raceId"] == race_row["raceId"] for r in _csv(csv_name))


def test_a_completed_race_before_its_qualifying_shows_what_was_known_then(
    client, predicted_2026_7, django_assert_max_num_queries
):
    race, entrants = predicted_2026_7  # pre made 06-12 09:00, post 06-13 16:00, scored 06-15 06:00
    later = _predict(race, list(reversed(entrants)), stage="pre")  # made now, after the race
    assert later
    row = _race_row(2026, 7)
    assert (row["quali_date"], row["quali_time"]) == ("2026-06-13", "14:00:00")
    with django_assert_max_num_queries(12):
        today = _page(client, race)
    # today: the results, qualifying and accuracy (from the dump: 22 cars in each classification)
    assert _rows(today, "res-h") == _in_race("results", row) == 22
    assert _rows(today, "q-h") == _in_race("qualifying", row) == 22
    assert 'id="acc-h"' in today and "3.25" in today and 'id="live-panel"' in today
    assert '<span class="badge">Results in</span>' in today and "Showing this race as of" not in today
    assert 'data-stage="post"' in today

    # no query for results, sprint, qualifying, weather to come; one for the model the what-if
    # would run then (its button is off without one)
    with django_assert_max_num_queries(7):
        then = _page(client, race, as_of="2026-06-12T10:00")
    assert '<span class="badge">Scheduled</span>' in then
    assert _rows(then, "res-h") == 0 and 'id="q-h"' not in then and 'id="sprint-h"' not in then
    assert 'id="acc-h"' not in then and "3.25" not in then and 'data-chart="scatter"' not in then
    # only the set made by then: the 06-12 09:00 pre-qualifying one, not `later`; no post stage yet
    assert 'data-stage="post"' not in then and "After qualifying" not in then
    assert _first_predicted(then, "pre") == entrants[0].driver.ref != entrants[-1].driver.ref
    assert "12 Jun 2026, 09:00 UTC" in then
    # it says so, with the way back to today's page; the live panel (now) is not part of the past
    notice = then.split('<p class="notice">')[1].split("</p>")[0]
    assert notice.startswith("Showing this race as of 12 June 2026, 10:00 UTC:")
    assert f'<a href="/races/{race.slug}/">Back to today</a>' in notice
    assert 'id="live-panel"' not in then and "No live session right now." not in then
    # the "Why?" links (page and HTMX) keep the clock
    why = reverse("analytics:why", args=[race.slug, entrants[0].driver.ref])
    assert f'href="{why}?stage=pre&amp;as_of=2026-06-12T10:00"' in then
    assert f'hx-get="{why}?stage=pre&amp;as_of=2026-06-12T10:00"' in then
    # before the first set was made (00:00 that day): nothing predicted yet
    assert "No prediction for this race yet." in _page(client, race, as_of="2026-06-12")


def test_a_completed_race_between_qualifying_and_the_race_shows_qualifying_but_no_result(
    client, predicted_2026_7, django_assert_max_num_queries
):
    race, _ = predicted_2026_7
    row = _race_row(2026, 7)
    with django_assert_max_num_queries(8):  # + the what-if's model at the clock
        html = _page(client, race, as_of="2026-06-13T18:00")
    assert '<span class="badge">Scheduled</span>' in html
    assert _rows(html, "q-h") == _in_race("qualifying", row) == 22
    assert _rows(html, "res-h") == 0 and 'id="acc-h"' not in html and 'data-chart="scatter"' not in html
    assert 'data-stage="post"' in html and "13 Jun 2026, 16:00 UTC" in html  # made 16:00, qualifying 14:00
    assert "No qualifying classification is stored" not in html
    # on race day before the start: still no result; after it, the result but not the accuracy
    # (scored 06-15 06:00), then the accuracy too
    assert _rows(_page(client, race, as_of="2026-06-14T12:59"), "res-h") == 0
    # being run (started 13:00, results known from 16:00): awaiting results, no classification
    running = _page(client, race, as_of="2026-06-14T15:00")
    assert _rows(running, "res-h") == 0 and '<span class="badge">Results in</span>' not in running
    with django_assert_max_num_queries(12):  # as many as today's page
        run = _page(client, race, as_of="2026-06-14T16:30")
    assert '<span class="badge">Results in</span>' in run and _rows(run, "res-h") == 22
    assert 'data-chart="scatter"' in run and 'id="acc-h"' not in run and "3.25" not in run
    assert "3.25" in _page(client, race, as_of="2026-06-15T12:00")


def test_a_sprint_weekend_shows_the_sprint_once_run_and_qualifying_once_begun(client):
    race = Race.objects.get(season_id=2026, round=2)
    row = _race_row(2026, 2)
    assert (row["sprint_date"], row["sprint_time"], row["quali_time"]) == (
        "2026-03-14",
        "03:00:00",
        "07:00:00",
    )
    assert _rows(_page(client, race), "sprint-h") == _in_race("sprint_results", row) == 22
    before = _page(client, race, as_of="2026-03-14T02:00")
    assert 'id="sprint-h"' not in before and 'id="q-h"' not in before
    between = _page(client, race, as_of="2026-03-14T05:00")
    assert _rows(between, "sprint-h") == 22 and 'id="q-h"' not in between and _rows(between, "res-h") == 0


def test_the_race_page_weather_as_of_a_clock(client):
    """The forecast issued before the clock (as the home card), and the observed weather only once
    the race had started."""
    race = Race.objects.get(season_id=2026, round=7)
    for hours_before, rain in ((30, 80.0), (6, 40.0)):  # fetched 06-13 07:00 and 06-14 07:00
        WeatherForecast.objects.create(
            race=race, session="race", valid_at=race.start, fetched_at=race.start - timedelta(hours=hours_before),
            air_temperature=24.4, precipitation_probability=rain, wind_speed=3.2,
        )  # fmt: skip
    RaceWeather.objects.create(race=race, samples=90, air_temperature_mean=27.0, track_temperature_mean=41.0,
                               humidity_mean=50.0, rainfall_share=0.0, is_wet=False)  # fmt: skip

    def weather(**params) -> str:
        return _page(client, race, **params).split('id="weather-h"')[1].split("</section>")[0]

    assert "Observed during the race: 27.0°C air" in weather()
    assert "rain chance 40%" in weather(as_of="2026-06-14T12:00")
    assert "rain chance 80%" in weather(as_of="2026-06-14T00:00")
    assert "No weather data yet." in weather(as_of="2026-06-13")
    assert "Observed during the race" in weather(as_of="2026-06-14T16:30")


@pytest.mark.parametrize(
    "query",
    ["as_of=", "as_of=yesterday", "as_of=2026-06-20&as_of=2026-06-21"],
)
def test_a_bad_clock_is_a_404_as_on_the_home_page(client, predicted_2026_7, query):
    race, entrants = predicted_2026_7
    assert client.get(f"/?{query}").status_code == 404
    assert client.get(f"/races/{race.slug}/?{query}").status_code == 404
    why = reverse("analytics:why", args=[race.slug, entrants[0].driver.ref])
    assert client.get(f"{why}?stage=pre", **HTMX).status_code == 200
    assert client.get(f"{why}?stage=pre&{query}", **HTMX).status_code == 404


@pytest.mark.time_machine(datetime(2026, 11, 26, 12, 2, tzinfo=UTC), tick=True)
def test_a_clock_in_the_future_is_a_404(client):
    page = reverse("analytics:race", args=["2026_7"])
    for future in ("9999-12-31", "2026-11-27"):
        response = client.get(page, {"as_of": future})
        assert response.status_code == 404 and "is in the future" in response.content.decode(), future
    assert client.get(page, {"as_of": "2026-11-26T12:00"}).status_code == 200


def test_the_home_page_as_of_a_clock_links_to_its_races_as_of_that_clock(client, predicted_2026_7):
    race, _ = predicted_2026_7
    for spelling in ("2026-06-13", "2026-06-13T00:00", "2026-06-13T02:00+02:00"):  # one moment
        html = client.get(reverse("analytics:home"), {"as_of": spelling}).content.decode()
        links = re.findall(r'href="(/races/[^"]+)"', html)
        assert links and all(link.endswith("/?as_of=2026-06-13") for link in links), (spelling, links)
    html = client.get(reverse("analytics:home"), {"as_of": "2026-06-13T18:30"}).content.decode()
    assert f'href="/races/{race.slug}/?as_of=2026-06-13T18:30"' in html
    followed = _page(client, race, as_of="2026-06-13T18:30")
    assert "Showing this race as of 13 June 2026, 18:30 UTC" in followed and _rows(followed, "res-h") == 0
    # today's home page links to today's race pages
    assert "as_of" not in "".join(re.findall(r'href="(/races/[^"]+)"', client.get("/").content.decode()))


def test_why_as_of_a_clock_explains_the_row_the_race_page_showed_then(client, predicted_2026_7):
    race, entrants = predicted_2026_7
    # a post-qualifying set made on race day before the start, in reverse order: the newest then,
    # but today (the race completed) the page shows the scored 06-13 set
    _predict(race, list(reversed(entrants)), stage="post", made=datetime(2026, 6, 14, 10, tzinfo=UTC))
    driver = entrants[0].driver
    url = reverse("analytics:why", args=[race.slug, driver.ref])
    today = client.get(url, {"stage": "post"}, **HTMX).content.decode()
    assert "is predicted P1</strong>" in today
    assert _first_predicted(_page(client, race, as_of="2026-06-14T12:00"), "post") == entrants[-1].driver.ref
    then = client.get(url, {"stage": "post", "as_of": "2026-06-14T12:00"}, **HTMX).content.decode()
    assert f"is predicted P{len(entrants)}</strong>" in then
    # before qualifying there was no post-qualifying set to explain
    assert client.get(url, {"stage": "post", "as_of": "2026-06-13T10:00"}, **HTMX).status_code == 404
    # opened as a page of its own it says so and links back to the race as of the same clock
    page = client.get(url, {"stage": "post", "as_of": "2026-06-14T12:00"}).content.decode()
    assert "Showing this explanation as of 14 June 2026, 12:00 UTC" in page
    assert f'<a href="{url}?stage=post">Back to today</a>' in page
    assert f'href="/races/{race.slug}/?as_of=2026-06-14T12:00"' in page


def test_the_clock_is_part_of_the_race_page_cache_key_and_junk_is_not(client, predicted_2026_7):
    race, _ = predicted_2026_7
    url = reverse("analytics:race", args=[race.slug])
    first = client.get(url, {"as_of": "2026-06-12T10:00"})
    assert first.templates and "Scheduled" in first.content.decode()
    today = client.get(url)
    assert today.templates and "Results in" in today.content.decode()  # not the as-of entry
    keys = len(cache.keys("f1:page:*"))
    again = client.get(url, {"as_of": "2026-06-12T10:00", "utm_source": "x", "page": "2"})
    assert not again.templates and again.content == first.content  # the one as-of entry
    assert not client.get(url, {"utm_source": "y"}).templates
    assert len(cache.keys("f1:page:*")) == keys
