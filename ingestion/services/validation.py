"""Row validation shared by every ingestion path (Ergast CSV dump, Jolpica API sync).

Both paths turn their source into plain row dicts keyed by model attnames (`race_id`, `driver_id`,
`position`, `position_text`, `position_order`, `number`, `points`, ...) and call
`validate_classification` once per race and session before anything is written. A non-empty list
of problems means "reject this race's rows for this session and record the messages"; the other
races still load. Messages name the race label the caller passes and the offending field, e.g.
`2021_uae race: field 'position_order' 3 used by 2 cars (driver_id 1, 830)`.

Values may be raw strings (API payloads, CSV cells) or already typed; numeric fields must parse
as integers/decimals. The checks are deliberately the invariants the database also enforces
(so a bad race fails here with a readable message, not as an IntegrityError mid-transaction),
plus the shape checks an upstream schema drift trips (missing field, `"position": "R"`).

Shared cars (1950s): two or more drivers of one car share a classification — same `number`, same
`position_order` — and are told apart by `shared_car_index` (0, 1, ...; see `RaceResult`).
`assign_shared_car_index` numbers them; validation allows such groups only when they really are
one car.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from decimal import Decimal, InvalidOperation

from ingestion.models.results import PositionText

KINDS = ("race", "sprint", "qualifying", "practice")

# The last season the record has a shared drive: in the Ergast dump, every race position order held
# by more than one driver (105; 70 classified positions) is one car (same number and team), 1950-1964
# (the last: 1964 United States GP, Spence and Clark retired the #2 Lotus; the last classified, 1961).
# Staff corrections in admin may share a position only on that pattern (`shared_drive`).
SHARED_DRIVES_LAST_SEASON = 1964

_REQUIRED: dict[str, tuple[str, ...]] = {
    "race": ("driver_id", "team_id", "position_text", "position_order", "status_id"),
    "sprint": ("driver_id", "team_id", "position_text", "position_order", "status_id"),
    "qualifying": ("driver_id", "team_id", "position"),
    "practice": ("driver_id", "team_id", "session"),
}
# Integer fields that may be null/absent; when present they must parse (and be >= 0).
_OPTIONAL_INTS = (
    "number",
    "grid",
    "position",
    "laps",
    "milliseconds",
    "fastest_lap",
    "fastest_lap_rank",
    "shared_car_index",
    "q1_ms",
    "q2_ms",
    "q3_ms",
)
_OPTIONAL_DECIMALS = ("points", "fastest_lap_speed")
_POSITION_TEXTS = frozenset(PositionText.values)


def _is_null(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in ("", "\\N")
    return value != value  # NaN from pandas


def parse_int(value) -> int | None:
    """Parse an integer-valued cell; None for null; ValueError for anything else ("R", "1.5")."""
    if _is_null(value):
        return None
    if isinstance(value, bool):
        raise ValueError(repr(value))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(repr(value))
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(repr(value))
    return int(text)


def parse_decimal(value) -> Decimal | None:
    if _is_null(value):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(repr(value)) from None
    if not number.is_finite():
        raise ValueError(repr(value))
    return number


def assign_shared_car_index(rows: Sequence[MutableMapping]) -> None:
    """Set `shared_car_index` in place: 0 for the first row of each `position_order`, 1, 2, ... for
    co-drivers listed after it (source order). Call per race, before validation."""
    seen: Counter = Counter()
    for row in rows:
        order = row.get("position_order")
        try:
            key = parse_int(order)
        except ValueError:
            key = order  # left for validation to report
        row["shared_car_index"] = seen[key]
        seen[key] += 1


def shared_drive(*, season: int, cars: Iterable[tuple[int | None, int | None]]) -> bool:
    """Whether race results at one position may share it: co-drivers of one car, i.e. every
    (car number, team id) the same, a known number (0 = unknown), in a season that had shared drives.
    The admin's rule for staff corrections; the loaders keep `validate_classification`'s (same number)."""
    distinct = set(cars)
    if season > SHARED_DRIVES_LAST_SEASON or len(distinct) != 1:
        return False
    number, team = next(iter(distinct))
    return bool(number) and team is not None


def validate_classification(rows: Sequence[Mapping], *, race_label: str, kind: str) -> list[str]:
    """Check one race's rows of one session type. Returns problems (empty = valid).

    kind: "race" (RaceResult rows, shared cars allowed), "sprint", "qualifying" or "practice"
    (practice rows may mix FP1..FP3; uniqueness is checked per `session`).
    Checks: required fields present and non-null; integer/decimal fields parse; `position_text` is
    a number or one of PositionText's codes and agrees with `position`; `position_order` is exactly
    1..N with no gaps or repeats (a repeat only for co-drivers of one car); positions unique; one row
    per driver (per car number for race results, per session for practice).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    label = f"{race_label} {kind}"
    problems: list[str] = []
    if not rows:
        return problems

    parsed: list[dict] = []
    for i, row in enumerate(rows, start=1):
        who = f"row {i} (driver_id {row.get('driver_id', '?')})"
        for name in _REQUIRED[kind]:
            if name not in row:
                problems.append(f"{label}: {who}: required field {name!r} is missing")
            elif _is_null(row[name]):
                problems.append(f"{label}: {who}: required field {name!r} is empty")
        values: dict = {"driver_id": row.get("driver_id"), "session": row.get("session")}
        for name in (*_OPTIONAL_INTS, "position_order"):
            if name not in row:
                continue
            try:
                values[name] = parse_int(row[name])
            except ValueError:
                problems.append(f"{label}: {who}: field {name!r} is not an integer: {row[name]!r}")
                continue
            if values[name] is not None and values[name] < 0:
                problems.append(f"{label}: {who}: field {name!r} is negative: {row[name]!r}")
        for name in _OPTIONAL_DECIMALS:
            if name in row:
                try:
                    parse_decimal(row[name])
                except ValueError:
                    problems.append(f"{label}: {who}: field {name!r} is not a number: {row[name]!r}")
        if "position_text" in row and not _is_null(row["position_text"]):
            text = str(row["position_text"]).strip()
            if not (text.isdigit() or text in _POSITION_TEXTS):
                problems.append(f"{label}: {who}: field 'position_text' has unknown value {text!r}")
            elif text.isdigit() and values.get("position") not in (None, int(text)):
                problems.append(
                    f"{label}: {who}: field 'position' {values['position']} disagrees with position_text {text!r}"
                )
            elif not text.isdigit() and values.get("position") is not None:
                problems.append(
                    f"{label}: {who}: field 'position' is {values['position']} but position_text {text!r} is not classified"
                )
        if kind in ("race", "sprint") and values.get("position_order") == 0:
            problems.append(f"{label}: {who}: field 'position_order' must start at 1, got 0")
        parsed.append(values)

    if problems:
        return problems  # uniqueness checks on unparsed values would only add noise
    problems.extend(_check_orders(parsed, label=label, kind=kind))
    problems.extend(_check_unique(parsed, label=label, kind=kind))
    return problems


