"""Live timing: the 30-second poll during a session, and post-session results ingestion.

`live_timing_tick(now=...)` is what the beat entry runs. It reads only our database to decide what to
do, so outside a session (and with no session awaiting results) it sends zero requests:

* a session is "in progress" from its OpenF1 start until LIVE_END_GRACE after its scheduled end;
* while one is, it polls OpenF1 position / intervals / laps / race_control (only records newer than
  the last poll) at most once per LIVE_POLL_INTERVAL, whatever the number of ticks or workers, and
  keeps the latest row per driver plus the race-control messages; the first failed request ends the
  poll (so a 401 storm costs one request per tick) and feeds the fleet-wide circuit breaker, which
  opens after 3 failures and then allows one probe per 30 s;
* after a practice or qualifying session ends, its classification is ingested from OpenF1 (a sprint's
  from Jolpica, which has its points and statuses)
  (retried at most every RESULTS_RETRY until published, for up to RESULTS_GIVE_UP), and that race's
  predictions are refreshed (after qualifying: the post-qualifying stage, the grid being known). A
  classification failing the shared validation is not written: the tick's counts carry its
  `rejected` message (race, session, field), the other sessions go on, and it is tried again later;
  so is a sprint (or qualifying, below) asked of Jolpica while another sync or a dump load holds the
  race-data lock: the session's result says `skipped` (naming the holder), the tick goes on; a
  classification with a car that cannot be placed (a driver not stored yet: `unmatched_numbers`,
  `incomplete`) is written without it and stays awaited, on the same retries, a retry queueing a
  refresh only when it changed something; the tick's counts list it under `partial` (the JobRun's
  error says so). RESULTS_GIVE_UP after the session (RESULTS_RETRY_WINDOW, the rule
  `sync_openf1 --results` follows too) one last attempt — the first free tick in LAST_ATTEMPT_SLOT,
  a day — marks it ingested without the car, with a
  warning naming it (an unpublished session: a warning naming the session);
* a qualifying classification OpenF1 has not given QUALIFYING_JOLPICA_AFTER after the session (down,
  or late), or has given with a car that cannot be placed, is asked of Jolpica for that race alone,
  on the same retries, until the race starts: the
  post-qualifying set is then made before the race all the same (the daily and weekly jobs catch
  up on what this misses, `post_qualifying_refresh_catch_up`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ingestion.clients.http import SourceError
from ingestion.clients.openf1 import Interval, Lap, OpenF1Client, Position, RaceControl
from ingestion.models import LiveDriverSnapshot, OpenF1Session, RaceControlMessage, SessionType
from ingestion.selectors import race_pre_race_cutoff
from ingestion.services.openf1_results import (
    INGESTED_TYPES,
    RESULTS_RETRY_WINDOW,
    openf1_session_results_ingest,
)
from ingestion.services.upsert import upsert_rows

logger = logging.getLogger(__name__)

LIVE_END_GRACE = timedelta(minutes=20)  # red flags and overruns
RESULTS_DELAY = timedelta(minutes=5)
RESULTS_RETRY = timedelta(minutes=10)
# One rule with `sync_openf1 --results`: a session is awaited for this long after it ends, then one
# last attempt (at the first free tick of LAST_ATTEMPT_SLOT after it) gives up — a classification with a car still
# unplaced is then marked ingested without it, and a warning names the car (or, unpublished, the session).
RESULTS_GIVE_UP = RESULTS_RETRY_WINDOW
# OpenF1 publishes a classification minutes after the session, Jolpica within the hour or a few: a
# qualifying OpenF1 has not given by then is asked of Jolpica (2 requests a retry, until the start).
QUALIFYING_JOLPICA_AFTER = timedelta(minutes=30)


def live_session_current(*, now: datetime) -> OpenF1Session | None:
    return (
        OpenF1Session.objects.select_related("race")
        .filter(
            date_start__lte=now, date_end__gte=now - LIVE_END_GRACE, race__removed_upstream_at__isnull=True
        )
        .order_by("-date_start")
        .first()
    )


# Sprint classifications (points, statuses) come from Jolpica, asked for that one race once the sprint ends.
POST_SESSION_TYPES = (*INGESTED_TYPES, SessionType.SPRINT)


# How long after the window the last attempt may come. It was one RESULTS_RETRY: a tick does no results
# work while a session is live, and FP2 ends at the time of day the race ends two days later, so the
# race's live window covered that slot and the last attempt never came (review: 42 of 324 sessions of
# 2023-2026, mostly FP2) — the session dropped out without a give-up or a warning.
LAST_ATTEMPT_SLOT = timedelta(days=1)


def _results_due(session: OpenF1Session, *, now: datetime) -> bool:
    """Within the window: every RESULTS_RETRY. After it: one last attempt, at the first free tick of
    LAST_ATTEMPT_SLOT (not one made since the window closed), which gives up."""
    attempted = session.results_attempted_at
    closes = session.date_end + RESULTS_GIVE_UP
    if now >= closes:
        return attempted is None or attempted < closes
    return attempted is None or now - attempted >= RESULTS_RETRY


def sessions_awaiting_results(*, now: datetime) -> list[OpenF1Session]:
    qs = OpenF1Session.objects.select_related("race").filter(
        session_type__in=POST_SESSION_TYPES,
        results_ingested_at__isnull=True,
        race__removed_upstream_at__isnull=True,  # a race upstream no longer lists (Race.objects.on_calendar)
        date_end__lte=now - RESULTS_DELAY,
        # the window, plus the slot of the last attempt (the one that gives up)
        date_end__gte=now - RESULTS_GIVE_UP - LAST_ATTEMPT_SLOT,
    )
    return [s for s in qs if _results_due(s, now=now)]


# ----------------------------------------------------------------------------- pure merging
def _gap(value) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float | int) else str(value)[:16]


def live_snapshots_merge(
    *,
    current: dict[int, dict],
    positions: list[Position],
    intervals: list[Interval],
    laps: list[Lap],
) -> dict[int, dict]:
    """Pure: fold new feed records (any order) into the latest-per-driver state."""
    state = {n: dict(row) for n, row in current.items()}

    def row(number: int) -> dict:
        return state.setdefault(
            number,
            {
                "driver_number": number,
                "position": None,
                "gap_to_leader": "",
                "interval": "",
                "lap_number": None,
                "last_lap_seconds": None,
                "sample_at": None,
            },
        )

    def newer(r: dict, at: datetime | None) -> None:
        if at is not None and (r["sample_at"] is None or at > r["sample_at"]):
            r["sample_at"] = at

    for p in sorted(positions, key=lambda x: x.date):
        r = row(p.driver_number)
        r["position"] = p.position
        newer(r, p.date)
    for i in sorted(intervals, key=lambda x: x.date):
        r = row(i.driver_number)
        r["gap_to_leader"], r["interval"] = _gap(i.gap_to_leader), _gap(i.interval)
        newer(r, i.date)
    for lap in sorted(laps, key=lambda x: x.lap_number):
        r = row(lap.driver_number)
        if r["lap_number"] is None or lap.lap_number >= r["lap_number"]:
            r["lap_number"] = lap.lap_number
            if lap.lap_duration is not None:
                r["last_lap_seconds"] = lap.lap_duration
        newer(r, lap.date_start)
    return state


# --------------------------------------------------------------------------------- the poll
def live_session_poll(*, session: OpenF1Session, now: datetime, client: OpenF1Client | None = None) -> dict:
    interval = settings.LIVE_POLL_INTERVAL
    if session.live_polled_at and (now - session.live_polled_at).total_seconds() < interval - 1:
        return {"skipped": "polled less than LIVE_POLL_INTERVAL ago", "session": session.session_key}
    session.live_polled_at = now
    client = client or OpenF1Client(live=True, clock=now.timestamp)
    current = {
        r["driver_number"]: r
        for r in LiveDriverSnapshot.objects.filter(session=session).values(
            "driver_number",
            "position",
            "gap_to_leader",
            "interval",
            "lap_number",
            "last_lap_seconds",
            "sample_at",
        )
    }
    since = max((r["sample_at"] for r in current.values() if r["sample_at"]), default=None)
    last_message = (
        RaceControlMessage.objects.filter(session=session)
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    key = session.session_key
    try:
        positions = client.position(session_key=key, since=since)
        intervals = client.intervals(session_key=key, since=since)
        laps = client.laps(session_key=key, since=since)
        messages: list[RaceControl] = client.race_control(session_key=key, since=last_message)
    except SourceError as exc:
        session.live_error = str(exc)[:300]
        session.save(update_fields=["live_polled_at", "live_error"])
        logger.warning("live poll failed", extra={"session": key, "error": session.live_error})
        return {
            "session": key,
            "live": "unavailable",
            "error": session.live_error,
            "requests": client.requests_made,
        }

    merged = live_snapshots_merge(current=current, positions=positions, intervals=intervals, laps=laps)
    with transaction.atomic():
        snap = upsert_rows(
            model=LiveDriverSnapshot,
            rows=[{"session_id": session.pk, **r} for r in merged.values()],
            key_fields=["session_id", "driver_number"],
            scope={"session_id": session.pk},
        )
        msgs = upsert_rows(
            model=RaceControlMessage,
            rows=list(
                {
                    (m.date, m.message): {
                        "session_id": session.pk,
                        "date": m.date,
                        "message": m.message,
                        "category": m.category or "",
                        "flag": m.flag or "",
                        "scope": m.scope or "",
                        "lap_number": m.lap_number,
                        "driver_number": m.driver_number,
                    }
                    for m in messages
                }.values()
            ),
            key_fields=["session_id", "date", "message"],
            scope={"session_id": session.pk},
        )
        session.live_ok_at = now
        session.live_error = ""
        session.save(update_fields=["live_polled_at", "live_ok_at", "live_error"])
    return {
        "session": key,
        "live": "ok",
        "snapshots": snap.as_dict(),
        "race_control": msgs.as_dict(),
        "requests": client.requests_made,
    }


IDLE_REASON = "no session in progress"


def live_timing_idle_reason(*, now: datetime | None = None) -> str | None:
    """Why a tick has nothing to do (no session in progress, no results awaited), else None. 2 reads.

    The beat task runs this first so an idle tick leaves no JobRun (see job_run_execute's idle_check).
    """
    now = now or timezone.now()
    if live_session_current(now=now) is None and not sessions_awaiting_results(now=now):
        return IDLE_REASON
    return None


def live_timing_tick(*, now: datetime | None = None, client: OpenF1Client | None = None) -> dict:
    """One beat tick: poll the session in progress, ingest ended sessions' results. DB-only when idle."""
    now = now or timezone.now()
    session = live_session_current(now=now)
    # While a session is live OpenF1 refuses anonymous requests: results of earlier sessions wait.
    pending = [] if session is not None else sessions_awaiting_results(now=now)
    if session is None and not pending:
        return {"skipped": IDLE_REASON}
    counts: dict = {}
    if session is not None:
        counts["poll"] = live_session_poll(session=session, now=now, client=client)
    for ended in pending:
        result = _post_session(session=ended, now=now)
        counts.setdefault("results", {})[ended.session_key] = result
        # the run is not plainly a success: its JobRun's error says why
        for problem in ("incomplete", "conflicts"):
            if problem in result:
                counts.setdefault("partial", []).append(result[problem]["message"])
    if session is not None and "skipped" in counts["poll"] and not pending:
        return {"skipped": counts["poll"]["skipped"], **counts}
    return counts


def _race_kind_from_jolpica(*, session: OpenF1Session, kind: str, now: datetime) -> dict:
    """One classification (`kind`: sprint, qualifying) of the session's race from Jolpica, that race
    alone (the calendar and its round's `kind`, two requests). `rows`: how many Jolpica gave (0: not
    published yet, rejected — `errors` — or not asked: the race-data lock held by another sync or a
    dump load, `skipped`, or Jolpica unusable, `error`); with rows the session counts as ingested.
    Without, it stays awaited and a later tick asks again (every RESULTS_RETRY, as any session): a
    held lock is no failure of the tick — the daily sync or a staff resync — so it is not raised."""
    from ingestion.services.jolpica_sync import TABLE_NAMES, SyncAlreadyRunning, jolpica_sync

    race = session.race
    try:
        summary = jolpica_sync(seasons=[race.season_id], race_ids=[race.pk], only=kind, resume=False)
    except SyncAlreadyRunning as exc:
        logger.info("Jolpica classification put off: lock held", extra={"session": session.session_key})
        return {"rows": 0, "skipped": str(exc)[:300]}
    except SourceError as exc:
        return {"rows": 0, "error": str(exc)[:300]}
    counts = summary.counts.get(TABLE_NAMES[kind])
    rows = counts.created + counts.updated + counts.unchanged if counts is not None else 0
    out: dict = {
        "rows": rows,
        "requests": summary.requests_made,
        "changed": race.slug in summary.changed_race_ids,
    }
    if summary.errors:
        out["errors"] = [e.get("message", "") for e in summary.errors[:5]]
    if rows:
        OpenF1Session.objects.filter(pk=session.pk).update(results_ingested_at=now)
    return out


def _sprint_from_jolpica(*, session: OpenF1Session, now: datetime) -> dict:
    """The sprint's classification (points, statuses: OpenF1 has neither) from Jolpica."""
    OpenF1Session.objects.filter(pk=session.pk).update(results_attempted_at=now)
    return {**_race_kind_from_jolpica(session=session, kind="sprint", now=now), "source": "jolpica"}


def _qualifying_from_jolpica_due(*, session: OpenF1Session, now: datetime) -> bool:
    """A qualifying session OpenF1 has had QUALIFYING_JOLPICA_AFTER to classify, of a race not started
    by `now` (after the start a post-qualifying set would be no pre-race prediction, and the daily
    sync brings the classification anyway)."""

    if session.session_type != SessionType.QUALIFYING or now < session.date_end + QUALIFYING_JOLPICA_AFTER:
        return False
    return race_pre_race_cutoff(race=session.race) > now


def _post_session(*, session: OpenF1Session, now: datetime) -> dict:
    try:
        if session.session_type == SessionType.SPRINT:
            result = _sprint_from_jolpica(session=session, now=now)
        else:
            result = openf1_session_results_ingest(session=session, client=OpenF1Client(), now=now)
    except SourceError as exc:  # try again on a later tick
        OpenF1Session.objects.filter(pk=session.pk).update(results_attempted_at=now)
        result = {"error": str(exc)[:300]}
    if (
        not result.get("rows") or result.get("unmatched_numbers") or "conflicts" in result
    ) and _qualifying_from_jolpica_due(session=session, now=now):
        # OpenF1 down or late: without the grid the race would be run with its pre-qualifying set
        # only; or a car OpenF1 gave could not be placed (a driver not stored: Jolpica's
        # qualifying is what stores him, and has the whole grid)
        fallback = _race_kind_from_jolpica(session=session, kind="qualifying", now=now)
        result["jolpica"] = fallback
        if fallback["rows"]:
            result.update(rows=fallback["rows"], source="jolpica")
            if "incomplete" in result:  # Jolpica's classification completed it: ingested
                result.pop("incomplete")
                result["changed"] = bool(result.get("changed") or fallback.get("changed"))
    # the last attempt (an incomplete classification is marked ingested, and warned of, by the ingest)
    if (
        now >= session.date_end + RESULTS_GIVE_UP
        and "incomplete" not in result
        and OpenF1Session.objects.filter(pk=session.pk, results_ingested_at__isnull=True).exists()
    ):
        logger.warning(
            "post-session results given up: %s %s (session %s) has no classification stored "
            "%s after it; the live job no longer asks for it",
            session.race.slug,
            session.session_name,
            session.session_key,
            RESULTS_GIVE_UP,
            extra={"session": session.session_key, "result": str(result)[:300]},
        )
    # A session left awaited for a car not placed yet is asked again every RESULTS_RETRY: a retry
    # that finds the same rows changes nothing and queues no second refresh.
    if result.get("rows") and (result.get("changed", True) or not result.get("unmatched_numbers")):
        stage = {SessionType.QUALIFYING: "post_qualifying", SessionType.SPRINT: "sprint"}.get(
            session.session_type, "practice"
        )
        from predictions.tasks import race_predictions_refresh_enqueue

        race_predictions_refresh_enqueue(race_id=session.race_id, trigger=stage)
        result["predictions_refresh"] = stage
    return result


# ------------------------------------------------------------------------------- read side
@dataclass
class LiveStatus:
    """What the race page shows. state: idle (no session now) | live | unavailable (in progress, no data)."""

    state: str
    session_name: str = ""
    session_type: str = ""
    updated_at: datetime | None = None
    reason: str = ""
    drivers: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)


