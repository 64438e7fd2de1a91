"""Read-side queries over the F1 data that other apps share, and the clock's rules for it.

Two moments of a race decide what a clock `as_of` (default now; settable for demos and backtests)
sees of it: its start (`race_started`: the start time, or midnight UTC of race day without one) and
the moment its results count as known (`race_results_known`: the start plus three hours, the
regulations' cap on a race's length, or the end of race day without a start time;
`race_results_known_at`). Between the two the race is being run: its results, even when stored now,
are no part of a past view. Without a clock the results stored are known. These rules need only the
F1 data, so they live here, below the apps that build on it (`predictions`, `analytics`) and the API.

Race status relative to a clock:
  completed        results are stored and were known by as_of (`race_completed`; the one rule of the
                   race lists (`predictions.selectors`), `race_status`, `prediction_sets_shown` and
                   every cut of results, standings and careers at a clock: `races_with_results_known_by`);
  awaiting_results started by as_of (`race_started`) but not completed: being run, or run and its
                   results not in yet (or, at a past clock, stored since but not known then);
  scheduled        not started by as_of.
  removed_upstream the race is no longer on its season's calendar upstream (`Race.removed_upstream_at`:
                   cancelled, kept for its data); whatever its date and results.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping

from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from f1site.cache import answer_changes_at
from f1site.errors import NotFound
from ingestion.models import Race, RaceResult
from ingestion.models.race import SESSION_START_FIELDS
from ingestion.services.race_ids import parse_race_id, race_id_canonical


def classification_holders(
    *, model: type[models.Model], race_id: int, values: Mapping[str, int], exclude_pk: int | None = None
) -> list:
    """The rows of a session result table (`model`: RaceResult, SprintResult, QualifyingResult) of
    one race holding any of `values` (`{"position": 3, "position_order": 3}`), but `exclude_pk`: one
    query, driver and team loaded, in shared-car order."""
    if not values:
        return []
    held = Q()
    for field, value in values.items():
        held |= Q(**{field: value})
    qs = model.objects.filter(held, race_id=race_id).select_related("driver", "team")
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    order = ["shared_car_index", "pk"] if hasattr(model, "shared_car_index") else ["pk"]
    return list(qs.order_by(*order))


class MalformedRaceId(ValueError):
    """The id is not of the form `<season>_<name>` or `<season>_<round>` (-> HTTP 400)."""


def race_get(*, race_id: str) -> Race:
    """Resolve `2025_bahrain` or `2025_4`, in any case (`2025_BAHRAIN`), to a Race. MalformedRaceId
    (400) or NotFound (unknown)."""
    race_id = race_id_canonical(race_id or "")
    try:
        season, round_number, slug = parse_race_id(race_id)
    except ValueError as exc:
        raise MalformedRaceId(str(exc)) from None
    qs = Race.objects.select_related("circuit", "season")
    race = qs.filter(slug=slug).first() if slug else qs.filter(season_id=season, round=round_number).first()
    if race is None:
        raise NotFound(f"No race with id {race_id!r}", what="race")
    return race


class RaceStatus:
    """A race's status, the one rule for the API and the pages (`race_status_derive`)."""

    SCHEDULED = "scheduled"
    AWAITING_RESULTS = "awaiting_results"
    COMPLETED = "completed"
    REMOVED_UPSTREAM = "removed_upstream"  # no longer on its season's calendar upstream; data kept
    CHOICES = (SCHEDULED, AWAITING_RESULTS, COMPLETED, REMOVED_UPSTREAM)


