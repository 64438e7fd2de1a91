"""A past clock cuts a race weekend at what was known then (`predictions.features.clock`): entrants,
practice, sprint and the weather forecast of sessions whose results were not known — or forecasts not yet
issued — before the clock are left out; the history before the clock is untouched.

The weekend: the real 2026 Abu Dhabi GP (FP1 Fri 4 Dec 09:30 UTC, FP2 13:00, FP3 Sat 10:30,
qualifying 14:00, race Sun 13:00), with 2026 Monaco's practice classification stored as its FP1-FP3,
a sprint on Saturday 08:00 (Monaco's finishing order) and two race forecasts. The machine's clock is
Saturday noon: FP1-FP3 and the sprint are in, qualifying is not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ingestion.models import PracticeResult, Race, RaceResult, SprintResult, WeatherForecast
from ingestion.selectors import race_session_starts, sessions_known
from predictions.features.clock import frames_known_at, session_starts
from predictions.features.compute import build_features
from predictions.features.frames import f1_frames_load
from predictions.features.registry import feature_names
from predictions.ml.models import race_predict
from predictions.models import Prediction
from predictions.services import prediction_generate
from predictions.services.predicting import prediction_inputs_fingerprint, race_entries, race_features_build

SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
pytestmark = [pytest.mark.django_db, pytest.mark.time_machine(SATURDAY_NOON, tick=True)]

BEFORE_FP1 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # Thursday
AFTER_FP2 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # Friday, FP2 under way
AFTER_FP3 = datetime(2026, 12, 5, 11, 31, tzinfo=UTC)  # Saturday, after the sprint and FP3's hour
SPRINT_START = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
FP3_START = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)
QUALIFYING_START = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
EARLY_FORECAST = datetime(2026, 12, 3, 6, tzinfo=UTC)  # rain 10 %
LATE_FORECAST = datetime(2026, 12, 4, 20, tzinfo=UTC)  # rain 80 %
ONE_SECOND = timedelta(seconds=1)
PRACTICE_COLS = ["practice_gap_pct", "practice_rank", "practice_laps", "practice_missing"]
WEATHER_COLS = [
    "weather_air_temperature",
    "weather_humidity",
    "weather_wind_speed",
    "weather_rain",
    "weather_is_wet",
    "wet_x_wet_gain",
]


@pytest.fixture
def weekend(ergast_data):
    race = Race.objects.get(slug="2026_uae")
    Race.objects.filter(pk=race.pk).update(sprint_start=SPRINT_START)
    race.refresh_from_db()
    assert race.fp1_start == datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    assert not PracticeResult.objects.filter(race=race).exists()
    monaco = Race.objects.get(slug="2026_monaco")
    copies = []
    for row in PracticeResult.objects.filter(race=monaco):
        row.pk, row.race = None, race
        copies.append(row)
    PracticeResult.objects.bulk_create(copies)
    SprintResult.objects.bulk_create(
        SprintResult(
            race=race, driver_id=r.driver_id, team_id=r.team_id, number=r.number, position=r.position,
            position_text=r.position_text, position_order=r.position_order, points=0, laps=r.laps,
            status_id=r.status_id,
        )
        for r in RaceResult.objects.filter(race=monaco, shared_car_index=0)
    )  # fmt: skip
    for fetched, rain in ((EARLY_FORECAST, 10), (LATE_FORECAST, 80)):
        WeatherForecast.objects.create(
            race=race, session="race", valid_at=race.start, fetched_at=fetched, air_temperature=26,
            precipitation_probability=rain, wind_speed=3, humidity=60,
        )  # fmt: skip
    return race


def _practice_by_hand(race, sessions):
    """Best lap, laps and gap/rank to the fastest lap of the given sessions, per driver."""
    best, laps = {}, {}
    for row in PracticeResult.objects.filter(race=race, session__in=sessions):
        if row.milliseconds is not None:
            best[row.driver_id] = min(best.get(row.driver_id, row.milliseconds), row.milliseconds)
        laps[row.driver_id] = laps.get(row.driver_id, 0) + (row.laps or 0)
    fastest = min(best.values())
    return {
        d: {
            "practice_gap_pct": min((ms / fastest - 1) * 100, 10),
            "practice_rank": 1 + sum(1 for other in best.values() if other < ms),
            "practice_laps": laps[d],
        }
        for d, ms in best.items()
    }


def _rows(race, clock):
    entries, source = race_entries(race=race, clock=clock)
    return race_features_build(race=race, entries=entries, frames=None, clock=clock).set_index(
        "driver_id"
    ), source


def test_a_clock_before_fp1_ignores_the_weekend_stored_since(weekend, active_model):
    """Thursday: the field is the latest race's line-up, practice and sprint are missing (NaN plus the
    indicator, as for a weekend without practice data) and the weather is Thursday's forecast."""
    rows, source = _rows(weekend, BEFORE_FP1)
    assert source == "entry list of 2026_barcelona_catalunya"  # round 7, the latest race run by then
    barcelona = set(
        RaceResult.objects.filter(race__slug=source.split()[-1]).values_list("driver_id", flat=True)
    )
    assert set(rows.index) == barcelona
    assert rows["practice_gap_pct"].isna().all() and (rows["practice_missing"] == 1).all()
    assert rows["practice_rank"].isna().all() and rows["practice_laps"].isna().all()
    assert rows["sprint_position"].isna().all()
    assert (rows["weather_rain"] == 0.10).all() and (rows["weather_missing"] == 0).all()
    made = prediction_generate(race=weekend, as_of=BEFORE_FP1)
    assert made.stored == ("pre",)


