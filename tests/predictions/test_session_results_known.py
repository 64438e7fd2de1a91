"""A session begun is not a session finished: at a clock during the sprint or qualifying their
results are not known yet (`ingestion.selectors.session_results_known_at`: the start plus a cap per kind —
practice 1 h, qualifying, sprint qualifying and sprint 2 h, the race 3 h; without a start time
midnight UTC of race day for the sessions held before it, the end of race day for the race). The rule of the feature frames (`frames_known_at`), the entrants and grid
(`race_entries`), the post-qualifying stage and the championship's sprint points at a clock.

Real data: the 2025 Chinese GP, round 2, a sprint weekend (races.csv: sprint qualifying Friday
2025-03-21 07:30 UTC, sprint Saturday 03:00, qualifying 07:00, race Sunday 07:00); expected rows
from the dump's CSV files (sprint_results.csv, qualifying.csv, driver_standings.csv), read with plain
Python, never from the code under test. A reviewer's probes: 10 minutes into the sprint the frames
kept its 20 rows and the championship counted its points; 5 minutes into qualifying `race_entries`
gave the final grid (source `qualifying`) and so a post-qualifying stage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ingestion.models import Race, RaceResult
from ingestion.selectors import sessions_known
from predictions.features.clock import frames_known_at
from predictions.services.predicting import PredictionInputError, race_entries
from tests.drf_support import csv_race, csv_rows

pytestmark = pytest.mark.django_db

SPRINT_QUALIFYING_START = datetime(2025, 3, 21, 7, 30, tzinfo=UTC)
SPRINT_START = datetime(2025, 3, 22, 3, 0, tzinfo=UTC)
QUALIFYING_START = datetime(2025, 3, 22, 7, 0, tzinfo=UTC)
RACE_START = datetime(2025, 3, 23, 7, 0, tzinfo=UTC)
DURING_SPRINT = SPRINT_START + timedelta(minutes=10)
AFTER_SPRINT = SPRINT_START + timedelta(hours=2, minutes=1)  # past its 2 h cap
DURING_QUALIFYING = QUALIFYING_START + timedelta(minutes=5)
AFTER_QUALIFYING = QUALIFYING_START + timedelta(hours=2, minutes=1)  # past its 2 h cap
ONE_SECOND = timedelta(seconds=1)


def _china_csv() -> dict:
    race = csv_race(2025, 2)
    assert (race["name"], race["date"], race["time"]) == ("Chinese Grand Prix", "2025-03-23", "07:00:00")
    assert (race["sprint_date"], race["sprint_time"]) == ("2025-03-22", "03:00:00")
    assert (race["quali_date"], race["quali_time"]) == ("2025-03-22", "07:00:00")
    return race


def _csv(name: str, race_id: str) -> list[dict]:
    return [r for r in csv_rows(name) if r["raceId"] == race_id]


def _driver_pks(csv_driver_ids) -> list[int]:
    """The database's Driver pks of the dump's driverIds (by ref: the pks are not the CSV's ids)."""
    from ingestion.models import Driver

    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    by_ref = dict(Driver.objects.values_list("ref", "pk"))
    return [by_ref[refs[d]] for d in csv_driver_ids]


@pytest.fixture
def china(ergast_data) -> Race:
    race = Race.objects.get(season_id=2025, round=2)
    assert (race.sprint_start, race.qualifying_start, race.start) == (
        SPRINT_START,
        QUALIFYING_START,
        RACE_START,
    )
    assert race.sprint_qualifying_start == SPRINT_QUALIFYING_START
    return race


# --- the rule -------------------------------------------------------------------------------------


def test_each_session_kind_is_known_from_its_start_plus_its_cap(china):
    from ingestion.selectors import race_session_results_known_at, session_results_known

    known_at = race_session_results_known_at(race=china)
    assert known_at["sprint_qualifying"] == datetime(2025, 3, 21, 9, 30, tzinfo=UTC)
    assert known_at["sprint"] == datetime(2025, 3, 22, 5, 0, tzinfo=UTC)
    assert known_at["qualifying"] == datetime(2025, 3, 22, 9, 0, tzinfo=UTC)
    assert known_at["race"] == datetime(2025, 3, 23, 10, 0, tzinfo=UTC)  # the FIA's 3 h
    assert known_at["fp1"] == china.fp1_start + timedelta(hours=1) == datetime(2025, 3, 21, 4, 30, tzinfo=UTC)
    # begun from the start, results at the cap (a clock on the moment sees them), not a second before
    assert "sprint" in sessions_known(race=china, clock=DURING_SPRINT)
    assert "sprint" not in session_results_known(race=china, clock=DURING_SPRINT)
    assert "sprint" not in session_results_known(race=china, clock=known_at["sprint"] - ONE_SECOND)
    assert "sprint" in session_results_known(race=china, clock=known_at["sprint"])
    assert "qualifying" in sessions_known(race=china, clock=DURING_QUALIFYING)
    assert "qualifying" not in session_results_known(race=china, clock=DURING_QUALIFYING)
    assert "qualifying" in session_results_known(race=china, clock=AFTER_QUALIFYING)
    assert session_results_known(race=china, clock=None) == sessions_known(race=china, clock=None)


def test_a_session_without_a_start_time_is_known_from_the_start_of_race_day(china):
    """A session held before race day without a start time is known at midnight UTC of race day —
    its begun fallback — not at the end of race day, which would hide the grid at the race's own
    start (the race without a start time is known at the end of its day, `race_results_known_at`)."""
    from ingestion.selectors import race_session_results_known_at, session_results_known

    Race.objects.filter(pk=china.pk).update(qualifying_start=None, sprint_start=None)
    china.refresh_from_db()
    known_at = race_session_results_known_at(race=china)
    assert known_at["qualifying"] == known_at["sprint"] == datetime(2025, 3, 23, tzinfo=UTC)
    assert known_at["race"] == RACE_START + timedelta(hours=3)  # it has a start time
    saturday_night = datetime(2025, 3, 22, 23, 59, tzinfo=UTC)
    assert "qualifying" not in session_results_known(race=china, clock=saturday_night)
    assert "qualifying" in session_results_known(race=china, clock=datetime(2025, 3, 23, 0, 1, tzinfo=UTC))
    assert "qualifying" in session_results_known(race=china, clock=RACE_START)


def test_a_race_with_only_a_race_start_keeps_its_grid_at_its_own_start(ergast_data, real_frames):
    """The 2019 British GP (races.csv: race 13:10 UTC, no session times, as every race 2005-2021):
    at its start, and an hour before, its entrants are its qualifying field with the grid, and once
    its results are known its qualifying and practice rows are still in the frames. A review of the
    end-of-race-day fallback found the entry list of the race before (Austria) with no grid there,
    and the frames without its qualifying after the race."""
    from ingestion.selectors import race_pre_race_cutoff

    row = csv_race(2019, 10)
    assert (row["name"], row["date"], row["time"], row["quali_time"]) == (
        "British Grand Prix",
        "2019-07-14",
        "13:10:00",
        None,
    )
    quali_rows = _csv("qualifying", row["raceId"])
    assert len(quali_rows) == 20
    race = Race.objects.get(season_id=2019, round=10)
    start = race_pre_race_cutoff(race=race)
    assert start == datetime(2019, 7, 14, 13, 10, tzinfo=UTC)
    for clock in (start, start - timedelta(hours=1)):
        entrants, source = race_entries(race=race, clock=clock)
        assert source == "qualifying", (clock, source)
        assert set(entrants["driver_id"]) == set(_driver_pks(q["driverId"] for q in quali_rows))
        assert entrants["grid"].notna().sum() == 20

    after = frames_known_at(real_frames, start + timedelta(hours=3, minutes=5))
    counts = {t: int((getattr(after, t)["race_id"] == race.pk).sum()) for t in ("results", "qualifying")}
    assert counts == {"results": len(_csv("results", row["raceId"])), "qualifying": 20}
    assert int((real_frames.practice["race_id"] == race.pk).sum()) > 0
    assert int((after.practice["race_id"] == race.pk).sum()) == int(
        (real_frames.practice["race_id"] == race.pk).sum()
    )


def test_the_vectorised_moments_are_the_one_race_moments(china):
    from ingestion.selectors import race_session_results_known_at
    from predictions.features.clock import session_results_known_times

    frame = pd.DataFrame(
        [{"race_id": china.pk, "date": pd.Timestamp(china.date), "start": china.start,
          "fp1_start": china.fp1_start, "sprint_qualifying_start": china.sprint_qualifying_start,
          "sprint_start": china.sprint_start, "qualifying_start": pd.NaT}]  # no fp2/fp3 column: unknown
    )  # fmt: skip
    row = session_results_known_times(frame).iloc[0]
    Race.objects.filter(pk=china.pk).update(qualifying_start=None, fp2_start=None, fp3_start=None)
    china.refresh_from_db()
    one = race_session_results_known_at(race=china)
    assert {s: row[s].to_pydatetime() for s in one} == one
    assert one["fp2"] == one["qualifying"] == datetime(2025, 3, 23, tzinfo=UTC)


# --- the feature frames -----------------------------------------------------------------------------


def test_frames_during_the_sprint_and_qualifying_leave_them_out(real_frames, china):
    race = _china_csv()
    sprint_rows, quali_rows = _csv("sprint_results", race["raceId"]), _csv("qualifying", race["raceId"])
    assert len(sprint_rows) == len(quali_rows) == 20

    def count(frames, table):
        return int((getattr(frames, table)["race_id"] == china.pk).sum())

    assert count(frames_known_at(real_frames, DURING_SPRINT), "sprints") == 0
    after_sprint = frames_known_at(real_frames, AFTER_SPRINT)
    assert count(after_sprint, "sprints") == 20 and count(after_sprint, "qualifying") == 0
    assert count(frames_known_at(real_frames, DURING_QUALIFYING), "qualifying") == 0
    after = frames_known_at(real_frames, AFTER_QUALIFYING)
    quali = after.qualifying[after.qualifying["race_id"] == china.pk]
    assert dict(zip(quali["driver_id"], quali["position"], strict=True)) == dict(
        zip(
            _driver_pks(q["driverId"] for q in quali_rows),
            (int(q["position"]) for q in quali_rows),
            strict=True,
        )
    )
    assert count(after, "results") == 0  # the race: Sunday


# --- the entrants and grid; the post-qualifying stage ------------------------------------------------


def test_during_qualifying_the_entrants_are_the_field_as_before_it(china):
    race = _china_csv()
    sprint_drivers = set(_driver_pks(r["driverId"] for r in _csv("sprint_results", race["raceId"])))
    before, before_source = race_entries(race=china, clock=QUALIFYING_START - timedelta(minutes=5))
    during, during_source = race_entries(race=china, clock=DURING_QUALIFYING)
    assert before_source == during_source == "sprint"  # not the grid, still being set
    assert set(during["driver_id"]) == sprint_drivers and during["grid"].isna().all()
    pd.testing.assert_frame_equal(during, before)
    after, after_source = race_entries(race=china, clock=AFTER_QUALIFYING)
    assert after_source == "qualifying"
    quali_rows = _csv("qualifying", race["raceId"])
    assert dict(zip(after["driver_id"], after["grid"], strict=True)) == dict(
        zip(
            _driver_pks(q["driverId"] for q in quali_rows),
            (int(q["position"]) for q in quali_rows),
            strict=True,
        )
    )
    # and 10 minutes into the sprint the field before it, FP1's (practice.csv), never the sprint's
    fp1 = [p for p in _csv("practice", race["raceId"]) if p["session"] == "FP1"]
    field, sprint_source = race_entries(race=china, clock=DURING_SPRINT)
    assert sprint_source == "practice" and len(fp1) == 20
    assert set(field["driver_id"]) == set(_driver_pks(p["driverId"] for p in fp1))
    assert race_entries(race=china, clock=AFTER_SPRINT)[1] == "sprint"


@pytest.mark.time_machine(datetime(2025, 3, 22, 12, 0, tzinfo=UTC), tick=True)  # Saturday, after qualifying
def test_no_post_qualifying_stage_during_qualifying(china, active_model):
    """`predict --stage post --as-of` during qualifying is refused (no grid known then). The race's
    results are removed in this test's transaction: it is Saturday, the race still to come."""
    from predictions.services import prediction_generate

    RaceResult.objects.filter(race=china).delete()
    with pytest.raises(PredictionInputError, match="qualifying's results were not known yet"):
        prediction_generate(race=china, stage="post", as_of=DURING_QUALIFYING)
    assert prediction_generate(race=china, as_of=DURING_QUALIFYING).stored == ("pre",)
    assert prediction_generate(race=china, as_of=AFTER_QUALIFYING).stored == ("pre", "post")


def test_a_post_qualifying_set_is_shown_at_a_clock_once_the_grid_was_known(china):
    """The pages' sets at a clock (`prediction_sets_shown`): a post-qualifying set made during
    qualifying's window is not shown before qualifying's results were known."""
    from ingestion.models import QualifyingResult
    from predictions.models import Prediction
    from predictions.selectors import prediction_sets_shown
    from tests.factories import PredictionFactory

    made = QUALIFYING_START + timedelta(minutes=1)
    pole = QualifyingResult.objects.get(race=china, position=1)
    row = PredictionFactory(race=china, driver=pole.driver, team=pole.team, stage="post", as_of=made)
    Prediction.objects.filter(pk=row.pk).update(created_at=made)  # auto_now_add: set after
    assert (
        "post" not in prediction_sets_shown(races=[china], as_of=DURING_QUALIFYING)[china.pk]["predictions"]
    )
    assert "post" in prediction_sets_shown(races=[china], as_of=AFTER_QUALIFYING)[china.pk]["predictions"]


# --- the championship -------------------------------------------------------------------------------


def _standings_points(race_id: str) -> dict[str, float]:
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    return {
        refs[r["driverId"]]: float(r["points"])
        for r in csv_rows("driver_standings")
        if r["raceId"] == race_id
    }


def test_the_championship_counts_the_sprint_only_once_its_results_were_known(active_model):
    """2025 at a clock 10 minutes into China's sprint: the standings after round 1 (Australia), the
    sprint still to come (drawn); past its cap: its real points added. From driver_standings.csv
    (after round 1) and sprint_results.csv."""
    from predictions.services import championship_simulate
    from tests.model_fixtures import version_activated_at, version_registered_at

    registered = datetime(2025, 1, 10, tzinfo=UTC)
    from predictions.features.registry import FEATURES_FORMAT

    # registered before the clock, on this code's feature definitions (`model_bundle_at`)
    version_activated_at(
        version_registered_at(active_model, registered, params={"features_format": FEATURES_FORMAT}),
        registered,
    )
    race = _china_csv()
    after_round_1 = _standings_points(csv_race(2025, 1)["raceId"])
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    sprint_points: dict[str, float] = {}
    for s in _csv("sprint_results", race["raceId"]):
        sprint_points[refs[s["driverId"]]] = float(s["points"])
    assert sum(sprint_points.values()) == 36 and sprint_points["hamilton"] == 8  # his Ferrari sprint win

    during = championship_simulate(season=2025, clock=DURING_SPRINT, n_sims=50)
    current = {d["driver"]: d["current_points"] for d in during["drivers"]}
    assert {d: p for d, p in current.items() if p} == {d: p for d, p in after_round_1.items() if p}
    assert "sprint already run" not in during["note"]
    after = championship_simulate(season=2025, clock=AFTER_SPRINT, n_sims=50)
    current = {d["driver"]: d["current_points"] for d in after["drivers"]}
    expected = {
        d: after_round_1.get(d, 0.0) + sprint_points.get(d, 0.0)
        for d in set(after_round_1) | set(sprint_points)
    }
    assert {d: p for d, p in current.items() if p} == {d: p for d, p in expected.items() if p}
    assert (
        "plus the sprint already run at Chinese;" in after["note"]
    )  # `_race_place`: the name less "Grand Prix"
