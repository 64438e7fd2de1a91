"""A race started is not a race run: its results count as known at a clock only from its start
plus three hours (`race_results_known`, `races_with_results_known_by`), or the end of race day
without a start time. Started stays the rule of its status turning awaiting_results and of the
feature cut-off for its own prediction; results-known is the rule of everything showing or using
its results: the race lists, `race_completed`, the feature frames and the entry list a later race
takes. Real data: the 2025 Canadian GP (start 2025-06-15 18:00 UTC, races.csv) and the 1999
Japanese GP (1999-10-31, no start time)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ingestion.models import Driver, Race
from ingestion.selectors import (
    RaceStatus,
    race_completed,
    race_results_known,
    race_started,
    race_status,
    races_with_results_known_by,
)
from predictions.features.clock import frames_known_at
from predictions.selectors import (
    race_list_awaiting_results,
    race_list_recent_completed,
    race_list_upcoming,
)
from predictions.services.predicting import race_entries
from tests.drf_support import csv_race, csv_rows

pytestmark = pytest.mark.django_db

CANADA_START = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
BEING_RUN = CANADA_START + timedelta(minutes=30)
KNOWN = CANADA_START + timedelta(hours=3, minutes=1)
SUZUKA_DAY = datetime(1999, 10, 31, tzinfo=UTC)


def _race(season: int, round_number: int) -> Race:
    return Race.objects.get(season_id=season, round=round_number)


def _known(race: Race, clock) -> bool:
    return races_with_results_known_by(as_of=clock).filter(pk=race.pk).exists()


def test_canada_is_being_run_from_its_start_until_three_hours_after(ergast_data):
    canada = _race(2025, 10)
    assert canada.start == CANADA_START and csv_race(2025, 10)["time"] == "18:00:00"
    for clock, started, known in [
        (CANADA_START, False, False),
        (BEING_RUN, True, False),
        (CANADA_START + timedelta(hours=3) - timedelta(seconds=1), True, False),
        (CANADA_START + timedelta(hours=3), True, True),  # a clock at that moment sees them
        (KNOWN, True, True),
    ]:
        assert race_started(race=canada, as_of=clock) is started, clock
        assert race_results_known(race=canada, as_of=clock) is known, clock
        assert _known(canada, clock) is known, clock
        assert race_completed(race=canada, has_results=True, as_of=clock) is known, clock
    assert race_status(race=canada, as_of=BEING_RUN) == RaceStatus.AWAITING_RESULTS
    assert race_status(race=canada, as_of=KNOWN) == RaceStatus.COMPLETED
    assert race_results_known(race=canada)  # now: the results stored are known


def test_a_race_without_a_start_time_is_known_at_the_end_of_its_day(ergast_data):
    suzuka = _race(1999, 16)
    assert suzuka.start is None and csv_race(1999, 16)["time"] is None
    evening = SUZUKA_DAY + timedelta(hours=18)
    assert race_started(race=suzuka, as_of=evening) and not race_results_known(race=suzuka, as_of=evening)
    assert not _known(suzuka, evening)
    assert race_status(race=suzuka, as_of=evening) == RaceStatus.AWAITING_RESULTS
    for clock in (SUZUKA_DAY + timedelta(days=1), SUZUKA_DAY + timedelta(days=1, minutes=1)):
        assert race_results_known(race=suzuka, as_of=clock) and _known(suzuka, clock), clock
        assert race_status(race=suzuka, as_of=clock) == RaceStatus.COMPLETED
    # a date counts as the end of its day
    assert race_results_known(race=suzuka, as_of=date(1999, 10, 31))
    assert not race_results_known(race=suzuka, as_of=date(1999, 10, 30))


def test_the_race_lists_put_the_race_being_run_on_its_day_card_not_in_the_last_three(ergast_data):
    canada, spain = _race(2025, 10), _race(2025, 9)
    assert canada.results.exists()  # stored now: the clock must not show them
    recent = race_list_recent_completed(as_of=BEING_RUN)
    assert canada not in recent and recent[0] == spain
    assert canada in race_list_upcoming(as_of=BEING_RUN)
    assert canada not in race_list_awaiting_results(as_of=BEING_RUN)
    assert race_list_recent_completed(as_of=KNOWN)[0] == canada
    assert canada not in race_list_upcoming(as_of=KNOWN)
    # the pipeline's clock (`live`): results stored are known, however soon after the start
    assert canada not in race_list_upcoming(as_of=BEING_RUN, live=True)


def test_the_pipelines_clock_takes_the_results_stored_as_known_whatever_the_real_clock(
    ergast_data, time_machine
):
    """`live`: only the results stored decide it, at the job's clock. The real clock is not read (it
    was: "started by the real now"), so a replay whose clock is ahead of the machine's gets the same
    answer as the job on the day; a race being run without results stored stays on the card."""
    from ingestion.models import RaceResult

    canada = _race(2025, 10)
    time_machine.move_to(CANADA_START - timedelta(days=1), tick=False)  # the machine's clock: before
    assert canada not in race_list_upcoming(as_of=BEING_RUN, live=True)
    RaceResult.objects.filter(race=canada).delete()  # not synced yet: being run
    assert canada in race_list_upcoming(as_of=BEING_RUN, live=True)


def test_a_race_being_run_across_midnight_utc_awaits_its_results_the_next_day(ergast_data):
    """A race starting 23:00 UTC (none does yet: the latest start in the dump is 20:00) is not on its
    day's card at 00:30 the next day, and its results are not known until 02:00: it is listed as
    awaiting results, not lost from both lists."""
    canada = _race(2025, 10)
    Race.objects.filter(pk=canada.pk).update(start=datetime(2025, 6, 15, 23, 0, tzinfo=UTC))
    clock = datetime(2025, 6, 16, 0, 30, tzinfo=UTC)
    assert canada not in race_list_upcoming(as_of=clock) + race_list_recent_completed(as_of=clock)
    assert canada in race_list_awaiting_results(as_of=clock)
    later = datetime(2025, 6, 16, 2, 1, tzinfo=UTC)
    assert race_list_recent_completed(as_of=later)[0] == canada and not race_list_awaiting_results(
        as_of=later
    )


def test_the_feature_frames_at_a_clock_leave_out_the_race_being_run(real_frames):
    races = real_frames.races.set_index("race_id")
    canada = int(races.index[(races["season"] == 2025) & (races["round"] == 10)][0])
    assert (real_frames.results["race_id"] == canada).any()
    assert (real_frames.pit_stops["race_id"] == canada).any()
    observed = real_frames.weather[real_frames.weather["race_id"] == canada]
    assert len(observed)  # the OpenF1 weather CSV observed it
    during = frames_known_at(real_frames, BEING_RUN)
    assert not (during.results["race_id"] == canada).any()
    assert not (during.pit_stops["race_id"] == canada).any()
    assert not (during.weather["race_id"] == canada).any()
    assert (during.qualifying["race_id"] == canada).any()  # Saturday's session, known
    after = frames_known_at(real_frames, KNOWN)
    assert (after.results["race_id"] == canada).sum() == (real_frames.results["race_id"] == canada).sum()
    assert (after.pit_stops["race_id"] == canada).any() and (after.weather["race_id"] == canada).any()


def test_a_later_race_at_a_clock_during_a_race_takes_the_entry_list_of_the_race_before(ergast_data):
    """Austria 2025 (round 11) predicted or what-if'd during Canada: no session of its own yet, so
    the entry list of the latest race RUN then — Spain, not Canada's classification."""
    austria = _race(2025, 11)
    assert austria.fp1_start > KNOWN
    _, source = race_entries(race=austria, clock=BEING_RUN)
    assert source == "entry list of 2025_spain"
    entries, source = race_entries(race=austria, clock=KNOWN)
    assert source == "entry list of 2025_canada"
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    canada_field = {
        refs[r["driverId"]] for r in csv_rows("results") if r["raceId"] == csv_race(2025, 10)["raceId"]
    }
    assert set(Driver.objects.filter(id__in=entries["driver_id"].tolist()).values_list("ref", flat=True)) == (
        canada_field
    )
