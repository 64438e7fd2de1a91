"""Every dashboard page against the real Ergast dump: status, key content, query bounds, 404s.

Expected values come from the CSV files with plain Python, not from the code under test.
"""

from __future__ import annotations

import csv
import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache as memoize
from html import unescape as html_unescape
from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ingestion.models import Driver, JobRun, Race, RaceResult
from predictions.models import BacktestRun, Prediction, RaceAccuracy
from tests.conftest import ERGAST_DUMP_DIR
from tests.factories import ModelVersionFactory, PredictionFactory, RaceAccuracyFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@memoize
def _csv(name: str) -> list[dict]:
    with open(ERGAST_DUMP_DIR / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _race_row(year: int, rnd: int) -> dict:
    return next(r for r in _csv("races") if r["year"] == str(year) and r["round"] == str(rnd))


def _driver_name(driver_id: str) -> str:
    d = next(r for r in _csv("drivers") if r["driverId"] == driver_id)
    return f"{d['forename']} {d['surname']}"


class _Forms(HTMLParser):
    """Each <form> of a page: its attributes, the ids of its controls and the fields it submits
    (name -> value; a <select> submits its selected option), as a browser builds the query."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": a, "ids": set(), "fields": {}, "buttons": 0})
        elif self.forms and tag in ("input", "select", "button"):
            form = self.forms[-1]
            form["ids"].add(a.get("id"))
            if tag == "button":
                form["buttons"] += a.get("type", "submit") == "submit"
            elif tag == "select":
                self._select = a["name"]
            elif a.get("type") != "submit":
                form["fields"][a["name"]] = a.get("value", "")
        elif tag == "option" and self._select and "selected" in a:
            self.forms[-1]["fields"][self._select] = a["value"]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def _forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def _form_with(html: str, control_id: str) -> dict:
    return next(f for f in _forms(html) if control_id in f["ids"])


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _predict(
    race: Race,
    entrants: list[RaceResult],
    *,
    stage: str,
    low_confidence_last=True,
    made: datetime | None = None,
) -> uuid.UUID:
    """A stored prediction set for `race`: entrants predicted in the order given (made now, or at
    `made`: created_at and as_of)."""
    version = ModelVersionFactory()
    batch = uuid.uuid4()
    n = len(entrants)
    for i, entry in enumerate(entrants, start=1):
        PredictionFactory(
            batch=batch,
            race=race,
            driver=entry.driver,
            team=entry.team,
            stage=stage,
            predicted_position=i,
            win_probability=round(0.5 / i, 4),
            podium_probability=min(1.0, round(1.5 / i, 4)),
            low_confidence=low_confidence_last and i == n,
            model_version=version,
        )
    if made is not None:
        Prediction.objects.filter(batch=batch).update(created_at=made, as_of=made)
    return batch


@pytest.fixture
def predicted_2026_7():
    """Both stages for 2026 round 7 (results known), predicted in grid order."""
    race = Race.objects.get(season_id=2026, round=7)
    entrants = list(
        RaceResult.objects.filter(race=race).select_related("driver", "team").order_by("grid", "id")
    )
    _predict(race, entrants, stage="pre", made=datetime(2026, 6, 12, 9, tzinfo=UTC))
    batch = _predict(race, entrants, stage="post", made=datetime(2026, 6, 13, 16, tzinfo=UTC))
    record = RaceAccuracyFactory(race=race, stage="post", batch=batch, mae=3.25, winner_hit=False)
    RaceAccuracy.objects.filter(pk=record.pk).update(scored_at=datetime(2026, 6, 15, 6, tzinfo=UTC))
    return race, entrants


@pytest.fixture
def predicted_2026_8():
    """Pre-qualifying predictions for 2026 round 8 (no results), entry list of round 7."""
    race = Race.objects.get(season_id=2026, round=8)
    entrants = list(
        RaceResult.objects.filter(race__season_id=2026, race__round=7)
        .select_related("driver", "team")
        .order_by("position_order")
    )
    _predict(race, entrants, stage="pre", made=datetime(2026, 6, 19, 9, tzinfo=UTC))
    return race, entrants


# --- home -------------------------------------------------------------------------------------


def test_home_as_of_shows_next_three_and_last_three(client, predicted_2026_8, predicted_2026_7,
                                                     django_assert_max_num_queries):  # fmt: skip
    with django_assert_max_num_queries(12):
        response = client.get(reverse("analytics:home"), {"as_of": "2026-06-20"})
    assert response.status_code == 200
    html = response.content.decode()
    upcoming = re.findall(r'class="card race-card upcoming" data-race="([^"]+)"', html)
    past = re.findall(r'class="card race-card past" data-race="([^"]+)"', html)
    # races.csv: after 2026-06-20 come rounds 8 (06-28), 9 (07-05), 10 (07-19); before: 7, 6, 5
    assert [Race.objects.get(slug=s).round for s in upcoming] == [8, 9, 10]
    assert [Race.objects.get(slug=s).round for s in past] == [7, 6, 5]
    # predicted podium of round 8 = the first three of round 7's classification
    _, entrants = predicted_2026_8
    for entry in entrants[:3]:
        assert entry.driver.full_name in html
    assert "No prediction yet." in html  # rounds 9 and 10 have none
    # the podium is in expected-position order, not by win chance: the card says so
    assert "Ordered by expected finishing position" in html.split('data-race="' + upcoming[0])[1]
    # the winner of round 7 from results.csv, and the stored accuracy (MAE 3.25, winner missed)
    race_id = _race_row(2026, 7)["raceId"]
    winner = next(r for r in _csv("results") if r["raceId"] == race_id and r["positionOrder"] == "1")
    assert _driver_name(winner["driverId"]) in html
    assert "3.25" in html and "missed" in html


def test_home_shows_the_latest_race_forecast_issued_before_its_clock(client):
    """QA: the past view (`/?as_of=`) showed forecasts fetched after its clock."""
    from datetime import timedelta

    from ingestion.models import WeatherForecast

    race = Race.objects.get(season_id=2026, round=8)  # Austria, 2026-06-28 13:00 UTC
    for hours_ago, rain in ((30, 80.0), (6, 40.0)):  # fetched 06-27 07:00 and 06-28 07:00
        WeatherForecast.objects.create(
            race=race, session="race", valid_at=race.start, fetched_at=race.start - timedelta(hours=hours_ago),
            air_temperature=24.4, precipitation_probability=rain, wind_speed=3.2,
        )  # fmt: skip

    def card(as_of: str) -> str:
        html = client.get(reverse("analytics:home"), {"as_of": as_of}).content.decode()
        return html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]

    assert "Forecast: 24°C, rain 40%, wind 3 m/s" in card("2026-06-28T12:00")  # the newer fetch wins
    assert "Forecast: 24°C, rain 80%, wind 3 m/s" in card("2026-06-28")  # 00:00: the newer came later
    assert "Forecast: 24°C, rain 80%, wind 3 m/s" in card("2026-06-27T12:00")
    assert "Forecast:" not in card("2026-06-20")  # none issued yet


@pytest.mark.time_machine(datetime(2026, 12, 21, 12, tzinfo=UTC), tick=True)  # a clock in the past
def test_home_after_the_calendar_ends_says_so_and_still_shows_the_last_races(
    client, django_assert_max_num_queries
):
    """After the last race of the data's calendar (Abu Dhabi, 2026-12-06): no upcoming cards but one
    heading saying the season is over, its last race and what comes next; the last three completed
    races, and every 2026 race still without results. QA: it read "Next races" over "No upcoming
    races on the calendar.", a list heading over nothing."""
    with django_assert_max_num_queries(12):  # as in season: the last race comes from the lists shown
        response = client.get(reverse("analytics:home"), {"as_of": "2026-12-20"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="card race-card upcoming"' not in html
    section = html.split('<section aria-labelledby="upcoming-h">')[1].split("</section>")[0]
    assert "Next races" not in section and "No upcoming races" not in section
    assert '<h2 id="upcoming-h">The 2026 season is over</h2>' in html
    said = html_unescape(re.sub(r"<[^>]+>", "", html.split('id="season-over">')[1].split("</p>")[0]))
    last = _race_row(2026, 23)
    assert last["date"] == "2026-12-06" and last["name"] == "Abu Dhabi Grand Prix"
    assert said == (
        "Its last race was the Abu Dhabi Grand Prix on 6 December 2026. The 2027 calendar is not in "
        "yet: its races will show here once it is."
    )
    # the page is as of a clock: its race links keep it
    assert 'href="/races/2026_uae/?as_of=2026-12-20"' in html.split('id="season-over">')[1].split("</p>")[0]
    past = re.findall(r'class="card race-card past" data-race="([^"]+)"', html)
    assert [Race.objects.get(slug=s).round for s in past] == [7, 6, 5]
    awaiting = html.split('id="awaiting-h"')[1].split("</section>")[0]
    slugs = re.findall(r'href="/races/([^/"]+)/\?as_of=2026-12-20"', awaiting)
    assert [Race.objects.get(slug=s).round for s in slugs] == list(range(8, 24))


def test_home_with_no_race_at_all_says_so_plainly():
    """An empty database (a fresh install before its first load): no season to call over."""
    from django.template.loader import render_to_string

    html = render_to_string(
        "analytics/home.html", {"upcoming_cards": [], "past_cards": [], "awaiting": [], "season_over": None}
    )
    assert '<h2 id="upcoming-h">Next races</h2>' in html and "No races on the calendar yet." in html
    assert "season is over" not in html


def test_home_today_and_bad_as_of(client, django_assert_max_num_queries):
    # today (after the dump's last result) a dozen races await results: still a fixed query count
    with django_assert_max_num_queries(12):
        response = client.get(reverse("analytics:home"))
    assert response.status_code == 200
    assert 'id="awaiting-h"' in response.content.decode()
    assert client.get(reverse("analytics:home"), {"as_of": "yesterday"}).status_code == 404


@pytest.mark.time_machine(datetime(2026, 11, 26, 12, 2, tzinfo=UTC), tick=True)
def test_home_refuses_a_clock_in_the_future_as_it_refuses_a_malformed_one(client):
    """QA: `/?as_of=9999-12-31` answered 200, a page "as it stood" at a moment still to come."""
    home = reverse("analytics:home")
    for future in ("9999-12-31", "2026-11-27"):
        response = client.get(home, {"as_of": future})
        assert response.status_code == 404, future
        assert "is in the future" in response.content.decode()
    assert client.get(home, {"as_of": "2026-11-26"}).status_code == 200  # 00:00 today
    assert client.get(home, {"as_of": "2026-11-26T12:00"}).status_code == 200  # 2 minutes ago


@pytest.mark.parametrize(
    ("edge", "status", "says"),
    [
        ("0001-01-01T00:00+01:00", 200, "as of 1 January 0001, 00:00 UTC"),
        ("9999-12-31T23:59-01:00", 404, "is in the future"),
    ],
)
def test_home_answers_a_clock_beyond_the_calendar_in_utc_as_its_edge_not_500(client, edge, status, says):
    """QA: these parse, but in UTC they leave years 1-9999: the page 500'd (OverflowError). They
    read as the edge: the page before any data, or a clock in the future (the API answers alike)."""
    response = client.get(reverse("analytics:home"), {"as_of": edge})
    assert response.status_code == status
    assert says in response.content.decode()


# --- race -------------------------------------------------------------------------------------


def test_race_page_with_results_predictions_and_accuracy(
    client, predicted_2026_7, django_assert_max_num_queries
):
    race, entrants = predicted_2026_7
    with django_assert_max_num_queries(15):
        response = client.get(reverse("analytics:race", args=[race.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    row = _race_row(2026, 7)
    assert row["name"].strip('"') in html
    # local-time schedule: machine-readable UTC instant of the race start from races.csv
    assert f'datetime="{row["date"]}T{row["time"]}+00:00"' in html
    assert "Before qualifying" in html and "After qualifying" in html
    assert html.count('class="why-link"') == 2 * len(entrants)
    assert "badge low" in html  # the last-placed prediction is flagged low-confidence
    assert 'data-chart="scatter"' in html and "<title" in html  # predicted vs actual, accessible
    assert "3.25" in html  # stored accuracy
    # The scored set's label says when it was made, as the home card does (the post set, 06-13 16:00).
    scored = re.search(r"Scored: the after-qualifying prediction[^;]*;", html)
    assert scored is not None, html
    assert 'made <time datetime="2026-06-13T16:00:00+00:00">13 Jun 2026, 16:00 UTC</time>;' in scored.group(0)
    assert "No live session right now." in html


def test_race_page_shows_the_weekend_s_sprint(client, django_assert_max_num_queries):
    """QA: the schedule listed the sprint and the database held its 20 results, but the page showed
    only the Grand Prix and qualifying. Expected figures from the dump, not from the page's code."""
    china = _race_row(2025, 2)  # a sprint weekend
    sprint = [r for r in _csv("sprint_results") if r["raceId"] == china["raceId"]]
    winner = next(r for r in sprint if r["positionOrder"] == "1")
    with django_assert_max_num_queries(15):
        html = client.get(reverse("analytics:race", args=["2025_china"])).content.decode()
    section = html[html.index('id="sprint-h"') : html.index('id="q-h"')]
    assert section.count("<tr>") == len(sprint) + 1 == 21  # header + every classified and retired car
    first_row = section[section.index("<tbody>") :].split("</tr>")[0]
    assert (
        _driver_name(winner["driverId"]) in first_row
        and f'<td class="num">{winner["points"]}</td>' in first_row
    )
    bahrain = client.get(reverse("analytics:race", args=["2025_bahrain"])).content.decode()
    assert "Bahrain" in bahrain and 'id="sprint-h"' not in bahrain  # no sprint that weekend


def test_race_page_accepts_round_ids_and_404s(client):
    row = _race_row(2025, 1)
    response = client.get(reverse("analytics:race", args=["2025_1"]))
    assert response.status_code == 200
    assert row["name"].strip('"') in response.content.decode()
    assert client.get(reverse("analytics:race", args=["2099_nowhere"])).status_code == 404
    assert client.get(reverse("analytics:race", args=["bahrain"])).status_code == 404  # malformed
    assert client.get(reverse("analytics:race", args=["2026_99"])).status_code == 404
    assert client.get("/races/2025_1%0A/").status_code == 404  # a trailing newline is not an id
    seventieth = client.get(reverse("analytics:race", args=["2020_70th_anniversary"]))
    assert seventieth.status_code == 200
    assert "70th Anniversary Grand Prix" in seventieth.content.decode()
    shouted = client.get("/races/2020_70TH_Anniversary/")  # a race id in any case is the race's page
    assert shouted.status_code == 200 and "70th Anniversary Grand Prix" in shouted.content.decode()
    assert client.get("/races/2099_NOWHERE/").status_code == 404


@pytest.mark.time_machine(datetime(2026, 11, 26, 12, tzinfo=UTC), tick=True)  # 2026_23 run 12-06
def test_upcoming_race_without_anything_still_renders(client):
    """An upcoming race (its date not yet passed: pinned, or from 7 December on it reads awaiting
    results, covered by the next test) with no prediction, no grid and no results still renders."""
    response = client.get(reverse("analytics:race", args=["2026_23"]))
    assert response.status_code == 200
    assert "No prediction for this race yet." in response.content.decode()


@pytest.mark.time_machine(datetime(2026, 11, 26, 12, tzinfo=UTC), tick=True)  # Las Vegas run 11-22
def test_race_without_a_prediction_says_whether_it_was_run_and_what_happens_next(client):
    """QA: "No prediction for this race yet." on 2026_las_vegas, run and awaiting results. A race
    run without a stored pre-race prediction says so, and, while its results are awaited, that one
    is backfilled (and scored) once they are in (post-race follow-up: `predictions_backfill`)."""

    def said(race_id: str) -> str:
        html = client.get(reverse("analytics:race", args=[race_id])).content.decode()
        return html.split('id="no-prediction">')[1].split("</p>")[0]

    awaiting = said("2026_las_vegas")
    assert awaiting.startswith("This race was run without a stored pre-race prediction.")
    assert "Once its results are in, one is backfilled" in awaiting and "yet" not in awaiting
    # results in, nothing stored (the dump has no predictions): run, none backfilled yet
    assert (
        said("2026_7")
        == "This race was run without a stored pre-race prediction, and none has been backfilled yet."
    )
    # before 1997 there is no history to predict from: nothing is promised
    assert said("1990_1") == "This race was run without a stored pre-race prediction."
    assert said("2026_23") == "No prediction for this race yet."  # still to come


@pytest.mark.time_machine(datetime(2026, 11, 26, 12, tzinfo=UTC), tick=True)
def test_home_headings_count_the_races_listed(client):
    """QA: "Next three races" above two cards once only Qatar and Abu Dhabi were left."""
    html = client.get(reverse("analytics:home")).content.decode()
    assert html.count('class="card race-card upcoming"') == 2
    assert '<h2 id="upcoming-h">Next two races</h2>' in html and "Next three races" not in html
    assert '<h2 id="past-h">Last three races: predicted vs actual</h2>' in html
    with_three = client.get(reverse("analytics:home"), {"as_of": "2026-06-20"}).content.decode()
    assert '<h2 id="upcoming-h">Next three races</h2>' in with_three


def test_why_partial_and_full_page(client, predicted_2026_7, django_assert_max_num_queries):
    race, entrants = predicted_2026_7
    url = reverse("analytics:why", args=[race.slug, entrants[0].driver.ref])
    with django_assert_max_num_queries(8):
        partial = client.get(url, {"stage": "post"}, **HTMX)
    assert partial.status_code == 200
    body = partial.content.decode()
    assert "<html" not in body
    assert "−2.50" in body and "+0.75" in body  # the stored contributions ...
    assert "Starting grid slot" in body  # ... named by the feature catalogue's description
    full = client.get(url, {"stage": "pre"})
    assert full.status_code == 200 and "<html" in full.content.decode()
    assert client.get(reverse("analytics:why", args=[race.slug, "nobody_at_all"])).status_code == 404
    other = Driver.objects.exclude(pk__in=[e.driver_id for e in entrants]).first()
    assert client.get(reverse("analytics:why", args=[race.slug, other.ref])).status_code == 404


def test_why_with_a_stage_that_does_not_exist_says_so(client, predicted_2026_7):
    """QA: ?stage=zzz answered "No current prediction for this driver"; the stage is what is wrong.
    A 404 like every malformed query value on the pages ("season must be a number")."""
    race, entrants = predicted_2026_7
    url = reverse("analytics:why", args=[race.slug, entrants[0].driver.ref])
    for bad in ("zzz", "PRE", "pre "):
        for headers in ({}, HTMX):
            message = _not_found_message(client.get(url, {"stage": bad}, **headers))
            assert message == "stage must be pre (before qualifying) or post (after qualifying)", bad
    assert client.get(url, {"stage": "pre"}).status_code == 200
    # a valid stage without that driver's prediction is still the missing prediction
    other = Driver.objects.exclude(pk__in=[e.driver_id for e in entrants]).first()
    missing = client.get(reverse("analytics:why", args=[race.slug, other.ref]), {"stage": "post"})
    # named, with the stage asked for (QA: "No current prediction for this driver")
    assert _not_found_message(missing) == (
        f"No current prediction after qualifying for {other.given_name} {other.family_name} in the {race.name}"
    )
    missing = client.get(reverse("analytics:why", args=[race.slug, other.ref]))
    assert _not_found_message(missing) == (
        f"No current prediction for {other.given_name} {other.family_name} in the {race.name}"
    )


def test_why_full_page_names_the_stage_and_the_set_it_explains(client, predicted_2026_7):
    """Audit: the race page's "Why?" links (?stage=pre / ?stage=post) open a full page without
    JavaScript (or when shared) that read "Why … is predicted P1" with no word of which prediction
    it explains, before or after qualifying, nor which model made it and when; in the race page's
    table the stage is the table's heading. The page names both, as the race page labels a set."""
    import re

    race, entrants = predicted_2026_7
    url = reverse("analytics:why", args=[race.slug, entrants[0].driver.ref])
    for stage, label, made in (
        ("pre", "Before qualifying", "12 Jun 2026"),
        ("post", "After qualifying", "13 Jun 2026"),
    ):
        html = client.get(url, {"stage": stage}).content.decode()
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split("</h1>")[1].split('class="why"')[0]))
        assert f"{label} prediction" in text, stage
        assert "model v" in text and made in text, text
    # a link without a stage explains the first set the race page lists, and says which
    html = client.get(url).content.decode()
    assert "Before qualifying prediction" in html.split('class="why"')[0]
    partial = client.get(url, {"stage": "post"}, **HTMX).content.decode()
    assert "After qualifying prediction" not in partial  # in the race page, the table says it


LIVE_QUERIES = 5  # the live fragment's queries (uncached), whatever the number of cars on track


def test_live_positions_during_a_session_are_polled(client, django_assert_max_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from ingestion.models import LiveDriverSnapshot, OpenF1Session, QualifyingResult

    race = Race.objects.get(season_id=2026, round=7)
    now = timezone.now()
    session = OpenF1Session.objects.create(
        session_key=999_999_7, meeting_key=999_999, race=race, session_type="race", session_name="Race",
        date_start=now - timedelta(minutes=30), date_end=now + timedelta(hours=1), live_ok_at=now,
    )  # fmt: skip
    # two cars by their race numbers this weekend (qualifying.csv "number" column)
    entries = list(
        QualifyingResult.objects.filter(race=race).select_related("driver").order_by("position")[:2]
    )
    for pos, entry in enumerate(reversed(entries), start=1):
        LiveDriverSnapshot.objects.create(
            session=session, driver_number=entry.number, position=pos, gap_to_leader="" if pos == 1 else "+1.234",
            interval="", lap_number=12,
        )  # fmt: skip
    page = client.get(reverse("analytics:race", args=[race.slug])).content.decode()
    assert "Live: Race" in page and 'hx-trigger="every 10s"' in page
    cache.clear()
    with django_assert_max_num_queries(LIVE_QUERIES):  # counted once, uncached
        partial = client.get(reverse("analytics:race_live", args=[race.slug]), **HTMX).content.decode()
    rows = partial.split('id="live-positions"')[1].split("<tbody>")[1].split("</tr>")
    assert entries[1].driver.full_name in rows[0] and entries[0].driver.full_name in rows[1]
    assert "+1.234" in rows[1]
    # the whole field on track: the same number of queries, not one more per car (QA M31)
    field = list(QualifyingResult.objects.filter(race=race).exclude(pk__in=[e.pk for e in entries]))
    assert len(field) >= 18
    for pos, entry in enumerate(field, start=3):
        LiveDriverSnapshot.objects.create(
            session=session, driver_number=entry.number, position=pos, gap_to_leader=f"+{pos}.000",
            interval="", lap_number=12,
        )  # fmt: skip
    cache.clear()
    with django_assert_max_num_queries(LIVE_QUERIES):
        partial = client.get(reverse("analytics:race_live", args=[race.slug]), **HTMX).content.decode()
    rows = partial.split('id="live-positions"')[1].split("<tbody>")[1].split("</tr>")
    assert len(rows) - 1 == len(field) + 2  # the last split piece is after the final row
    assert field[-1].driver.full_name in rows[len(field) + 1]
    session.live_ok_at = now - timedelta(minutes=10)  # stale: say so, keep polling
    session.live_error = "OpenF1 answered 503"
    session.save()
    partial = client.get(reverse("analytics:race_live", args=[race.slug]), **HTMX).content.decode()
    assert "Live timing is unavailable right now (OpenF1 answered 503)" in partial
    assert 'hx-trigger="every 10s"' in partial


def test_live_partial_without_a_session(client):
    response = client.get(reverse("analytics:race_live", args=["2026_8"]), **HTMX)
    assert response.status_code == 200
    assert "No live session" in response.content.decode()


def test_a_plain_visit_to_the_live_fragment_goes_to_the_race_page(client):
    """A shared or bookmarked /live/ link is not the bare polling fragment (no layout, no nav): it is
    sent to the race page's live panel. HEAD alike; a POST stays 405; an unknown race stays 404."""
    race = Race.objects.get(season_id=2026, round=8)
    url = reverse("analytics:race_live", args=[race.slug])
    for response in (client.get(url), client.head(url)):
        assert response.status_code == 302
        assert response["Location"] == reverse("analytics:race", args=[race.slug]) + "#live-panel"
        assert "hx-request" in response["Vary"].lower()
    page = client.get(url, follow=True)
    assert page.status_code == 200 and 'id="live-panel"' in page.content.decode()
    assert "<nav" in page.content.decode()
    assert client.post(url).status_code == 405
    assert client.get(reverse("analytics:race_live", args=["2026_99"])).status_code == 404
    # the panel's own poll still gets the fragment
    assert client.get(url, **HTMX).content.decode().lstrip().startswith("<div")


def test_calendar_lists_every_round_with_winners(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        response = client.get(reverse("analytics:calendar"), {"season": 2025})
    assert response.status_code == 200
    html = response.content.decode()
    rows = [r for r in _csv("races") if r["year"] == "2025"]
    table = html.split('id="calendar"')[1].split("</table>")[0]
    assert table.count("<tr>") - 1 == len(rows)
    last = max(rows, key=lambda r: int(r["round"]))
    winner = next(r for r in _csv("results") if r["raceId"] == last["raceId"] and r["positionOrder"] == "1")
    assert _driver_name(winner["driverId"]) in table.split("</tr>")[-2]
    assert client.get(reverse("analytics:calendar"), {"season": 1900}).status_code == 404
    assert client.get(reverse("analytics:calendar")).status_code == 200  # newest season


@pytest.mark.parametrize(
    ("name", "args"),
    [("calendar", []), ("championship", []), ("driver", ["max_verstappen"]), ("team", ["mercedes"])],
)
def test_season_pickers_do_not_navigate_on_input_and_have_a_visible_submit(client, name, args):
    """QA (WCAG 3.2.2): `<select onchange="this.form.submit()">` left the page as soon as an option
    was reached with the keyboard, and the "Show" button was only in <noscript>."""
    html = client.get(reverse(f"analytics:{name}", args=args), {"season": 2021}).content.decode()
    assert "onchange" not in html and "<noscript>" not in html
    (picker,) = [f for f in _forms(html) if "season-picker" in f["attrs"].get("class", "")]
    assert picker["fields"] == {"season": "2021"} and picker["buttons"] == 1
    assert picker["attrs"]["method"] == "get" and "hx-get" not in picker["attrs"]


# --- drivers and teams -----------------------------------------------------------------------


def test_driver_page(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        response = client.get(reverse("analytics:driver", args=["max_verstappen"]), {"season": 2021})
    assert response.status_code == 200
    html = response.content.decode()
    race_ids = {r["raceId"] for r in _csv("races") if r["year"] == "2021"}
    starts = [r for r in _csv("results") if r["driverId"] == "830" and r["raceId"] in race_ids]
    table = html.split('<table class="results">')[1].split("</table>")[0]
    assert table.count("<tr>") - 1 == len(starts) == 22
    for label in ("Qualifying gap to team-mate", "Overtaking score", "Wet-weather rating", "Circuit history"):
        assert label in html
    assert html.count('data-chart="line"') == 2
    # the cached second view needs far fewer queries
    with django_assert_max_num_queries(12):
        assert (
            client.get(reverse("analytics:driver", args=["max_verstappen"]), {"season": 2021}).status_code
            == 200
        )


def test_driver_page_season_points_include_sprints_as_the_standings_do(client):
    """QA: /drivers/max_verstappen/?season=2025 said "389 points in 24 races" while the standings
    say 421 (32 sprint points left out). The total is the championship's; the parts are labelled."""
    html = client.get(reverse("analytics:driver", args=["max_verstappen"]), {"season": 2025}).content.decode()
    assert "421 points scored in 24 races (389 in Grands Prix, 32 in sprints)" in html
    assert "389 points" not in html and "dropped scores" not in html
    # QA: "championship points" for 1988 said 105 where the standings (best 11 results) say 87
    old = client.get(reverse("analytics:driver", args=["prost"]), {"season": 1988}).content.decode()
    assert "105 points scored in 16 races; the championship then counted only each driver's best" in old
    table = html.split('<table class="results">')[1].split("</table>")[0]
    assert '<th class="num">Grand Prix points</th><th class="num">Sprint points</th>' in table
    # the team page's results table labels its two point columns the same way
    team = client.get(reverse("analytics:team", args=["mclaren"]), {"season": 2025}).content.decode()
    assert '<th class="num">Grand Prix points</th><th class="num">Sprint points</th>' in team


def test_a_practice_only_driver_has_a_page_saying_no_race_starts_yet(client):
    """QA: /drivers/herta/ (FP1 only: practice.csv, 2026 round 7, Cadillac) was a 404 while
    /api/v1/analytics/driver/herta answers 200 with `available: false`. The page now shows the
    driver, says there is no race start yet and lists the practice sessions."""
    (fp1,) = [r for r in _csv("practice") if r["driverId"] == "893"]
    assert not [r for r in _csv("results") if r["driverId"] == "893"]
    race = next(r for r in _csv("races") if r["raceId"] == fp1["raceId"])
    for params in ({}, {"season": 2026}):
        response = client.get(reverse("analytics:driver", args=["herta"]), params)
        assert response.status_code == 200
        html = response.content.decode()
        assert "<h1>Colton Herta</h1>" in html and "No race starts yet" in html
        rows = html.split('id="practice-sessions"')[1].split("<tbody>")[1].split("</tbody>")[0]
        assert rows.count("<tr>") == 1
        assert f"2026 {race['name']}" in rows and "Practice 1" in rows and "Cadillac" in rows
        assert f'<td class="num">{fp1["position"]}</td>' in rows and fp1["time"] in rows
    assert client.get("/api/v1/analytics/driver/herta").json()["analytics"]["available"] is False
    assert client.get(reverse("analytics:driver", args=["herta"]), {"season": "x"}).status_code == 404


def test_a_team_without_a_race_entry_has_a_page_saying_so_not_a_404(client):
    """Audit: /teams/eagle/ (constructors.csv lists "eagle" beside eagle-climax and eagle-weslake,
    with no row in results.csv) was a 404 "No results" while /api/v1/teams lists the team and
    /api/v1/analytics/team/eagle answers 200 with `available: false` — as a driver without a start
    was before his page said so; a new team synced before its first race is the same case."""
    team_id = next(r["constructorId"] for r in _csv("constructors") if r["constructorRef"] == "eagle")
    assert not [r for r in _csv("results") if r["constructorId"] == team_id]
    for params in ({}, {"season": 2026}):
        response = client.get(reverse("analytics:team", args=["eagle"]), params)
        assert response.status_code == 200
        html = response.content.decode()
        assert "<h1>Eagle</h1>" in html and "No race entries" in html
        assert "The data holds no Grand Prix entry of Eagle" in html
    assert client.get("/api/v1/analytics/team/eagle").json()["analytics"]["available"] is False
    assert client.get(reverse("analytics:team", args=["eagle"]), {"season": "x"}).status_code == 404


def test_driver_and_team_404s(client):
    assert client.get(reverse("analytics:driver", args=["no_such_driver"])).status_code == 404
    assert (
        client.get(reverse("analytics:driver", args=["max_verstappen"]), {"season": 1990}).status_code == 404
    )
    assert (
        client.get(reverse("analytics:driver", args=["max_verstappen"]), {"season": "x"}).status_code == 404
    )
    assert client.get(reverse("analytics:team", args=["no_such_team"])).status_code == 404
    assert client.get(reverse("analytics:team", args=["red_bull"]), {"season": 1990}).status_code == 404


def _not_found_message(response) -> str:
    assert response.status_code == 404
    html = response.content.decode()
    return html.split("<h1>Not found</h1>")[1].split("<p>")[1].split("</p>")[0]


def test_a_driver_or_team_404_for_a_season_says_they_did_not_race_not_that_it_has_no_results(client):
    """QA: /drivers/hamilton/?season=1990 and /teams/cadillac/?season=2025 said "No results in
    1990" / "… 2025", which is false: the season has results, none of theirs. A season without
    any still says "No results in <season>"."""
    driver, team = (
        reverse("analytics:driver", args=["hamilton"]),
        reverse("analytics:team", args=["cadillac"]),
    )
    assert _not_found_message(client.get(driver, {"season": 1990})) == "Lewis Hamilton did not race in 1990"
    assert _not_found_message(client.get(team, {"season": 2025})) == "Cadillac did not race in 2025"
    assert client.get(team, {"season": 2026}).status_code == 200  # the team's one season
    for url in (driver, team):
        assert _not_found_message(client.get(url, {"season": 1900})) == "No results in 1900"
        assert _not_found_message(client.get(url, {"season": 2027})) == "No results in 2027"
    standings = client.get(reverse("analytics:standings"), {"season": 1900})
    assert _not_found_message(standings) == "No results in 1900"


def test_team_page(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        response = client.get(reverse("analytics:team", args=["mercedes"]), {"season": 2021})
    assert response.status_code == 200
    html = response.content.decode()
    # both 2021 Mercedes drivers (constructorId 131) from results.csv
    race_ids = {r["raceId"] for r in _csv("races") if r["year"] == "2021"}
    driver_ids = {
        r["driverId"] for r in _csv("results") if r["constructorId"] == "131" and r["raceId"] in race_ids
    }
    for driver_id in driver_ids:
        assert _driver_name(driver_id) in html
    for label in ("Car pace", "Strategy effectiveness", "Pit-stop efficiency", "Reliability", "Development"):
        assert label in html
    assert 'data-chart="bar"' in html and 'data-chart="line"' in html


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/drivers/Hamilton/", "/drivers/hamilton/"),
        (
            "/drivers/HAMILTON/?season=2020&as_of=2021-01-01",
            "/drivers/hamilton/?season=2020&as_of=2021-01-01",
        ),
        ("/teams/McLaren/", "/teams/mclaren/"),
        ("/teams/RED_BULL/?season=2022", "/teams/red_bull/?season=2022"),
        # a few stored refs have capitals: the stored spelling is the address, not lower case
        ("/drivers/cannoc/", "/drivers/Cannoc/"),
        ("/drivers/Scott_brown/", "/drivers/scott_Brown/"),
    ],
)
def test_a_driver_or_team_id_in_another_case_redirects_to_its_page(client, path, target):
    """Review defect 7: /drivers/Hamilton/ and /teams/McLaren/ were 404 "No driver 'Hamilton'"
    while /races/2025_BAHRAIN/ answers. The id in any case now leads to the page, by a permanent
    redirect to the stored spelling's address (query kept), so the page has one address and one
    page-cache entry."""
    response = client.get(path)
    assert response.status_code == 301 and response["Location"] == target
    assert client.get(target).status_code == 200


def test_an_unknown_driver_or_team_in_any_case_is_still_a_404(client):
    assert client.get("/drivers/Nobody_At_All/").status_code == 404
    assert client.get("/teams/No_Such_Team/").status_code == 404


# --- standings --------------------------------------------------------------------------------


def _standings_leader(year: int, rnd: int) -> str:
    race_id = _race_row(year, rnd)["raceId"]
    leader = next(r for r in _csv("driver_standings") if r["raceId"] == race_id and r["position"] == "1")
    return _driver_name(leader["driverId"])


def test_standings_default_is_latest_round(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = client.get(reverse("analytics:standings"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-season="2026" data-round="7"' in html  # results run through 2026 round 7
    table = html.split('id="driver-standings"')[1].split("</table>")[0]
    assert _standings_leader(2026, 7) in table.split("</tr>")[1]
    assert 'data-chart="line"' in html


def test_standings_htmx_swap_returns_only_the_panel(client):
    response = client.get(reverse("analytics:standings"), {"season": 2021, "round": 99}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    # the page title for htmx (a root-level <title>), then the panel
    assert body.lstrip().startswith('<title>Standings 2021 · Pitwall</title>\n<div id="standings-panel">')
    assert "<html" not in body
    # season changed under a round it lacks: latest round (22) of 2021
    assert 'data-season="2021" data-round="22"' in body
    assert _standings_leader(2021, 22) in body
    response = client.get(reverse("analytics:standings"), {"season": 2021, "round": 5}, **HTMX)
    assert _standings_leader(2021, 5) in response.content.decode()


def test_the_points_progression_shows_an_excluded_leader_flagged(client):
    """Review defect 4: /standings/?season=1997 charted the top six by final position, so Michael
    Schumacher (excluded, stored 26th; he led 78-77 before the last round) was not in it."""
    html = client.get(reverse("analytics:standings"), {"season": 1997}).content.decode()
    chart = html.split('id="prog-h"')[1]
    assert "<title>Schumacher</title>" in chart  # his line, labelled as the others: family names
    assert "Michael Schumacher was excluded from the championship: points as scored." in chart
    table = chart.split("<tbody>")[1].split("</tbody>")[0]
    assert 'Schumacher <span class="small muted">(excluded from the championship)</span>' in table
    assert ">VIL<" not in chart and ">Villeneuve<" in table


def test_a_standings_swap_for_a_round_not_run_pushes_the_url_of_the_round_shown(client):
    """QA: the round form of an old page sent season=2026&round=8 (not run yet): the swap showed
    the tables after round 7, but htmx pushed `round=8` (the form's `hx-push-url="true"`) into the
    address bar, and reloading that URL gave the 404. The answer's `HX-Push-Url` (which overrides
    the attribute) names the round shown; rendered or from the page cache alike."""
    url = reverse("analytics:standings")
    for _ in range(2):  # rendered, then from the page cache
        response = client.get(url, {"season": "2026", "round": "8"}, **HTMX)
        assert response.status_code == 200
        assert 'data-season="2026" data-round="7"' in response.content.decode()
        assert response["HX-Push-Url"] == f"{url}?season=2026&round=7"
        assert "HX-Replace-Url" not in response
        assert client.get(response["HX-Push-Url"]).status_code == 200  # a reload of it
    assert client.get(url, {"season": "2026", "round": "8"}).status_code == 404  # plain: as before
    # a round that exists: the form's own URL stands, no header
    response = client.get(url, {"season": "2026", "round": "5"}, **HTMX)
    assert 'data-round="5"' in response.content.decode() and "HX-Push-Url" not in response


RESTORE = {**HTMX, "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}


def _is_full_page(body: str) -> bool:
    return all(part in body for part in ("<html", 'class="site-header"', "<h1", 'class="site-footer"'))


def test_an_htmx_history_restore_gets_the_full_page_cached_or_not(client, predicted_2026_7):
    """QA: on a miss in its history cache (10 pages) htmx re-requests the URL with `HX-Request` and
    `HX-History-Restore-Request` and puts the answer in place of the whole <body>; the views answered
    the partial (they checked `request.htmx` only), so Back left a page without header, nav, h1 or
    footer. A restore gets the full page; the page cache keeps the three kinds of answer apart."""
    race, entrants = predicted_2026_7
    pages = [
        (reverse("analytics:standings"), {"season": "2021"}),
        (reverse("analytics:standings"), {"season": "2026", "round": "5"}),
        (reverse("analytics:why", args=[race.slug, entrants[0].driver.ref]), {"stage": "post"}),
        (reverse("analytics:what_if", args=[race.slug]), {}),
    ]
    for url, params in pages:
        for order in ((HTMX, RESTORE, {}), (RESTORE, HTMX, {}), ({}, RESTORE, HTMX)):
            cache.clear()
            for _ in range(2):  # rendered, then from the page cache
                for headers in order:
                    response = client.get(url, params, **headers)
                    assert response.status_code == 200, (url, headers)
                    body = response.content.decode()
                    assert _is_full_page(body) == (headers is not HTMX), (url, params, headers)
                    vary = {v.strip().lower() for v in response["Vary"].split(",")}
                    assert {"hx-request", "hx-history-restore-request"} <= vary
    # a season without the round asked: a swap or a restore gets the latest round (htmx drops a
    # restore answered 404), a plain request still the 404, whichever came first into the cache
    for _ in range(2):
        for headers in (RESTORE, HTMX):
            body = client.get(reverse("analytics:standings"), {"season": "2021", "round": "99"}, **headers)
            assert 'data-season="2021" data-round="22"' in body.content.decode()
        plain = client.get(reverse("analytics:standings"), {"season": "2021", "round": "99"})
        assert plain.status_code == 404


def test_standings_pickers_do_not_submit_on_change(client):
    """QA: `hx-trigger="change, submit"` sent a request per arrow key in the select and, with the
    Show button, two requests and two identical history entries. Like the other pickers (WCAG
    3.2.2) the forms submit only: htmx's default trigger for a form, once per press of Show."""
    html = client.get(reverse("analytics:standings")).content.decode()
    for control in ("season-select", "round-select"):
        attrs = _form_with(html, control)["attrs"]
        assert attrs.get("hx-trigger", "submit") == "submit", attrs
        assert attrs["hx-push-url"] == "true" and attrs["hx-get"] == attrs["action"]
    assert "onchange" not in html and 'hx-trigger="change' not in html


def test_standings_page_has_one_title_and_the_swap_brings_its_own(client):
    """QA: after a swap to ?season=2019 the tab still said "Standings 2026 · Pitwall"."""
    html = client.get(reverse("analytics:standings")).content.decode()
    head, body = html.split("<body", 1)
    assert "<title>Standings 2026 · Pitwall</title>" in head
    assert "<title>Standings" not in body  # the panel carries no title of its own in the page
    swap = client.get(reverse("analytics:standings"), {"season": "2019"}, **HTMX).content.decode()
    assert swap.startswith("<title>Standings 2019 · Pitwall</title>")


def test_standings_season_change_shows_that_seasons_latest_round_not_the_old_round(client):
    """QA: on /standings/ (2026 after round 7) choosing 2021 sent season=2021&round=7 and showed
    "2021 standings after round 7". The season select's form submits the season alone (through its
    visible button, with HTMX or without JS), so the answer is 2021's final round."""
    html = client.get(reverse("analytics:standings")).content.decode()
    season_form = _form_with(html, "season-select")
    assert season_form["fields"] == {"season": "2026"}  # no round goes with a season change
    assert season_form["buttons"] == 1 and "<noscript>" not in html  # a visible submit
    assert season_form["attrs"]["hx-get"] == season_form["attrs"]["action"] == reverse("analytics:standings")
    # the request "Show season" sends once 2021 is chosen: the form's fields with the new season
    for headers in (HTMX, {}):  # swapped in place, or the no-JS page the button loads
        body = client.get(season_form["attrs"]["action"], {"season": "2021"}, **headers).content.decode()
        assert 'data-season="2021" data-round="22"' in body  # 2021's final round, not round 7
        assert "2021 standings after round 22" in body
    # the round select keeps the season shown and sends the round chosen
    round_form = _form_with(html, "round-select")
    assert round_form["fields"] == {"season": "2026", "round": "7"} and round_form["buttons"] == 1
    body = client.get(
        round_form["attrs"]["action"], {"season": "2026", "round": "5"}, **HTMX
    ).content.decode()
    assert 'data-season="2026" data-round="5"' in body


def test_standings_404s(client):
    assert client.get(reverse("analytics:standings"), {"season": 2021, "round": 99}).status_code == 404
    assert client.get(reverse("analytics:standings"), {"season": 1900}).status_code == 404
    assert client.get(reverse("analytics:standings"), {"season": "abc"}).status_code == 404


# --- model, championship, what-if ------------------------------------------------------------


def test_model_page_without_and_with_a_backtest(client, django_assert_max_num_queries):
    response = client.get(reverse("analytics:model"))
    assert response.status_code == 200
    assert "No backtest has been run yet." in response.content.decode()
    # the layout predictions.ml.backtest.backtest_report writes: {overall: {method: summary},
    # seasons: {season: {method: summary}}}, calibration tables inside the model's summary
    BacktestRun.objects.create(
        status="succeeded",
        stage="post",
        seasons=[2024, 2025],
        results={
            "stage": "post",
            "overall": {
                "model": {"races": 48, "mae": 3.1, "spearman": 0.6, "winner_hit_rate": 0.4,
                          "calibration_win": [{"bin": "0.0-0.1", "n": 400, "predicted": 0.03, "observed": 0.02},
                                              {"bin": "0.5-0.6", "n": 20, "predicted": 0.55, "observed": 0.6}]},
                "grid": {"races": 48, "mae": 3.6},
            },
            "seasons": {"2024": {"model": {"races": 24, "mae": 3.0}, "grid": {"races": 24, "mae": 3.5}}},
        },
    )  # fmt: skip
    cache.clear()  # fans' pages are cached whole for CACHE_TTL_STANDINGS
    with django_assert_max_num_queries(6):
        response = client.get(reverse("analytics:model"))
    html = response.content.decode()
    assert "3.100" in html and "3.600" in html and "3.500" in html  # model vs grid baseline
    assert "Pitwall model" in html and "Baseline: grid order" in html
    assert 'data-chart="scatter"' in html and "0.0-0.1" in html  # calibration chart + its table
    assert 'id="feature-catalogue"' in html


def test_championship_page(client):
    """No model in this module: the running season cannot be simulated. The page says why (not "no
    races that season") with the API's 503, never page-cached."""
    response = client.get(reverse("analytics:championship"))
    assert response.status_code == 503 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "title chances" in html
    assert "no prediction model can be loaded" in html and "no races that season" not in html
    assert client.get(reverse("analytics:championship"), {"season": 1800}).status_code == 404


def test_an_engine_error_on_the_championship_page_is_a_500_never_a_cached_empty_page(monkeypatch):
    """The page caught every ValueError as "no races that season" and cached a 200 without a
    simulation for an hour; a bug in the engine is a 500 (logged), and nothing is cached."""
    from django.test import Client

    def crash(**kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr("analytics.views.championship_simulate", crash)
    client = Client(raise_request_exception=False)
    assert client.get(reverse("analytics:championship"), {"season": 2026}).status_code == 500
    monkeypatch.undo()
    assert client.get(reverse("analytics:championship"), {"season": 2026}).status_code == 503  # no model here


@pytest.mark.parametrize(
    "season",
    ["02025", "99999999999999999999", "9" * 5000, "2025.0", "-1", "abc", "+2025", " 2025", "٢٠٢٥", "1_990"],
)
def test_championship_page_season_that_is_not_a_canonical_year_is_a_404_never_a_500(client, season):
    """The page's `?season=` takes the canonical integer only: no alias of 2025 (`02025`, ` 2025`,
    Arabic-Indic digits — int() read them all) renders or caches a copy of its page."""
    response = client.get(reverse("analytics:championship"), {"season": season})
    assert response.status_code == 404


def test_championship_page_shows_tiny_title_chances_as_below_0_1_percent(client, monkeypatch):
    """QA: Leclerc's 0.0004 title chance read "0.0%" (table) and "0%" (chart). On the page a chance
    that is neither 0 nor 1 is never rounded to it: "<0.1%", ">99.9%"; the API keeps the float."""
    drivers = [
        ("max_verstappen", "Max Verstappen", 0.9996),
        ("charles_leclerc", "Charles Leclerc", 0.0004),
        ("lewis_hamilton", "Lewis Hamilton", 0.0),
    ]
    simulation = {
        "season": 2026,
        "n_sims": 5000,
        "model_version": "v-test",
        "remaining_races": ["2026_qatar", "2026_uae"],
        "note": "test simulation",
        "drivers": [
            {
                "driver": ref,
                "driver_name": name,
                "current_points": 300.0 - i,
                "expected_points": 350.0 - i,
                "title_probability": p,
                "excluded": False,
            }
            for i, (ref, name, p) in enumerate(drivers)
        ],
        "teams": [],
    }
    monkeypatch.setattr("analytics.views.championship_simulate", lambda *, season, **_: simulation)
    html = client.get(reverse("analytics:championship"), {"season": 2026}).content.decode()
    table = html.split('id="title-probabilities"')[1].split("</table>")[0]
    outputs = re.findall(r"<output>(.*?)</output>", table)
    assert outputs == ["&gt;99.9%", "&lt;0.1%", "0.0%"]
    chart = html.split('data-chart="bar"')[1].split("</svg>")[0]
    assert "&gt;99.9%</text>" in chart and "&lt;0.1%</text>" in chart


def _final_table(kind: str, season: int) -> list[tuple[str, float, str]]:
    """(name, points, positionText) of a season's final drivers' or constructors' standings, from the CSVs."""
    last = max((r for r in _csv("races") if r["year"] == str(season)), key=lambda r: int(r["round"]))
    if kind == "driver":
        rows, key = _csv("driver_standings"), "driverId"
        names = {r["driverId"]: f"{r['forename']} {r['surname']}" for r in _csv("drivers")}
    else:
        rows, key = _csv("constructor_standings"), "constructorId"
        names = {r["constructorId"]: r["name"] for r in _csv("constructors")}
    final = sorted((r for r in rows if r["raceId"] == last["raceId"]), key=lambda r: int(r["position"]))
    return [(names[r[key]], float(r["points"]), r["positionText"]) for r in final]


def _table_rows(html: str, table_id: str) -> list[tuple[str, str, str]]:
    """(position, name, points) per row of the table with this id."""
    body = html.split(f'id="{table_id}"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(
        r'<tr><td class="num">([^<]*)</td><td><a [^>]*>([^<]*)</a>.*?</td><td class="num">([^<]*)</td></tr>',
        body,
    )


def test_championship_page_of_a_completed_season_shows_the_final_standings(
    client, django_assert_max_num_queries
):
    """2024 is over: championship_simulate answers its stored final standings (n_sims 0, model_version
    None, title probability 1 for the champion and 0 for everyone else). The page showed them as a
    simulation: "2024 title chances", a bar chart and a table of 100 % / 0 % title probabilities.
    Now: final standings, the champions named, points, no probability anywhere."""
    cache.clear()
    # season list, the model version serving (2: the cache entry is per version), the season's
    # races, races with results, driver and team standings (latest round + its rows, each), every
    # driver's latest team, driver and team names: 12, none per driver
    with django_assert_max_num_queries(12):
        response = client.get(reverse("analytics:championship"), {"season": 2024})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>2024 final standings</h1>" in html and "<title>2024 final standings" in html
    for simulated in (
        "title chances",
        "Title probability",
        "Expected final points",
        "simulated seasons",
        'class="prob"',
        "%</output>",
        'id="title-probabilities"',
        "100%",
        "0%<",
    ):
        assert simulated not in html, simulated

    drivers, teams = _final_table("driver", 2024), _final_table("constructor", 2024)
    (champion, points, _), (team_champion, team_points, _) = drivers[0], teams[0]
    decided = re.search(r'<p class="decided">(.*?)</p>', html, re.S).group(1)
    assert "Decided" in decided and "nothing is simulated" in decided
    assert f"<strong>{champion}</strong> won the drivers' title with {points:g} points" in decided
    assert f"<strong>{team_champion}</strong> the constructors' with {team_points:g}" in decided

    rows = _table_rows(html, "final-standings")
    assert [(name, float(pts)) for _, name, pts in rows] == [(n, p) for n, p, _ in drivers]
    assert [pos for pos, _, _ in rows] == [str(i) for i in range(1, len(rows) + 1)]
    team_rows = _table_rows(html, "team-final-standings")
    assert [(name, float(pts)) for _, name, pts in team_rows] == [(n, p) for n, p, _ in teams]
    assert html.count('<span class="badge ok">Champion</span>') == 2

    chart = html.split('data-chart="bar"')[1].split("</svg>")[0]
    assert "2024 drivers&#x27; championship: final points" in chart
    assert re.findall(r">([^<]+)</text><rect", chart) == [n for n, _, _ in drivers[:10]]
    assert re.findall(r">([\d.]+) pts</text>", chart) == [f"{p:g}" for _, p, _ in drivers[:10]]
    assert (
        '<g class="bar highlight"><text' in chart
        and f">{champion}</text>" in chart.split("highlight")[1][:200]
    )


def test_championship_page_flags_an_excluded_driver_of_a_completed_season(client):
    """1997: Schumacher was excluded from the standings (positionText D): listed, flagged, no position."""
    html = client.get(reverse("analytics:championship"), {"season": 1997}).content.decode()
    excluded = [name for name, _, text in _final_table("driver", 1997) if text == "D"]
    assert excluded
    rows = {name: pos for pos, name, _ in _table_rows(html, "final-standings")}
    for name in excluded:
        assert rows[name] == "–"
    assert "excluded</span>" in html and "<h1>1997 final standings</h1>" in html


def test_what_if_form_and_bad_input(client, django_assert_max_num_queries):
    url = reverse("analytics:what_if", args=["2026_8"])
    # the race, its entry sources in turn (results, qualifying, sprint, practice) and the fallback
    # race's field, the latest prediction batch, driver and team names
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    inputs = re.findall(r'name="grid_([a-z0-9_]+)"', html)
    race_id = _race_row(2026, 7)["raceId"]  # round 8 has no entry list: round 7's classification
    assert len(inputs) == sum(1 for r in _csv("results") if r["raceId"] == race_id)
    params = {f"grid_{ref}": i for i, ref in enumerate(inputs, start=1)}
    params[f"grid_{inputs[1]}"] = 1  # two drivers on pole
    bad = client.get(url, params)
    assert bad.status_code == 422
    from ingestion.models import Driver

    names = [str(Driver.objects.get(ref=ref).full_name) for ref in inputs[:2]]
    # named as the other messages name them (QA: it listed the driver ids)
    assert f"Grid slot 1 is given to more than one driver ({names[0]}, {names[1]})." in html_unescape(
        bad.content.decode()
    )
    partial = client.get(url, {**params, f"grid_{inputs[2]}": "abc"}, **HTMX)
    assert partial.status_code == 200 and "must be a number" in partial.content.decode()
    assert client.get(reverse("analytics:what_if", args=["2099_nowhere"])).status_code == 404


# --- staff ------------------------------------------------------------------------------------


def test_freshness_is_staff_only(client, django_user_model, django_assert_max_num_queries):
    response = client.get(reverse("analytics:freshness"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user = django_user_model.objects.create_user(username="fan", password="x" * 12)
    client.force_login(user)
    assert client.get(reverse("analytics:freshness")).status_code == 302
    user.is_staff = True
    user.save()
    JobRun.objects.create(job="daily_results_sync", status="failed", error="mirror said 503")
    # session + user + 7 reads + the stale-run sweeps' selects (jobs/status closes dead job runs, the
    # page's selector dead OpenF1 / weather sync runs; in this test's transaction each sweep's
    # savepoint pair counts too)
    with django_assert_max_num_queries(18):
        response = client.get(reverse("analytics:freshness"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ergast CSV dump" in html  # the session's dump load is a SyncRun
    assert "daily_results_sync" in html and "mirror said 503" in html


def test_freshness_dates_the_latest_race_as_the_rest_of_the_site_does(admin_client):
    """QA: the card said "June 14, 2026" (Django's default DATE_FORMAT); the site writes "14 Jun 2026"."""
    race = _race_row(2026, 7)  # the latest race with results
    day = datetime.strptime(race["date"], "%Y-%m-%d")
    html = admin_client.get(reverse("analytics:freshness")).content.decode()
    card = html.split("Latest race with results")[1].split("</div>")[0]
    assert race["name"] in card
    assert f"<small>{day.day} {day:%b %Y}</small>" in card, card  # 14 Jun 2026
    assert f"{day:%B}" not in card


def test_freshness_shows_openf1_and_weather_syncs_with_readable_failures(
    client, django_user_model, mirror, settings
):
    from datetime import UTC, datetime

    from ingestion.clients.http import SourceError
    from ingestion.services.openf1_sessions import openf1_sessions_sync
    from ingestion.services.weather_observed import weather_observed_sync

    settings.HTTP_MAX_RETRIES = 0
    openf1_sessions_sync(seasons=[2024])
    mirror.set_faults({"prefix": "/v1/weather", "status": 500})
    with pytest.raises(SourceError):
        weather_observed_sync(seasons=[2021], race_ids=["2021_belgium"], now=datetime(2022, 1, 1, tzinfo=UTC))
    client.force_login(django_user_model.objects.create_user("steward", password="x" * 12, is_staff=True))
    html = client.get(reverse("analytics:freshness")).content.decode()
    latest = html.split('id="sync-latest"')[1].split("</table>")[0]
    assert "OpenF1 API" in latest and "Weather API" in latest and "(observed)" in latest
    failures = html.split('id="sync-failures"')[1].split("</ul>")[0]
    line = next(li for li in failures.split("<li>") if "Weather API" in li)
    assert '</a>: <span class="small">openf1: HTTP 500 (gave up after 1 attempts)' in line
    assert "{" not in failures and "&#x27;message&#x27;" not in failures  # no dict reprs


def test_freshness_latest_table_keeps_each_source_and_weather_kind(client, django_user_model):
    """Forecasts run four times a day: 30 of them after one observed-weather run must not hide it,
    nor the dump load, from "latest per source" (the table read only the last 20 runs before)."""
    from ingestion.models import SyncRun

    SyncRun.objects.create(source="weather", status="succeeded", params={"kind": "observed"})
    for _ in range(30):
        SyncRun.objects.create(source="weather", status="succeeded", params={"kind": "forecast"})
    client.force_login(django_user_model.objects.create_user("clerk", password="x" * 12, is_staff=True))
    html = client.get(reverse("analytics:freshness")).content.decode()
    latest = html.split('id="sync-latest"')[1].split("</table>")[0]
    assert "(observed)" in latest and "(forecast)" in latest
    assert "Ergast CSV dump" in latest
    assert latest.count("Weather API") == 2


def test_fan_pages_are_cached_whole_staff_pages_are_not(client, django_user_model, django_assert_num_queries):
    url = reverse("analytics:standings")
    first = client.get(url, {"season": 2020})
    with django_assert_num_queries(0):
        again = client.get(url, {"season": 2020})
    assert again.content == first.content
    # an HTMX request for the same URL is a different entry (the partial)
    partial = client.get(url, {"season": 2020}, **HTMX)
    assert "<html" not in partial.content.decode() and "<html" in first.content.decode()
    staff = django_user_model.objects.create_user(username="marshal", password="x" * 12, is_staff=True)
    client.force_login(staff)
    with CaptureQueriesContext(connection) as queries:
        fresh = client.get(url, {"season": 2020})
    assert fresh.status_code == 200 and len(queries) > 0  # rendered afresh, not from the page cache
    assert 'href="/staff/freshness/"' in fresh.content.decode()  # the staff-only nav link


def test_dashboard_cache_clear_drops_cached_pages(client):
    from analytics.services.cache import dashboard_cache_clear

    url = reverse("analytics:model")
    assert "No backtest has been run yet." in client.get(url).content.decode()
    BacktestRun.objects.create(
        status="succeeded", stage="pre", seasons=[2025], results={"overall": {"model": {"mae": 2.75}}}
    )
    assert "No backtest has been run yet." in client.get(url).content.decode()  # still the cached page
    dashboard_cache_clear()
    assert "2.750" in client.get(url).content.decode()


@pytest.mark.parametrize(
    "signal_path", ["ingestion.signals.races_changed", "predictions.signals.predictions_changed"]
)
def test_sync_and_prediction_signals_drop_cached_pages(client, signal_path):
    import importlib

    module_name, _, name = signal_path.rpartition(".")
    signal = getattr(importlib.import_module(module_name), name)
    url = reverse("analytics:model")
    assert "No backtest has been run yet." in client.get(url).content.decode()
    BacktestRun.objects.create(
        status="succeeded", stage="pre", seasons=[2025], results={"overall": {"model": {"mae": 2.75}}}
    )
    assert "No backtest has been run yet." in client.get(url).content.decode()  # still the cached page
    signal.send(sender=None, race_ids=["2025_bahrain"])
    assert "2.750" in client.get(url).content.decode()


def test_a_past_card_with_a_set_not_scored_yet_says_so(client, ergast_data):
    """Review: between the results sync and the scoring (or at a clock in that window) a past race's
    card named its predicted winner and then said "No stored prediction to score." A pre-race set
    now says it is not scored yet; a set made after the race, never scored, says neither (its label
    says so); a race without a set keeps the old line."""
    from analytics.services.cache import dashboard_cache_clear

    race = Race.objects.get(season_id=2026, round=7)
    finish = list(
        RaceResult.objects.filter(race=race, shared_car_index=0)
        .select_related("driver")
        .order_by("position_order")
    )
    _predict(race, finish, stage="post", made=race.start - timedelta(hours=2))  # not scored yet
    html = client.get(reverse("analytics:home")).content.decode()
    card = html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]
    assert f"Predicted winner: {finish[0].driver.full_name}" in card and "made after the race" not in card
    assert "Not scored yet: its accuracy comes once the results are processed." in card
    assert "No stored prediction to score" not in card

    Prediction.objects.filter(race=race).delete()
    _predict(race, finish, stage="post")  # made now, after the race: never scored
    dashboard_cache_clear()
    html = client.get(reverse("analytics:home")).content.decode()
    card = html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]
    assert "made after the race" in card
    assert "Not scored yet" not in card and "No stored prediction to score" not in card


def test_a_completed_race_shows_the_scored_set_not_a_newer_one_made_after_it(client, ergast_data):
    """QA repro: after a staff regeneration of a completed race, the home card read "Predicted
    winner: <the winner> · missed" and the race page showed the backfilled set's MAE over the newer
    after-race set's chart. Both now show the scored set, labelled backfilled."""
    from predictions.selectors import prediction_overview

    race = Race.objects.get(season_id=2026, round=7)
    finish = list(
        RaceResult.objects.filter(race=race, shared_car_index=0).select_related("driver", "team")
        .order_by("position_order")
    )  # fmt: skip
    scored = _predict(race, list(reversed(finish)), stage="post")  # the winner predicted last
    Prediction.objects.filter(batch=scored).update(backfilled=True)
    RaceAccuracyFactory(race=race, stage="post", batch=scored, mae=3.18, winner_hit=False, backfilled=True)
    newer = _predict(race, finish, stage="post")  # made now, after the race: the winner on top
    assert Prediction.objects.filter(batch=newer).latest("created_at").created_at > race.start

    html = client.get(reverse("analytics:home")).content.decode()  # today: round 7 is a past race
    card = html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]
    assert f"Predicted winner: {finish[-1].driver.full_name}" in card and "missed" in card
    assert "backfilled" in card and "3.18" in card

    page = client.get(reverse("analytics:race", args=[race.slug])).content.decode()
    assert "3.18" in page and "backfilled" in page
    code = finish[-1].driver.code or finish[-1].driver.family_name
    assert f"{code}: predicted P1, finished P{len(finish)}" in page  # the chart of the scored set
    assert f"{finish[0].driver.code or finish[0].driver.family_name}: predicted P1" not in page

    recent = {e["race"].pk: e for e in prediction_overview(as_of=datetime(2026, 6, 20, tzinfo=UTC))["recent"]}
    assert {p.batch for p in recent[race.pk]["predictions"]["post"]} == {scored}
    assert recent[race.pk]["accuracy"]["post"].batch == scored


def test_model_page_headlines_the_standard_post_qualifying_backtest(client, django_assert_max_num_queries):
    """QA repro: a quick 7-race `backtest --seasons 2026 --stage pre` became the unlabelled
    headline. The headline is the latest post-qualifying run over 2022-2025; the pre-qualifying one
    follows, labelled with its seasons."""
    from predictions.selectors import backtest_headlines

    standard = BacktestRun.objects.create(
        status="succeeded", stage="post", seasons=[2022, 2023, 2024, 2025], races=92,
        results={"overall": {"model": {"mae": 3.22}}},
    )  # fmt: skip
    BacktestRun.objects.create(  # the weekly season-so-far evaluation: newer, but no headline
        status="succeeded",
        stage="post",
        seasons=[2026],
        races=7,
        results={"overall": {"model": {"mae": 4.19}}},
    )
    BacktestRun.objects.create(
        status="succeeded",
        stage="pre",
        seasons=[2026],
        races=7,
        results={"overall": {"model": {"mae": 5.55}}},
    )
    with django_assert_max_num_queries(6):
        html = client.get(reverse("analytics:model")).content.decode()
    post, pre = html.split('class="backtest-run"')[1:3]
    assert 'data-stage="post"' in post and "After qualifying · seasons 2022–2025" in post
    assert "3.220" in post and "4.190" not in html and "Not the standard period" not in post
    assert 'data-stage="pre"' in pre and "Before qualifying · season 2026" in pre and "5.550" in pre
    assert "Not the standard period (2022–2025)" in pre
    # said to fans in plain words (QA: "seasons 2026", "not comparable with the README's table")
    assert "README" not in html and "seasons 2026" not in html
    assert "this run covers season 2026 only (7 races)" in pre
    # QA: the notice named "the after-qualifying one" as a standard run, also on an after-qualifying
    # run that is itself not over the standard period
    assert "such as the after-qualifying one" not in html
    assert backtest_headlines()["post"].pk == standard.pk
    # the API's models/performance shows the frontend the same runs, flagged
    backtests = client.get("/api/v1/models/performance").json()["backtests"]
    assert (backtests["post"]["id"], backtests["post"]["standard_period"]) == (standard.pk, True)
    assert (backtests["pre"]["seasons"], backtests["pre"]["standard_period"]) == ([2026], False)


def test_home_as_of_shows_what_was_made_by_then(client, predicted_2026_7, django_assert_max_num_queries):
    """QA repro: `/?as_of=2026-06-13` (then 12:00 UTC) showed Barcelona's after-qualifying podium although
    qualifying began at 14:00, and the newest sets rather than those of that day."""
    race, entrants = predicted_2026_7  # pre made 06-12 09:00, post 06-13 16:00 (qualifying 14:00)
    later = _predict(race, list(reversed(entrants)), stage="pre")  # made now, long after that day
    with django_assert_max_num_queries(12):
        html = client.get(reverse("analytics:home"), {"as_of": "2026-06-13"}).content.decode()
    card = html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]
    assert (
        'class="card race-card upcoming"'
        in html.split(f'data-race="{race.slug}"')[0].rsplit("<article", 1)[1]
    )
    assert "before qualifying" in card and "after qualifying" not in card
    podium = card.split('class="podium"')[1].split("</ol>")[0]
    assert [e.driver.full_name in podium for e in entrants[:3]] == [True] * 3  # the 06-12 set, not `later`
    assert "12 Jun 2026, 09:00 UTC" in card
    assert Prediction.objects.filter(batch=later).exists()
    # the accuracy was scored on 06-15 06:00: as of that date (00:00 UTC, as `predict --as-of`
    # reads a date) the race is past but not scored yet; by noon the card shows it
    html = client.get(reverse("analytics:home"), {"as_of": "2026-06-15"}).content.decode()
    assert "Showing the page as of 15 June 2026, 00:00 UTC" in html
    card = html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]
    assert 'class="card race-card past"' in html.split(f'data-race="{race.slug}"')[0].rsplit("<article", 1)[1]
    assert "3.25" not in card and "after qualifying" in card
    html = client.get(reverse("analytics:home"), {"as_of": "2026-06-15T12:00"}).content.decode()
    assert "Showing the page as of 15 June 2026, 12:00 UTC" in html
    card = html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]
    assert "3.25" in card and "after qualifying" in card
    # on race day (00:00, before the start) it is upcoming, with the after-qualifying set
    html = client.get(reverse("analytics:home"), {"as_of": "2026-06-14"}).content.decode()
    card = html.split(f'data-race="{race.slug}"')[1].split("</article>")[0]
    assert "3.25" not in card and "after qualifying" in card


def test_model_page_names_each_stage_small_model_by_its_own_features(client):
    """QA: the pre-qualifying comparison model was labelled "grid, championship position, form" but
    has no grid (`ABLATION_FEATURES["pre"]`)."""
    for stage, mae in (("post", 3.29), ("pre", 4.41)):
        BacktestRun.objects.create(
            status="succeeded",
            stage=stage,
            seasons=[2022, 2023, 2024, 2025],
            races=92,
            results={"overall": {"model": {"mae": 3.0}, "ablation": {"mae": mae}}},
        )
    html = client.get(reverse("analytics:model")).content.decode()
    post, pre = html.split('class="backtest-run"')[1:3]
    assert "Small model (grid, championship position, form only)" in post and "3.290" in post
    assert "Small model (championship position, form only)" in pre and "4.410" in pre
    assert "grid, championship" not in pre


def test_driver_and_team_line_charts_come_with_their_values_as_tables(client):
    """Each line chart on the driver and team pages is followed by its values as a table (the form
    and championship-position charts; the development and constructors'-position charts)."""
    driver = client.get(reverse("analytics:driver", args=["max_verstappen"]), {"season": 2021})
    team = client.get(reverse("analytics:team", args=["mclaren"]), {"season": 2021})
    for response in (driver, team):
        html = response.content.decode()
        assert response.status_code == 200
        assert html.count('data-chart="line"') == html.count("Chart data as a table") == 2
    html = driver.content.decode()
    table = html[html.index("Chart data as a table") :]
    # round 1 of 2021 (Bahrain): Verstappen second, 18 points; the table's first row says so
    assert re.search(r'<th scope="row">R1</th><td class="num">18</td>', table)
