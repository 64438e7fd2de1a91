"""Map OpenF1 meetings and sessions to our races by date and circuit, and store them (OpenF1Session).

OpenF1's keys are opaque: a meeting matches the race whose date falls inside the meeting's dates
(one day of slack either side for time zones); when several races qualify, the one whose circuit
name / locality / country shares most words with the meeting's location wins. Pre-season testing
and cancelled sessions are ignored. Only races we already have (from Jolpica / the dump) are mapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Q

from ingestion.clients.openf1 import Meeting, OpenF1Client, Session
from ingestion.models import OpenF1Session, Race, SessionType, SyncSource
from ingestion.services.sync_runs import sync_run_recorded
from ingestion.services.upsert import upsert_rows

SESSION_TYPES = {
    "practice 1": SessionType.FP1,
    "practice 2": SessionType.FP2,
    "practice 3": SessionType.FP3,
    "sprint qualifying": SessionType.SPRINT_QUALIFYING,
    "sprint shootout": SessionType.SPRINT_QUALIFYING,
    "sprint": SessionType.SPRINT,
    "qualifying": SessionType.QUALIFYING,
    "race": SessionType.RACE,
}
_STOPWORDS = {"grand", "prix", "circuit", "international", "autodromo", "the", "and", "de", "del", "of"}


@dataclass(frozen=True)
class RaceCandidate:
    race_id: int
    date: date
    words: frozenset[str]


def _words(*texts: str | None) -> frozenset[str]:
    out: set[str] = set()
    for text in texts:
        for word in re.findall(r"[a-z]+", (text or "").lower()):
            if len(word) >= 3 and word not in _STOPWORDS:
                out.add(word)
    return frozenset(out)


def session_type_of(name: str) -> SessionType | None:
    return SESSION_TYPES.get(name.strip().lower())


def openf1_meetings_match(*, meetings: Iterable[Meeting], races: Iterable[RaceCandidate]) -> dict[int, int]:
    """Pure: meeting_key -> race_id, by date window then circuit-name overlap. Unmatched meetings are left out."""
    races = list(races)
    best: dict[int, tuple[int, int]] = {}  # race_id -> (score, meeting_key)
    for meeting in meetings:
        first = meeting.date_start.date() - timedelta(days=1)
        last = (meeting.date_end or meeting.date_start).date() + timedelta(days=1)
        in_window = [r for r in races if first <= r.date <= last]
        if not in_window:
            continue
        words = _words(
            meeting.location, meeting.country_name, meeting.circuit_short_name, meeting.meeting_name
        )
        scored = sorted(((len(words & r.words), r.race_id) for r in in_window), reverse=True)
        score, race_id = scored[0]
        if len(scored) > 1 and scored[1][0] == score:
            continue  # ambiguous: two races that weekend, neither circuit named -> do not guess
        if race_id not in best or score > best[race_id][0]:
            best[race_id] = (score, meeting.meeting_key)
    return {meeting_key: race_id for race_id, (_, meeting_key) in best.items()}


def _race_candidates(season: int) -> list[RaceCandidate]:
    rows = (
        Race.objects.on_calendar()
        .filter(season_id=season)
        .values(
            "id", "date", "name", "circuit__name", "circuit__locality", "circuit__country", "circuit__ref"
        )
    )
    return [
        RaceCandidate(
            race_id=r["id"],
            date=r["date"],
            words=_words(
                r["name"],
                r["circuit__name"],
                r["circuit__locality"],
                r["circuit__country"],
                r["circuit__ref"],
            ),
        )
        for r in rows
    ]


def openf1_session_rows(*, sessions: Iterable[Session], meeting_races: dict[int, int]) -> list[dict]:
    """Pure: OpenF1 sessions of mapped meetings -> OpenF1Session rows (unknown types / cancelled dropped)."""
    rows = {}
    for s in sessions:
        race_id = meeting_races.get(s.meeting_key)
        session_type = session_type_of(s.session_name)
        if race_id is None or session_type is None or s.is_cancelled:
            continue
        rows[(race_id, session_type)] = {
            "session_key": s.session_key,
            "meeting_key": s.meeting_key,
            "race_id": race_id,
            "session_type": session_type.value,
            "session_name": s.session_name,
            "date_start": s.date_start,
            "date_end": s.date_end,
        }
    return list(rows.values())


OPENF1_FIRST_SEASON = 2023  # the first season OpenF1 has meetings and sessions for


def openf1_sessions_sync(*, seasons: Iterable[int], client: OpenF1Client | None = None) -> dict:
    """Fetch meetings + sessions for each season (2 requests a season), map and upsert them.

    Recorded as a SyncRun (source openf1, params kind=sessions); a source error fails the run (seasons
    stored before it stay) and is raised."""
    client = client or OpenF1Client()
    seasons = sorted(set(seasons))
    before = client.requests_made  # its own requests only, whatever the client served before
    with sync_run_recorded(
        source=SyncSource.OPENF1, params={"kind": "sessions", "seasons": seasons}
    ) as record:
        try:
            counts = _sessions_fetch(seasons=seasons, client=client)
        finally:
            record.requests_made = client.requests_made - before
        counts["requests"] = record.requests_made
        record.counts = counts
    return counts


def _sessions_fetch(*, seasons: list[int], client: OpenF1Client) -> dict:
    counts: dict = {
        "meetings": 0,
        "mapped": 0,
        "unmapped": [],
        "sessions": {"created": 0, "updated": 0},
        "missing": [],  # seasons OpenF1 lists no meeting for: `sync_openf1` exits 1 naming them
    }
    for season in seasons:
        meetings = client.meetings(year=season)
        if not meetings:
            counts["missing"].append(
                f"season {season}: OpenF1 lists no meetings (its data starts in {OPENF1_FIRST_SEASON})"
            )
            continue
        sessions = client.sessions(year=season)
        mapping = openf1_meetings_match(meetings=meetings, races=_race_candidates(season))
        rows = openf1_session_rows(sessions=sessions, meeting_races=mapping)
        counts["meetings"] += len(meetings)
        counts["mapped"] += len(mapping)
        counts["unmapped"] += [m.meeting_name for m in meetings if m.meeting_key not in mapping]
        with transaction.atomic():
            _meeting_keys_store(mapping=mapping)
            # Keyed on (race, type): if OpenF1 ever re-keys a session, the row (and its live data) follows.
            result = upsert_rows(model=OpenF1Session, rows=rows, key_fields=["race_id", "session_type"])
        counts["sessions"]["created"] += result.created
        counts["sessions"]["updated"] += result.updated
    return counts


def _meeting_keys_store(*, mapping: dict[int, int]) -> None:
    """Give each mapped race its meeting key: one read, and writes only for keys that move.

    The key is unique, so a race holding one of these keys for another race (a stale mapping, or two
    races swapping keys) is cleared first; a re-sync that changes nothing writes nothing."""
    wanted = {race_id: key for key, race_id in mapping.items()}
    held = dict(
        Race.objects.filter(Q(openf1_meeting_key__in=mapping) | Q(pk__in=wanted)).values_list(
            "pk", "openf1_meeting_key"
        )
    )
    stale = [pk for pk, key in held.items() if key in mapping and wanted.get(pk) != key]
    if stale:
        Race.objects.filter(pk__in=stale).update(openf1_meeting_key=None)
    moved = [Race(pk=pk, openf1_meeting_key=key) for pk, key in wanted.items() if held.get(pk) != key]
    if moved:
        Race.objects.bulk_update(moved, ["openf1_meeting_key"])
