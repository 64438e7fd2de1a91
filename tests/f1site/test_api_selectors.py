"""The hand-written SQL behind the hot API lists (ingestion/api/selectors.py, predictions/api/selectors.py)
against the ORM definitions and the Ergast dump they replace (real PostgreSQL, full dump)."""

from __future__ import annotations

import datetime as dt

import pytest

from f1site.errors import NotFound
from ingestion.api import selectors as data
from ingestion.models import DriverStanding, Race, RaceResult
from predictions import selectors as engine
from predictions.api import selectors as api_predictions

pytestmark = pytest.mark.django_db


def _dates_to_check() -> list[dt.date]:
    """Around race days with and without results, plus the ends of the calendar."""
    with_results = Race.objects.filter(pk__in=RaceResult.objects.values("race_id")).order_by("-date")
    without = Race.objects.exclude(pk__in=RaceResult.objects.values("race_id")).order_by("date")
    days = {dt.date(1949, 1, 1), dt.date(2100, 1, 1), dt.date.today()}
    for race in [*with_results[:3], *without[:3]]:
        days |= {race.date - dt.timedelta(days=1), race.date, race.date + dt.timedelta(days=1)}
    return sorted(days)


def test_upcoming_races_match_the_engine_definition(ergast_data):
    """The API's one-query upcoming list = predictions.selectors.race_list_upcoming, date by date."""
    assert RaceResult.objects.exists()
    for day in _dates_to_check():
        for limit in (1, 3):
            ours = [slug for _, slug, *_ in api_predictions.upcoming_race_rows(today=day, limit=limit)]
            theirs = [r.slug for r in engine.race_list_upcoming(as_of=day, limit=limit)]
            assert ours == theirs, day


def test_race_list_count_past_the_last_page(ergast_data):
    """The total rides on the page rows (a window count); an offset past the end still counts."""
    total = Race.objects.filter(season_id=2024).count()
    assert total > 0
    last = data.race_list(season=2024, limit=5, offset=total - 2)
    assert last["count"] == total and len(last["results"]) == 2
    beyond = data.race_list(season=2024, limit=5, offset=total + 10)
    assert beyond == {"count": total, "limit": 5, "offset": total + 10, "results": []}
    with pytest.raises(NotFound):  # a season without races is a 404, not an empty page
        data.race_list(season=1900, limit=5, offset=0)
    assert data.race_list(season=None, limit=1, offset=0)["count"] == Race.objects.count()


def test_standings_team_is_the_latest_race_result_of_the_season(ergast_data):
    """Each driver's team in the standings = the team of their last race result up to that round."""
    race = Race.objects.filter(season_id=2024, round=10).get()
    body = data.standings_get(season=2024, round_number=10)
    assert (body["season"], body["round"], body["race"]["id"]) == (2024, 10, race.slug)
    expected_order = list(
        DriverStanding.objects.filter(race=race).order_by("position").values_list("driver__ref", flat=True)
    )
    assert [row["driver"]["id"] for row in body["drivers"]] == expected_order
    for row in body["drivers"]:
        last = (
            RaceResult.objects.filter(
                race__season_id=2024, race__round__lte=10, driver__ref=row["driver"]["id"]
            )
            .order_by("-race__round", "-pk")
            .select_related("team")
            .first()
        )
        assert row["team"] == (None if last is None else {"id": last.team.ref, "name": last.team.name})