def live_status_get(*, race, now: datetime | None = None, messages_limit: int = 20) -> LiveStatus:
    """Live state of `race` for the dashboard/API (3 queries at most; never raises for missing data)."""
    now = now or timezone.now()
    session = (
        OpenF1Session.objects.filter(race=race, date_start__lte=now, date_end__gte=now - LIVE_END_GRACE)
        .order_by("-date_start")
        .first()
    )
    if session is None:
        return LiveStatus(state="idle")
    stale_after = timedelta(seconds=3 * settings.LIVE_POLL_INTERVAL)
    fresh = session.live_ok_at is not None and now - session.live_ok_at <= stale_after
    base = {"session_name": session.session_name, "session_type": session.session_type}
    if not fresh:
        reason = session.live_error or "no live data received yet"
        return LiveStatus(state="unavailable", updated_at=session.live_ok_at, reason=reason, **base)
    drivers = list(
        LiveDriverSnapshot.objects.filter(session=session)
        .order_by("position", "driver_number")
        .values(
            "driver_number",
            "position",
            "gap_to_leader",
            "interval",
            "lap_number",
            "last_lap_seconds",
            "sample_at",
        )
    )
    messages = list(
        RaceControlMessage.objects.filter(session=session)
        .order_by("-date")
        .values("date", "category", "flag", "lap_number", "message")[:messages_limit]
    )
    return LiveStatus(state="live", updated_at=session.live_ok_at, drivers=drivers, messages=messages, **base)


def live_snapshots_prune(*, now: datetime | None = None) -> dict:
    """Delete live rows of sessions that ended more than LIVE_SNAPSHOT_RETENTION_DAYS ago."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.LIVE_SNAPSHOT_RETENTION_DAYS)
    snaps, _ = LiveDriverSnapshot.objects.filter(session__date_end__lt=cutoff).delete()
    msgs, _ = RaceControlMessage.objects.filter(session__date_end__lt=cutoff).delete()
    return {"live_snapshots_deleted": snaps, "race_control_deleted": msgs}
