"""What was known at a clock, vectorised: the cut of the feature frames at a past `as_of`
(`frames_known_at`) and the practice a pre-qualifying prediction may read (`practice_before_qualifying`).

The rules themselves need only the F1 data and live in `ingestion.selectors`, below the apps that
use them (per race, no query: `sessions_known`, `session_results_known`, `race_pre_race_cutoff`, …);
the functions here are their pure DataFrame forms (`session_starts`, `session_results_known_times`).
A clock as text (`?as_of=`, `--as-of`) is read by `f1site.clock`.

Two moments per session. It counts as *begun* at clock T if it had started before T (start < T,
`sessions_known`). Its start is the calendar's (`Race.fp1_start` … `qualifying_start`, and
`Race.start` for the race itself); when the calendar has no time for it, midnight UTC at the start
of race day — the end of the day before the race, by which every session but the race has begun on
a normal weekend (practice, sprint qualifying, sprint and qualifying are held before race day). So
a session with an unknown start counts as begun only for a clock on race day or later.

A session begun is not a session finished: its *results* (classification, lap times, the grid)
count as known only from `session_results_known_at` (`session_results_known`): its start plus a
cap on its length per kind (`SESSION_RESULTS_DELAY`: practice one hour, qualifying, sprint
qualifying and the sprint two; the race three, `race_results_known_at`, the
regulations' cap on a race's length); without a start time, midnight UTC of race day for a session
held before it and the end of race day for the race. So a clock
during the sprint never sees its classification, nor one during qualifying the grid, nor one during
a race — say a what-if of the next race made while it is run — its results and pit stops. The
race's own prediction is cut at its start (`race_pre_race_cutoff`), before both.

Used by everything a prediction with a past clock reads: the entrants (`race_entries`), the
frames the features are built from (`frames_known_at`: practice, sprint and qualifying rows of
sessions whose results were not known yet, and the results of races not yet run, are dropped, for every race) and
the weather forecast (the latest issued before the clock, `f1_frames_load(as_of=)`). A race whose
results were known before the clock — every earlier race in the history — is untouched; without a
clock nothing is cut.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pandas as pd

from ingestion.models.race import SESSION_START_FIELDS
from ingestion.selectors import PRACTICE_SESSIONS, SESSION_RESULTS_DELAY


def unknown_start(race_date) -> pd.Timestamp:
    """When a session with no start time counts from: midnight UTC at the start of race day."""
    return pd.Timestamp(race_date).tz_localize(None).tz_localize("UTC")


def session_starts(races: pd.DataFrame) -> pd.DataFrame:
    """Pure, vectorised: races (race_id, date and the `SESSION_START_FIELDS` columns; a missing column
    counts as unknown) -> race_id plus one column per session with the time it counts from: its
    start, or `unknown_start` of the race's date."""
    fallback = pd.to_datetime(races["date"]).dt.tz_localize(None).dt.tz_localize("UTC")
    out = pd.DataFrame({"race_id": races["race_id"].to_numpy()}, index=races.index)
    for session, column in SESSION_START_FIELDS.items():
        start = pd.to_datetime(races[column], utc=True) if column in races else pd.NaT
        out[session] = pd.Series(start, index=races.index, dtype="datetime64[ns, UTC]").fillna(fallback)
    return out


def results_known_times(races: pd.DataFrame) -> pd.Series:
    """Pure, vectorised `ingestion.selectors.race_results_known_at`: races (race_id, date and, when
    known, `start`) -> the moment each race's results count as known, indexed by race_id: the start
    plus `RACE_RESULTS_DELAY`, or the end of race day (midnight UTC of the next day) without one —
    the race column of `session_results_known_times`."""
    return session_results_known_times(races).set_index("race_id")["race"]


def session_results_known_times(races: pd.DataFrame) -> pd.DataFrame:
    """Pure, vectorised `session_results_known_at`: races (race_id, date and the `SESSION_START_FIELDS`
    columns; a missing column counts as unknown) -> race_id plus one column per session with the
    moment its results count as known."""
    race_day = pd.to_datetime(races["date"]).dt.tz_localize(None).dt.tz_localize("UTC")
    out = pd.DataFrame({"race_id": races["race_id"].to_numpy()}, index=races.index)
    for session, column in SESSION_START_FIELDS.items():
        start = pd.to_datetime(races[column], utc=True) if column in races else pd.NaT
        start = pd.Series(start, index=races.index, dtype="datetime64[ns, UTC]")
        # no start time: the race at the end of race day, the sessions before it at its start
        fallback = race_day + pd.Timedelta(days=1) if session == "race" else race_day
        out[session] = (start + SESSION_RESULTS_DELAY[session]).fillna(fallback)
    return out


