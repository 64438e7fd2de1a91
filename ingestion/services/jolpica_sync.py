"""Sync F1 data from Jolpica-F1 into the database: idempotent, race by race, resumable.

    summary = jolpica_sync(seasons=[2021], rounds=None, only=None, incremental=False)

Per season: the calendar (`/{season}/races`, one request) upserts the season, circuits and races;
then results, sprint and qualifying are read season-wide (paged at 100) — or per round when only a
few rounds are wanted — and pit stops and standings per round, only for rounds that have results.
Each race is then written in ONE transaction (all its kinds), together with the run's cursor, so
a crash or kill never leaves a half-written race and the next run resumes exactly after the last
committed race. A kind whose payload fails validation is rejected for that race (its stored rows
stay as they are), recorded in SyncRun.errors, and the sync continues.

Kinds: results, sprint, qualifying, pitstops, driver_standings, team_standings (`standings` =
both). A race's rows of a kind written by the sync are exactly upstream's afterwards: stored rows
whose natural key is no longer upstream are deleted in the same transaction (`deleted`), so a
corrected car number replaces its row. Rows staff corrected by hand are kept; the upstream value
is recorded (`kept_manual`). After the run, `ingestion.signals.races_changed` is sent once with
the ids of races whose rows changed (created, updated or deleted; only for committed races).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from f1site.errors import PicklableError
from ingestion.clients.http import SourceError
from ingestion.clients.jolpica import JolpicaClient, RaceBlock
from ingestion.clients.jolpica_schemas import ConstructorItem, DriverItem
from ingestion.clients.jolpica_schemas import Race as RacePayload
from ingestion.models import (
    Circuit,
    Driver,
    DriverStanding,
    PitStop,
    QualifyingResult,
    Race,
    RaceResult,
    Season,
    SprintResult,
    Status,
    SyncRun,
    SyncSource,
    SyncStatus,
    Team,
    TeamStanding,
)
from ingestion.services.ergast_dump import circuit_meta, lap_time_ms
from ingestion.services.race_calendar import CalendarChanges, UpstreamEntry, calendar_reconcile
from ingestion.services.race_ids import CalendarEntry, race_slugs
from ingestion.services.sync_lock import (  # noqa: F401 (SYNC_LOCK_KEY, SyncAlreadyRunning: re-exported)
    SYNC_LOCK_KEY,
    LockWaitNotice,
    SyncAlreadyRunning,
    race_data_lock,
    race_data_lock_held,
)
from ingestion.services.sync_runs import sync_interrupted_reason, sync_runs_interrupt_stale
from ingestion.services.upsert import UpsertCounts, upsert_rows
from ingestion.services.validation import assign_shared_car_index, validate_classification
from ingestion.signals import races_changed_send

logger = logging.getLogger(__name__)

KINDS = ("results", "sprint", "qualifying", "pitstops", "driver_standings", "team_standings")
_ALIASES = {"standings": ("driver_standings", "team_standings"), "races": ()}
SEASON_WIDE = ("results", "sprint", "qualifying")  # endpoints Jolpica serves for a whole season
PER_ROUND = ("pitstops", "driver_standings", "team_standings")  # endpoints it serves per round only
SPRINT_QUALIFYING_FROM = 2023  # from 2023 the second session of a sprint weekend is sprint qualifying

_TABLES = {
    "results": (RaceResult, ["race_id", "driver_id", "number"]),
    "sprint": (SprintResult, ["race_id", "driver_id"]),
    "qualifying": (QualifyingResult, ["race_id", "driver_id"]),
    "pitstops": (PitStop, ["race_id", "driver_id", "stop"]),
    "driver_standings": (DriverStanding, ["race_id", "driver_id"]),
    "team_standings": (TeamStanding, ["race_id", "team_id"]),
}
TABLE_NAMES = {
    "results": "results",
    "sprint": "sprint_results",
    "qualifying": "qualifying",
    "pitstops": "pit_stops",
    "driver_standings": "driver_standings",
    "team_standings": "team_standings",
}
FACT_TABLES = frozenset(TABLE_NAMES.values())
_VALIDATION_KIND = {"results": "race", "sprint": "sprint", "qualifying": "qualifying"}


def jolpica_sync_lock_held() -> bool:
    """Whether another Jolpica sync — or a dump load, which takes the same lock (`sync_lock`) — holds
    the lock now (False on SQLite, which has none). A snapshot: the lock may be taken or freed right
    after; `jolpica_sync` still decides for itself."""
    return race_data_lock_held()


def jolpica_runs_dead_close() -> list[int]:
    """Close the `running` Jolpica runs when no sync holds the lock: their process was killed
    (SIGKILL, OOM) and nothing else would close them before the next Jolpica sync — up to a day for
    the daily job. Takes the lock itself for the moment it needs, so a sync cannot start meanwhile; a
    lock held by a live sync leaves its run alone. PostgreSQL only: SQLite has no lock to judge by
    (there the next sync closes them, as before). Returns the closed ids."""
    if connection.vendor != "postgresql":
        return []
    if not SyncRun.objects.filter(source=SyncSource.JOLPICA, status=SyncStatus.RUNNING).exists():
        return []
    try:
        # the UPDATE in its own savepoint: a failed one must not leave the transaction aborted, or
        # the unlock could not run and this (persistent) connection would keep the lock
        with race_data_lock(name_holder=False), transaction.atomic():
            return sync_runs_interrupt_stale(source=SyncSource.JOLPICA)
    except SyncAlreadyRunning:
        return []


class SyncAborted(Exception):
    """Raised by a progress hook (tests) to simulate a crash between races."""


def parse_only(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """'results,standings' -> the kinds to sync, in KINDS order.

    None = every kind. `races` alone = none: the calendar only. A string naming nothing (`""`, `","`)
    is a ValueError, as is an unknown kind. Idempotent: a tuple it returned — also the empty one,
    "calendar only" — parses to itself, so the command and `jolpica_sync` can both call it.
    """
    if value is None:
        return KINDS
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names:
            raise ValueError(f"no kind given ({value!r}): choose from {', '.join((*KINDS, *_ALIASES))}")
    else:
        names = [v.strip() for v in value if v.strip()]
    out: list[str] = []
    for name in names:
        if name in _ALIASES:
            out.extend(_ALIASES[name])
        elif name in KINDS:
            out.append(name)
        else:
            raise ValueError(f"unknown kind {name!r}: choose from {', '.join((*KINDS, *_ALIASES))}")
    return tuple(k for k in KINDS if k in out)


# --------------------------------------------------------------------------------------- summary
@dataclass
class SyncSummary:
    run_id: int
    status: str = SyncStatus.RUNNING
    seasons: list[int] = field(default_factory=list)
    races_written: int = 0  # races upstream had rows for (stored: created, updated or unchanged)
    requests_made: int = 0
    counts: dict[str, UpsertCounts] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    kept_manual: list[dict] = field(default_factory=list)
    calendar: list[dict] = field(default_factory=list)  # races renumbered/added/deleted upstream
    changed_race_ids: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # seasons / rounds asked for that upstream lacks
    # `race_ids=` runs: race pk -> (round, slug) synced; race id -> why not (off the calendar upstream)
    races_synced: dict[int, tuple[int, str]] = field(default_factory=dict)
    races_not_synced: dict[str, str] = field(default_factory=dict)
    resumed_from: int | None = None
    skipped_steps: int = 0
    duration_s: float = 0.0

    def add(self, table: str, counts: UpsertCounts) -> None:
        self.counts.setdefault(table, UpsertCounts()).add(counts)

    @property
    def created(self) -> int:
        return sum(c.created for c in self.counts.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.counts.values())

    @property
    def deleted(self) -> int:
        return sum(c.deleted for c in self.counts.values())

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": str(self.status),
            "seasons": self.seasons,
            "races_written": self.races_written,
            "requests_made": self.requests_made,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "counts": {table: c.as_dict() for table, c in sorted(self.counts.items())},
            "errors": self.errors,
            "kept_manual": self.kept_manual,
            "calendar": self.calendar,
            "changed_race_ids": self.changed_race_ids,
            "missing": self.missing,
            "resumed_from": self.resumed_from,
            "skipped_steps": self.skipped_steps,
            "duration_s": round(self.duration_s, 2),
        }


def kept_manual_message(*, race: str, kept: dict) -> str:
    """Pure: one line for a row staff corrected that the sync kept (`UpsertCounts.kept_manual`):
    `2026_canada: kept manual correction of RaceResult pk 7 (key ['…']); upstream has points 25`."""
    upstream = kept.get("upstream") or {}
    if upstream.get("row") == "no longer upstream":
        theirs = "upstream no longer has this row"
    else:
        theirs = "upstream has " + ", ".join(f"{name} {value}" for name, value in sorted(upstream.items()))
    return (
        f"{race}: kept manual correction of {kept.get('model', 'row')} pk {kept.get('pk', '?')} "
        f"(key {kept.get('key', [])}); {theirs} (release the correction in admin to take upstream's)"
    )


# --------------------------------------------------------------------------------------- mapping
def _ms(text: str | None) -> int | None:
    return lap_time_ms(text) if text else None


def _int(text: str | None) -> int | None:
    return None if text in (None, "") else int(text)


def _session_start(session) -> dt.datetime | None:
    """Jolpica session date + 'HH:MM:SSZ' -> aware UTC datetime; None when the time is unknown."""
    if session is None or not getattr(session, "time", None):
        return None
    clock = dt.time.fromisoformat(session.time.rstrip("Z"))
    return dt.datetime.combine(session.date, clock, tzinfo=dt.UTC)


def _qualifying_begun(payload: RacePayload, now: dt.datetime) -> bool:
    """Whether the race's qualifying had begun by `now` (its start, or its date without a time). The
    incremental sync asks for such a race before its date: a race whose UTC date is the day after
    its qualifying (Las Vegas: qualifying Saturday 04:00 UTC, the race Sunday 04:00 UTC) would
    otherwise get its qualifying only once it had started, too late for a post-qualifying set."""
    session = payload.Qualifying
    if session is None:
        return False
    start = _session_start(session)
    return start <= now if start is not None else session.date <= now.date()


def race_row(payload: RacePayload, *, circuit_pk: int) -> dict:
    """One calendar entry -> Race row (as the dump loader maps races.csv)."""
    season = int(payload.season)
    sq = payload.SprintQualifying or payload.SprintShootout
    second = payload.SecondPractice
    if payload.Sprint is not None and season >= SPRINT_QUALIFYING_FROM and sq is None:
        sq, second = second, None
    return {
        "season_id": season,
        "round": int(payload.round),
        "name": payload.raceName,
        "circuit_id": circuit_pk,
        "date": payload.date,
        "start": _session_start(payload),
        "fp1_start": _session_start(payload.FirstPractice),
        "fp2_start": _session_start(second),
        "fp3_start": _session_start(payload.ThirdPractice),
        "qualifying_start": _session_start(payload.Qualifying),
        "sprint_qualifying_start": _session_start(sq),
        "sprint_start": _session_start(payload.Sprint),
        "url": payload.url,
    }


def circuit_row(payload) -> dict:
    loc = payload.Location
    return {
        "ref": payload.circuitId,
        "name": payload.circuitName,
        "locality": loc.locality,
        "country": loc.country,
        "latitude": float(loc.lat) if loc.lat else None,
        "longitude": float(loc.long) if loc.long else None,
        "url": payload.url,
    }


def driver_row(d: DriverItem) -> dict:
    return {
        "ref": d.driverId,
        "code": d.code or "",
        "permanent_number": _int(d.permanentNumber),
        "given_name": d.givenName,
        "family_name": d.familyName,
        "date_of_birth": d.dateOfBirth,
        "nationality": d.nationality,
        "url": d.url,
    }


def team_row(c: ConstructorItem) -> dict:
    return {"ref": c.constructorId, "name": c.name, "nationality": c.nationality, "url": c.url}


def classification_rows(kind: str, items: list) -> list[dict]:
    """Results / sprint / qualifying items -> rows with driver/team/status still as refs/text."""
    rows = []
    for it in items:
        row = {
            "driver_id": it.Driver.driverId,
            "team_id": it.Constructor.constructorId,
            "number": int(it.number) if it.number is not None else 0,  # 0 when unknown, as the dump
            "_driver": it.Driver,  # written (upserted) with the race, then dropped
            "_teams": [it.Constructor],
        }
        if kind == "qualifying":
            row.update(
                position=int(it.position),
                q1=it.Q1 or "",
                q2=it.Q2 or "",
                q3=it.Q3 or "",
                q1_ms=_ms(it.Q1),
                q2_ms=_ms(it.Q2),
                q3_ms=_ms(it.Q3),
            )
        else:
            fl = it.FastestLap
            row.update(
                grid=_int(it.grid),
                position=int(it.positionText) if it.positionText.isdigit() else None,
                position_text=it.positionText,
                position_order=int(it.position),
                points=Decimal(it.points),
                laps=int(it.laps),
                status_id=it.status,
                time_text=it.Time.time if it.Time else "",
                milliseconds=_int(it.Time.millis) if it.Time else None,
                fastest_lap=_int(fl.lap) if fl else None,
                fastest_lap_rank=_int(fl.rank) if fl else None,
                fastest_lap_time=fl.Time.time if fl and fl.Time else "",
            )
            if kind == "results":
                row["fastest_lap_speed"] = Decimal(fl.AverageSpeed.speed) if fl and fl.AverageSpeed else None
        rows.append(row)
    if kind == "results":
        assign_shared_car_index(rows)
    return rows


def pitstop_rows(items: list) -> list[dict]:
    return [
        {
            "driver_id": p.driverId,
            "stop": int(p.stop),
            "lap": int(p.lap),
            "time_of_day": p.time or "",
            "duration_text": p.duration,
            "milliseconds": _ms(p.duration),
        }
        for p in items
    ]


def standing_rows(kind: str, items: list) -> list[dict]:
    rows = []
    for s in items:
        row = {
            "points": Decimal(s.points),
            "position": _int(s.position),
            "position_text": s.positionText or (s.position or ""),
            "wins": int(s.wins),
        }
        if kind == "driver_standings":
            row.update(driver_id=s.Driver.driverId, _driver=s.Driver, _teams=list(s.Constructors))
        else:
            row.update(team_id=s.Constructor.constructorId, _teams=[s.Constructor])
        rows.append(row)
    return rows


def _unique_problems(rows: list[dict], key_fields: list[str], label: str) -> list[str]:
    seen, problems = set(), []
    for row in rows:
        key = tuple(row[k] for k in key_fields if k != "race_id")
        if key in seen:
            problems.append(f"{label}: field(s) {[k for k in key_fields if k != 'race_id']} repeat: {key}")
        seen.add(key)
    return problems


# --------------------------------------------------------------------------------------- the sync
@dataclass
class _RaceWork:
    season: int
    round: int
    race_pk: int
    slug: str
    blocks: dict[str, RaceBlock] = field(default_factory=dict)


class JolpicaSync:
    """The work of one `jolpica_sync` run, season by season (`sync_season`): the calendar
    (`sync_calendar`), the rounds to fetch (`target_rounds`), then each race (`write_race`). Public
    so tests can make one step fail."""

    def __init__(
        self,
        *,
        run: SyncRun,
        client: JolpicaClient,
        only: tuple[str, ...],
        incremental: bool,
        rounds: set[int] | None,
        summary: SyncSummary,
        race_pks: dict[int, tuple[int, str]] | None = None,
        done: set[str],
        on_race_done: Callable[[str], None] | None,
        progress: bool,
        now: dt.datetime | None = None,
    ):
        self.run = run
        self.client = client
        self.only = only
        self.incremental = incremental
        self.rounds = rounds
        self.race_pks = race_pks  # pk -> (season, race id) when races are asked for by identity
        self.summary = summary
        self.done = done
        self.on_race_done = on_race_done
        self.progress = progress
        self.now = now  # the clock deciding which rounds are due (`incremental`); None: the real one
        self.meta = _safe_circuit_meta()
        # when the oldest step of the cursor was recorded (inherited on resume): bounds its age
        self.since = timezone.now().isoformat()
        self.changed: set[str] = set()
        self.vacated_round_ids: set[str] = set()  # `2019_22` forms of rounds a race left (cache keys)
        # drivers/teams/statuses written in this run (row as sent) and their pks, per table
        self.written: dict[str, dict[str, dict]] = {"drivers": {}, "teams": {}, "status": {}}
        self.pks: dict[str, dict[str, int]] = {"drivers": {}, "teams": {}, "status": {}}

    # -- calendar ---------------------------------------------------------------------------
    def sync_calendar(self, season: int) -> dict[int, tuple[int, str, RacePayload]]:
        payloads = self.client.races(season)
        if not payloads:
            return {}
        with transaction.atomic():
            self._add("seasons", upsert_rows(model=Season, rows=[{"year": season}], key_fields=["year"]))
            circuits = {p.Circuit.circuitId: circuit_row(p.Circuit) for p in payloads}
            self._upsert_create_only(
                Circuit, list(circuits.values()), ["ref"], self._circuit_extras, "circuits"
            )
            circuit_pk = dict(Circuit.objects.filter(ref__in=circuits).values_list("ref", "pk"))
            slugs = race_slugs(
                CalendarEntry(
                    int(p.season), int(p.round), p.raceName, p.Circuit.Location.country, p.Circuit.circuitId
                )
                for p in payloads
            )
            rows = {int(p.round): race_row(p, circuit_pk=circuit_pk[p.Circuit.circuitId]) for p in payloads}
            changes = calendar_reconcile(
                season=season,
                upstream=[
                    UpstreamEntry(
                        round=rnd,
                        slug=slugs[(season, rnd)],
                        name=row["name"],
                        circuit_id=row["circuit_id"],
                        circuit_ref=payload.Circuit.circuitId,
                        date=row["date"],
                    )
                    for (rnd, row), payload in zip(rows.items(), payloads, strict=True)
                ],
            )
            # matched races are now at their upstream round: update them there; insert the new ones
            old = [row for rnd, row in rows.items() if rnd in changes.matched]
            new = [
                {"slug": changes.new_slugs[rnd], **row}
                for rnd, row in rows.items()
                if rnd in changes.new_slugs
            ]
            for batch in (old, new):
                self._add(
                    "races",
                    upsert_rows(
                        model=Race, rows=batch, key_fields=["season_id", "round"], scope={"season_id": season}
                    ),
                )
            if changes.renumbered or changes.restored:
                self._add("races", UpsertCounts(updated=len({*changes.renumbered, *changes.restored})))
        self._calendar_report(changes)
        by_round = {
            p_round: (pk, slug)
            for pk, p_round, slug in Race.objects.filter(season_id=season).values_list("pk", "round", "slug")
        }
        return {
            int(p.round): (*by_round[int(p.round)], p)
            for p in payloads
            if int(p.round) not in dict(changes.conflicts)
        }

    def _calendar_report(self, changes: CalendarChanges) -> None:
        """Summary, SyncRun and log for a calendar that changed upstream; the cursor follows the
        renumbering (its steps are `season:round:kind`)."""
        season = changes.season
        round_map = changes.round_map
        self.vacated_round_ids |= {f"{season}_{rnd}" for rnd in changes.vacated_rounds}
        prefix = f"{season}:"
        steps = {s for s in self.done if s.startswith(prefix)}
        moved = {
            f"{season}:{round_map[int(rnd)]}:{kind}"
            for rnd, kind in (s.split(":")[1:] for s in steps)
            if int(rnd) in round_map
        }
        if moved != steps:  # stored at once: a crash before the next race must not leave old rounds
            self.done = (self.done - steps) | moved
            self._save_progress()
        for slug, old, new in changes.renumbered:
            self._notice(
                changes, slug, f"{slug}: round {old} -> {new} (renumbered upstream; id and data kept)"
            )
        for slug in changes.restored:
            self._notice(changes, slug, f"{slug}: back on the {season} calendar upstream, flag cleared")
        if changes.matched or changes.deleted or changes.kept_removed:  # not a season's first sync
            for rnd, slug in sorted(changes.new_slugs.items()):
                self._notice(changes, slug, f"{slug}: added upstream as round {rnd}")
        for slug in changes.deleted:
            self._notice(
                changes, slug, f"{slug}: no longer on the {season} calendar upstream and had no data; deleted"
            )
        for slug, rnd, attached in changes.kept_removed:
            what = ", ".join(f"{n} {name}" for name, n in sorted(attached.items()))
            if slug not in changes.newly_removed:  # reported as an error when it was flagged
                self._notice(
                    changes,
                    slug,
                    f"{slug}: still not on the {season} calendar upstream; kept ({what}), flagged "
                    f"removed_upstream_at, round {rnd}",
                )
                continue
            message = (
                f"{slug}: no longer on the {season} calendar upstream but has {what}; kept, flagged "
                f"removed_upstream_at and parked as round {rnd}. If the race was cancelled, delete it in "
                f"admin (refused while predictions point at it: then it stays, flagged)."
            )
            logger.error("race removed upstream", extra={"race": slug, "attached": attached})
            self.summary.errors.append({"race": slug, "kind": "calendar", "problems": [], "message": message})
            self.changed.add(slug)
        for rnd, message in changes.conflicts:
            logger.error("race id conflict", extra={"season": season, "round": rnd, "problem": message})
            self.summary.errors.append(
                {"race": f"{season}_{rnd}", "kind": "calendar", "problems": [message], "message": message}
            )

    def _notice(self, changes: CalendarChanges, slug: str, message: str) -> None:
        logger.warning("calendar changed upstream", extra={"race": slug, "change": message})
        self.summary.calendar.append({"level": "warning", "season": changes.season, "message": message})
        if slug not in changes.deleted:
            self.changed.add(slug)

    def _circuit_extras(self, row: dict) -> dict:
        meta = self.meta.get(row["ref"])
        return dict(meta) if meta else {}

    def _upsert_create_only(self, model, rows, key_fields, extras, table):
        """Upsert; fields from `extras(row)` are set only when the row is created (e.g. circuit metadata)."""
        keys = {r[key_fields[0]] for r in rows}
        existing = set(
            model.objects.filter(**{f"{key_fields[0]}__in": keys}).values_list(key_fields[0], flat=True)
        )
        new = [{**r, **extras(r)} for r in rows if r[key_fields[0]] not in existing]
        old = [r for r in rows if r[key_fields[0]] in existing]
        groups: dict[tuple, list] = {}
        for r in new:  # upsert_rows wants one field set per call
            groups.setdefault(tuple(r), []).append(r)
        for batch in [old, *groups.values()]:
            self._add(table, upsert_rows(model=model, rows=batch, key_fields=key_fields))

    # -- planning ---------------------------------------------------------------------------
    def target_rounds(self, season: int, calendar: dict) -> list[int]:
        self._note_missing(season, calendar)
        rounds = sorted(r for r in calendar if self.rounds is None or r in self.rounds)
        if not self.incremental:
            return rounds
        now = self.now or timezone.now()
        with_results = set(
            RaceResult.objects.filter(race__season_id=season).values_list("race__round", flat=True).distinct()
        )
        latest = max(with_results) if with_results else None
        return [
            r
            for r in rounds
            if r == latest
            or (
                r not in with_results
                and (calendar[r][2].date <= now.date() or _qualifying_begun(calendar[r][2], now))
            )
        ]

    def _rounds_of_races(self, season: int, calendar: dict) -> set[int]:
        """The races asked for by identity (`race_ids=`), at their rounds once this run's calendar
        step has matched, renumbered or flagged them; a race no longer on the calendar upstream
        (flagged, or deleted) is listed in `races_not_synced` instead."""
        wanted = {pk: slug for pk, (s, slug) in self.race_pks.items() if s == season}
        rounds = set()
        for rnd, (pk, slug, _payload) in calendar.items():
            if pk in wanted:
                rounds.add(rnd)
                self.summary.races_synced[pk] = (rnd, slug)
        left = {pk: slug for pk, slug in wanted.items() if pk not in self.summary.races_synced}
        flagged = dict(Race.objects.filter(pk__in=left).values_list("pk", "round"))
        for pk, slug in left.items():
            self.summary.races_not_synced[slug] = (
                f"not resynced — no longer on the {season} calendar upstream (flagged removed_upstream_at, "
                f"round {flagged[pk]})"
                if pk in flagged
                else f"not resynced — no longer on the {season} calendar upstream and had no data: deleted"
            )
        return rounds

    def _note_missing(self, season: int, calendar: dict) -> None:
        """A season or round asked for that the upstream calendar does not have: not an error of
        the data, but the caller should hear it (the command exits 1) rather than '0 races written'."""
        if not calendar:
            message = f"season {season} does not exist upstream (no races in its calendar)"
        elif self.rounds and (absent := sorted(self.rounds - calendar.keys())):
            message = (
                f"{season} round{'s' if len(absent) > 1 else ''} {', '.join(map(str, absent))} "
                f"not in the upstream calendar ({season} has rounds {min(calendar)}-{max(calendar)})"
            )
        else:
            return
        logger.warning("not upstream", extra={"season": season, "problem": message})
        self.summary.missing.append(message)

    def _step(self, season: int, rnd: int, kind: str) -> str:
        return f"{season}:{rnd}:{kind}"

    # -- one season -------------------------------------------------------------------------
    def sync_season(self, season: int, bar) -> None:
        calendar = self.sync_calendar(season)
        if self.race_pks is not None:
            self.rounds = self._rounds_of_races(season, calendar)
        rounds = self.target_rounds(season, calendar)
        pending = {r: [k for k in self.only if self._step(season, r, k) not in self.done] for r in rounds}
        self.summary.skipped_steps += sum(len(self.only) - len(k) for k in pending.values())
        rounds = [r for r in rounds if pending[r]]
        if bar is not None:
            bar.total = (bar.total or 0) + len(rounds)
            bar.refresh()
        if not rounds:
            return
        season_blocks: dict[str, dict[tuple[int, int], RaceBlock]] = {}
        # Season-wide reads cost ceil(rows/100) requests; per round one each. Per round wins only
        # for a handful of rounds (a race has ~20 rows, so 5 rounds fill one page).
        per_round = len(rounds) * 5 < len(calendar)
        for kind in SEASON_WIDE:
            if kind not in self.only or not any(kind in pending[r] for r in rounds):
                continue
            if kind == "sprint" and not any(calendar[r][2].Sprint for r in rounds):
                continue  # no sprint weekend among these rounds: nothing to ask for
            fetch = getattr(self.client, kind)
            if per_round:
                blocks = {}
                for r in rounds:
                    if kind in pending[r] and (kind != "sprint" or calendar[r][2].Sprint):
                        blocks.update(fetch(season, r))
                season_blocks[kind] = blocks
            else:
                season_blocks[kind] = fetch(season)

        for rnd in rounds:
            race_pk, slug, _payload = calendar[rnd]
            work = _RaceWork(season=season, round=rnd, race_pk=race_pk, slug=slug)
            for kind in pending[rnd]:
                if kind in SEASON_WIDE:
                    work.blocks[kind] = season_blocks.get(kind, {}).get((season, rnd)) or RaceBlock(
                        season=season, round=rnd, url=""
                    )
            if self._has_results(work):
                for kind in PER_ROUND:
                    if kind in pending[rnd]:
                        work.blocks[kind] = self._fetch_per_round(kind, season, rnd)
            self.write_race(work, pending[rnd])
            if bar is not None:
                bar.update(1)
            if self.on_race_done is not None:
                self.on_race_done(slug)

    def _has_results(self, work: _RaceWork) -> bool:
        block = work.blocks.get("results")
        if block is not None and block.items:
            return True
        return RaceResult.objects.filter(race_id=work.race_pk).exists()

    def _fetch_per_round(self, kind: str, season: int, rnd: int) -> RaceBlock:
        method = {
            "pitstops": self.client.pitstops,
            "driver_standings": self.client.driver_standings,
            "team_standings": self.client.constructor_standings,
        }[kind]
        return method(season, rnd)

    # -- one race, one transaction ------------------------------------------------------------
    def write_race(self, work: _RaceWork, kinds: list[str]) -> None:
        label = work.slug
        prepared: dict[str, list[dict]] = {}
        for kind in kinds:
            block = work.blocks.get(kind)
            if block is None:
                continue  # nothing asked (e.g. standings of a race without results yet)
            if block.error:
                self._reject(work, kind, [block.error])
                continue
            rows = self._rows(kind, block.items)
            model, key_fields = _TABLES[kind]
            problems = []
            if kind in _VALIDATION_KIND:
                problems = validate_classification(rows, race_label=label, kind=_VALIDATION_KIND[kind])
            problems = problems or _unique_problems(rows, key_fields, f"{label} {kind}")
            if problems:
                self._reject(work, kind, problems)
                continue
            prepared[kind] = rows
        if not prepared:
            return

        local: dict[str, UpsertCounts] = {}
        kept: list[dict] = []
        steps = self._done_steps(work, prepared)
        try:
            with transaction.atomic():
                written = self._write_references(prepared, local)
                refs = self._reference_maps(prepared)
                for kind, rows in prepared.items():
                    model, key_fields = _TABLES[kind]
                    try:
                        mapped = [self._resolve(row, refs, work.race_pk) for row in rows]
                    except KeyError as exc:
                        raise _RaceRejected(kind, f"{label} {kind}: unknown reference {exc}") from None
                    # The race's rows of this kind become exactly upstream's: rows no longer there are
                    # deleted (manual corrections kept). An empty answer never empties a race.
                    counts = upsert_rows(
                        model=model,
                        rows=mapped,
                        key_fields=key_fields,
                        scope={"race_id": work.race_pk},
                        replace=bool(mapped),
                    )
                    local.setdefault(TABLE_NAMES[kind], UpsertCounts()).add(counts)
                    kept.extend(
                        {"race": label, **k, "message": kept_manual_message(race=label, kept=k)}
                        for k in counts.kept_manual
                    )
                # the cursor commits with the race: a resumed run starts exactly after it
                self._save_progress(done=self.done | steps, extra=local, kept=kept)
        except _RaceRejected as exc:
            self._reject(work, exc.kind, [exc.message])
            return
        except (IntegrityError, DataError) as exc:  # e.g. a constraint the validation did not foresee
            self._reject(work, ",".join(prepared), [f"{label}: database rejected the race: {exc}".strip()])
            return
        self.done |= steps
        self._remember(written, refs)
        for table, counts in local.items():
            self.summary.add(table, counts)
            if table in FACT_TABLES and (counts.created or counts.updated or counts.deleted):
                self.changed.add(label)
        self.summary.kept_manual.extend(kept)
        # Only a race upstream had rows for: a round not run yet answers every kind empty, and
        # counting it made "N races written" the number of rounds asked for.
        if any(prepared.values()):
            self.summary.races_written += 1

    def _done_steps(self, work: _RaceWork, prepared: dict[str, list[dict]]) -> set[str]:
        """Cursor steps this race completes: a kind that brought rows, or any kind once the race has
        results (the weekend is over, so an empty kind — no sprint, no pit-stop data — stays empty).
        An empty kind of a race without results (not run yet, or its results not published at the
        time) is not done: a resumed run asks for it again."""
        finished = bool(prepared.get("results")) or self._has_results(work)
        return {self._step(work.season, work.round, k) for k, rows in prepared.items() if rows or finished}

    def _rows(self, kind: str, items: list) -> list[dict]:
        if kind in SEASON_WIDE:
            return classification_rows(kind, items)
        if kind == "pitstops":
            return pitstop_rows(items)
        return standing_rows(kind, items)

    def _write_references(
        self, prepared: dict[str, list[dict]], local: dict[str, UpsertCounts]
    ) -> dict[str, dict[str, dict]]:
        """Upsert the drivers, teams and statuses the race's rows point at (from the same validated
        payloads). A row already written identically earlier in this run is not sent again.
        Returns what was written, for `_remember` once the race has committed."""
        drivers, teams, statuses = {}, {}, {}
        for rows in prepared.values():
            for row in rows:
                item = row.pop("_driver", None)
                if item is not None:
                    drivers[item.driverId] = driver_row(item)
                for team in row.pop("_teams", ()):
                    teams[team.constructorId] = team_row(team)
                if "status_id" in row:
                    statuses[row["status_id"]] = {"status": row["status_id"]}
        written = {}
        for table, model, key, rows in (
            ("drivers", Driver, "ref", drivers),
            ("teams", Team, "ref", teams),
            ("status", Status, "status", statuses),
        ):
            fresh = {k: r for k, r in rows.items() if self.written[table].get(k) != r}
            if fresh:
                local[table] = upsert_rows(model=model, rows=list(fresh.values()), key_fields=[key])
            written[table] = fresh
        return written

    def _reference_maps(self, prepared) -> dict[str, dict]:
        """ref -> pk for the race's drivers, teams and statuses (cached across races of the run)."""
        out = {}
        for attname, table, model, key in (
            ("driver_id", "drivers", Driver, "ref"),
            ("team_id", "teams", Team, "ref"),
            ("status_id", "status", Status, "status"),
        ):
            wanted = {r[attname] for rows in prepared.values() for r in rows if attname in r}
            known = self.pks[table]
            missing = wanted - known.keys()
            found = (
                dict(model.objects.filter(**{f"{key}__in": missing}).values_list(key, "pk"))
                if missing
                else {}
            )
            out[attname] = {**{k: known[k] for k in wanted & known.keys()}, **found}
        return out

    def _remember(self, written: dict[str, dict[str, dict]], refs: dict[str, dict]) -> None:
        """After commit only: a rolled-back race must not leave pks of rows that do not exist."""
        for table, rows in written.items():
            self.written[table].update(rows)
        for attname, table in (("driver_id", "drivers"), ("team_id", "teams"), ("status_id", "status")):
            self.pks[table].update(refs.get(attname, {}))

    @staticmethod
    def _resolve(row: dict, refs: dict[str, dict], race_pk: int) -> dict:
        out = {"race_id": race_pk}
        for name, value in row.items():
            out[name] = refs[name][value] if name in refs else value
        return out

    def _reject(self, work: _RaceWork, kind: str, problems: list[str]) -> None:
        for problem in problems[:20]:
            logger.warning("race rejected", extra={"race": work.slug, "kind": kind, "problem": problem})
        self.summary.errors.append(
            {
                "race": work.slug,
                "kind": kind,
                "problems": problems[:20],
                "message": f"{work.slug} {kind}: rejected, stored rows kept ({len(problems)} problem(s))",
            }
        )

    def _add(self, table: str, counts: UpsertCounts) -> None:
        self.summary.add(table, counts)

    def _save_progress(
        self, *, done: set[str] | None = None, extra: dict[str, UpsertCounts] | None = None, kept=()
    ) -> None:
        merged: dict[str, UpsertCounts] = {}
        for source in (self.summary.counts, extra or {}):
            for table, c in source.items():
                merged.setdefault(table, UpsertCounts()).add(
                    UpsertCounts(c.created, c.updated, c.unchanged, deleted=c.deleted)
                )
        errors = [*self.summary.errors, *self.summary.calendar]  # errors first: pages show the first
        # a kept correction is a warning (the run did what it should), with a line staff can read
        errors += [
            {"level": "warning", "race": k["race"], "message": k["message"], "kept_manual": k}
            for k in (*self.summary.kept_manual, *kept)
        ]
        errors += [{"level": "warning", "message": m} for m in self.summary.missing]
        SyncRun.objects.filter(pk=self.run.pk).update(
            cursor={"done": sorted(self.done if done is None else done), "since": self.since},
            counts={t: c.as_dict() for t, c in sorted(merged.items())},
            requests_made=self.client.requests_made,
            errors=errors,
        )