def test_a_clock_after_fp2_uses_fp1_and_fp2_only(weekend):
    rows, source = _rows(weekend, AFTER_FP2)
    assert source == "practice"
    expected = _practice_by_hand(weekend, ["FP1", "FP2"])
    assert expected != _practice_by_hand(weekend, ["FP1", "FP2", "FP3"])  # FP3 would change them
    assert set(rows.index) == set(
        PracticeResult.objects.filter(race=weekend, session="FP2").values_list("driver_id", flat=True)
    )
    for driver, values in expected.items():
        for col, value in values.items():
            assert rows.loc[driver, col] == pytest.approx(value), (driver, col)
    assert (rows["practice_missing"] == 0).all()
    assert rows["sprint_position"].isna().all()  # Saturday's sprint had not been run
    assert (rows["weather_rain"] == 0.10).all()  # Friday evening's forecast was not issued yet


def test_a_clock_after_the_sprint_uses_it_and_fp1_to_fp3(weekend):
    rows, source = _rows(weekend, AFTER_FP3)
    assert source == "sprint"
    for driver, values in _practice_by_hand(weekend, ["FP1", "FP2", "FP3"]).items():
        for col, value in values.items():
            assert rows.loc[driver, col] == pytest.approx(value), (driver, col)
    order = dict(SprintResult.objects.filter(race=weekend).values_list("driver_id", "position_order"))
    assert rows["sprint_position"].to_dict() == {d: float(p) for d, p in order.items()}
    assert (rows["weather_rain"] == 0.80).all()
    # with no past clock (now, Saturday noon) the same: everything stored had started by now
    now_rows, now_source = _rows(weekend, None)
    assert now_source == "sprint"
    pd.testing.assert_frame_equal(now_rows, rows)


def test_sets_stored_at_two_clocks_differ_only_in_what_happened_between(weekend, active_model, settings):
    """Friday's set and Saturday morning's (same field, FP2's = the sprint's): the stored inputs
    differ only in practice (FP3 added), the sprint and the forecast issued in between."""
    early = prediction_generate(race=weekend, as_of=AFTER_FP2)
    late = prediction_generate(race=weekend, as_of=AFTER_FP3)
    assert early.stored == late.stored == ("pre",)
    (early_fp,) = set(
        Prediction.objects.filter(batch=early[0].batch).values_list("inputs_fingerprint", flat=True)
    )
    (late_fp,) = set(
        Prediction.objects.filter(batch=late[0].batch).values_list("inputs_fingerprint", flat=True)
    )
    assert early_fp != late_fp
    early_rows, _ = _rows(weekend, AFTER_FP2)
    late_rows, _ = _rows(weekend, AFTER_FP3)
    assert set(early_rows.index) == set(late_rows.index)
    late_rows = late_rows.loc[early_rows.index]
    features = [f for f in feature_names("post") if f in early_rows]
    changed = {
        f
        for f in features
        if not np.array_equal(early_rows[f].to_numpy(), late_rows[f].to_numpy(), equal_nan=True)
    }
    assert {"practice_gap_pct", "practice_laps", "sprint_position", "weather_rain"} <= changed
    assert changed <= {*PRACTICE_COLS, "sprint_position", *WEATHER_COLS}
    threshold = settings.PREDICTION_CONFIDENCE_THRESHOLD

    def fingerprint(rows):
        return prediction_inputs_fingerprint(rows=rows.reset_index(), confidence_threshold=threshold)

    assert fingerprint(early_rows) == early_fp
    swapped = early_rows.copy()
    swapped[sorted(changed)] = late_rows[sorted(changed)]
    assert fingerprint(swapped) == late_fp  # those columns are the whole difference


