"""Keep each race's identity when upstream renumbers a season's calendar.

Jolpica numbers a season's races 1..N and renumbers them when a race is cancelled or added (2023:
Imola cancelled; 2020: the calendar rebuilt). A stored race is therefore matched to an upstream
calendar entry by a stable identity within the season, never by round alone:

1. the race id (`race_ids.race_slugs` of the upstream calendar) equals the stored slug, and the
   name or the circuit agrees (a GP moved to another circuit keeps its id);
2. same circuit and same date (a slug can change when a second race in the same country appears:
   `2019_italy` -> `2019_italian`);
3. same name, when only one unmatched race on each side has it (a race moved to another date);
4. same circuit, when only one unmatched race on each side is there (renamed and moved).

In 2020 one circuit held two races (Austrian / Styrian at the Red Bull Ring, Bahrain / Sakhir): they
differ by slug, name and date, so steps 1-3 tell them apart and step 4 never pairs them.

A matched race keeps its primary key and slug (and so its results, predictions, weather,
forecasts); only its round (and calendar fields) follow upstream. Rounds are moved in two phases
inside the caller's transaction (first out of the way, then to their new number), so the
`(season, round)` constraint never sees a transient duplicate.

A stored race with no upstream entry left:
* nothing attached but weather/forecasts -> deleted (a cancelled race has nothing to keep);
* results, predictions, OpenF1 sessions, ... attached -> kept, flagged `removed_upstream_at`, its
  round parked at 100 or above (upstream rounds never reach it; `{season}_{round}` ids have at
  most two digits so they never resolve to it), and reported as an error of every sync of that
  season until staff delete it or upstream brings it back (then it is matched again and unparked).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import F
from django.utils import timezone

from ingestion.models import Race
from ingestion.services.race_ids import (
    RACE_ID_MAX_LENGTH,
    CalendarEntry,
    RaceIdUnavailable,
    race_id_candidates,
    race_id_choose,
)

PARKED_FROM = 100  # first round number used for races no longer on the upstream calendar
_MOVE_OFFSET = 10_000  # phase 1 of a renumbering: rounds + offset are free (smallint holds 32767)
_DISPOSABLE = frozenset({"weather", "forecasts"})  # derived data a cancelled race may lose


@dataclass(frozen=True)
class UpstreamEntry:
    round: int
    slug: str  # as race_slugs computes it from the upstream calendar
    name: str
    circuit_id: int
    circuit_ref: str
    date: dt.date


@dataclass(frozen=True)
class StoredRace:
    pk: int
    round: int
    slug: str
    name: str
    circuit_id: int
    date: dt.date
    removed: bool


@dataclass
class CalendarChanges:
    """What reconciling one season's calendar did; the sync reports it."""

    season: int
    matched: dict[int, StoredRace] = field(default_factory=dict)  # upstream round -> stored race
    renumbered: list[tuple[str, int, int]] = field(default_factory=list)  # slug, old, new round
    restored: list[str] = field(default_factory=list)  # back on the calendar after being flagged
    new_slugs: dict[int, str] = field(default_factory=dict)  # upstream round -> id for a new race
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # upstream round, message
    deleted: list[str] = field(default_factory=list)
    kept_removed: list[tuple[str, int, dict[str, int]]] = field(default_factory=list)  # slug, round, attached
    newly_removed: list[str] = field(default_factory=list)  # kept_removed races flagged by this run
    # rounds (1..N) a stored race held before and left (moved, parked or deleted): the `2019_22` form
    # of such a round named that race, so caches keyed by it must go (f1site.cache)
    vacated_rounds: list[int] = field(default_factory=list)

    @property
    def round_map(self) -> dict[int, int]:
        """Stored round before the reconcile -> upstream round, for every matched race."""
        return {race.round: rnd for rnd, race in self.matched.items()}


