"""Post-session ingestion from OpenF1 `session_result`: practice (FP1–FP3) and qualifying classifications.

OpenF1 identifies drivers by car number. We resolve a number to (driver, team) from what OpenF1's
`/drivers` says for that session: the driver by acronym + surname, the team by `team_name`
(`openf1_teams_match`), falling back to this season's classifications up to this race, never an
earlier season's (`driver_numbers_resolve`). A number we cannot place is not guessed: the other cars
are written, the session stays un-ingested for RESULTS_RETRY_WINDOW after it (retried, so the car is
added once its driver is stored), then is marked ingested without it; the callers report it
(`incomplete`, a `partial` SyncRun; `given_up` and a warning naming the cars at the end). Race and
sprint classifications (points, statuses) come from the Jolpica sync the daily job runs; the grid is
known once qualifying is ingested, which is when the post-qualifying prediction refresh runs.

A classification is checked with the shared `validate_classification` (the rules the dump load and
the Jolpica sync apply) before anything is written: a session whose rows break them (e.g. 2025
Singapore qualifying, where upstream lists positions 12 and 13 twice) is rejected with messages
naming the race, the session and the field, its stored rows stay, and the callers go on with the
other sessions (`sync_openf1 --results` via `openf1_results_sync`, the live job's catch-up).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from ingestion.clients.openf1 import DriverInfo, OpenF1Client, SessionResult
from ingestion.models import (
    Driver,
    OpenF1Session,
    PracticeResult,
    QualifyingResult,
    RaceResult,
    SessionType,
    SprintResult,
    SyncSource,
    Team,
)
from ingestion.selectors import name_fold
from ingestion.services.sync_runs import sync_run_recorded
from ingestion.services.upsert import upsert_rows
from ingestion.services.validation import validate_classification
from ingestion.signals import races_changed_send

logger = logging.getLogger(__name__)

PRACTICE = {SessionType.FP1: "FP1", SessionType.FP2: "FP2", SessionType.FP3: "FP3"}
INGESTED_TYPES = (*PRACTICE, SessionType.QUALIFYING)
# How long after a session a car that cannot be placed keeps it awaited, on both paths (the live job,
# `sync_openf1 --results`). After it the session is marked ingested without those cars, recorded as
# given up: a driver who only ever does practice is never stored (Jolpica lists drivers from race,
# sprint and qualifying rows), so "retry until placed" meant retrying forever.
RESULTS_RETRY_WINDOW = timedelta(days=2)
# Where the drivers `driver_numbers_resolve` needs come from, for the messages naming an unplaced car.
DRIVER_SOURCES_NOTE = (
    "drivers are stored once Jolpica lists them in a race, sprint or qualifying, or by the Ergast dump:"
    " a practice-only driver may never be"
)


def lap_text(seconds: float | None) -> str:
    """93.66 -> '1:33.660' (Ergast's lap-time format); None -> ''."""
    if seconds is None:
        return ""
    ms = round(seconds * 1000)
    minutes, rest = divmod(ms, 60000)
    return (
        f"{minutes}:{rest // 1000:02d}.{rest % 1000:03d}" if minutes else f"{rest // 1000}.{rest % 1000:03d}"
    )


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


# Words a team's name carries in one source and not in another ("Red Bull Racing" / "Red Bull",
# "Alpine" / "Alpine F1 Team").
_TEAM_FILLER = frozenset({"f1", "team", "racing", "scuderia", "formula", "one"})
# OpenF1 team names that share no word with the team's Ergast / Jolpica name or ref (`Team.ref`).
OPENF1_TEAM_ALIASES = {"racing bulls": "rb"}


def _team_words(text: str | None) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z0-9]+", name_fold(text)) if w not in _TEAM_FILLER)


