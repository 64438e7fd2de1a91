"""What was known at a clock: the rules that cut a race weekend's sessions at a past `as_of`.

Two moments per session. It counts as *begun* at clock T if it had started before T (start < T,
`sessions_known`). Its start is the calendar's (`Race.fp1_start` … `qualifying_start`, and
`Race.start` for the race itself); when the calendar has no time for it, midnight UTC at the start
of race day — the end of the day before the race, by which every session but the race has begun on
a normal weekend (practice, sprint qualifying, sprint and qualifying are held before race day). So
a session with an unknown start counts as begun only for a clock on race day or later.

A session begun is not a session finished: its *results* (classification, lap times, the grid)
count as known only from `session_results_known_at` (`session_results_known`): its start plus a
cap on its length per kind (`SESSION_RESULTS_DELAY`: practice one hour, qualifying, sprint
qualifying and the sprint two; the race three, `ingestion.selectors.race_results_known_at`, the
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
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from django.utils import timezone

from ingestion.models.race import SESSION_START_FIELDS
from ingestion.selectors import RACE_RESULTS_DELAY, race_results_known_at

# PracticeResult.session -> session
PRACTICE_SESSIONS = {"FP1": "fp1", "FP2": "fp2", "FP3": "fp3"}


def clock_from_text(*, text: str) -> datetime:
    """A clock typed by a person (`predict --as-of`, the home page's `?as_of=`) -> an aware datetime.

    An ISO date-time is that moment (UTC when it names no zone: `2026-06-20T14:00`). An ISO date
    alone is **00:00 UTC at the start of that day**, everywhere: the clock stands before anything
    of that day, so the date reads as `2026-06-20T00:00` does (and as Python and PostgreSQL read a
    date as a time); and a date is never a clock in the future on that day itself, which a
    prediction refuses (`predict --as-of <today>` at 04:00 UTC). The home page read a date as 12:00
    and `predict --as-of` as 00:00, so the same date showed and predicted two different clocks.
    Returned in UTC. ValueError when the text is neither (nothing is stripped: `2026-06-20\n` is not
    a date) or names a moment outside years 1-9999 once in UTC (`0001-01-01T00:00+01:00`)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an ISO date or date-time (e.g. 2026-06-20, 2026-06-20T14:00)"
            ) from None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:  # in UTC, so a zone at the calendar's edge fails here rather than in a comparison
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{text!r} is out of range in UTC (years 1-9999)") from None
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def clock_to_text(*, clock: datetime) -> str:
    """`clock_from_text`'s inverse, for the links of a page shown as of a clock: the shortest text it
    reads back as the same moment — the date alone for 00:00 UTC, else the UTC date-time without a
    zone (seconds and fractions only when set), so the link needs no `+` to escape and every link
    of the page spells the clock one way (one page-cache entry per clock, not one per spelling)."""
    clock = clock.astimezone(UTC)
    if clock.time() == time(0, 0):
        return clock.date().isoformat()
    spec = "microseconds" if clock.microsecond else "seconds" if clock.second else "minutes"
    return clock.replace(tzinfo=None).isoformat(timespec=spec)


# A clock may run this far ahead of the server's (a caller's clock skew), no further.
CLOCK_SKEW = timedelta(minutes=5)


class ClockParamMalformed(ValueError):
    """A `?as_of=` that is empty, repeated or not a date / date-time (the page's 404, the API's 400)."""


class ClockInFuture(ValueError):
    """A well-formed `?as_of=` still to come: there is no view as of then yet (404 on the page and
    in the API, since the value itself is valid)."""


def clock_param_read(*, values: list[str]) -> datetime | None:
    """The home page's and the API's `?as_of=` (every value given for it; none = now -> None): one
    parser, so `/?as_of=X` and the API's `?as_of=X` are the same moment (`clock_from_text`, UTC).
    Empty or repeated is refused: a second value silently showing another clock hides a client's
    mistake."""
    if not values:
        return None
    if len(values) != 1 or not values[0]:
        raise ClockParamMalformed("as_of must be given once, as a date, YYYY-MM-DD, or an ISO date-time")
    raw = values[0]
    try:
        clock = clock_from_text(text=raw)
    except ValueError as exc:
        raise ClockParamMalformed(f"as_of must be a date, YYYY-MM-DD, or an ISO date-time: {exc}") from None
    if clock > timezone.now() + CLOCK_SKEW:
        raise ClockInFuture(f"as_of {raw} is in the future: the page can be shown as of a past moment only")
    return clock


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