def match_calendar(
    stored: list[StoredRace], upstream: list[UpstreamEntry]
) -> tuple[dict[int, StoredRace], list[StoredRace]]:
    """-> ({upstream round: stored race}, stored races with no upstream entry). Pure."""
    matched: dict[int, StoredRace] = {}
    free = {race.pk: race for race in stored}

    def pair(key: Callable, *, unique: bool, agree: Callable = lambda entry, race: True) -> None:
        todo = [e for e in upstream if e.round not in matched]
        left = list(free.values())
        up_keys = Counter(key(e) for e in todo)
        st_keys = Counter(key(r) for r in left)
        by_key = {key(r): r for r in left}
        for entry in todo:
            k = key(entry)
            if k not in by_key or (unique and (up_keys[k] > 1 or st_keys[k] > 1)):
                continue
            if not agree(entry, by_key[k]):
                continue
            race = by_key.pop(k)
            matched[entry.round] = race
            del free[race.pk]

    # an id alone is not enough: the name or the circuit must agree too (an id set by hand, or
    # reused by a different race, must not pull that race's data onto another weekend)
    pair(lambda x: x.slug, unique=True, agree=lambda e, r: e.name == r.name or e.circuit_id == r.circuit_id)
    pair(lambda x: (x.circuit_id, x.date), unique=True)
    pair(lambda x: x.name, unique=True)
    pair(lambda x: x.circuit_id, unique=True)
    return matched, sorted(free.values(), key=lambda r: r.round)


def attached_counts(*, race_pk: int) -> dict[str, int]:
    """Rows that point at the race and are worth keeping (everything but weather and forecasts)."""
    out = {}
    for rel in Race._meta.related_objects:
        if rel.get_accessor_name() in _DISPOSABLE:
            continue
        n = rel.related_model._default_manager.filter(**{rel.field.name: race_pk}).count()
        if n:
            out[str(rel.related_model._meta.verbose_name_plural)] = n
    return out


def race_id_new(*, season: int, round: int, name: str, circuit_ref: str, country: str) -> str:
    """The public id of a race added by hand (admin) at `round` of `season`, built as the Jolpica
    sync builds one for a race added upstream (`race_id_choose` over the season's races on the
    calendar: `2026_abu_dhabi_yas_marina` beside the stored `2026_uae`). Stored ids are not
    rewritten. Raises RaceIdUnavailable, its message saying why and what to do."""
    calendar = [
        CalendarEntry(season, rnd, race_name, race_country, ref)
        for rnd, race_name, race_country, ref in Race.objects.on_calendar()
        .filter(season_id=season)
        .values_list("round", "name", "circuit__country", "circuit__ref")
    ]
    try:
        return race_id_choose(
            entry=CalendarEntry(season, round, name, country, circuit_ref),
            calendar=calendar,
            taken=lambda race_id: Race.objects.filter(slug=race_id).exists(),
        )
    except RaceIdUnavailable as exc:
        if not exc.taken:
            message = (
                f"This race's name and circuit give the id {exc.race_id!r}, which is not a race id "
                f"(<season>_<name>, a letter in the name, at most {RACE_ID_MAX_LENGTH} characters): "
                "give it another name."
            )
        else:
            holder = Race.objects.filter(slug=exc.race_id).values_list("season_id", "name", "round", "date")
            held = "{} {} (round {}, {})".format(*holder[0]) if holder else "another race"
            message = (
                f"This race would take the id {exc.race_id}, which names {held}, and {exc.fallback} is "
                "taken too (a race's id is its season and country, or its name when the season has two "
                "races in that country, as the Jolpica sync builds it; a stored id never changes). Give "
                "this race another name, or delete the other race."
            )
        raise RaceIdUnavailable(message, race_id=exc.race_id, fallback=exc.fallback, taken=exc.taken) from exc