def openf1_teams_match(*, names: Iterable[str], season_id: int) -> dict[str, int]:
    """OpenF1 `team_name`s -> Team ids; a name that matches no team, or two equally well, is left out.

    A team matches when the words of its name or of its ref (accents, case and filler words such as
    "Racing", "F1 Team" dropped) are the OpenF1 name's ("Red Bull Racing" = Red Bull, "Haas F1 Team",
    "RB" = rb), else when they are all in it ("Kick Sauber" ⊇ Sauber); OPENF1_TEAM_ALIASES names the
    ones with no word in common ("Racing Bulls" = rb). Several teams equally good: the one with the
    latest race up to `season_id`; still a tie (or none raced), none. Two queries at most."""
    wanted = {name for name in names if name and name.strip()}
    if not wanted:
        return {}
    teams = list(Team.objects.values_list("pk", "ref", "name"))
    by_ref = {ref: pk for pk, ref, _ in teams}
    keyed = [(pk, _team_words(name), _team_words(ref.replace("_", " "))) for pk, ref, name in teams]
    candidates: dict[str, list[int]] = {}
    for name in wanted:
        alias = OPENF1_TEAM_ALIASES.get(" ".join(name_fold(name).split()))
        words = _team_words(name)
        if alias in by_ref:
            candidates[name] = [by_ref[alias]]
        elif words:
            exact = [pk for pk, a, b in keyed if words in (a, b)]
            candidates[name] = exact or [pk for pk, a, b in keyed if (a and a <= words) or (b and b <= words)]
    tied = {pk for pks in candidates.values() if len(pks) > 1 for pk in pks}
    latest = (
        dict(
            RaceResult.objects.filter(team_id__in=tied, race__season_id__lte=season_id)
            .values("team_id")
            .annotate(latest=Max("race__date"))
            .values_list("team_id", "latest")
        )
        if tied
        else {}
    )
    found: dict[str, int] = {}
    for name, pks in candidates.items():
        ranked = sorted(pks, key=lambda pk: latest.get(pk, date.min), reverse=True)
        if len(ranked) == 1 or (
            len(ranked) > 1 and ranked[0] in latest and latest[ranked[0]] != latest.get(ranked[1], date.min)
        ):
            found[name] = ranked[0]
    return found


@dataclass
class NumbersResolved:
    """`found`: car number -> (driver_id, team_id); `unresolved`: car number -> why it is not."""

    found: dict[int, tuple[int, int]] = field(default_factory=dict)
    unresolved: dict[int, str] = field(default_factory=dict)


def _season_rows(*, race, filters: dict, columns: tuple[str, ...]) -> list[tuple]:
    """This season's classification rows up to `race` (its own included), latest race first,
    qualifying / race / sprint / practice of one race in that order."""
    rows: list[tuple] = []
    for rank, model in enumerate((QualifyingResult, RaceResult, SprintResult, PracticeResult)):
        for row in model.objects.filter(
            race__season_id=race.season_id, race__date__lte=race.date, **filters
        ).values_list("race__date", *columns):
            rows.append((row[0], -rank, *row[1:]))
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return [r[2:] for r in rows]


