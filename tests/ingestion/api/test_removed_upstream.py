"""The API and a race upstream no longer lists (`Race.removed_upstream_at`, parked at round 100+):
left out of the race lists, upcoming predictions and standings; its own id still answers, with
status `removed_upstream`; regenerating its predictions is refused (409 cannot_predict)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ingestion.models import Race
from ingestion.signals import races_changed_send
from tests.conftest import in_season

pytestmark = pytest.mark.django_db


def _flag(season: int, rnd: int, parked: int = 100) -> Race:
    race = Race.objects.get(season_id=season, round=rnd)
    Race.objects.filter(pk=race.pk).update(
        round=parked, removed_upstream_at=timezone.now() - timedelta(days=1)
    )
    race.refresh_from_db()
    races_changed_send(sender=_flag, race_ids=[race.slug])  # as the sync does after flagging it
    return race


def test_race_list_leaves_flagged_races_out(api, ergast_data, django_assert_max_num_queries):
    before = api.get("/api/v1/races", {"season": 2026, "limit": 100}).json()
    qatar = _flag(2026, 22)
    with django_assert_max_num_queries(3):  # as the race list test's bound
        body = api.get("/api/v1/races", {"season": 2026, "limit": 100}).json()
    assert body["count"] == before["count"] - 1
    assert qatar.slug not in [r["id"] for r in body["results"]]
    assert [r["round"] for r in body["results"]] == [*range(1, 22), 23]
    everything = api.get("/api/v1/races", {"limit": 1}).json()
    assert everything["count"] == Race.objects.count() - 1
    past_the_end = api.get("/api/v1/races", {"season": 2026, "offset": 500}).json()
    assert past_the_end["count"] == body["count"]


@in_season  # Abu Dhabi (2026_23) still to come: scheduled, on any date
def test_flagged_race_detail_answers_and_says_so(api, ergast_data, django_assert_max_num_queries):
    qatar = _flag(2026, 22)
    with django_assert_max_num_queries(12):  # as the race detail test's bound
        response = api.get(f"/api/v1/races/{qatar.slug}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "removed_upstream" and body["removed_upstream_at"] is not None
    on_calendar = api.get("/api/v1/races/2026_23").json()
    assert on_calendar["status"] == "scheduled" and on_calendar["removed_upstream_at"] is None
    assert api.get("/api/v1/races/2026_100").status_code in (400, 404)  # a round id never reaches it
    predictions = api.get(f"/api/v1/predictions/race/{qatar.slug}").json()
    assert predictions["race"]["status"] == "removed_upstream"


@in_season  # Qatar would be among the next races: its absence means something, on any date
def test_upcoming_predictions_leave_flagged_races_out(api, ergast_data):
    qatar = _flag(2026, 22)
    body = api.get("/api/v1/predictions/upcoming").json()
    assert qatar.slug not in [r["race"]["id"] for r in body["races"]]


def test_standings_never_default_to_a_parked_round(api, ergast_data):
    abu_dhabi = _flag(2024, 24)  # has standings; parked at 100 it would be "the latest round"
    body = api.get("/api/v1/standings", {"season": 2024}).json()
    assert (body["round"], body["race"]["id"]) == (23, Race.objects.get(season_id=2024, round=23).slug)
    assert body["race"]["id"] != abu_dhabi.slug


def test_regenerating_a_flagged_race_is_refused(staff_api, ergast_data):
    qatar = _flag(2026, 22)
    for background in (False, True):
        response = staff_api.post(
            f"/api/v1/predictions/race/{qatar.slug}", {"background": background}, format="json"
        )
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert error["code"] == "cannot_predict"
        assert "no longer on the 2026 calendar" in error["message"]