class _RaceRejected(PicklableError):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _safe_circuit_meta() -> dict[str, dict]:
    try:
        return circuit_meta()
    except (OSError, ValueError, KeyError) as exc:  # the sync works without it
        logger.warning("circuit metadata unavailable", extra={"error": str(exc)})
        return {}


def _resumable_run(params: dict) -> SyncRun | None:
    """The latest run with the same parameters if it did not finish (killed, interrupted or failed)
    and its cursor is younger than SYNC_RESUME_MAX_AGE_HOURS (counted from the cursor's oldest
    step, `cursor["since"]`, which a resumed run inherits). An older cursor is not trusted: upstream
    may have corrected or published rows since, so the run starts over."""
    last = (
        SyncRun.objects.filter(source=SyncSource.JOLPICA, params=params)
        .order_by("-started_at", "-pk")
        .first()
    )
    if last is None or last.status in (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL):
        return None
    cursor = last.cursor or {}
    if not cursor.get("done"):
        return None
    since = _cursor_since(last)
    max_age = dt.timedelta(hours=settings.SYNC_RESUME_MAX_AGE_HOURS)
    if timezone.now() - since > max_age:
        logger.info("cursor too old to resume", extra={"run": last.pk, "since": since.isoformat()})
        return None
    return last


def _cursor_since(run: SyncRun) -> dt.datetime:
    try:
        since = dt.datetime.fromisoformat((run.cursor or {})["since"])
    except (KeyError, TypeError, ValueError):
        return run.started_at  # a cursor written before `since` existed
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