def test_session_starts_one_rule_for_a_frame_and_a_race(weekend):
    """The vectorised starts (frames) and the one-race starts (entrants, the post stage) agree,
    including the fallback for an unknown start: midnight UTC of race day."""
    Race.objects.filter(pk=weekend.pk).update(fp3_start=None, qualifying_start=None)
    weekend.refresh_from_db()
    one = race_session_starts(race=weekend)
    assert one["fp3"] == one["qualifying"] == datetime(2026, 12, 6, tzinfo=UTC)
    assert one["fp1"] == weekend.fp1_start and one["sprint"] == SPRINT_START
    assert one["sprint_qualifying"] == datetime(2026, 12, 6, tzinfo=UTC)
    frame = pd.DataFrame(
        [{"race_id": weekend.pk, "date": pd.Timestamp(weekend.date), "start": weekend.start,
          "fp1_start": weekend.fp1_start, "fp2_start": weekend.fp2_start, "fp3_start": pd.NaT,
          "sprint_start": SPRINT_START}]  # no qualifying / sprint qualifying column: unknown
    )  # fmt: skip
    vectorised = session_starts(frame).iloc[0]
    assert {s: vectorised[s].to_pydatetime() for s in one} == one


# QA (M3, M5, M2): a session is begun once "started before the clock" (start < T), a forecast known
# once "issued before the clock": a clock exactly at a session's start or a forecast's issue time does
# not know it yet; one second later it does. A session's results come later: at its start plus its
# cap (`session_results_known_at`; the frames' cut below).


def test_a_session_starting_exactly_at_the_clock_is_not_known_yet(weekend):
    assert weekend.qualifying_start == QUALIFYING_START and weekend.fp3_start == FP3_START
    # no sprint qualifying time in the calendar: it counts from midnight UTC of race day (Sunday)
    saturday = {"fp1", "fp2", "fp3", "sprint"}
    assert sessions_known(race=weekend, clock=QUALIFYING_START) == saturday
    assert sessions_known(race=weekend, clock=QUALIFYING_START + ONE_SECOND) == saturday | {"qualifying"}
    assert sessions_known(race=weekend, clock=weekend.fp1_start) == frozenset()
    assert sessions_known(race=weekend, clock=weekend.fp1_start + ONE_SECOND) == {"fp1"}
    assert "race" not in sessions_known(race=weekend, clock=weekend.start)
    assert "race" in sessions_known(race=weekend, clock=weekend.start + ONE_SECOND)


@pytest.fixture
def weekend_frames(weekend):
    """The 2026 frames as stored, loaded with no clock: the weekend's latest forecast (Friday 20:00)."""
    frames = f1_frames_load(since_season=2026, forecast_for=[weekend.pk])
    forecasts = frames.weather[frames.weather["race_id"] == weekend.pk]
    assert set(forecasts["fetched_at"]) == {LATE_FORECAST}
    return frames


SPRINT_KNOWN = SPRINT_START + timedelta(hours=2)  # the sprint's results: its start + 2 h
FP3_KNOWN = FP3_START + timedelta(hours=1)  # a practice session's: its start + its hour


@pytest.mark.parametrize(
    ("sprint_clock", "fp3_clock", "known"),
    [
        (SPRINT_START, FP3_START, False),
        (SPRINT_START + ONE_SECOND, FP3_START + ONE_SECOND, False),  # begun, being held
        (SPRINT_KNOWN - ONE_SECOND, FP3_KNOWN - ONE_SECOND, False),
        (SPRINT_KNOWN, FP3_KNOWN, True),  # a clock on the moment sees them
    ],
)
def test_frames_leave_a_session_out_until_its_results_are_known(
    weekend, weekend_frames, sprint_clock, fp3_clock, known
):
    sprint = frames_known_at(weekend_frames, sprint_clock).sprints
    stored = SprintResult.objects.filter(race=weekend).count()
    assert (sprint["race_id"] == weekend.pk).sum() == (stored if known else 0)
    practice = frames_known_at(weekend_frames, fp3_clock).practice
    sessions = set(practice.loc[practice["race_id"] == weekend.pk, "session"])
    assert sessions == ({"FP1", "FP2", "FP3"} if known else {"FP1", "FP2"})


