"""Post-session ingestion from OpenF1 `session_result`: practice (FP1–FP3) and qualifying classifications.

OpenF1 identifies drivers by car number. We resolve a number to (driver, team) from the same
season's classifications we already hold (latest race first), then by OpenF1's `/drivers` acronym +
surname; a number we cannot resolve is reported, never guessed. Race and sprint classifications
(points, statuses) come from the Jolpica sync the daily job runs; the grid is known once qualifying
is ingested, which is when the post-qualifying prediction refresh runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
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
)
from ingestion.services.upsert import upsert_rows

PRACTICE = {SessionType.FP1: "FP1", SessionType.FP2: "FP2", SessionType.FP3: "FP3"}
INGESTED_TYPES = (*PRACTICE, SessionType.QUALIFYING)


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


def driver_numbers_resolve(
    *, race, numbers: Iterable[int], infos: Iterable[DriverInfo]
) -> dict[int, tuple[int, int]]:
    """car number -> (driver_id, team_id) for this race's season."""
    wanted = set(numbers)
    found: dict[int, tuple[int, int]] = {}
    for model in (QualifyingResult, RaceResult, SprintResult, PracticeResult):
        rows = (
            model.objects.filter(race__season_id=race.season_id, number__in=wanted - set(found))
            .order_by("-race__date")
            .values_list("number", "driver_id", "team_id")
        )
        for number, driver_id, team_id in rows:
            found.setdefault(number, (driver_id, team_id))
    for info in infos:
        if info.driver_number in found or info.driver_number not in wanted or not info.name_acronym:
            continue
        driver = (
            Driver.objects.filter(code=info.name_acronym, family_name__iexact=(info.last_name or "").strip())
            .order_by("-date_of_birth")
            .first()
        )
        if driver is None:
            continue
        team_id = (
            RaceResult.objects.filter(driver=driver)
            .order_by("-race__date")
            .values_list("team_id", flat=True)
            .first()
        )
        if team_id is not None:
            found[info.driver_number] = (driver.pk, team_id)
    return found


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


def openf1_session_results_ingest(
    *, session: OpenF1Session, client: OpenF1Client | None = None, now: datetime | None = None
) -> dict:
    """Ingest one ended session's classification. Returns counts; `rows == 0` means not published yet."""
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
    lookup = driver_numbers_resolve(race=race, numbers=[r.driver_number for r in results], infos=infos)
    unmatched = sorted({r.driver_number for r in results} - set(lookup))
    with transaction.atomic():
        if session.session_type in PRACTICE:
            rows = practice_rows(
                race_id=race.pk, session=PRACTICE[session.session_type], results=results, lookup=lookup
            )
            counts = upsert_rows(
                model=PracticeResult,
                rows=rows,
                key_fields=["race_id", "session", "driver_id"],
                scope={"race_id": race.pk, "session": PRACTICE[session.session_type]},
            )
        else:
            rows = qualifying_rows(race_id=race.pk, results=results, lookup=lookup)
            counts = upsert_rows(
                model=QualifyingResult,
                rows=rows,
                key_fields=["race_id", "driver_id"],
                scope={"race_id": race.pk},
            )
        OpenF1Session.objects.filter(pk=session.pk).update(results_ingested_at=now)
    return {"rows": len(rows), **counts.as_dict(), "unmatched_numbers": unmatched}
