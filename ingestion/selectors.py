"""Read-side queries over the F1 data that other apps share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db import models
from django.db.models import Q
from django.utils import timezone

from f1site.cache import answer_changes_at
from f1site.errors import NotFound
from ingestion.models import Race
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


def race_started_at(*, race_date: dt.date, start: dt.datetime | None) -> dt.datetime:
    """When a race counts as started: its start time (`Race.start`), or — the calendar has no time
    for it — midnight UTC at the start of race day (`predictions.features.clock`'s rule for a session
    of unknown time; `predictions.selectors.race_started` / `races_started_by` compare clocks with it)."""
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
    """When a race's results count as known at a clock (`predictions.selectors.race_results_known` /
    `races_with_results_known_by` compare clocks with it): its start plus `RACE_RESULTS_DELAY` (the
    regulations' cap on a race's length), or — the calendar has no time for it — the end of race day,
    midnight UTC of the next day. A clock at or after this moment sees the results stored; between
    `race_started_at` and this moment the race is being run: awaiting results, whatever the database
    holds now. (Without a clock the results stored are the ones known: the live job stores them as
    they are published, often within the hour.)"""
    if start is not None:
        return start + RACE_RESULTS_DELAY
    return dt.datetime.combine(race_date + dt.timedelta(days=1), dt.time(0, 0), tzinfo=dt.UTC)


def race_status_derive(*, started: bool, has_results: bool, removed: bool = False) -> str:
    """removed_upstream = upstream no longer lists the race (`Race.removed_upstream_at`); completed =
    results stored (`has_results`: by a clock, `predictions.selectors.race_completed`: stored and
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
