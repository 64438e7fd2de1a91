"""A race's status from its start (`ingestion.selectors.race_status_derive` / `race_status_now`): a race
whose start has passed without results stored is `awaiting_results` — being run, or run and its
results not ingested yet — not `scheduled` until the day after, as the API and the race page said.

Real data: the 2025 Canadian Grand Prix, 15 June 2025 18:00 UTC (checked against the dump's CSV), its
results removed inside the test's transaction, so at 19:00 it is the race just run whose results the
live job has not brought in yet. Cached answers holding the status are fresh at most until the start
(`f1site.cache.answer_changes_at` / `compute_capped`), whatever the TTL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from ingestion.models import Race, RaceResult
from tests.drf_support import csv_race

pytestmark = pytest.mark.django_db

CANADA = "2025_canada"
START = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
BEFORE = datetime(2025, 6, 15, 17, 0, tzinfo=UTC)
DURING = datetime(2025, 6, 15, 19, 0, tzinfo=UTC)  # started an hour ago, no results in


@pytest.fixture
def canada_without_results(ergast_data) -> Race:
    row = csv_race(2025, 10)
    assert (row["name"], row["date"], row["time"]) == ("Canadian Grand Prix", "2025-06-15", "18:00:00")
    race = Race.objects.get(slug=CANADA)
    assert race.start == START
    RaceResult.objects.filter(race=race).delete()  # inside the test's transaction only
    return race


def _listed(api, **query) -> dict:
    response = api.get("/api/v1/races", {"season": 2025, "limit": 100, **query})
    assert response.status_code == 200, response.content
    return {r["id"]: r["status"] for r in response.json()["results"]}


@pytest.mark.parametrize(
    ("clock", "status"),
    [(BEFORE, "scheduled"), (DURING, "awaiting_results")],
    ids=["an-hour-before-the-start", "an-hour-after-the-start"],
)
def test_races_list_and_detail_say_awaiting_results_once_started(
    api, canada_without_results, time_machine, django_assert_max_num_queries, clock, status
):
    time_machine.move_to(clock, tick=False)
    with django_assert_max_num_queries(3):  # as before: the page in one query (+ session, throttle)
        listed = _listed(api)
    assert listed[CANADA] == status
    assert listed["2025_monaco"] == "completed"  # (later rounds have results in the dump: completed)
    with django_assert_max_num_queries(12):
        detail = api.get(f"/api/v1/races/{CANADA}").json()
    assert detail["status"] == status and detail["results"] == []


def test_the_predictions_race_refs_and_the_race_page_follow(
    api, client, canada_without_results, time_machine
):
    """predictions/upcoming and predictions/overview list the race being run first among the next
    races (the home page keeps its card on its day) with its real status, not a fixed `scheduled`;
    the race page's badge says it awaits its results."""
    time_machine.move_to(DURING, tick=False)
    upcoming = api.get("/api/v1/predictions/upcoming").json()["races"]
    assert [r["race"]["id"] for r in upcoming][:2] == [CANADA, "2025_austria"]
    assert [r["race"]["status"] for r in upcoming][:2] == ["awaiting_results", "scheduled"]
    overview = api.get("/api/v1/predictions/overview").json()
    assert overview["upcoming"][0]["race"] == {
        **overview["upcoming"][0]["race"],
        "status": "awaiting_results",
    }
    assert CANADA not in [e["race"]["id"] for e in overview["awaiting_results"]]  # never in both lists
    html = client.get(reverse("analytics:race", args=[CANADA])).content.decode()
    assert '<span class="badge">Awaiting results</span>' in html


def test_the_home_page_keeps_the_race_being_run_among_the_next_races(
    client, canada_without_results, time_machine
):
    """Decided: on its day the race being run (or just run, results not in) keeps its card among the
    next races — its predictions to follow it by — and is listed as awaiting results only from the day
    after if its results are still missing; never in both at once. (The later rounds' results are
    removed too, so that as of then Canada is the latest race run: the awaiting list holds only races
    after the latest with results.)"""
    RaceResult.objects.filter(race__date__gt=canada_without_results.date).delete()
    time_machine.move_to(DURING, tick=False)
    html = client.get(reverse("analytics:home")).content.decode()
    upcoming = html.split('id="upcoming"')[1].split("</section>")[0]
    assert f'data-race="{CANADA}"' in upcoming
    assert 'id="awaiting-h"' not in html  # nothing awaits its results yet on race day

    time_machine.move_to(datetime(2025, 6, 16, 12, 0, tzinfo=UTC), tick=False)
    cache.clear()  # the page cache: a day later
    html = client.get(reverse("analytics:home")).content.decode()
    assert f'data-race="{CANADA}"' not in html.split('id="upcoming"')[1].split("</section>")[0]
    assert f"/races/{CANADA}/" in html.split('id="awaiting-h"')[1].split("</section>")[0]


def test_a_cached_answer_does_not_say_scheduled_past_the_start(
    api, client, canada_without_results, time_machine, settings, django_assert_max_num_queries
):
    """A page of the list and the race cached at 17:55 were fresh for their whole TTL (5 minutes by
    default, configurable: an hour here), saying scheduled after the start; now each is fresh at most
    until the start of the first scheduled race it holds."""
    settings.CACHE_TTL_DYNAMIC = 3600
    time_machine.move_to(datetime(2025, 6, 15, 17, 55, tzinfo=UTC), tick=False)
    assert _listed(api)[CANADA] == "scheduled"
    assert api.get(f"/api/v1/races/{CANADA}").json()["status"] == "scheduled"
    assert api.get("/api/v1/predictions/upcoming").json()["races"][0]["race"]["status"] == "scheduled"
    page = reverse("analytics:race", args=[CANADA])
    assert '<span class="badge">Scheduled</span>' in client.get(page).content.decode()
    # The page cache keeps no freshness of its own, Redis expires it (in real time, which the time
    # machine does not move): kept 5 minutes, until the start, not the hour.
    (page_key,) = cache.keys("f1:page:*")
    assert 0 < cache.ttl(page_key) <= 300
    time_machine.move_to(datetime(2025, 6, 15, 17, 59, tzinfo=UTC), tick=False)
    with django_assert_max_num_queries(0):  # still cached before the start
        assert _listed(api)[CANADA] == "scheduled"
        assert client.get(page).status_code == 200

    time_machine.move_to(datetime(2025, 6, 15, 18, 5, tzinfo=UTC), tick=False)
    assert _listed(api)[CANADA] == "awaiting_results"
    assert api.get(f"/api/v1/races/{CANADA}").json()["status"] == "awaiting_results"
    assert api.get("/api/v1/predictions/upcoming").json()["races"][0]["race"]["status"] == "awaiting_results"
    cache.delete(page_key)  # as Redis will have at 18:00
    assert '<span class="badge">Awaiting results</span>' in client.get(page).content.decode()
    assert cache.ttl(next(iter(cache.keys("f1:page:*")))) > 3000  # nothing left to turn: the full TTL
    with django_assert_max_num_queries(0):  # and cached again: nothing left to turn by itself
        assert _listed(api)[CANADA] == "awaiting_results"
