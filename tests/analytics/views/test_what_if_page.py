"""The what-if page: pre-filled with the race's actual grid when known (else the predicted order,
else the entry list), saying which; the race page hides what-if where no prediction is possible."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from ingestion.models import Race, RaceResult
from tests.factories import PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def _slots(html: str) -> dict[str, int]:
    return {ref: int(v) for ref, v in re.findall(r'name="grid_([A-Za-z0-9_]+)"[^>]*value="(\d+)"', html)}


def test_completed_race_prefills_the_actual_starting_grid(client, ergast_data):
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    starts = list(RaceResult.objects.filter(race=race).values_list("driver__ref", "grid"))
    # the real grid, pit-lane starts (grid 0) at the back
    expected = {
        ref: slot for slot, (ref, _) in enumerate(sorted(starts, key=lambda s: (s[1] == 0, s[1])), start=1)
    }
    html = client.get(reverse("analytics:what_if", args=[race.slug])).content.decode()
    assert _slots(html) == expected
    assert expected["russell"] == 1  # pole-sitter first, not the winner
    assert "Pre-filled with the actual starting grid" in html


def test_upcoming_race_prefills_the_predicted_order_and_says_so(client, ergast_data):
    race = Race.objects.get(season_id=2026, round=8)  # field: round 7's entrants
    field = list(
        RaceResult.objects.filter(race__season_id=2026, race__round=7)
        .order_by("-position_order")
        .values_list("driver_id", "team_id", "driver__ref")
    )
    html = client.get(reverse("analytics:what_if", args=[race.slug])).content.decode()
    assert "Pre-filled with entry-list order" in html and len(_slots(html)) == len(field)
    # says that a slot's qualifying result goes with it (QA: Stroll on pole won 58 %, unexplained)
    assert "takes over slot <i>k</i>'s qualifying result" in html
    batch = PredictionFactory.build().batch
    for position, (driver_id, team_id, _) in enumerate(field, start=1):  # round 7 reversed
        PredictionFactory(
            race=race, driver_id=driver_id, team_id=team_id, batch=batch, predicted_position=position
        )
    cache.clear()
    html = client.get(reverse("analytics:what_if", args=[race.slug])).content.decode()
    assert _slots(html) == {ref: slot for slot, (_, _, ref) in enumerate(field, start=1)}
    assert "Pre-filled with the predicted finishing order" in html


def test_what_if_is_disabled_with_its_reason_before_1996(client, ergast_data):
    html = client.get(reverse("analytics:race", args=["1995_1"])).content.decode()
    assert reverse("analytics:what_if", args=["1995_1"]) not in html
    assert re.search(r"<button[^>]*disabled[^>]*>What if\?", html)
    assert "predictions are available from season 1996; this race is in 1995" in html
    page = client.get(reverse("analytics:what_if", args=["1995_1"])).content.decode()
    assert "What-if is not available for this race" in page and 'name="grid_' not in page
    first = Race.objects.get(season_id=1996, round=1)
    ok = client.get(reverse("analytics:race", args=[first.slug])).content.decode()
    assert reverse("analytics:what_if", args=[first.slug]) in ok


def test_a_missing_grid_slot_is_called_missing(client, ergast_data):
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    html = client.get(reverse("analytics:what_if", args=[race.slug])).content.decode()
    slots = _slots(html)
    emptied = next(ref for ref, slot in slots.items() if slot == 1)
    query = {f"grid_{ref}": str(slot) for ref, slot in slots.items()}
    query[f"grid_{emptied}"] = ""
    other = next(ref for ref, slot in slots.items() if slot == 2)
    query[f"grid_{other}"] = "two"
    response = client.get(reverse("analytics:what_if", args=[race.slug]), query)
    page = response.content.decode()
    assert response.status_code == 422
    assert "grid slot is missing." in page and "got &#x27;&#x27;" not in page and "(got '')" not in page
    assert "grid slot must be a number (got &#x27;two&#x27;)" in page