def driver_numbers_resolve(*, race, numbers: Iterable[int], infos: Iterable[DriverInfo]) -> NumbersResolved:
    """Each car number of one session of `race` -> (driver_id, team_id), from what OpenF1's `/drivers`
    says for that session; a number that cannot be placed is `unresolved`, with the reason, never guessed.

    Driver: the one whose code is the session's `name_acronym` and whose family name is its `last_name`
    (accents and case aside; the youngest if two), else the driver of the number in this season's
    latest classification up to this race when his code is that acronym (a spelling OpenF1 and the
    dump do not share), or when he is stored without a code ("", as Jolpica's sync stores a missing
    one) and his family name is `last_name`; a number OpenF1 names no one for: that classification's
    driver. Not by number alone: FP1 rookies reuse numbers within a season (2025: #38 Beganovic,
    then Fuoco).
    Team: the session's `team_name` (`openf1_teams_match`), else the driver's team in this season's
    latest classification up to this race. Never an earlier season's: at round 1 that is last year's
    line-up (Hadjar at rb, Bortoleto at Sauber), and a seat swap mid-season (Tsunoda, Lawson after
    2025 round 2) would keep the old team."""
    wanted = set(numbers)
    info_by_number = {i.driver_number: i for i in infos if i.driver_number in wanted}

    def code_of(number: int) -> str:
        info = info_by_number.get(number)
        return (info.name_acronym or "").strip().upper() if info is not None else ""

    by_code: dict[str, list[tuple[int, str, str]]] = {}
    codes = {code_of(n) for n in wanted} - {""}
    for pk, code, family, ref in (
        Driver.objects.filter(code__in=codes)
        .order_by(F("date_of_birth").desc(nulls_last=True), "pk")
        .values_list("pk", "code", "family_name", "ref")
    ):
        by_code.setdefault(code.upper(), []).append((pk, name_fold(family), ref))

    drivers: dict[int, int] = {}
    for number in wanted:
        code = code_of(number)
        family = name_fold(info_by_number[number].last_name) if code else ""
        match = next((pk for pk, fam, _ in by_code.get(code, []) if family and fam == family), None)
        if match is not None:
            drivers[number] = match
    left = wanted - set(drivers)
    if left:  # the number in this season's classifications, when OpenF1 does not contradict it
        for number, driver_id, driver_code, driver_family in _season_rows(
            race=race,
            filters={"number__in": left},
            columns=("number", "driver_id", "driver__code", "driver__family_name"),
        ):
            if number in drivers:
                continue
            code = code_of(number)
            if (
                not code
                or code == driver_code.strip().upper()
                # a driver stored without a code (Jolpica's missing code is stored as ""): his number
                # this season and his family name agree with OpenF1's
                or (
                    not driver_code.strip()
                    and name_fold(info_by_number[number].last_name) == name_fold(driver_family)
                )
            ):
                drivers[number] = driver_id

    team_names = {n: (info_by_number[n].team_name or "").strip() for n in drivers if n in info_by_number}
    teams_by_name = openf1_teams_match(names=set(team_names.values()), season_id=race.season_id)
    teams = {n: teams_by_name[name] for n, name in team_names.items() if name in teams_by_name}
    left = {n: d for n, d in drivers.items() if n not in teams}
    if left:  # the driver's team this season (up to this race)
        latest: dict[int, int] = {}
        for driver_id, team_id in _season_rows(
            race=race, filters={"driver_id__in": set(left.values())}, columns=("driver_id", "team_id")
        ):
            latest.setdefault(driver_id, team_id)
        for number, driver_id in left.items():
            if driver_id in latest:
                teams[number] = latest[driver_id]
                if team_names.get(number):
                    logger.warning(
                        "OpenF1 team name matches no team: the driver's team this season is used",
                        extra={"race": race.slug, "number": number, "team_name": team_names[number]},
                    )

    out = NumbersResolved()
    for number in sorted(wanted):
        info = info_by_number.get(number)
        who = f"#{number}"
        if info is not None:
            who += f" {code_of(number) or '?'} {(info.full_name or info.last_name or '').strip()}".rstrip()
        if number in drivers and number in teams:
            out.found[number] = (drivers[number], teams[number])
        elif number in drivers:
            named = (
                f"team {team_names[number]!r} matches no team" if team_names.get(number) else "no team given"
            )
            out.unresolved[number] = (
                f"{who}: {named}, and the driver has no {race.season_id} classification yet"
            )
        elif info is None or not code_of(number):
            out.unresolved[number] = (
                f"{who}: OpenF1 names no driver for it, and no {race.season_id} classification has it"
            )
        else:
            out.unresolved[number] = (
                f"{who}: no driver stored with code {code_of(number)} and family name "
                f"{(info.last_name or '').strip()!r} ({DRIVER_SOURCES_NOTE})"
            )
    return out


def practice_rows(
    *, race_id: int, session: str, results: Iterable[SessionResult], lookup: dict[int, tuple[int, int]]
) -> list[dict]:
    rows = []
    for r in results:
        if r.driver_number not in lookup:
            continue
        driver_id, team_id = lookup[r.driver_number]
        best = r.duration if isinstance(r.duration, float | int) else None
        rows.append(
            {
                "race_id": race_id,
                "session": session,
                "driver_id": driver_id,
                "team_id": team_id,
                "number": r.driver_number,
                "position": r.position,
                "time_text": lap_text(best),
                "milliseconds": _ms(best),
                "laps": r.number_of_laps,
            }
        )
    return rows


def qualifying_rows(
    *, race_id: int, results: Iterable[SessionResult], lookup: dict[int, tuple[int, int]]
) -> list[dict]:
    rows = []
    for r in results:
        if r.driver_number not in lookup or r.position is None:
            continue
        driver_id, team_id = lookup[r.driver_number]
        parts = list(r.duration) if isinstance(r.duration, list) else [r.duration]
        q1, q2, q3 = [*parts, None, None, None][:3]
        rows.append(
            {
                "race_id": race_id,
                "driver_id": driver_id,
                "team_id": team_id,
                "number": r.driver_number,
                "position": r.position,
                "q1": lap_text(q1),
                "q2": lap_text(q2),
                "q3": lap_text(q3),
                "q1_ms": _ms(q1),
                "q2_ms": _ms(q2),
                "q3_ms": _ms(q3),
            }
        )
    return rows