def jolpica_sync(
    *,
    seasons: Iterable[int],
    rounds: Iterable[int] | None = None,
    only: str | Iterable[str] | None = None,
    incremental: bool = False,
    resume: bool = True,
    client: JolpicaClient | None = None,
    progress: bool = False,
    on_race_done: Callable[[str], None] | None = None,
    race_ids: Iterable[int] | None = None,
    lock_wait: float = 0.0,
    on_lock_wait: LockWaitNotice | None = None,
    now: dt.datetime | None = None,
) -> SyncSummary:
    """Sync `seasons` (optionally only `rounds` / `only` kinds) from Jolpica; see the module doc.

    `race_ids` (Race primary keys; instead of `rounds`, `seasons` = theirs) asks for races by identity:
    each season's calendar step runs first (it may renumber, flag or delete stored races), then each
    race is synced at the round it holds now — never at a round number that upstream has since given
    to another race. `summary.races_synced` / `races_not_synced` say which were and why not.

    One writer at a time (`sync_lock.race_data_lock`, shared with the dump load): raises
    `SyncAlreadyRunning`, naming the holder, before anything is written or recorded — at once, or
    after waiting up to `lock_wait` seconds for the lock (`run_job … --wait`); `on_lock_wait` is told
    when that wait begins (one line naming the holder and the bound: `sync_f1` prints it on stderr).

    `now`: the clock an incremental sync decides by which rounds are due (their date passed, or
    their qualifying begun); a job passes its own (`job_daily_results(now=…)`, a replay), else the
    real clock. Only that: the run's times and its resume cursor's age are real time, as upstream's.

    Raises SourceError (after recording the run as failed) when the source is unusable as a
    whole (down, throttled beyond the retries, envelope drift); races committed so far stay, and
    the next run with the same parameters resumes after them.
    """
    with race_data_lock(wait=lock_wait, on_wait=on_lock_wait):
        return _sync_locked(
            seasons=seasons,
            rounds=rounds,
            only=only,
            incremental=incremental,
            resume=resume,
            client=client,
            progress=progress,
            on_race_done=on_race_done,
            race_ids=race_ids,
            now=now,
        )