def name_fold(text: str | None) -> str:
    """`text` without accents and case: names compared or sorted alike whatever the spelling
    (OpenF1 writes "Perez", "Hulkenberg"; the dump and Jolpica "Pérez", "Hülkenberg") or the database.

    An ORDER BY on the column compares code points under PostgreSQL's C collation and in SQLite
    (and something else under another collation): `Pérez` came after `Piastri`, and `de Vries`,
    `Étancelin` after `Zunino` (QA). Folded in Python, both databases answer the same order.
    """
    decomposed = unicodedata.normalize("NFKD", (text or "").strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def race_started_at(*, race_date: dt.date, start: dt.datetime | None) -> dt.datetime:
    """When a race counts as started: its start time (`Race.start`), or — the calendar has no time
    for it — midnight UTC at the start of race day (the rule for a session of unknown time,
    `race_session_starts`; `race_started` / `races_started_by` compare clocks with it)."""
    if start is not None:
        return start
    return dt.datetime.combine(race_date, dt.time(0, 0), tzinfo=dt.UTC)


# How long after its start a race's results count as known at a clock (`race_results_known_at`).
# The FIA's sporting regulations cap a race's total time, suspensions included, at three hours
# (Article 5.3 b since 2021: "should the race be suspended the length of suspension will be added to
# this period up to a maximum total race time of three hours"), so by then it has been run. Two races
# in the data ran longer, before that cap: the 2011 Canadian GP (4 h 04 min, no cap then) and the 2016
# Brazilian GP (3 h 01 min, under the 4-hour cap of 2012-2020); a clock in that last hour sees their results
# a little before their flag.
RACE_RESULTS_DELAY = dt.timedelta(hours=3)


def race_results_known_at(*, race_date: dt.date, start: dt.datetime | None) -> dt.datetime:
    """When a race's results count as known at a clock (`race_results_known` /
    `races_with_results_known_by` compare clocks with it): its start plus `RACE_RESULTS_DELAY` (the
    regulations' cap on a race's length), or — the calendar has no time for it — the end of race day,
    midnight UTC of the next day. A clock at or after this moment sees the results stored; between
    `race_started_at` and this moment the race is being run: awaiting results, whatever the database
    holds now. (Without a clock the results stored are the ones known: the live job stores them as
    they are published, often within the hour.)"""
    if start is not None:
        return start + RACE_RESULTS_DELAY
    return dt.datetime.combine(race_date + dt.timedelta(days=1), dt.time(0, 0), tzinfo=dt.UTC)


# PracticeResult.session -> session
PRACTICE_SESSIONS = {"FP1": "fp1", "FP2": "fp2", "FP3": "fp3"}

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
# * race: `RACE_RESULTS_DELAY` (`race_results_known_at`, the FIA's three hours).
# A session other than the race without a start time — every qualifying, sprint and practice
# session before 2022 in the dump, races from 2005 with a start time among them — counts as begun,
# and its results as known, at midnight UTC of race day: it is held before race day on a normal
# weekend, so its results were known by then. The end of race day, the race's own fallback, would
# hide the grid at the race's own cut-off (its start): the 2019 British GP's entrants came from the
# previous race's entry list with no grid, and its championship and what-if at a race-day clock with
# them (review). The rare qualifying moved to race morning (typhoons at Suzuka 2004, 2010 and 2019;
# 2005's Sunday aggregate) is then seen a few hours early at a race-day clock before it.
SESSION_RESULTS_DELAY = {
    "fp1": dt.timedelta(hours=1),
    "fp2": dt.timedelta(hours=1),
    "fp3": dt.timedelta(hours=1),
    "sprint_qualifying": dt.timedelta(hours=2),
    "sprint": dt.timedelta(hours=2),
    "qualifying": dt.timedelta(hours=2),
    "race": RACE_RESULTS_DELAY,
}
assert set(SESSION_RESULTS_DELAY) == set(SESSION_START_FIELDS)


def session_results_known_at(*, session: str, race_date, start: dt.datetime | None) -> dt.datetime:
    """When `session`'s results count as known at a clock (a clock at or after it sees them): its
    start plus `SESSION_RESULTS_DELAY[session]`, or — no start time — midnight UTC at the start of
    race day, held the day before (the race: `race_results_known_at`, the end
    of race day without a start time)."""
    if session == "race":
        return race_results_known_at(race_date=race_date, start=start)
    if start is not None:
        return start + SESSION_RESULTS_DELAY[session]
    return dt.datetime.combine(race_date, dt.time(0, 0), tzinfo=dt.UTC)


def race_session_results_known_at(*, race) -> dict[str, dt.datetime]:
    """`session_results_known_at` of every session of one `Race` (no query): session -> moment."""
    return {
        session: session_results_known_at(session=session, race_date=race.date, start=getattr(race, column))
        for session, column in SESSION_START_FIELDS.items()
    }


def race_session_starts(*, race) -> dict[str, dt.datetime]:
    """Every session of one `Race` -> the time it counts as begun from: its start, or — the calendar
    has no time for it — midnight UTC at the start of race day (`race_started_at`'s rule; the
    vectorised form is `predictions.features.clock.session_starts`)."""
    fallback = race_started_at(race_date=race.date, start=None)
    return {session: getattr(race, column) or fallback for session, column in SESSION_START_FIELDS.items()}


def race_pre_race_cutoff(*, race) -> dt.datetime:
    """A prediction made (`created_at`) and cut off (`as_of`) before this counts as made before the
    race: the start, or midnight UTC of race day when the start time is unknown — when the race session
    counts as begun by the rule every past clock uses."""
    return race_session_starts(race=race)["race"]


def race_qualifying_time(*, race) -> dt.datetime:
    """When qualifying counts as begun (the rule every past clock uses): its start, or (unknown
    start) midnight UTC at the start of race day, by which it has been held on a normal weekend, so
    a clock is never taken to be after a qualifying it may precede."""
    return race_session_starts(race=race)["qualifying"]


def sessions_known(*, race, clock: dt.datetime | None) -> frozenset[str]:
    """The race's sessions begun at `clock` (started before it); every session without a clock. Begun
    is not finished: whether a session's results may be shown or used is `session_results_known`."""
    if clock is None:
        return frozenset(SESSION_START_FIELDS)
    return frozenset(s for s, start in race_session_starts(race=race).items() if start < clock)


def session_results_known(*, race, clock: dt.datetime | None) -> frozenset[str]:
    """The race's sessions whose results were known at `clock` (`session_results_known_at` at or
    before it: not a session being held then); every session without a clock. The rule for every
    sprint, qualifying and practice row shown or used at a clock — the race page and API, the
    feature frames (`frames_known_at`), the entrants and grid (`race_entries`), the post-qualifying
    stage, the championship's sprint points. No query."""
    if clock is None:
        return frozenset(SESSION_START_FIELDS)
    return frozenset(s for s, known in race_session_results_known_at(race=race).items() if known <= clock)


def race_status_derive(*, started: bool, has_results: bool, removed: bool = False) -> str:
    """removed_upstream = upstream no longer lists the race (`Race.removed_upstream_at`); completed =
    results stored (`has_results`: by a clock, `race_completed`: stored and
    known by then, `race_results_known_at`); awaiting results = started (`race_started_at` passed:
    being run, or run) without them — at a clock also a race being run whose results are stored now
    but were not known then; else scheduled.
    Until 2026-11-28 a race was awaiting results only from the day after its date: during the race
    and until its results came in, the API and the race page said scheduled."""
    if removed:
        return RaceStatus.REMOVED_UPSTREAM
    if has_results:
        return RaceStatus.COMPLETED
    return RaceStatus.AWAITING_RESULTS if started else RaceStatus.SCHEDULED


def race_status_now(
    *, race_date: dt.date, start: dt.datetime | None, has_results: bool, removed: bool = False
) -> str:
    """`race_status_derive` now, for an answer that may be cached: a race still scheduled turns
    awaiting_results at its start without any data change (no signal, no invalidation), so its start
    is handed to the cache (`f1site.cache.answer_changes_at`): an entry computed from the status is
    fresh at most until then. One query-free call per race."""
    begins = race_started_at(race_date=race_date, start=start)
    status = race_status_derive(started=begins < timezone.now(), has_results=has_results, removed=removed)
    if status == RaceStatus.SCHEDULED:
        answer_changes_at(begins)
    return status


def started_by_q(as_of) -> Q:
    """Races that had started by the clock: their start strictly before it, or — no start time — a
    race day whose midnight UTC is strictly before it: the sessions' rule
    (`race_pre_race_cutoff` < clock), so a clock on the start itself (or `?as_of=<race day>`, 00:00
    UTC) stands before the race. Started is not run: its results are known later
    (`results_known_by_q`). A date (not a time) counts its whole day."""
    if as_of is not None and not isinstance(as_of, dt.datetime):
        return Q(date__lte=as_of)
    clock = (as_of or timezone.now()).astimezone(dt.UTC)
    race_day_begun = Q(date=clock.date()) if clock.time() > dt.time.min else Q(pk__in=[])
    return Q(start__lt=clock) | Q(start__isnull=True) & (Q(date__lt=clock.date()) | race_day_begun)


def _results_clock(as_of: dt.date | dt.datetime) -> dt.datetime:
    """The clock in UTC for the results-known rule; a date (not a time) is the end of its day."""
    if not isinstance(as_of, dt.datetime):
        as_of = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return as_of.astimezone(dt.UTC)


def results_known_by_q(as_of) -> Q:
    """Races whose results were known by the clock: `race_results_known_at` (the start plus
    `RACE_RESULTS_DELAY`, or — no start time — the end of race day, midnight UTC of the next day) at
    or before it. A clock at that very moment sees them: `?as_of=<the day after>` (00:00 UTC) shows a
    race of unknown start time as run, as the model cut (`predictions.services.training.model_bundle_known_at`: races
    before the clock's day) counts it. A date (not a time) is the end of its day. Without a clock
    (now) the results stored are known: the races started by now (`started_by_q`), so stored results
    show the moment they are in."""
    if as_of is None:
        return started_by_q(None)
    clock = _results_clock(as_of)
    if clock - dt.datetime.min.replace(tzinfo=dt.UTC) < RACE_RESULTS_DELAY:
        # a clock in the first hours of year 1 (`?as_of=0001-01-01`, which the API fuzzing sends):
        # `clock - RACE_RESULTS_DELAY` would overflow, and no race was known then anyway
        return Q(pk__in=[])
    return Q(start__lte=clock - RACE_RESULTS_DELAY) | Q(start__isnull=True, date__lt=clock.date())


def races_started_by(*, as_of: dt.datetime) -> QuerySet[Race]:
    """Every race (on the calendar or not) that had started by the clock, by `started_by_q`'s rule.
    Not for cutting results: a race started but still being run had no results yet
    (`races_with_results_known_by`)."""
    return Race.objects.filter(started_by_q(as_of)).values("pk")


def races_with_results_known_by(*, as_of: dt.datetime) -> QuerySet[Race]:
    """Every race (on the calendar or not) whose results were known by the clock (`results_known_by_q`):
    for pages that cut results at a clock (a driver's or team's results and career, standings,
    analytics, pit stops, winners: `race__in=races_with_results_known_by(as_of=…)`, one subquery, no
    extra query), so a race being run at the clock shows none of its results."""
    return Race.objects.filter(results_known_by_q(as_of)).values("pk")


def race_started(*, race: Race, as_of=None) -> bool:
    """`started_by_q` for one race: had it started by the clock (default now)? The rule of its status
    turning awaiting_results, and of refusing a what-if or prediction of it; not of showing its
    results (`race_results_known`)."""
    if as_of is not None and not isinstance(as_of, dt.datetime):
        return race.date <= as_of
    # strictly before: a clock on the start stands before the race (`started_by_q`)
    return race_started_at(race_date=race.date, start=race.start) < (as_of or timezone.now())


def race_results_known(*, race: Race, as_of=None) -> bool:
    """`results_known_by_q` for one race: were its results known by the clock (default now: had it
    started)? The race page's and the API's rule for showing its results, observed weather and
    accuracy as of a clock, so they appear exactly when its status turns completed."""
    if as_of is None:
        return race_started(race=race)
    return race_results_known_at(race_date=race.date, start=race.start) <= _results_clock(as_of)


def race_completed(*, race: Race, has_results: bool, as_of=None) -> bool:
    """The one rule for "completed" as of a clock (README "Clock"): results stored and known by then
    (`race_results_known`; `predictions.selectors.race_list_recent_completed` is its query form). On race day before the
    start a race with results stored now is still upcoming as of that clock, and so it is while
    being run (until its start plus three hours)."""
    return has_results and race_results_known(race=race, as_of=as_of)


def race_status(*, race: Race, as_of: dt.datetime | None = None, has_results: bool | None = None) -> str:
    """The API's status rule (`race_status_derive`) as of a clock: completed = `race_completed`,
    awaiting results = started (`race_started`) and not completed (a race being run at the clock). `has_results`: whether the race has
    results stored, when the caller has loaded them (no query). Now (no clock), a scheduled race
    hands its start to the cache (`race_status_now`)."""
    if race.removed_upstream_at is not None:  # no query for a race upstream dropped
        return RaceStatus.REMOVED_UPSTREAM
    if has_results is None:
        has_results = RaceResult.objects.filter(race=race).exists()
    completed = race_completed(race=race, has_results=has_results, as_of=as_of)
    if as_of is None:
        return race_status_now(race_date=race.date, start=race.start, has_results=completed)
    return race_status_derive(started=race_started(race=race, as_of=as_of), has_results=completed)
