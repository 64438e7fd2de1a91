"""A race upstream no longer lists (`Race.removed_upstream_at`, parked at round 100+) is off the
calendar for every consumer: the engine's lists and statuses, the pipeline's jobs, the championship,
the dashboards. Its own page still answers and says so; it cannot be predicted without results.

Real dump (2026: rounds 1-7 with results, 8-21 awaiting, Qatar 22 on 29 Nov and Abu Dhabi 23 ahead).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.urls import reverse

from ingestion.models import OpenF1Session, Race, SessionType
from ingestion.selectors import race_status
from predictions import selectors
from predictions.api.selectors import upcoming_race_rows
from predictions.services.predicting import PredictionInputError, prediction_generate, race_on_calendar_check

pytestmark = pytest.mark.django_db

TODAY = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _race(rnd: int) -> Race:
    return Race.objects.get(season_id=2026, round=rnd)


def _flag(race: Race, parked: int) -> Race:
    """What the sync does to a race upstream dropped that has data to keep."""
    Race.objects.filter(pk=race.pk).update(round=parked, removed_upstream_at=TODAY - timedelta(days=1))
    race.refresh_from_db()
    return race


def test_on_calendar_is_every_race_but_the_flagged_ones():
    qatar = _flag(_race(22), 100)
    assert not Race.objects.on_calendar().filter(pk=qatar.pk).exists()
    assert list(Race.objects.removed_upstream()) == [qatar]
    assert Race.objects.on_calendar().count() == Race.objects.count() - 1
    assert not qatar.on_calendar and _race(23).on_calendar


def test_engine_lists_and_status_leave_flagged_races_out():
    qatar = _flag(_race(22), 100)  # a cancelled future race that already had predictions
    las_vegas = _flag(_race(21), 101)  # a past race without results: not "awaiting" forever
    miami = _flag(_race(7), 102)  # a past race with results
    assert [r.round for r in selectors.race_list_upcoming(as_of=TODAY)] == [23]
    assert [slug for _, slug, *_ in upcoming_race_rows(today=TODAY.date(), limit=3)] == [_race(23).slug]
    assert [r.round for r in selectors.race_list_awaiting_results(as_of=TODAY)] == list(range(8, 21))
    assert [r.round for r in selectors.race_list_recent_completed(as_of=TODAY)] == [6, 5, 4]
    for race in (qatar, las_vegas, miami):
        assert race_status(race=race, as_of=TODAY) == "removed_upstream"
    assert race_status(race=_race(23), as_of=TODAY) == "scheduled"


def test_flagged_race_without_results_cannot_be_predicted():
    qatar = _flag(_race(22), 100)
    with pytest.raises(PredictionInputError, match="no longer on the 2026 calendar upstream"):
        prediction_generate(race=qatar)  # refused before any model is loaded
    with pytest.raises(CommandError, match=f"{qatar.slug}: .*no longer on the 2026 calendar"):
        call_command("predict", "--race", qatar.slug)
    assert "no longer on the 2026 calendar" in selectors.race_prediction_unavailable(race=qatar)
    race_on_calendar_check(race=_flag(_race(7), 101))  # with results: past predictions stay usable


def test_pipeline_jobs_skip_flagged_races():
    from ingestion.services.jobs import races_completed_among, races_post_race_pending, races_weather_missing
    from ingestion.services.live_timing import live_session_current, sessions_awaiting_results
    from ingestion.services.weather_forecast import races_forecast_due

    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    miami, qatar = _race(7), _race(22)
    assert miami in races_post_race_pending(now=now) and miami in races_weather_missing(now=now)
    assert qatar in races_forecast_due(now=now)
    sessions = [
        OpenF1Session.objects.create(
            session_key=990_000 + i,
            meeting_key=990_000,
            race=qatar,
            session_type=kind,
            session_name=kind,
            date_start=now - timedelta(hours=hours),
            date_end=now - timedelta(hours=hours - 1),
        )
        for i, (kind, hours) in enumerate([(SessionType.FP1, 0.5), (SessionType.QUALIFYING, 3)])
    ]
    assert live_session_current(now=now) == sessions[0]
    assert sessions[1] in sessions_awaiting_results(now=now)

    _flag(miami, 100)
    _flag(qatar, 101)
    assert miami not in races_post_race_pending(now=now)
    assert miami not in races_weather_missing(now=now)
    assert races_completed_among(race_ids=[miami.slug]) == []
    assert qatar not in races_forecast_due(now=now)
    assert live_session_current(now=now) is None
    assert sessions[1] not in sessions_awaiting_results(now=now)


def test_calendar_page_and_home_leave_flagged_races_out(client, django_assert_max_num_queries):
    _flag(_race(22), 100)
    with django_assert_max_num_queries(4):  # as test_pages' calendar bound
        html = client.get(reverse("analytics:calendar"), {"season": 2026}).content.decode()
    assert "Abu Dhabi Grand Prix" in html and "Qatar Grand Prix" not in html
    home = client.get(reverse("analytics:home")).content.decode()
    assert "Abu Dhabi Grand Prix" in home and "Qatar Grand Prix" not in home


def test_flagged_race_page_answers_and_says_it_left_the_calendar(client, django_assert_max_num_queries):
    qatar = _flag(_race(22), 100)
    with django_assert_max_num_queries(15):  # as test_pages' race page bound
        response = client.get(reverse("analytics:race", args=[qatar.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Removed from the calendar" in html
    assert "no longer on the 2026 calendar" in html
    assert "Round 100" not in html and "Not on the calendar" in html
    assert 'hx-trigger="every' not in html  # no live polling for a race that will not be run
    # the round form never resolves to a parked race
    assert client.get(reverse("analytics:race", args=["2026_100"])).status_code == 404


def test_championship_remaining_rounds_leave_flagged_races_out(active_model):
    from predictions.services.championship import championship_simulate

    before = championship_simulate(season=2026, n_sims=200)
    qatar = _flag(_race(22), 100)
    after = championship_simulate(season=2026, n_sims=200)
    assert len(after["remaining_races"]) == len(before["remaining_races"]) - 1 == 15
    assert qatar.slug not in str(after["remaining_races"])