def frames_known_at(frames, clock: datetime | None):
    """Pure: `frames` (F1Frames) as known at `clock`: results, pit stops and observed weather of races
    not run by then (results not known: `results_known_times`, at or before the clock — a race being
    run at the clock is left out), qualifying, sprint and FP practice rows of sessions whose results
    were not known by then (`session_results_known_times`: not started, or being held at the clock)
    are dropped, and forecasts issued at or after the clock. Races whose results were known are
    untouched; `clock` None returns `frames` as they are."""
    if clock is None:
        return frames
    clock = pd.Timestamp(clock)
    # race_id -> per session the moment its results count as known (`session_results_known_at`)
    known_at = session_results_known_times(frames.races).set_index("race_id")
    run = known_at["race"] <= clock  # race_id -> results known by the clock (`results_known_times`)

    def known(df: pd.DataFrame, session: str) -> pd.DataFrame:
        return df[(df["race_id"].map(known_at[session]) <= clock).to_numpy()].reset_index(drop=True)

    def of_races_run(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["race_id"].map(run).fillna(False).to_numpy(dtype=bool)].reset_index(drop=True)

    by_session = known_at.stack()  # (race_id, session) -> results known at
    practice = frames.practice
    keys = pd.MultiIndex.from_arrays([practice["race_id"], practice["session"].map(PRACTICE_SESSIONS)])
    practice = practice[(by_session.reindex(keys).to_numpy() <= clock)].reset_index(drop=True)
    weather = frames.weather
    if "fetched_at" in weather:
        forecast = weather["fetched_at"].notna()
        issued_before = pd.to_datetime(weather["fetched_at"], utc=True) < clock
        # observed: a summary of the whole race, known with its results
        observed = weather["race_id"].map(run).fillna(False).astype(bool)
        weather = weather[(forecast & issued_before) | (~forecast & observed)].reset_index(drop=True)
    else:
        weather = of_races_run(weather)
    return replace(
        frames,
        results=of_races_run(frames.results),
        pit_stops=of_races_run(frames.pit_stops),
        sprints=known(frames.sprints, "sprint"),
        qualifying=known(frames.qualifying, "qualifying"),
        practice=practice,
        weather=weather,
        meta={**frames.meta, "as_of": clock},
    )


def practice_before_qualifying(practice: pd.DataFrame, races: pd.DataFrame, sprint_race_ids) -> pd.DataFrame:
    """Pure: the practice rows of FP sessions run before the weekend's qualifying — the only ones the
    pre-qualifying stage may read, and so the only ones the practice features are built from.

    On the 2021–2022 sprint weekends FP2 was run on the Saturday, after Friday's qualifying. Where
    the calendar has both start times (2022 on) they decide; where it has not (2021 and earlier: the
    dump has no session times), the weekend's format does: on a sprint weekend FP2 followed
    qualifying (2021: FP1 and qualifying on Friday, FP2 and the sprint on Saturday), otherwise every
    FP session preceded it. `races` needs race_id and, when known, the `SESSION_START_FIELDS`
    columns; `sprint_race_ids` the races with a sprint."""
    if practice.empty:
        return practice
    starts = races.set_index("race_id")
    race_ids = practice["race_id"]
    session = practice["session"].map(PRACTICE_SESSIONS)

    def start_of(column: str) -> pd.Series:
        if column not in starts:
            return pd.Series(pd.NaT, index=practice.index, dtype="datetime64[ns, UTC]")
        return pd.to_datetime(race_ids.map(starts[column]), utc=True)

    fp_start = pd.Series(pd.NaT, index=practice.index, dtype="datetime64[ns, UTC]")
    for name in ("fp1", "fp2", "fp3"):
        fp_start = fp_start.where(session != name, start_of(SESSION_START_FIELDS[name]))
    quali_start = start_of(SESSION_START_FIELDS["qualifying"])
    both_known = fp_start.notna() & quali_start.notna()
    by_format = ~((session == "fp2") & race_ids.isin(set(sprint_race_ids)))
    keep = (both_known & (fp_start < quali_start)) | (~both_known & by_format)
    return practice[keep.to_numpy()].reset_index(drop=True)
