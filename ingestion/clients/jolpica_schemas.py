"""Pydantic schemas of the Jolpica-F1 (Ergast-compatible) JSON we use.

Jolpica sends numbers as strings; the schemas keep them as strings but insist on their shape
(`Digits` for integers, `Number` for points), so a drifted payload — `"position": "R"`, a field
missing or renamed — fails here, before anything is mapped or written. Unknown extra fields are
ignored (additions upstream are not drift).

Classes are named `...Item` because the JSON keys they sit under (`Driver`, `Circuit`, ...) are
field names, and a field may not share its name with its type.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

Digits = Annotated[str, StringConstraints(pattern=r"^\d+$")]
Number = Annotated[str, StringConstraints(pattern=r"^-?\d+(\.\d+)?$")]


def _round_from_1(value: str) -> str:
    # Race's `race_round_gte_1`: a round 0 passed `Digits` and reached the database as an
    # IntegrityError; here it is a payload error naming the field, before anything is written.
    if int(value) < 1:
        raise ValueError("rounds start at 1")
    return value


RaceRound = Annotated[Digits, AfterValidator(_round_from_1)]


def web_url(value: object) -> str:
    """An http(s) link as given, else "" — never another scheme. The links (Wikipedia pages) come from
    upstream, are stored and served by the public API for the frontend to render as <a href>: a
    `javascript:` one there would run in a fan's browser (security QA fed one through the mirror and
    the API served it). Dropped rather than the race or driver rejected: a link is not data we use."""
    text = "" if value is None else str(value).strip()
    return text if re.match(r"(?i)^https?://[^\s]+$", text) else ""


WebUrl = Annotated[str, BeforeValidator(web_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LocationItem(_Model):
    lat: str | None = None
    long: str | None = None
    locality: str = ""
    country: str = ""


class CircuitItem(_Model):
    circuitId: str = Field(min_length=1)
    url: WebUrl = ""
    circuitName: str = Field(min_length=1)
    Location: LocationItem


class DriverItem(_Model):
    driverId: str = Field(min_length=1)
    permanentNumber: Digits | None = None
    code: str | None = None
    url: WebUrl = ""
    givenName: str
    familyName: str
    dateOfBirth: dt.date | None = None
    nationality: str = ""


class ConstructorItem(_Model):
    constructorId: str = Field(min_length=1)
    url: WebUrl = ""
    name: str = Field(min_length=1)
    nationality: str = ""


class SessionTime(_Model):
    date: dt.date
    time: str | None = None


class Race(_Model):
    season: Digits
    round: RaceRound
    url: WebUrl = ""
    raceName: str = Field(min_length=1)
    Circuit: CircuitItem
    date: dt.date
    time: str | None = None
    FirstPractice: SessionTime | None = None
    SecondPractice: SessionTime | None = None
    ThirdPractice: SessionTime | None = None
    Qualifying: SessionTime | None = None
    Sprint: SessionTime | None = None
    SprintShootout: SessionTime | None = None
    SprintQualifying: SessionTime | None = None


class ResultTime(_Model):
    millis: Digits | None = None
    time: str = ""


class LapTime(_Model):
    time: str = ""


class SpeedItem(_Model):
    units: str = "kph"
    speed: Number


class FastestLapItem(_Model):
    rank: Digits | None = None
    lap: Digits | None = None
    Time: LapTime | None = None
    AverageSpeed: SpeedItem | None = None


class Result(_Model):
    """A race or sprint classification row. `position` is Jolpica's finishing order (always a number).
    `number` is left out for an entry without a car number (1961-1963: drivers who withdrew; `\\N`
    in the dump): stored as 0, as the dump loader does (`RaceResult.number`: 0 when unknown)."""

    number: Digits | None = None
    position: Digits
    positionText: str = Field(min_length=1)
    points: Number
    Driver: DriverItem
    Constructor: ConstructorItem
    grid: Digits | None = None
    laps: Digits
    status: str = Field(min_length=1)
    Time: ResultTime | None = None
    FastestLap: FastestLapItem | None = None


class QualifyingResult(_Model):
    number: Digits
    position: Digits
    Driver: DriverItem
    Constructor: ConstructorItem
    Q1: str | None = None
    Q2: str | None = None
    Q3: str | None = None


class PitStop(_Model):
    driverId: str = Field(min_length=1)
    lap: Digits
    stop: Digits
    time: str | None = None
    duration: str = ""


class DriverStanding(_Model):
    position: Digits | None = None
    positionText: str = ""
    points: Number
    wins: Digits
    Driver: DriverItem
    Constructors: list[ConstructorItem] = []


class ConstructorStanding(_Model):
    position: Digits | None = None
    positionText: str = ""
    points: Number
    wins: Digits
    Constructor: ConstructorItem


class Status(_Model):
    statusId: Digits
    count: Digits | None = None
    status: str


class Envelope(_Model):
    """The paging part of every answer: MRData.limit/offset/total."""

    limit: Digits
    offset: Digits
    total: Digits


# Per-endpoint: (table key in MRData, list key in the table, item key inside each race or None).
ENDPOINTS: dict[str, tuple[str, str, str | None]] = {
    "races": ("RaceTable", "Races", None),
    "results": ("RaceTable", "Races", "Results"),
    "sprint": ("RaceTable", "Races", "SprintResults"),
    "qualifying": ("RaceTable", "Races", "QualifyingResults"),
    "pitstops": ("RaceTable", "Races", "PitStops"),
    "driverstandings": ("StandingsTable", "StandingsLists", "DriverStandings"),
    "constructorstandings": ("StandingsTable", "StandingsLists", "ConstructorStandings"),
    "drivers": ("DriverTable", "Drivers", None),
    "constructors": ("ConstructorTable", "Constructors", None),
    "circuits": ("CircuitTable", "Circuits", None),
    "status": ("StatusTable", "Status", None),
    "seasons": ("SeasonTable", "Seasons", None),
}

ITEM_SCHEMAS: dict[str, type[_Model]] = {
    "Results": Result,
    "SprintResults": Result,
    "QualifyingResults": QualifyingResult,
    "PitStops": PitStop,
    "DriverStandings": DriverStanding,
    "ConstructorStandings": ConstructorStanding,
    "Drivers": DriverItem,
    "Constructors": ConstructorItem,
    "Circuits": CircuitItem,
    "Status": Status,
}