@pytest.mark.parametrize(("after", "known"), [(timedelta(0), False), (ONE_SECOND, True)])
def test_a_forecast_issued_exactly_at_the_clock_is_not_known_yet(weekend, weekend_frames, after, known):
    """The cut itself (`f1_frames_load(as_of=)` also asks the database for forecasts issued before
    the clock; `frames_known_at` must hold on frames loaded without one)."""
    weather = frames_known_at(weekend_frames, LATE_FORECAST + after).weather
    issued = set(weather.loc[weather["race_id"] == weekend.pk, "fetched_at"])
    assert issued == ({LATE_FORECAST} if known else set())
    # through the loader, the clock picks the forecast known then
    loaded = f1_frames_load(since_season=2026, forecast_for=[weekend.pk], as_of=LATE_FORECAST + after).weather
    issued = set(loaded.loc[loaded["race_id"] == weekend.pk, "fetched_at"])
    assert issued == ({LATE_FORECAST} if known else {EARLY_FORECAST})


def test_frames_known_at_leaves_the_history_before_the_clock_as_it_was(real_frames):
    """The cut drops only sessions not started by the clock: every race run before it keeps exactly
    the feature rows it has without a clock (so training and backtests, which use no clock, and the
    history of a prediction are unchanged)."""
    clock = datetime(2024, 6, 22, 12, 0, tzinfo=UTC)  # Spanish GP Saturday: after FP3, before qualifying
    races = real_frames.races.set_index("race_id")
    spain = int(races.index[(races["season"] == 2024) & (races["round"] == 10)][0])
    cut = frames_known_at(real_frames, clock)
    assert set(cut.practice.loc[cut.practice["race_id"] == spain, "session"]) == {"FP1", "FP2", "FP3"}
    assert not (cut.qualifying["race_id"] == spain).any() and not (cut.results["race_id"] == spain).any()
    later = set(races.index[races["date"] > races.loc[spain, "date"]])  # the races after it
    assert not set(cut.results["race_id"]) & later and not set(cut.practice["race_id"]) & later
    full = build_features(real_frames)
    history = full[full["date"] < races.loc[spain, "date"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(build_features(cut), history)


def test_the_pre_stage_reads_nothing_of_qualifying_or_the_sprint(real_frames, trained_bundle):
    """With the default clock, a completed sprint weekend (2025 China): its pre-qualifying features
    and prediction are the same with and without its qualifying and sprint in the data."""
    from dataclasses import replace

    bundle, _ = trained_bundle
    races = real_frames.races
    china = int(races.loc[(races["season"] == 2025) & (races["round"] == 2), "race_id"].iloc[0])
    assert (real_frames.sprints["race_id"] == china).any() and (
        real_frames.qualifying["race_id"] == china
    ).any()
    entries = real_frames.results.loc[
        real_frames.results["race_id"] == china, ["race_id", "driver_id", "team_id"]
    ]
    without = replace(
        real_frames,
        qualifying=real_frames.qualifying[real_frames.qualifying["race_id"] != china],
        sprints=real_frames.sprints[real_frames.sprints["race_id"] != china],
    )

    def pre(frames):
        rows = build_features(frames, targets=entries)
        return rows[rows["race_id"] == china].sort_values("driver_id").reset_index(drop=True)

    with_rows, without_rows = pre(real_frames), pre(without)
    pre_names = feature_names("pre")
    pd.testing.assert_frame_equal(with_rows[pre_names], without_rows[pre_names])
    assert not with_rows["sprint_position"].equals(without_rows["sprint_position"])  # post only
    a = race_predict(bundle.stages["pre"], with_rows, explain=0)
    b = race_predict(bundle.stages["pre"], without_rows, explain=0)
    pd.testing.assert_frame_equal(a.drop(columns=["explanation"]), b.drop(columns=["explanation"]))