def _sync_locked(
    *,
    seasons,
    rounds,
    only,
    incremental: bool,
    resume: bool,
    client: JolpicaClient | None,
    progress: bool,
    on_race_done,
    race_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> SyncSummary:
    race_pks = None
    if race_ids is not None:
        if rounds:
            raise ValueError("jolpica_sync: pass rounds or race_ids, not both")
        race_pks = {
            pk: (season, slug)
            for pk, season, slug in Race.objects.filter(pk__in=list(race_ids)).values_list(
                "pk", "season_id", "slug"
            )
        }
        seasons = sorted({season for season, _ in race_pks.values()} & set(seasons))
    seasons = sorted(set(seasons))
    rounds_set = set(rounds) if rounds else None
    kinds = parse_only(only)
    params = {
        "seasons": seasons,
        "rounds": sorted(rounds_set) if rounds_set else None,
        "only": list(kinds),
        "incremental": incremental,
    }
    if race_pks is not None:  # only then: the params of every other run (and resuming) unchanged
        params["race_ids"] = sorted(race_pks)
    # We hold the lock: a run still `running` was killed; close it whatever its parameters.
    stale = sync_runs_interrupt_stale(source=SyncSource.JOLPICA)
    if stale:
        logger.warning("closed killed sync runs", extra={"runs": stale})
    previous = _resumable_run(params) if resume else None
    done: set[str] = set()
    since = timezone.now().isoformat()
    if previous is not None:
        done = set(previous.cursor.get("done", []))
        since = _cursor_since(previous).isoformat()
    # The inherited cursor is saved at once: a run killed before its first race commit still
    # carries it, and the next run resumes from it.
    run = SyncRun.objects.create(
        source=SyncSource.JOLPICA, params=params, cursor={"done": sorted(done), "since": since}
    )
    summary = SyncSummary(run_id=run.pk, seasons=seasons)
    if previous is not None:
        summary.resumed_from = previous.pk
        logger.info("resuming sync", extra={"run": run.pk, "from_run": previous.pk, "steps_done": len(done)})
    own_client = client is None
    client = client or JolpicaClient()
    sync = JolpicaSync(
        run=run,
        client=client,
        only=kinds,
        incremental=incremental,
        rounds=rounds_set,
        race_pks=race_pks,
        summary=summary,
        done=done,
        on_race_done=on_race_done,
        progress=progress,
        now=now,
    )
    sync.since = since
    started = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=0, desc="sync_f1", unit="race")
    status = SyncStatus.FAILED
    try:
        for season in seasons:
            if bar is not None:
                bar.set_postfix_str(str(season))
            sync.sync_season(season, bar)
        status = SyncStatus.PARTIAL if summary.errors else SyncStatus.SUCCEEDED
    except SourceError as exc:
        summary.errors.append({"message": str(exc), "url": exc.url, "fatal": True})
        exc.sync_run_id = run.pk  # for the caller's message (the summary is not returned)
        raise
    except (SystemExit, KeyboardInterrupt, SyncAborted) as exc:
        # SystemExit: the worker shutting down (SIGTERM) mid-sync; KeyboardInterrupt: Ctrl-C at the
        # command. Races already done were committed one by one and stay; the cursor lets a
        # resumed run skip them.
        status = SyncStatus.INTERRUPTED
        summary.errors.append(
            {
                "message": f"interrupted: {sync_interrupted_reason(exc)}; races finished before it were kept",
                "fatal": True,
            }
        )
        exc.sync_run_id = run.pk
        raise
    except Exception as exc:
        summary.errors.append({"message": f"{exc.__class__.__name__}: {exc}", "fatal": True})
        exc.sync_run_id = run.pk
        raise
    finally:
        if bar is not None:
            bar.close()
        summary.status = status
        summary.requests_made = client.requests_made
        summary.duration_s = time.perf_counter() - started
        summary.changed_race_ids = sorted(sync.changed)
        sync._save_progress()
        SyncRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now())
        if own_client:
            client.close()
        races_changed_send(
            sender=jolpica_sync,
            race_ids=summary.changed_race_ids,
            vacated_round_ids=sorted(sync.vacated_round_ids),
        )
    return summary
