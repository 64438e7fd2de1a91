"""Bulk loader for an Ergast-format CSV dump (`../shared/data/ergast` layout, incl. `practice.csv`).

Set-based: pandas reads each CSV as text, columns are converted vectorised, ids are mapped with
dict lookups, and every table goes to the database in one statement set on its natural-key
constraint — on PostgreSQL COPY into a staging table + INSERT .. ON CONFLICT (`dump_copy`), elsewhere
`upsert_rows` (bulk_create update_conflicts). The whole load runs in ONE transaction — a crash leaves nothing half-written.
It holds the Jolpica sync's lock (`sync_lock.race_data_lock`) meanwhile, so a sync and a load never
interleave: the second one is refused (`SyncAlreadyRunning`, naming the first) before it writes.
Loading the same dump twice changes nothing and the second run reports 0 created / 0 updated.

Validation happens before any write, per race and table: classification tables go through the shared
`validate_classification`; every other value must parse. A race whose rows for one table fail is
skipped for that table only, with messages naming the race and the field (recorded in the SyncRun);
everything else loads and the existing rows of the skipped race stay as they were. A missing file or
column makes the table unusable: reference tables (seasons, circuits, drivers, constructors, status,
races) abort the load with DumpFormatError; fact tables are skipped with a message.

Rows staff corrected in admin (`manually_corrected`) are kept; the upstream value is recorded in the
SyncRun as a warning, never applied silently.

Races are matched to stored ones by identity within the season, as the Jolpica sync does
(`race_calendar.calendar_reconcile`: race id, circuit + date, name, circuit), never by round alone:
a dump that numbers a season differently (a race added or cancelled) renumbers the stored races and
writes each race's rows onto that race; a stored race the dump does not list is deleted when nothing
but weather points at it, else kept, flagged `removed_upstream_at` and parked at round 100+ (report
warnings `calendar: ...`).

Mapping notes: Ergast's `constructors` are `Team`; external ids are kept in `ergast_id`; race ids
(`slug`) come from `race_ids.race_slugs` over each whole-season calendar and are only set at first
insert; session times are UTC (`date` + `time`; null when the time is unknown); on 2023+ sprint
weekends the dump's `fp2_*` columns hold sprint qualifying / shootout.
"""

from __future__ import annotations

