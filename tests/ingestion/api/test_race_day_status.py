"""A race's status on its own day and the day after (`ingestion.selectors.race_status_derive`, the one
rule behind the API's `status` and the race page's `ingestion.selectors.race_status`).

The real 2026 Qatar GP: Sunday 29 November 2026, 16:00 UTC, no results in the dump. On race day
before the start it is still scheduled; the day after, with no results stored, it awaits them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from tests.drf_support import csv_race

pytestmark = pytest.mark.django_db

QATAR = "2026_qatar"
RACE_DAY_MORNING = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # six hours before the start
DAY_AFTER = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _page(client) -> str:
    response = client.get(reverse("analytics:race", args=[QATAR]))
    assert response.status_code == 200
    return response.content.decode()


def _no_prediction_text(html: str) -> str:
    return html.split('id="no-prediction">')[1].split("</p>")[0]


CLOCKS = pytest.mark.parametrize(
    ("clock", "status"),
    [(RACE_DAY_MORNING, "scheduled"), (DAY_AFTER, "awaiting_results")],
    ids=["race-day-before-the-start", "day-after-without-results"],
)


@pytest.fixture
def qatar_without_results(ergast_data):
    from ingestion.models import RaceResult

    qatar = csv_race(2026, 22)
    assert (qatar["name"], qatar["date"], qatar["time"]) == ("Qatar Grand Prix", "2026-11-29", "16:00:00")
    assert not RaceResult.objects.filter(race__slug=QATAR).exists()


@CLOCKS
def test_api_status_on_race_day_and_the_day_after(api, qatar_without_results, time_machine, clock, status):
    """QA (M37): `race_date < today`, not `<=`: on race day the race has not been run yet."""
    time_machine.move_to(clock, tick=True)
    listed = api.get("/api/v1/races", {"season": 2026, "limit": 100}).json()["results"]
    by_id = {r["id"]: r for r in listed}
    assert by_id[QATAR]["date"] == date(2026, 11, 29).isoformat()
    assert by_id[QATAR]["status"] == status
    assert by_id["2026_uae"]["status"] == "scheduled"  # a week later: scheduled on both clocks
    assert api.get(f"/api/v1/races/{QATAR}").json()["status"] == status


@CLOCKS
def test_race_page_on_race_day_and_the_day_after(client, qatar_without_results, time_machine, clock, status):
    """QA (M38): the race page's status (`ingestion.selectors.race_status`) follows the same rule:
    on race day before the start it is scheduled and says no prediction yet, not "was run"."""
    time_machine.move_to(clock, tick=True)
    html = _page(client)
    badge, said = {
        "scheduled": ("Scheduled", "No prediction for this race yet."),
        "awaiting_results": ("Awaiting results", "This race was run without a stored pre-race prediction."),
    }[status]
    assert f'<span class="badge">{badge}</span>' in html
    assert _no_prediction_text(html).startswith(said)