def _rejected(*, session: OpenF1Session, problems: list[str]) -> dict:
    """The answer for a session whose classification is not written (its stored rows stay)."""
    race = session.race
    where = f"{race.slug} {session.session_name} (OpenF1 session {session.session_key})"
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    message = f"{where}: rejected, stored rows kept: {problems[0]}{more}"
    for problem in problems[:20]:
        logger.warning(
            "OpenF1 classification rejected",
            extra={"race": race.slug, "session_key": session.session_key, "problem": problem},
        )
    return {
        "rows": 0,
        "rejected": {
            "race": race.slug,
            "session": session.session_type,
            "session_key": session.session_key,
            "message": message,
            "problems": problems[:20],
        },
    }


def _incomplete(*, session: OpenF1Session, unresolved: dict[int, str], given_up: bool) -> dict:
    """The entry for a session some of whose cars could not be placed (its SyncRun error). Within
    RESULTS_RETRY_WINDOW of the session it is retried; after it, `given_up`: the session is marked
    ingested without those cars, and a warning names them."""
    race = session.race
    where = f"{race.slug} {session.session_name} (OpenF1 session {session.session_key})"
    numbers = sorted(unresolved)
    cars = "; ".join(unresolved[n] for n in numbers)
    if given_up:
        window = (
            f"{RESULTS_RETRY_WINDOW.days} days" if RESULTS_RETRY_WINDOW.days else str(RESULTS_RETRY_WINDOW)
        )
        message = (
            f"{where}: {len(numbers)} car(s) not stored, given up ({window} after the session):"
            f" session marked ingested without them: {cars}"
        )
        # the message itself names the cars: this line is all a log reader gets
        logger.warning("OpenF1 classification given up: %s", message, extra=_log_extra(session, numbers))
    else:
        until = (session.date_end + RESULTS_RETRY_WINDOW).strftime("%Y-%m-%d %H:%M UTC")
        message = f"{where}: {len(numbers)} car(s) not stored, session to be retried until {until}: {cars}"
        logger.warning("OpenF1 classification incomplete: %s", message, extra=_log_extra(session, numbers))
    return {
        "race": race.slug,
        "session": session.session_type,
        "session_key": session.session_key,
        "message": message,
        "numbers": numbers,
        "given_up": given_up,
    }


def _log_extra(session: OpenF1Session, numbers: list[int]) -> dict:
    return {"race": session.race.slug, "session_key": session.session_key, "numbers": numbers}


def _conflicting_rows(*, model, scope: dict, rows: list[dict]) -> tuple[list[tuple], list[dict]]:
    """The stored rows of this session (`scope`) whose car number OpenF1 now places on another driver:
    (pk, number, stored driver ref, OpenF1's driver ref) — a row an older version's lookup stored
    under the number's earlier driver (2025 Mexico FP1: #38 stored as Beganovic, it is Fuoco), a
    Jolpica qualifying row, or OpenF1's feed naming a car wrongly (its per-session driver list is
    not always right around FP1). Only for the cars written now: a car OpenF1 did not return (or
    could not place) is no conflict — a partial feed must not touch data. A driver written now under
    another number is none either (the upsert moves his row). Rows corrected in admin are never
    conflicts: they are reported as kept (`kept_manual`)."""
    placed = {row["number"]: row["driver_id"] for row in rows}
    stale = model.objects.filter(**scope, number__in=placed).exclude(driver_id__in=set(placed.values()))
    kept: list[dict] = []
    if any(f.name == "manually_corrected" for f in model._meta.get_fields()):
        # a row corrected in admin wins, even over --replace-conflicts: it is kept (reported), and
        # OpenF1's car of that number stays out as for any conflict (`_rows_without`)
        kept = [
            {
                "model": model.__name__,
                "pk": pk,
                "key": [str(number), str(driver_id)],
                "upstream": {"row": f"car #{number} is another driver's in OpenF1's classification"},
            }
            for pk, number, driver_id in stale.filter(manually_corrected=True).values_list(
                "pk", "number", "driver_id"
            )
        ]
        stale = stale.exclude(manually_corrected=True)
    found = list(stale.values_list("pk", "number", "driver__ref"))
    refs = dict(Driver.objects.filter(pk__in={placed[n] for _, n, _ in found}).values_list("pk", "ref"))
    return [(pk, number, ref, refs[placed[number]]) for pk, number, ref in found], kept