def calendar_reconcile(*, season: int, upstream: list[UpstreamEntry]) -> CalendarChanges:
    """Match, renumber, delete or park the season's stored races to fit `upstream` (call inside a
    transaction). New races are not created here: `new_slugs` gives each one a free race id (or
    `conflicts` says why none could be found) and the caller inserts them at their rounds."""
    changes = CalendarChanges(season=season)
    stored = [
        StoredRace(pk, rnd, slug, name, circuit_id, date, removed is not None)
        for pk, rnd, slug, name, circuit_id, date, removed in Race.objects.filter(
            season_id=season
        ).values_list("pk", "round", "slug", "name", "circuit_id", "date", "removed_upstream_at")
    ]
    matched, vanished = match_calendar(stored, upstream)
    changes.matched = matched

    parked_rounds: dict[int, int] = {}  # pk -> parked round
    to_delete: list[StoredRace] = []
    for race in vanished:
        attached = attached_counts(race_pk=race.pk)
        if attached:
            parked_rounds[race.pk] = race.round
            changes.kept_removed.append((race.slug, race.round, attached))
        else:
            to_delete.append(race)
    if to_delete:
        Race.objects.filter(pk__in=[r.pk for r in to_delete]).delete()
        changes.deleted = [r.slug for r in to_delete]

    # phase 1: every race whose round changes leaves the 1..N range; phase 2: final numbers
    moves = {race.pk: rnd for rnd, race in matched.items() if race.round != rnd}
    newly_parked = {pk for pk, rnd in parked_rounds.items() if rnd < PARKED_FROM}
    taken = {rnd for rnd, race in matched.items()} | {
        rnd for pk, rnd in parked_rounds.items() if pk not in newly_parked
    }
    next_free = PARKED_FROM
    for pk in sorted(newly_parked, key=lambda p: parked_rounds[p]):
        while next_free in taken:
            next_free += 1
        moves[pk] = next_free
        taken.add(next_free)
    if moves:
        Race.objects.filter(pk__in=moves).update(round=F("round") + _MOVE_OFFSET)
        Race.objects.bulk_update([Race(pk=pk, round=rnd) for pk, rnd in moves.items()], ["round"])
    now = timezone.now()
    if newly_parked:
        Race.objects.filter(pk__in=newly_parked).update(removed_upstream_at=now)
        changes.newly_removed = [r.slug for r in vanished if r.pk in newly_parked]
    changes.kept_removed = [
        (slug, moves.get(pk, rnd), attached)
        for (slug, rnd, attached), pk in zip(changes.kept_removed, parked_rounds, strict=True)
    ]
    restored = [race.pk for race in matched.values() if race.removed]
    if restored:
        Race.objects.filter(pk__in=restored).update(removed_upstream_at=None)
        changes.restored = [race.slug for race in matched.values() if race.removed]
    changes.renumbered = sorted(
        (race.slug, race.round, rnd) for rnd, race in matched.items() if race.round != rnd
    )
    by_pk = {race.pk: race for race in stored}
    changes.vacated_rounds = sorted(
        {by_pk[pk].round for pk in moves if by_pk[pk].round < PARKED_FROM}
        | {race.round for race in to_delete if race.round < PARKED_FROM}
    )

    # race ids for the new races: the computed one, else + circuit ref; never a stored race's id
    owners = {
        slug: (rnd, name, date)
        for slug, rnd, name, date in Race.objects.filter(season_id=season).values_list(
            "slug", "round", "name", "date"
        )
    }
    for entry in upstream:
        if entry.round in matched:
            continue
        for candidate in race_id_candidates(slug=entry.slug, circuit_ref=entry.circuit_ref):
            if candidate not in owners and not Race.objects.filter(slug=candidate).exists():
                changes.new_slugs[entry.round] = candidate
                owners[candidate] = (entry.round, entry.name, entry.date)
                break
        else:
            rnd, name, date = (
                owners.get(entry.slug)
                or Race.objects.filter(slug=entry.slug).values_list("round", "name", "date").first()
            )
            changes.conflicts.append(
                (
                    entry.round,
                    f"{season} calendar: upstream round {entry.round} {entry.name} ({entry.date}) would take "
                    f"race id {entry.slug}, which already names the stored {season} {name} (round {rnd}, {date}), "
                    f"and {entry.slug}_{entry.circuit_ref} is taken too; the new race was not added. "
                    f"Rename or delete one of them in admin, then sync again.",
                )
            )
    return changes