def _check_orders(parsed: list[dict], *, label: str, kind: str) -> list[str]:
    if kind not in ("race", "sprint"):
        return []
    problems = []
    cars: dict[int, list[dict]] = defaultdict(list)
    for v in parsed:
        cars[v["position_order"]].append(v)
    for order, group in sorted(cars.items()):
        if len(group) < 2:
            continue
        numbers = {v.get("number") for v in group}
        drivers = ", ".join(str(v["driver_id"]) for v in group)
        if kind == "sprint" or len(numbers) != 1 or None in numbers or 0 in numbers:
            problems.append(
                f"{label}: field 'position_order' {order} used by {len(group)} cars (driver_id {drivers})"
            )
    expected = list(range(1, len(cars) + 1))
    if sorted(cars) != expected:
        missing = sorted(set(expected) - set(cars))
        extra = sorted(set(cars) - set(expected))
        problems.append(
            f"{label}: field 'position_order' is not 1..{len(cars)}"
            + (f"; missing {missing[:5]}" if missing else "")
            + (f"; unexpected {extra[:5]}" if extra else "")
        )
    return problems


def _check_unique(parsed: list[dict], *, label: str, kind: str) -> list[str]:
    problems = []
    scope = (lambda v: v.get("session")) if kind == "practice" else (lambda v: None)
    if kind == "race":
        per_driver = Counter((v["driver_id"], v.get("number")) for v in parsed)
        what = "driver and car number"
    else:
        per_driver = Counter((scope(v), v["driver_id"]) for v in parsed)
        what = "driver" + (" and session" if kind == "practice" else "")
    for key, n in per_driver.items():
        if n > 1:
            problems.append(f"{label}: field 'driver_id' repeats {n} times for the same {what} {key}")
    # Positions: one per car (co-drivers of a shared car share theirs).
    positions: dict[tuple, set] = defaultdict(set)
    for v in parsed:
        if v.get("position") is not None:
            car = v.get("position_order") if kind == "race" else (v["driver_id"], id(v))
            positions[(scope(v), v["position"])].add(car)
    for (session, position), cars in sorted(positions.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if len(cars) > 1:
            where = f" in {session}" if session else ""
            problems.append(f"{label}: field 'position' {position} used by {len(cars)} cars{where}")
    return problems