def _rows_without(rows: list[dict], numbers: set[int]) -> list[dict]:
    return [row for row in rows if row["number"] not in numbers]


def _conflicts_entry(*, session: OpenF1Session, conflicts: list[tuple], replaced: bool) -> dict:
    """A SyncRun error entry for the conflicting cars: kept as stored (the default), or replaced."""
    cars = ", ".join(f"#{n} stored as {old}, OpenF1 names {new}" for _, n, old, new in conflicts)
    what = (
        "the stored rows were replaced (--replace-conflicts)"
        if replaced
        else "the stored rows are kept and OpenF1's left out: correct them in admin, or re-run "
        "`sync_openf1 --results --reingest --replace-conflicts` to take OpenF1's"
    )
    return {
        "race": session.race.slug,
        "session": session.session_type,
        "session_key": session.session_key,
        "message": f"{session.race.slug} {session.session_type}: {len(conflicts)} car(s) in conflict "
        f"with the stored classification ({cars}); {what}",
        "numbers": [n for _, n, _, _ in conflicts],
        "replaced": replaced,
    }


def openf1_session_results_ingest(
    *,
    session: OpenF1Session,
    client: OpenF1Client | None = None,
    now: datetime | None = None,
    replace_conflicts: bool = False,
) -> dict:
    """Ingest one ended session's classification. Returns counts; `rows == 0` means not published yet,
    or, with a `rejected` entry (race, session, session_key, message, problems), that the classification
    failed validation (or a database constraint) and nothing was written: the stored rows stay and
    `results_ingested_at` stays empty, so a later run tries again (upstream may correct it).

    `unmatched_numbers`: the cars `driver_numbers_resolve` could not place (a driver not stored, a
    team not matched). The other cars are written and the answer carries an `incomplete` entry (race,
    session, session_key, message naming each number and why, numbers, given_up). Within
    RESULTS_RETRY_WINDOW (2 days) of the session's end the session is not marked ingested, so a later
    run writes the whole classification once they resolve (the live job retries every RESULTS_RETRY,
    `sync_openf1 --results` on each run); from then on (`now` past it) it is marked ingested without
    them, `given_up` true and a warning naming the cars: a practice-only driver may never be stored.

    A stored row of this session whose car number OpenF1 now places on another driver
    (`_conflicting_rows`) is a conflict between two sources, and loses nothing by default: the stored
    row is kept, OpenF1's car is left out, and the answer carries a `conflicts` entry naming both
    drivers (the run's SyncRun error). With `replace_conflicts` (`--replace-conflicts`, the repair of
    cars an older version stored under a number's earlier driver) the stored rows are deleted in
    the write's transaction and OpenF1's written (counted in `deleted`, named in the entry).
    `changed`: whether anything stored changed (a retry that finds the same cars changes nothing)."""
    client = client or OpenF1Client()
    now = now or timezone.now()
    if session.session_type not in INGESTED_TYPES:
        return {"rows": 0, "note": f"{session.session_type} results come from the Jolpica sync"}
    results = client.session_result(session_key=session.session_key)
    OpenF1Session.objects.filter(pk=session.pk).update(results_attempted_at=now)
    if not results:
        return {"rows": 0}
    infos = client.drivers(session_key=session.session_key)
    race = session.race
    resolved = driver_numbers_resolve(race=race, numbers=[r.driver_number for r in results], infos=infos)
    lookup, unmatched = resolved.found, sorted(resolved.unresolved)
    given_up = bool(unmatched) and now >= session.date_end + RESULTS_RETRY_WINDOW
    incomplete = (
        {"incomplete": _incomplete(session=session, unresolved=resolved.unresolved, given_up=given_up)}
        if unmatched
        else {}
    )
    if session.session_type in PRACTICE:
        name = PRACTICE[session.session_type]
        rows = practice_rows(race_id=race.pk, session=name, results=results, lookup=lookup)
        problems = validate_classification(rows, race_label=f"{race.slug} {name}", kind="practice")
        model, key_fields, scope = (
            PracticeResult,
            ["race_id", "session", "driver_id"],
            {"race_id": race.pk, "session": name},
        )
    else:
        rows = qualifying_rows(race_id=race.pk, results=results, lookup=lookup)
        problems = validate_classification(rows, race_label=race.slug, kind="qualifying")
        model, key_fields, scope = QualifyingResult, ["race_id", "driver_id"], {"race_id": race.pk}
    if problems:
        return {**_rejected(session=session, problems=problems), "unmatched_numbers": unmatched}
    if not rows:  # not one car placed: nothing to write, the session stays awaited (or is given up)
        if given_up:
            OpenF1Session.objects.filter(pk=session.pk).update(results_ingested_at=now)
        return {"rows": 0, "unmatched_numbers": unmatched, **incomplete}
    conflicts: list[tuple] = []
    try:
        with transaction.atomic():
            conflicts, kept = _conflicting_rows(model=model, scope=scope, rows=rows)
            rows = _rows_without(rows, {int(k["key"][0]) for k in kept})
            deleted = 0
            extra = {"race": race.slug, "session_key": session.session_key, "cars": conflicts}
            if conflicts and replace_conflicts:
                doomed = model.objects.filter(pk__in=[c[0] for c in conflicts])
                extra["deleted_rows"] = [  # what is deleted, so it can be put back by hand
                    {k: str(v) for k, v in row.items()}
                    for row in doomed.values("number", "driver__ref", "team__ref", "position")
                ]
                logger.warning("OpenF1 classification: conflicting rows replaced", extra=extra)
                _, per_model = doomed.delete()
                deleted = per_model.get(model._meta.label, 0)
            elif conflicts:
                logger.warning(
                    "OpenF1 classification: conflicting cars left out, stored rows kept", extra=extra
                )
                rows = _rows_without(rows, {c[1] for c in conflicts})
            counts = upsert_rows(model=model, rows=rows, key_fields=key_fields, scope=scope)
            counts.deleted += deleted
            counts.kept_manual.extend(kept)
            if not unmatched or given_up:
                OpenF1Session.objects.filter(pk=session.pk).update(results_ingested_at=now)
    except (IntegrityError, DataError) as exc:  # e.g. a position still held by a stored row
        problem = f"{race.slug} {session.session_type}: the database rejected the classification: {exc}"
        if conflicts:  # a kept row holds a position another of OpenF1's cars takes
            problem += (
                " — " + _conflicts_entry(session=session, conflicts=conflicts, replaced=False)["message"]
            )
        return {**_rejected(session=session, problems=[problem.strip()]), "unmatched_numbers": unmatched}
    changed = bool(counts.created or counts.updated or counts.deleted)
    if changed:
        # bulk upserts fire no model signals: the race page and API, the driver / team analytics and
        # the season lists read these rows, so their cache entries go (a later Jolpica sync that
        # finds the same rows changes nothing and would not clear them)
        transaction.on_commit(
            lambda: races_changed_send(sender=openf1_session_results_ingest, race_ids=[race.slug])
        )
    return {
        "rows": len(rows),
        **counts.as_dict(),
        "changed": changed,
        "unmatched_numbers": unmatched,
        **incomplete,
        **(
            {"conflicts": _conflicts_entry(session=session, conflicts=conflicts, replaced=replace_conflicts)}
            if conflicts
            else {}
        ),
    }


