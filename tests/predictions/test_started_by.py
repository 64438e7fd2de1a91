"""When a race counts as started at a clock: one strict rule everywhere (`race_started`,
`races_started_by`, the what-if check), the feature frames' own — the start (midnight UTC of race day
when the start time is unknown) strictly before the clock. Review finding: a clock exactly on the
start, and `?as_of=<race day>` (00:00 UTC) for a race with no start time, counted the race as run,
so the API showed 2004 Brazil completed with its 20 results but without Saturday's qualifying."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from ingestion.models import Race
from ingestion.selectors import race_started, races_started_by
from tests.drf_support import csv_race

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
CANADA_2025_START = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)  # races.csv: 2025-06-15 18:00:00
BRAZIL_2004_DAY = datetime(2004, 10, 24, tzinfo=UTC)  # races.csv: no time (\N)


def _race(season: int, round_: int) -> Race:
    return Race.objects.get(season_id=season, round=round_)


def test_a_clock_on_the_start_stands_before_the_race(ergast_data):
    canada = _race(2025, 10)
    assert canada.start == CANADA_2025_START  # the dump's start, which the rule is measured against
    assert not race_started(race=canada, as_of=CANADA_2025_START)
    assert race_started(race=canada, as_of=CANADA_2025_START + SECOND)
    assert not races_started_by(as_of=CANADA_2025_START).filter(pk=canada.pk).exists()
    assert races_started_by(as_of=CANADA_2025_START + SECOND).filter(pk=canada.pk).exists()


def test_a_race_without_a_start_time_starts_just_after_midnight_utc_of_its_day(ergast_data):
    brazil = _race(2004, 18)
    assert brazil.start is None and not csv_race(2004, 18)["time"]
    for clock, started in [
        (BRAZIL_2004_DAY - SECOND, False),
        (BRAZIL_2004_DAY, False),  # ?as_of=2004-10-24 reads as this moment
        (BRAZIL_2004_DAY + SECOND, True),
        # 01:00 at +02:00 is 23:00 UTC the day before: the UTC day decides, not the clock's own
        (datetime(2004, 10, 24, 1, 0, tzinfo=timezone(timedelta(hours=2))), False),
    ]:
        assert race_started(race=brazil, as_of=clock) is started, clock
        assert races_started_by(as_of=clock).filter(pk=brazil.pk).exists() is started, clock
    assert race_started(race=brazil, as_of=date(2004, 10, 24))  # a date counts its whole day


def test_a_clock_in_another_zone_lists_the_same_races_as_the_same_moment_in_utc(ergast_data):
    """Review finding: the race lists read the clock's own date (`_today`) but its UTC moment
    (`started_by_q`): Canada 2025 run without results stored was in neither list at 01:00+06:00 the
    next day, though it was awaiting results at the same moment written in UTC."""
    from ingestion.models import RaceResult
    from predictions.selectors import race_list_awaiting_results, race_list_upcoming

    canada = _race(2025, 10)
    RaceResult.objects.filter(race=canada).delete()  # run, results not in yet (this transaction)
    utc = datetime(2025, 6, 15, 19, 0, tzinfo=UTC)
    east = utc.astimezone(timezone(timedelta(hours=6)))  # 2025-06-16 01:00+06:00
    assert east.date() != utc.date()
    assert race_list_upcoming(as_of=east) == race_list_upcoming(as_of=utc)
    assert race_list_awaiting_results(as_of=east) == race_list_awaiting_results(as_of=utc)
    assert canada in race_list_upcoming(as_of=utc) + race_list_awaiting_results(as_of=utc)