# How long after its start a session's RESULTS count as known at a clock — beside when it counts as
# begun (its start). A session being held at the clock shows as begun, never with its final
# classification, even though it is stored now. Each delay is an upper bound on the session's
# length (so a clock at or after it sees a finished session), as the race's three hours are:
# * practice (FP1-FP3): its scheduled length, one hour — the length of every practice session of the
#   seasons the calendar has practice times for (2022 on in the dump; FP1/FP2 ran 90 minutes until
#   2020, and those sessions have no start time: the fallback below). A red flag does not extend practice:
#   its clock runs on.
# * qualifying and sprint qualifying (the shootout): scheduled one hour (Q1 18 min + Q2 15 + Q3 12
#   with the breaks; the shootout 44 min) — two hours allowed, an hour of margin for red-flag
#   suspensions, which stop the session clock (no regulation caps a qualifying's total time; one
#   suspended for longer, as in the rain, is seen a little before its flag).
# * sprint: the regulations end a sprint after one hour of racing; suspensions add to that — two
#   hours allowed, the hour of suspension the race's cap allows over its two hours of racing.
# * race: `RACE_RESULTS_DELAY` (`ingestion.selectors.race_results_known_at`, the FIA's three hours).
# A session other than the race without a start time — every qualifying, sprint and practice
# session before 2022 in the dump, races from 2005 with a start time among them — counts as begun,
# and its results as known, at midnight UTC of race day: it is held before race day on a normal
# weekend, so its results were known by then. The end of race day, the race's own fallback, would
# hide the grid at the race's own cut-off (its start): the 2019 British GP's entrants came from the
# previous race's entry list with no grid, and its championship and what-if at a race-day clock with
# them (review). The rare qualifying moved to race morning (typhoons at Suzuka 2004, 2010 and 2019;
# 2005's Sunday aggregate) is then seen a few hours early at a race-day clock before it.
SESSION_RESULTS_DELAY = {
    "fp1": timedelta(hours=1),
    "fp2": timedelta(hours=1),
    "fp3": timedelta(hours=1),
    "sprint_qualifying": timedelta(hours=2),
    "sprint": timedelta(hours=2),
    "qualifying": timedelta(hours=2),
    "race": RACE_RESULTS_DELAY,
}
assert set(SESSION_RESULTS_DELAY) == set(SESSION_START_FIELDS)


def session_results_known_at(*, session: str, race_date, start: datetime | None) -> datetime:
    """When `session`'s results count as known at a clock (a clock at or after it sees them): its
    start plus `SESSION_RESULTS_DELAY[session]`, or — no start time — midnight UTC at the start of
    race day, held the day before (the race: `ingestion.selectors.race_results_known_at`, the end
    of race day without a start time)."""
    if session == "race":
        return race_results_known_at(race_date=race_date, start=start)
    if start is not None:
        return start + SESSION_RESULTS_DELAY[session]
    return datetime.combine(race_date, time(0, 0), tzinfo=UTC)


def race_session_results_known_at(*, race) -> dict[str, datetime]:
    """`session_results_known_at` of every session of one `Race` (no query): session -> moment."""
    return {
        session: session_results_known_at(session=session, race_date=race.date, start=getattr(race, column))
        for session, column in SESSION_START_FIELDS.items()
    }


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


def race_session_starts(*, race) -> dict[str, datetime]:
    """The same for one `Race` (no pandas frame: it is called per race): session -> its start, or
    `unknown_start` of the race's date."""
    fallback = unknown_start(race.date).to_pydatetime()
    return {session: getattr(race, column) or fallback for session, column in SESSION_START_FIELDS.items()}


def race_pre_race_cutoff(*, race) -> datetime:
    """A prediction made (`created_at`) and cut off (`as_of`) before this counts as made before the
    race: the start, or midnight UTC of race day when the start time is unknown — when the race session
    counts as begun by the rule every past clock uses."""
    return race_session_starts(race=race)["race"]


def race_qualifying_time(*, race) -> datetime:
    """When qualifying counts as begun (the rule every past clock uses): its start, or (unknown
    start) midnight UTC at the start of race day, by which it has been held on a normal weekend, so
    a clock is never taken to be after a qualifying it may precede."""
    return race_session_starts(race=race)["qualifying"]


def sessions_known(*, race, clock: datetime | None) -> frozenset[str]:
    """The race's sessions begun at `clock` (started before it); every session without a clock. Begun
    is not finished: whether a session's results may be shown or used is `session_results_known`."""
    if clock is None:
        return frozenset(SESSION_START_FIELDS)
    return frozenset(s for s, start in race_session_starts(race=race).items() if start < clock)


def session_results_known(*, race, clock: datetime | None) -> frozenset[str]:
    """The race's sessions whose results were known at `clock` (`session_results_known_at` at or
    before it: not a session being held then); every session without a clock. The rule for every
    sprint, qualifying and practice row shown or used at a clock — the race page and API, the
    feature frames (`frames_known_at`), the entrants and grid (`race_entries`), the post-qualifying
    stage, the championship's sprint points. No query."""
    if clock is None:
        return frozenset(SESSION_START_FIELDS)
    return frozenset(s for s, known in race_session_results_known_at(race=race).items() if known <= clock)


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