def openf1_results_sync(
    *,
    seasons: Iterable[int],
    client: OpenF1Client | None = None,
    now: datetime | None = None,
    reingest: bool = False,
    replace_conflicts: bool = False,
) -> dict:
    """Ingest the classification of every ended practice / qualifying session of `seasons` not yet
    ingested, oldest first (`sync_openf1 --results`). One transaction per session. `reingest`
    (`--reingest`): the sessions already ingested too — the repair of sessions an older version
    stored wrongly (a car under a number's earlier driver), 2 requests a session; such a car is a
    conflict, kept as stored and named in the run's errors unless `replace_conflicts`
    (`--replace-conflicts`) takes OpenF1's (`openf1_session_results_ingest`).

    Recorded as a SyncRun (source openf1, params kind=results): a rejected session goes to its errors
    (race, session, session_key, message, problems), and so does an incomplete one, some of whose cars
    could not be placed (race, session, session_key, message naming each number and why, numbers,
    given_up); the run goes on — status `partial`; a source error fails the run (sessions committed
    before it stay) and is raised. An incomplete session is retried by later runs for
    RESULTS_RETRY_WINDOW after it, then marked ingested without those cars (`given_up`), so no run
    asks for it again. Returns the summary: `sync_run`, `status`, `sessions` (per session key: rows /
    created / updated / unchanged / deleted / unmatched_numbers, or rejected), `ingested` (sessions
    done), `incomplete` (sessions written but for unplaced cars: their messages, those given up
    included), `not_published`, `rejected` (the messages), `requests` (the HTTP requests it made, as
    its SyncRun's `requests_made`). Counts: ingested, incomplete, given_up, not_published, rejected,
    sessions."""
    client = client or OpenF1Client()
    now = now or timezone.now()
    seasons = sorted(set(seasons))
    ended = OpenF1Session.objects.select_related("race").filter(
        race__season_id__in=seasons, session_type__in=INGESTED_TYPES, date_end__lt=now
    )
    if not reingest:
        ended = ended.filter(results_ingested_at__isnull=True)
    ended = ended.order_by("date_start", "session_key")
    summary: dict = {
        "sessions": {},
        "ingested": 0,
        "incomplete": [],
        "conflicts": [],
        "not_published": 0,
        "rejected": [],
    }
    given_up = deleted = 0
    requests_before = client.requests_made  # the client may have served the sessions sync already
    params: dict = (
        {"kind": "results", "seasons": seasons}
        | ({"reingest": True} if reingest else {})
        | ({"replace_conflicts": True} if replace_conflicts else {})
    )
    with sync_run_recorded(source=SyncSource.OPENF1, params=params) as record:
        summary["sync_run"] = record.pk
        try:
            for session in ended:
                result = openf1_session_results_ingest(
                    session=session, client=client, now=now, replace_conflicts=replace_conflicts
                )
                summary["sessions"][session.session_key] = result
                deleted += result.get("deleted", 0)
                if (
                    "conflicts" in result
                ):  # kept: a problem to look at (partial); replaced on request: counted
                    if not result["conflicts"]["replaced"]:
                        record.errors.append(result["conflicts"])
                    summary["conflicts"].append(result["conflicts"]["message"])
                if "rejected" in result:
                    record.errors.append(result["rejected"])
                    summary["rejected"].append(result["rejected"]["message"])
                elif "incomplete" in result:
                    record.errors.append(result["incomplete"])
                    summary["incomplete"].append(result["incomplete"]["message"])
                    given_up += bool(result["incomplete"]["given_up"])
                elif result.get("rows"):
                    summary["ingested"] += 1
                else:
                    summary["not_published"] += 1
        finally:  # the sessions done before a failure too
            record.requests_made = client.requests_made - requests_before
            record.counts = {k: summary[k] for k in ("ingested", "not_published")} | {
                "incomplete": len(summary["incomplete"]),
                "given_up": given_up,
                "conflicts": len(summary["conflicts"]),
                "deleted": deleted,
                "rejected": len(summary["rejected"]),
                "sessions": len(summary["sessions"]),
            }
    summary["status"] = "partial" if record.errors else "succeeded"
    summary["requests"] = record.requests_made
    return summary


def openf1_sync(
    *,
    seasons: Iterable[int],
    results: bool = False,
    reingest: bool = False,
    replace_conflicts: bool = False,
    client: OpenF1Client | None = None,
) -> dict:
    """`sync_openf1`: the sessions of `seasons` (`openf1_sessions_sync`), then with `results` the
    ended sessions' classifications (`openf1_results_sync`; with `reingest` the sessions already
    ingested too, with `replace_conflicts` OpenF1's cars over stored rows it disagrees with), through one client. Returns the sessions
    summary with `results` added, and `requests` = every request the two made — the sessions part
    alone was reported, leaving out the `--results` requests (two per session); `results.requests`
    is that part. Each part keeps its own SyncRun and `requests_made`."""
    from ingestion.services.openf1_sessions import openf1_sessions_sync

    client = client or OpenF1Client()
    before = client.requests_made
    counts = openf1_sessions_sync(seasons=seasons, client=client)
    if results:
        counts["results"] = openf1_results_sync(
            seasons=seasons, client=client, reingest=reingest, replace_conflicts=replace_conflicts
        )
    counts["requests"] = client.requests_made - before
    return counts
