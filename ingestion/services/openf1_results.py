"""Post-session ingestion from OpenF1 `session_result`: practice (FP1–FP3) and qualifying classifications.

OpenF1 identifies drivers by car number. We resolve a number to (driver, team) from the same
season's classifications we already hold (latest race first), then by OpenF1's `/drivers` acronym +
surname; a number we cannot resolve is reported, never guessed. Race and sprint classifications
(points, statuses) come from the Jolpica sync the daily job runs; the grid is known once qualifying
is ingested, which is when the post-qualifying prediction refresh runs.

A classification is checked with the shared `validate_classification` (the rules the dump load and
the Jolpica sync apply) before anything is written: a session whose rows break them (e.g. 2025
Singapore qualifying, where upstream lists positions 12 and 13 twice) is rejected with messages
naming the race, the session and the field, its stored rows stay, and the callers go on with the
other sessions (`sync_openf1 --results` via `openf1_results_sync`, the live job's catch-up).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import DataError, IntegrityError, transaction
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
)
from ingestion.services.sync_runs import sync_run_recorded
from ingestion.services.upsert import upsert_rows
from ingestion.services.validation import validate_classification
from ingestion.signals import races_changed_send

logger = logging.getLogger(__name__)

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


def openf1_session_results_ingest(
    *, session: OpenF1Session, client: OpenF1Client | None = None, now: datetime | None = None
) -> dict:
    """Ingest one ended session's classification. Returns counts; `rows == 0` means not published yet,
    or, with a `rejected` entry (race, session, session_key, message, problems), that the classification
    failed validation (or a database constraint) and nothing was written: the stored rows stay and
    `results_ingested_at` stays empty, so a later run tries again (upstream may correct it)."""
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
    try:
        with transaction.atomic():
            counts = upsert_rows(model=model, rows=rows, key_fields=key_fields, scope=scope)
            OpenF1Session.objects.filter(pk=session.pk).update(results_ingested_at=now)
    except (IntegrityError, DataError) as exc:  # e.g. a position still held by a stored row
        problem = f"{race.slug} {session.session_type}: the database rejected the classification: {exc}"
        return {**_rejected(session=session, problems=[problem.strip()]), "unmatched_numbers": unmatched}
    if counts.created or counts.updated or counts.deleted:
        # bulk upserts fire no model signals: the race page and API, the driver / team analytics and
        # the season lists read these rows, so their cache entries go (a later Jolpica sync that
        # finds the same rows changes nothing and would not clear them)
        transaction.on_commit(
            lambda: races_changed_send(sender=openf1_session_results_ingest, race_ids=[race.slug])
        )
    return {"rows": len(rows), **counts.as_dict(), "unmatched_numbers": unmatched}


def openf1_results_sync(
    *, seasons: Iterable[int], client: OpenF1Client | None = None, now: datetime | None = None
) -> dict:
    """Ingest the classification of every ended practice / qualifying session of `seasons` not yet
    ingested, oldest first (`sync_openf1 --results`). One transaction per session.

    Recorded as a SyncRun (source openf1, params kind=results): a rejected session goes to its errors
    (race, session, session_key, message, problems) and the run goes on — status `partial`; a source
    error fails the run (sessions committed before it stay) and is raised. Returns the summary:
    `sync_run`, `status`, `sessions` (per session key: rows / created / updated / unchanged /
    unmatched_numbers, or rejected), `ingested`, `not_published`, `rejected` (the messages), `requests`
    (the HTTP requests it made, as its SyncRun's `requests_made`)."""
    client = client or OpenF1Client()
    now = now or timezone.now()
    seasons = sorted(set(seasons))
    ended = (
        OpenF1Session.objects.select_related("race")
        .filter(
            race__season_id__in=seasons,
            session_type__in=INGESTED_TYPES,
            date_end__lt=now,
            results_ingested_at__isnull=True,
        )
        .order_by("date_start", "session_key")
    )
    summary: dict = {"sessions": {}, "ingested": 0, "not_published": 0, "rejected": []}
    requests_before = client.requests_made  # the client may have served the sessions sync already
    with sync_run_recorded(
        source=SyncSource.OPENF1, params={"kind": "results", "seasons": seasons}
    ) as record:
        summary["sync_run"] = record.pk
        try:
            for session in ended:
                result = openf1_session_results_ingest(session=session, client=client, now=now)
                summary["sessions"][session.session_key] = result
                if "rejected" in result:
                    record.errors.append(result["rejected"])
                    summary["rejected"].append(result["rejected"]["message"])
                elif result.get("rows"):
                    summary["ingested"] += 1
                else:
                    summary["not_published"] += 1
        finally:  # the sessions done before a failure too
            record.requests_made = client.requests_made - requests_before
            record.counts = {k: summary[k] for k in ("ingested", "not_published")} | {
                "rejected": len(summary["rejected"]),
                "sessions": len(summary["sessions"]),
            }
    summary["status"] = "partial" if summary["rejected"] else "succeeded"
    summary["requests"] = record.requests_made
    return summary


def openf1_sync(*, seasons: Iterable[int], results: bool = False, client: OpenF1Client | None = None) -> dict:
    """`sync_openf1`: the sessions of `seasons` (`openf1_sessions_sync`), then with `results` the
    ended sessions' classifications (`openf1_results_sync`), through one client. Returns the sessions
    summary with `results` added, and `requests` = every request the two made — the sessions part
    alone was reported, leaving out the `--results` requests (two per session); `results.requests`
    is that part. Each part keeps its own SyncRun and `requests_made`."""
    from ingestion.services.openf1_sessions import openf1_sessions_sync

    client = client or OpenF1Client()
    before = client.requests_made
    counts = openf1_sessions_sync(seasons=seasons, client=client)
    if results:
        counts["results"] = openf1_results_sync(seasons=seasons, client=client)
    counts["requests"] = client.requests_made - before
    return counts