import csv
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from ingestion.clients.jolpica_schemas import web_url
from ingestion.models import (
    Circuit,
    CircuitType,
    Driver,
    DriverStanding,
    PitStop,
    PracticeResult,
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
from ingestion.services.dump_copy import copy_upsert_rows
from ingestion.services.race_calendar import CalendarChanges, UpstreamEntry, calendar_reconcile
from ingestion.services.race_ids import CalendarEntry, race_slugs
from ingestion.services.sync_lock import LockWaitNotice, race_data_lock
from ingestion.services.sync_runs import PROCESS_SILENT_KEPT, sync_interrupted_reason, sync_run_heartbeat
from ingestion.services.upsert import UpsertCounts, upsert_rows
from ingestion.services.validation import (
    assign_shared_car_index,
    parse_int,
    validate_classification,
)
from ingestion.signals import races_changed_send

logger = logging.getLogger(__name__)

NULL = r"\N"
CIRCUIT_META_PATH = Path(__file__).resolve().parent.parent / "data" / "circuit_meta.csv"
# First season whose sprint weekends use the fp2_* columns for sprint qualifying / shootout.
SPRINT_QUALIFYING_FROM = 2023


class DumpFormatError(ValueError):
    """The dump cannot be loaded at all (a reference file or column is missing or unusable)."""


@dataclass
class DumpLoadReport:
    sync_run_id: int | None
    status: str
    seconds: float = 0.0
    counts: dict[str, dict] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # seasons asked for that the dump has no race of
    dump_years: tuple[int, int] | None = None  # the first and last season the dump has races for

    @property
    def missing_message(self) -> str:
        """'' or "not in the dump: seasons 2027, 2028 (its races run from 1950 to 2026)"."""
        if not self.missing:
            return ""
        what = f"season{'s' if len(self.missing) > 1 else ''} {', '.join(map(str, self.missing))}"
        span = (
            f" (its races run from {self.dump_years[0]} to {self.dump_years[1]})" if self.dump_years else ""
        )
        return f"not in the dump: {what}{span}"

    @property
    def created(self) -> int:
        return sum(c["created"] for c in self.counts.values())

    @property
    def updated(self) -> int:
        return sum(c["updated"] for c in self.counts.values())

    @property
    def deleted(self) -> int:
        return sum(c.get("deleted", 0) for c in self.counts.values())

    def as_dict(self) -> dict:
        return {
            "sync_run_id": self.sync_run_id,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "counts": self.counts,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "missing": self.missing,
        }


# --- circuit metadata -------------------------------------------------------------------------


def circuit_meta() -> dict[str, dict]:
    """`ingestion/data/circuit_meta.csv` as {circuit_ref: {"circuit_type", "length_km"}}."""
    with CIRCUIT_META_PATH.open(newline="", encoding="utf-8") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        return {
            row["circuit_ref"]: {
                "circuit_type": CircuitType(row["circuit_type"]).value,
                "length_km": float(row["length_km"]),
            }
            for row in csv.DictReader(lines)
        }


def circuit_meta_apply() -> UpsertCounts:
    """Set circuit_type/length_km on existing circuits from the metadata file (for the API sync,
    which has no such fields). Circuits not in the file are left alone."""
    meta = circuit_meta()
    refs = set(Circuit.objects.filter(ref__in=meta).values_list("ref", flat=True))
    rows = [{"ref": ref, **meta[ref]} for ref in sorted(refs)]
    return upsert_rows(model=Circuit, rows=rows, key_fields=["ref"])


# --- parsing helpers --------------------------------------------------------------------------


def _read_frame(directory: Path, name: str, columns: Iterable[str]) -> pd.DataFrame:
    """A CSV as text columns (NaN for `\\N`); DumpFormatError if the file or a column is missing, or
    the file is not a readable CSV."""
    path = directory / name
    if not path.is_file():
        raise DumpFormatError(f"{name}: file not found in {directory}")
    try:
        df = pd.read_csv(path, dtype=str, na_values=[NULL], keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # unreadable, a byte that is not UTF-8, a row with more fields than the header, empty: the
        # file is named (pandas' own message does not), and the caller decides (abort / skip table)
        detail = " ".join(str(exc).split())
        raise DumpFormatError(f"{name}: unreadable CSV ({type(exc).__name__}: {detail})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DumpFormatError(f"{name}: required column(s) {', '.join(map(repr, missing))} missing")
    return df


def _read(directory: Path, name: str, columns: Iterable[str]) -> list[dict]:
    df = _read_frame(directory, name, columns)
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _text(value) -> str:
    return "" if value is None else str(value)


def _date(value) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def lap_time_ms(text) -> int | None:
    """'1:26.572' or '26.898' -> milliseconds; None for blanks or anything that is not a time."""
    if not text:
        return None
    minutes, _, seconds = str(text).rpartition(":")
    try:
        total = (int(minutes) * 60 if minutes else 0) + float(seconds)
    except ValueError:
        return None
    return round(total * 1000) if total > 0 else None


def _utc(dates: pd.Series, times: pd.Series) -> list:
    """Vectorised `date` + `time` (UTC) -> aware datetimes; None where either is missing."""
    stamps = pd.to_datetime(
        dates.fillna("").astype(str) + " " + times.fillna("").astype(str),
        format="%Y-%m-%d %H:%M:%S",
        utc=True,
        errors="coerce",
    )
    return [None if pd.isna(s) else s.to_pydatetime() for s in stamps]


# Column converters: (text column, model field) -> (Python values, mask of unusable cells).
# Vectorised with pandas; the masks become per-race rejection messages.
Converter = Callable[[pd.Series, object], tuple[list, pd.Series]]


def _ints(*, default: int | None = None, required: bool = False, zero_is_none: bool = False) -> Converter:
    def convert(column: pd.Series, model_field) -> tuple[list, pd.Series]:
        number = pd.to_numeric(column, errors="coerce")
        present = column.notna()
        low, high = connection.ops.integer_field_range(model_field.get_internal_type())
        bad = present & (number.isna() | (number % 1 != 0) | (number < max(low or 0, 0)))
        if high is not None:
            bad |= number > high
        if required:
            bad |= ~present
        values = [default if v != v else int(v) for v in number.where(~bad).tolist()]
        if zero_is_none:
            values = [None if v == 0 else v for v in values]
        return values, bad

    return convert


def _decimals(*, default: str | None = None, required: bool = False) -> Converter:
    def convert(column: pd.Series, model_field) -> tuple[list, pd.Series]:
        number = pd.to_numeric(column, errors="coerce")
        present = column.notna()
        bad = present & ~np.isfinite(number.fillna(np.inf))
        if required:
            bad |= ~present
        fallback = None if default is None else Decimal(default)
        values = [Decimal(v.strip()) if isinstance(v, str) else fallback for v in column.where(~bad).tolist()]
        return values, bad

    return convert


def _texts(column: pd.Series, model_field) -> tuple[list, pd.Series]:
    values = column.fillna("").astype(str)
    return values.tolist(), values.str.len() > model_field.max_length


def _lap_ms(column: pd.Series, model_field) -> tuple[list, pd.Series]:
    return [lap_time_ms(v) if isinstance(v, str) else None for v in column.tolist()], column.isna() & False


def _choices(column: pd.Series, model_field) -> tuple[list, pd.Series]:
    allowed = [value for value, _ in model_field.choices]
    return column.tolist(), ~column.isin(allowed)


def _position_from_text(position: pd.Series, position_text: pd.Series) -> pd.Series:
    """`position` as the API sync stores it: `positionText`'s number, else null (R, D, E, W, …).
    A `position` cell that is not a number at all is left as it is, for the converter to reject.

    Results, sprint results and standings. Where the dump's own `position` disagrees — 2005
    Australia's P11 and P14 (`\\N`, "11"), 1997 Schumacher disqualified (26, "D"), 2007 McLaren
    excluded (11, "E"; Jolpica leaves `position` out) — a load and a sync rewrote these rows back and
    forth on every run."""
    usable = position.isna() | position.str.fullmatch(r"\d+", na=False)
    return position.where(~usable, position_text.where(position_text.str.fullmatch(r"\d+", na=False)))


def _manual_corrections(*, model, race_pks) -> dict[int, list[dict]]:
    """The rows staff corrected in admin (`manually_corrected`) of these races, as dicts of attnames."""
    if "manually_corrected" not in {f.name for f in model._meta.concrete_fields}:
        return {}
    out: dict[int, list[dict]] = defaultdict(list)
    for row in model.objects.filter(race_id__in=list(race_pks), manually_corrected=True).values():
        out[row["race_id"]].append(row)
    return out


def _manual_collisions(*, model, key_fields: list[str], dump: list[dict], kept: list[dict]) -> list[str]:
    """Why one race's rows from the dump cannot be written beside its rows staff corrected in admin.

    A corrected row is kept (never overwritten or deleted). When the correction changed the row's
    natural key (another driver, another car number), the dump's row for the same result has a key
    of its own and is inserted beside it, colliding on the model's other unique constraints
    (`ergast_id`, one position order per race): the whole load failed with an IntegrityError. The
    race is rejected for that table instead, as the sync rejects it ("a kept row that collides with
    upstream's rejects that race until the correction is released")."""
    if not kept or not dump:
        return []
    natural = tuple(key_fields)
    uniques = [
        attnames
        for attnames in (
            *(
                tuple(model._meta.get_field(f).attname for f in c.fields)
                for c in model._meta.total_unique_constraints
            ),
            *((f.attname,) for f in model._meta.concrete_fields if f.unique and not f.primary_key),
        )
        if attnames != natural and all(a in dump[0] for a in attnames)
    ]
    by_key = {tuple(row[k] for k in natural): row for row in kept}
    dump_keys = {tuple(row[k] for k in natural) for row in dump}
    # what the race would hold: the dump's rows, a corrected row in place of the dump's row with its
    # key, and the corrected rows whose key the dump does not have
    final = [by_key.get(tuple(row[k] for k in natural), row) for row in dump]
    final += [row for key, row in by_key.items() if key not in dump_keys]
    problems = []
    for attnames in uniques:
        seen: dict[tuple, dict] = {}
        for row in final:
            value = tuple(row[a] for a in attnames)
            if None in value:
                continue  # NULLs never collide
            other = seen.setdefault(value, row)
            if other is row:
                continue
            mine = row if "id" in row else other
            shown = ", ".join(f"{a} {v}" for a, v in zip(attnames, value, strict=True) if a != "race_id")
            problems.append(
                f"the dump's row collides ({shown}) with a row staff corrected in admin (pk {mine['id']}, "
                f"{', '.join(f'{k} {mine[k]}' for k in natural if k != 'race_id')}): release the correction "
                "in admin (Release manual correction) to load this race"
            )
    return problems


_INT = _ints()
_INT0 = _ints(default=0)
_INT_REQUIRED = _ints(required=True)
# The dump writes fastest-lap rank 0 for cars without a fastest lap; Jolpica leaves `rank` out
# (-> None). Both paths store None, or a load and a sync would flip the value back and forth.
_RANK = _ints(zero_is_none=True)


# --- the loader -------------------------------------------------------------------------------


_CLASSIFICATION_COMMON = {
    "number": ("number", _INT0),
    "grid": ("grid", _INT),
    "position": ("position", _INT),
    "position_text": ("positionText", _texts),
    "position_order": ("positionOrder", _INT_REQUIRED),
    "points": ("points", _decimals(default="0")),
    "laps": ("laps", _INT0),
    "time_text": ("time", _texts),
    "milliseconds": ("milliseconds", _INT),
    "fastest_lap": ("fastestLap", _INT),
    "fastest_lap_rank": ("rank", _RANK),
    "fastest_lap_time": ("fastestLapTime", _texts),
    "ergast_id": ("resultId", _INT_REQUIRED),
}
# Fact tables: (csv file, model, natural key, columns the file must have, validation kind or None).
_RESULTS_COLUMNS = [
    "resultId",
    "raceId",
    "driverId",
    "constructorId",
    "number",
    "grid",
    "position",
    "positionText",
    "positionOrder",
    "points",
    "laps",
    "time",
    "milliseconds",
    "fastestLap",
    "rank",
    "fastestLapTime",
    "fastestLapSpeed",
    "statusId",
]
_SPRINT_COLUMNS = [c for c in _RESULTS_COLUMNS if c != "fastestLapSpeed"]


class _DumpLoader:
    def __init__(self, directory: Path, seasons: range | None):
        self.directory = Path(directory)
        self.seasons = seasons
        self.counts: dict[str, UpsertCounts] = {}
        self.rejected: list[str] = []
        self.race_pk: dict[str, int] = {}  # csv raceId -> Race pk (only races in scope)
        self.race_label: dict[str, str] = {}  # csv raceId -> race id, e.g. "2021_uae"
        self.changed_races: set[int] = set()  # Race pks whose race row or rows of a race changed
        self.calendar_changed: set[str] = (
            set()
        )  # race ids renumbered / flagged / restored by the calendar step
        self.vacated_round_ids: set[str] = set()  # `2019_22` forms a race left (cache keys, see signals)
        self.calendar_notes: list[str] = []  # what the calendar step changed (report warnings)
        self.skipped_race_ids: set[str] = set()  # csv raceIds not added (race id conflict; see rejected)
        self.missing: list[int] = []  # seasons asked for that the dump has no race of
        self.dump_years: tuple[int, int] | None = None
        # csv id -> database pk, filled by the reference-table steps
        self.status_pk: dict[str, int] = {}
        self.circuit_pk: dict[str, int] = {}
        self.driver_pk: dict[str, int] = {}
        self.team_pk: dict[str, int] = {}

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("seasons", self.load_seasons),
            ("status", self.load_status),
            ("circuits", self.load_circuits),
            ("drivers", self.load_drivers),
            ("teams", self.load_teams),
            ("races", self.load_races),
            ("results", self.load_results),
            ("sprint_results", self.load_sprint_results),
            ("qualifying", self.load_qualifying),
            ("practice", self.load_practice),
            ("pit_stops", self.load_pit_stops),
            ("driver_standings", self.load_driver_standings),
            ("team_standings", self.load_team_standings),
        ]

    def _upsert(self, table: str, *, model, rows, key_fields, scope=None, replace=()) -> None:
        """`replace` (fact tables; e.g. `("race_id",)`): each race (or race and practice session)
        the rows name ends with exactly these rows — stored rows of it no longer in the dump are
        deleted; races (sessions) without rows, e.g. rejected ones, are not touched."""
        race_field = "pk" if model is Race else "race_id" if "race_id" in key_fields else None
        if connection.vendor == "postgresql":  # COPY + one INSERT .. ON CONFLICT per table
            counts, changed = copy_upsert_rows(
                model=model,
                rows=rows,
                key_fields=key_fields,
                changed_of=race_field or "pk",
                replace_by=replace,
            )
            if race_field:
                self.changed_races |= changed
        else:
            if replace and rows:  # only the races (sessions) the rows name: a rejected race keeps its rows
                first, rest = replace[0], replace[1:]
                groups: dict[tuple, list[dict]] = defaultdict(list)  # e.g. per practice session
                for row in rows:
                    groups[tuple(row[f] for f in rest)].append(row)
                counts = UpsertCounts()
                for values, group in groups.items():
                    scope = {
                        f"{first}__in": {row[first] for row in group},
                        **dict(zip(rest, values, strict=True)),
                    }
                    counts.add(
                        upsert_rows(model=model, rows=group, key_fields=key_fields, scope=scope, replace=True)
                    )
            else:
                counts = upsert_rows(model=model, rows=rows, key_fields=key_fields, scope=scope)
            if race_field and (counts.created or counts.updated or counts.deleted):
                self.changed_races |= set(self.race_pk.values())  # no per-row outcome here
        self.counts.setdefault(table, UpsertCounts()).add(counts)

    def _in_scope(self, year) -> bool:
        return self.seasons is None or int(year) in self.seasons

    # reference tables --------------------------------------------------------------------------

    def load_seasons(self) -> None:
        records = _read(self.directory, "seasons.csv", ["year", "url"])
        races = _read(self.directory, "races.csv", ["year"])
        years = {int(r["year"]): web_url(r["url"]) for r in records}
        for r in races:  # a season a race refers to but seasons.csv lacks still gets a row
            years.setdefault(int(r["year"]), "")
        race_years = {int(r["year"]) for r in races}
        if race_years:
            self.dump_years = (min(race_years), max(race_years))
        if self.seasons is not None:  # asked for, but no race in the dump: the command exits 1
            self.missing = sorted(set(self.seasons) - race_years)
        rows = [{"year": y, "url": url} for y, url in sorted(years.items()) if self._in_scope(y)]
        self._upsert("seasons", model=Season, rows=rows, key_fields=["year"])

    def load_status(self) -> None:
        records = _read(self.directory, "status.csv", ["statusId", "status"])
        rows = [{"status": r["status"], "ergast_id": int(r["statusId"])} for r in records]
        self._upsert("status", model=Status, rows=rows, key_fields=["status"])
        by_text = dict(Status.objects.values_list("status", "pk"))
        self.status_pk = {r["statusId"]: by_text[r["status"]] for r in records}

    def load_circuits(self) -> None:
        columns = ["circuitId", "circuitRef", "name", "location", "country", "lat", "lng", "alt", "url"]
        records = _read(self.directory, "circuits.csv", columns)
        meta = circuit_meta()
        rows = []
        for r in records:
            extra = meta.get(r["circuitRef"], {"circuit_type": CircuitType.UNKNOWN.value, "length_km": None})
            rows.append(
                {
                    "ref": r["circuitRef"],
                    "ergast_id": int(r["circuitId"]),
                    "name": r["name"],
                    "locality": _text(r["location"]),
                    "country": _text(r["country"]),
                    "latitude": None if r["lat"] is None else float(r["lat"]),
                    "longitude": None if r["lng"] is None else float(r["lng"]),
                    "altitude": None if r["alt"] is None else int(float(r["alt"])),
                    "url": web_url(r["url"]),
                    **extra,
                }
            )
        self._upsert("circuits", model=Circuit, rows=rows, key_fields=["ref"])
        by_ref = dict(Circuit.objects.values_list("ref", "pk"))
        self.circuit_pk = {r["circuitId"]: by_ref[r["circuitRef"]] for r in records}
        self.circuit_info = {r["circuitId"]: (r["circuitRef"], _text(r["country"])) for r in records}

    def load_drivers(self) -> None:
        columns = [
            "driverId",
            "driverRef",
            "number",
            "code",
            "forename",
            "surname",
            "dob",
            "nationality",
            "url",
        ]
        records = _read(self.directory, "drivers.csv", columns)
        rows = [
            {
                "ref": r["driverRef"],
                "ergast_id": int(r["driverId"]),
                "code": _text(r["code"]),
                "permanent_number": parse_int(r["number"]),
                "given_name": _text(r["forename"]),
                "family_name": _text(r["surname"]),
                "date_of_birth": _date(r["dob"]),
                "nationality": _text(r["nationality"]),
                "url": web_url(r["url"]),
            }
            for r in records
        ]
        self._upsert("drivers", model=Driver, rows=rows, key_fields=["ref"])
        by_ref = dict(Driver.objects.values_list("ref", "pk"))
        self.driver_pk = {r["driverId"]: by_ref[r["driverRef"]] for r in records}

    def load_teams(self) -> None:
        columns = ["constructorId", "constructorRef", "name", "nationality", "url"]
        records = _read(self.directory, "constructors.csv", columns)
        rows = [
            {
                "ref": r["constructorRef"],
                "ergast_id": int(r["constructorId"]),
                "name": r["name"],
                "nationality": _text(r["nationality"]),
                "url": web_url(r["url"]),
            }
            for r in records
        ]
        self._upsert("teams", model=Team, rows=rows, key_fields=["ref"])
        by_ref = dict(Team.objects.values_list("ref", "pk"))
        self.team_pk = {r["constructorId"]: by_ref[r["constructorRef"]] for r in records}

    def load_races(self) -> None:
        sessions = ["fp1", "fp2", "fp3", "quali", "sprint"]
        columns = ["raceId", "year", "round", "circuitId", "name", "date", "time", "url"]
        columns += [f"{s}_{part}" for s in sessions for part in ("date", "time")]
        path = self.directory / "races.csv"
        records = _read(self.directory, "races.csv", columns)
        df = pd.DataFrame.from_records(records, columns=columns)
        df = df[df["year"].map(self._in_scope)].reset_index(drop=True)
        if df.empty:
            return
        df["year"] = df["year"].astype(int)
        # Rounds start at 1 (Race's `race_round_gte_1`): a round 0 reached the database as an
        # IntegrityError, a word as a pandas ValueError; the race and the value are named instead.
        rounds = pd.to_numeric(df["round"], errors="coerce")
        bad_rounds = ~((rounds >= 1) & (rounds % 1 == 0))
        if bad_rounds.any():
            raise DumpFormatError(
                f"{path.name}: raceId {df['raceId'][bad_rounds].iloc[0]}: field 'round' unusable "
                f"({df['round'][bad_rounds].iloc[0]!r}; rounds start at 1)"
            )
        df["round"] = rounds.astype(int)
        unknown = df[~df["circuitId"].isin(self.circuit_pk.keys())]
        if not unknown.empty:
            raise DumpFormatError(f"{path.name}: raceId {unknown['raceId'].iloc[0]} has unknown circuitId")
        bad_dates = pd.to_datetime(df["date"], format="%Y-%m-%d", errors="coerce").isna()
        if bad_dates.any():
            raise DumpFormatError(
                f"{path.name}: raceId {df['raceId'][bad_dates].iloc[0]}: field 'date' unusable"
            )
        starts = {s: _utc(df[f"{s}_date"], df[f"{s}_time"]) for s in sessions}
        race_start = _utc(df["date"], df["time"])
        # 2023+ sprint weekends: the fp2 slot is sprint qualifying / shootout.
        sq_weekend = ((df["year"] >= SPRINT_QUALIFYING_FROM) & df["sprint_date"].notna()).tolist()

        calendar = [
            CalendarEntry(
                season=int(r.year),
                round=int(r.round),
                name=r.name,
                country=self.circuit_info[r.circuitId][1],
                circuit_ref=self.circuit_info[r.circuitId][0],
            )
            for r in df.itertuples()
        ]
        slugs = race_slugs(calendar)
        new_slugs = self._calendar_reconcile(df, slugs)
        existing = {
            (season, rnd): slug
            for season, rnd, slug in Race.objects.filter(season_id__in=set(df["year"])).values_list(
                "season_id", "round", "slug"
            )
        }
        new_rows, old_rows = [], []
        for i, r in enumerate(df.itertuples()):
            key = (int(r.year), int(r.round))
            if r.raceId in self.skipped_race_ids:
                continue
            row = {
                "season_id": key[0],
                "round": key[1],
                "name": r.name,
                "circuit_id": self.circuit_pk[r.circuitId],
                "date": date.fromisoformat(r.date),
                "start": race_start[i],
                "fp1_start": starts["fp1"][i],
                "fp2_start": None if sq_weekend[i] else starts["fp2"][i],
                "fp3_start": starts["fp3"][i],
                "qualifying_start": starts["quali"][i],
                "sprint_qualifying_start": starts["fp2"][i] if sq_weekend[i] else None,
                "sprint_start": starts["sprint"][i],
                "url": web_url(r.url),
                "ergast_id": int(r.raceId),
            }
            slug = existing.get(key) or new_slugs.get(key, slugs[key])
            self.race_label[r.raceId] = slug
            if key in existing:
                old_rows.append(row)  # the public id is never rewritten
            else:
                new_rows.append({"slug": slug, **row})
        scope = {"season_id__in": set(df["year"])}
        for rows in (old_rows, new_rows):
            self._upsert("races", model=Race, rows=rows, key_fields=["season_id", "round"], scope=scope)
        pk = {
            (season, rnd): race_pk
            for race_pk, season, rnd in Race.objects.filter(**scope).values_list("pk", "season_id", "round")
        }
        self.race_pk = {
            r.raceId: pk[(int(r.year), int(r.round))]
            for r in df.itertuples()
            if r.raceId not in self.skipped_race_ids
        }

    def _calendar_reconcile(self, df: pd.DataFrame, slugs: dict[tuple[int, int], str]) -> dict:
        """Match each season's stored races to the dump's calendar by identity, as the Jolpica sync
        does (`race_calendar.calendar_reconcile`: race id, circuit + date, name, circuit — never the
        round alone): a race keeps its id and data when the dump numbers the season differently, a
        stored race the dump does not list is deleted (nothing attached) or kept, flagged
        `removed_upstream_at` and parked at round 100+. Returns the race ids of the new races by
        (season, round); a new race whose id is taken is not added (rejected, its rows skipped)."""
        new_slugs: dict[tuple[int, int], str] = {}
        seasons = sorted(set(df["year"]))
        stored = set(
            Race.objects.filter(season_id__in=seasons).values_list("season_id", flat=True).distinct()
        )
        for season in seasons:
            if season not in stored:  # a season's first load: nothing to match
                continue
            rows = df[df["year"] == season]
            changes = calendar_reconcile(
                season=season,
                upstream=[
                    UpstreamEntry(
                        round=int(r.round),
                        slug=slugs[(season, int(r.round))],
                        name=r.name,
                        circuit_id=self.circuit_pk[r.circuitId],
                        circuit_ref=self.circuit_info[r.circuitId][0],
                        date=date.fromisoformat(r.date),
                    )
                    for r in rows.itertuples()
                ],
            )
            new_slugs.update({(season, rnd): slug for rnd, slug in changes.new_slugs.items()})
            conflicts = dict(changes.conflicts)
            for r in rows.itertuples():
                if int(r.round) in conflicts:
                    self.skipped_race_ids.add(r.raceId)
                    self.rejected.append(f"{conflicts[int(r.round)]} (raceId {r.raceId}: its rows skipped)")
            self._calendar_notes(changes)
        return new_slugs

    def _calendar_notes(self, changes: CalendarChanges) -> None:
        season = changes.season
        self.vacated_round_ids |= {f"{season}_{rnd}" for rnd in changes.vacated_rounds}
        notes = [f"{slug}: round {old} -> {new} (numbered so in the dump; id and data kept)"
                 for slug, old, new in changes.renumbered]  # fmt: skip
        notes += [
            f"{slug}: back on the {season} calendar in the dump, flag cleared" for slug in changes.restored
        ]
        notes += [
            f"{slug}: not on the {season} calendar in the dump and had no data; deleted"
            for slug in changes.deleted
        ]
        for slug, rnd, attached in changes.kept_removed:
            what = ", ".join(f"{n} {name}" for name, n in sorted(attached.items()))
            state = (
                "flagged removed_upstream_at and parked" if slug in changes.newly_removed else "still flagged"
            )
            notes.append(
                f"{slug}: not on the {season} calendar in the dump but has {what}; kept, {state} as round {rnd}"
            )
        self.calendar_notes += [f"calendar: {note}" for note in notes]
        self.calendar_changed |= {slug for slug, _, _ in changes.renumbered}
        self.calendar_changed |= set(changes.restored) | set(changes.newly_removed)

    # fact tables -------------------------------------------------------------------------------

    def _load_fact(
        self,
        *,
        table: str,
        filename: str,
        columns: list[str],
        model,
        key_fields: list[str],
        spec: dict[str, tuple[str, Converter]],
        kind: str | None = None,
        prepare: Callable[[list[dict]], None] | None = None,
        replace_by: tuple[str, ...] = ("race_id",),
    ) -> None:
        """Read, map FKs, validate per race, convert, and upsert one fact table; each race with
        rows in the file ends with exactly them (per `replace_by`: race, or race and session)."""
        try:
            df = _read_frame(self.directory, filename, columns)
        except DumpFormatError as exc:
            self.rejected.append(f"{exc}; table {table} not loaded, existing rows kept")
            return
        if self.seasons is None:
            named = self.race_pk.keys() | self.skipped_race_ids  # skipped: already in rejected
            unknown = df.loc[~df["raceId"].isin(named), "raceId"].value_counts()
            for race_id, n in sorted(unknown.items()):
                self.rejected.append(
                    f"{filename}: raceId {race_id}: field 'race_id' names no race in races.csv ({n} rows skipped)"
                )
        df = df[df["raceId"].isin(self.race_pk.keys())].reset_index(drop=True)
        if "positionText" in df and "position" in spec:
            df["position"] = _position_from_text(df["position"], df["positionText"])
        race_ids = df["raceId"].tolist()

        names, lists, problems = [], [], defaultdict(list)
        who = (
            ("driverId " + df["driverId"].astype(str))
            if "driverId" in df
            else ("row " + df.index.astype(str))
        )

        def note(attname: str, column: str, bad: pd.Series, what: str) -> None:
            for i in np.flatnonzero(bad.to_numpy()):
                value = df[column].iat[i]
                problems[race_ids[i]].append(
                    f"{who.iat[i]}: field {attname!r} (column {column!r}) {what} {value!r}"
                )

        for attname, (column, convert) in spec.items():
            values, bad = convert(df[column], model._meta.get_field(attname))
            note(attname, column, bad, "has unusable value")
            names.append(attname)
            lists.append(values)
        for attname, column, mapping in (
            ("driver_id", "driverId", self.driver_pk),
            ("team_id", "constructorId", self.team_pk),
            ("status_id", "statusId", self.status_pk),
        ):
            if column in columns:
                mapped = df[column].map(mapping)
                note(attname, column, mapped.isna(), "names no known row:")
                names.append(attname)
                lists.append([None if v != v else int(v) for v in mapped.tolist()])
        names.append("race_id")
        lists.append([self.race_pk[r] for r in race_ids])

        by_race: dict[str, list[dict]] = defaultdict(list)
        for race_id, values in zip(race_ids, zip(*lists, strict=True), strict=True):
            by_race[race_id].append(dict(zip(names, values, strict=True)))

        corrected = _manual_corrections(model=model, race_pks=[self.race_pk[r] for r in by_race])
        rows: list[dict] = []
        for race_id, race_rows in by_race.items():
            label = self.race_label[race_id]
            messages = [f"{label} {table}: {p}" for p in problems.get(race_id, ())]
            if not messages and prepare:
                prepare(race_rows)
            if not messages and kind:
                messages = validate_classification(race_rows, race_label=label, kind=kind)
            if not messages:
                keys = {tuple(row[k] for k in key_fields) for row in race_rows}
                if len(keys) != len(race_rows):
                    messages = [f"{label} {table}: field(s) {key_fields} repeat within the race"]
            if not messages:  # after `prepare`: the position order's shared-car index is set
                kept = corrected.get(self.race_pk[race_id], [])
                collisions = _manual_collisions(model=model, key_fields=key_fields, dump=race_rows, kept=kept)
                messages = [f"{label} {table}: {m}" for m in collisions]
            if messages:
                self.rejected.extend(messages)
                self.rejected.append(f"{label} {table}: {len(race_rows)} rows rejected, existing rows kept")
                continue
            rows.extend(race_rows)
        scope = {"race_id__in": set(self.race_pk.values())}
        self._upsert(table, model=model, rows=rows, key_fields=key_fields, scope=scope, replace=replace_by)

    def load_results(self) -> None:
        spec = {
            **_CLASSIFICATION_COMMON,
            "fastest_lap_speed": ("fastestLapSpeed", _decimals()),
        }

        def prepare(rows):
            rows.sort(key=lambda r: r["ergast_id"])  # co-drivers in source order
            assign_shared_car_index(rows)

        self._load_fact(
            table="results",
            filename="results.csv",
            columns=_RESULTS_COLUMNS,
            model=RaceResult,
            key_fields=["race_id", "driver_id", "number"],
            spec=spec,
            kind="race",
            prepare=prepare,
        )

    def load_sprint_results(self) -> None:
        self._load_fact(
            table="sprint_results",
            filename="sprint_results.csv",
            columns=_SPRINT_COLUMNS,
            model=SprintResult,
            key_fields=["race_id", "driver_id"],
            spec=dict(_CLASSIFICATION_COMMON),
            kind="sprint",
        )

    def load_qualifying(self) -> None:
        spec = {
            "number": ("number", _INT0),
            "position": ("position", _INT_REQUIRED),
            "q1": ("q1", _texts),
            "q2": ("q2", _texts),
            "q3": ("q3", _texts),
            "q1_ms": ("q1", _lap_ms),
            "q2_ms": ("q2", _lap_ms),
            "q3_ms": ("q3", _lap_ms),
            "ergast_id": ("qualifyId", _INT_REQUIRED),
        }
        self._load_fact(
            table="qualifying",
            filename="qualifying.csv",
            columns=[
                "qualifyId",
                "raceId",
                "driverId",
                "constructorId",
                "number",
                "position",
                "q1",
                "q2",
                "q3",
            ],
            model=QualifyingResult,
            key_fields=["race_id", "driver_id"],
            spec=spec,
            kind="qualifying",
        )

    def load_practice(self) -> None:
        spec = {
            "session": ("session", _choices),
            "number": ("number", _INT0),
            "position": ("position", _INT),
            "time_text": ("time", _texts),
            "milliseconds": ("milliseconds", _INT),
            "laps": ("laps", _INT),
        }
        self._load_fact(
            table="practice",
            filename="practice.csv",
            columns=[
                "raceId",
                "session",
                "driverId",
                "constructorId",
                "position",
                "time",
                "milliseconds",
                "laps",
                "number",
            ],
            model=PracticeResult,
            key_fields=["race_id", "session", "driver_id"],
            spec=spec,
            kind="practice",
            replace_by=("race_id", "session"),  # OpenF1 may hold a session the dump does not have
        )

    def load_pit_stops(self) -> None:
        spec = {
            "stop": ("stop", _INT_REQUIRED),
            "lap": ("lap", _INT_REQUIRED),
            "time_of_day": ("time", _texts),
            "duration_text": ("duration", _texts),
            "milliseconds": ("milliseconds", _INT),
        }
        self._load_fact(
            table="pit_stops",
            filename="pit_stops.csv",
            columns=["raceId", "driverId", "stop", "lap", "time", "duration", "milliseconds"],
            model=PitStop,
            key_fields=["race_id", "driver_id", "stop"],
            spec=spec,
        )

    def _standings_spec(self, id_column: str) -> dict:
        return {
            "points": ("points", _decimals(required=True)),
            "position": ("position", _INT),
            "position_text": ("positionText", _texts),
            "wins": ("wins", _INT0),
            "ergast_id": (id_column, _INT_REQUIRED),
        }

    def load_driver_standings(self) -> None:
        self._load_fact(
            table="driver_standings",
            filename="driver_standings.csv",
            columns=["driverStandingsId", "raceId", "driverId", "points", "position", "positionText", "wins"],
            model=DriverStanding,
            key_fields=["race_id", "driver_id"],
            spec=self._standings_spec("driverStandingsId"),
        )

    def load_team_standings(self) -> None:
        self._load_fact(
            table="team_standings",
            filename="constructor_standings.csv",
            columns=[
                "constructorStandingsId",
                "raceId",
                "constructorId",
                "points",
                "position",
                "positionText",
                "wins",
            ],
            model=TeamStanding,
            key_fields=["race_id", "team_id"],
            spec=self._standings_spec("constructorStandingsId"),
        )


def ergast_dump_load(
    *,
    directory: Path,
    seasons: range | None = None,
    progress: bool = False,
    lock_wait: float = 0.0,
    on_lock_wait: LockWaitNotice | None = None,
) -> DumpLoadReport:
    """Load (or re-load) an Ergast-format dump; `seasons` limits races and their rows to those years.

    Returns the report and records it as a SyncRun(source=ergast_dump). Raises DumpFormatError
    (nothing written, run marked failed) when a reference file/column is missing.

    It writes the tables the Jolpica sync writes, so it takes the same lock
    (`sync_lock.race_data_lock`): while a sync (or another load) holds it, `SyncAlreadyRunning`
    naming the holder is raised before anything is written or recorded, as for a refused sync —
    at once, or after waiting up to `lock_wait` seconds for the lock (`load_ergast --wait`);
    `on_lock_wait` is told when that wait begins (one line naming the holder and the bound).
    """
    with race_data_lock(wait=lock_wait, on_wait=on_lock_wait):
        return _dump_load_locked(directory=Path(directory), seasons=seasons, progress=progress)


def _dump_load_locked(*, directory: Path, seasons: range | None, progress: bool) -> DumpLoadReport:
    params = {"directory": str(directory)}
    if seasons is not None:
        params["seasons"] = [seasons.start, seasons.stop - 1]
    # The run heartbeats while the load runs, so a load killed outright (SIGKILL, OOM) is closed as
    # `interrupted` by the stale-run sweep instead of staying `running` (its transaction rolled back:
    # nothing of it was written). Not on SQLite: the load's one long write transaction holds the
    # database's only write lock, so every beat would wait for it and fail; such a run has no
    # heartbeat and the sweep leaves it alone.
    beats = connection.vendor != "sqlite"
    run = SyncRun.objects.create(
        source=SyncSource.ERGAST_DUMP, params=params, heartbeat_at=timezone.now() if beats else None
    )
    loader = _DumpLoader(directory, seasons)
    started = time.perf_counter()
    steps = loader.steps()
    try:
        with sync_run_heartbeat(run_id=run.pk) if beats else nullcontext(), transaction.atomic():
            if progress:
                from tqdm import tqdm

                bar = tqdm(steps, desc="load_ergast", unit="table")
                for name, step in bar:
                    bar.set_postfix_str(name)
                    step()
            else:
                for _, step in steps:
                    step()
    except (KeyboardInterrupt, SystemExit) as exc:
        # Ctrl-C at the command, a worker's SIGTERM: the transaction rolled back. It left the run
        # `running` (until the stale-run sweep called it "killed or lost") and a traceback.
        run.status = SyncStatus.INTERRUPTED
        run.finished_at = timezone.now()
        run.errors = [
            {
                "level": "error",
                "fatal": True,
                "message": f"interrupted: {sync_interrupted_reason(exc)}; {PROCESS_SILENT_KEPT[SyncSource.ERGAST_DUMP]}",
            }
        ]
        try:
            run.save(update_fields=["status", "finished_at", "errors"])
        except Exception:  # the connection died with the interrupt: the sweep closes the run later
            logger.exception("could not record the interrupted dump load", extra={"sync_run": run.pk})
        exc.sync_run_id = run.pk
        raise
    except Exception as exc:
        run.status = SyncStatus.FAILED
        run.finished_at = timezone.now()
        run.errors = [{"level": "error", "message": m} for m in loader.rejected]
        run.errors.append({"level": "error", "message": f"{type(exc).__name__}: {exc}"})
        run.save(update_fields=["status", "finished_at", "errors"])
        exc.sync_run_id = run.pk  # for the command's one-line message
        raise

    warnings = loader.calendar_notes + [
        f"kept manual correction: {k['model']} pk {k['pk']} key {k['key']}; upstream has {k['upstream']}"
        for counts in loader.counts.values()
        for k in counts.kept_manual
    ]
    report = DumpLoadReport(
        sync_run_id=run.pk,
        status=SyncStatus.PARTIAL if loader.rejected else SyncStatus.SUCCEEDED,
        seconds=time.perf_counter() - started,
        counts={table: counts.as_dict() for table, counts in loader.counts.items()},
        rejected=loader.rejected,
        warnings=warnings,
        missing=loader.missing,
        dump_years=loader.dump_years,
    )
    if report.missing:  # a warning, as sync_f1's `missing`: nothing failed, the status stays
        report.warnings.append(report.missing_message)
    run.status = report.status
    run.finished_at = timezone.now()
    run.counts = report.counts
    run.errors = [{"level": "error", "message": m} for m in report.rejected] + [
        {"level": "warning", "message": m} for m in warnings
    ]
    run.save(update_fields=["status", "finished_at", "counts", "errors"])
    if loader.changed_races or loader.calendar_changed or loader.vacated_round_ids:
        slugs = set(Race.objects.filter(pk__in=loader.changed_races).values_list("slug", flat=True))
        races_changed_send(
            sender=ergast_dump_load,
            race_ids=sorted(slugs | loader.calendar_changed),
            vacated_round_ids=sorted(loader.vacated_round_ids),
        )
    return report
