"""OpenF1 meetings/sessions -> our races (by date + circuit) for 2023-2026, and post-session results."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ingestion.clients.http import SourceError
from ingestion.clients.openf1 import Meeting
from ingestion.models import (
    OpenF1Session,
    PracticeResult,
    QualifyingResult,
    Race,
    SessionType,
    SyncRun,
    SyncSource,
    SyncStatus,
)
from ingestion.services.openf1_results import lap_text, openf1_session_results_ingest
from ingestion.services.openf1_sessions import (
    RaceCandidate,
    _words,
    openf1_meetings_match,
    openf1_sessions_sync,
)
from tests.conftest import ERGAST_DUMP_DIR


def _meeting(key, start, end, location, country="X", name="Grand Prix"):
    return Meeting(
        meeting_key=key,
        meeting_name=name,
        year=start.year,
        date_start=datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        date_end=datetime.combine(end, datetime.min.time(), tzinfo=UTC),
        location=location,
        country_name=country,
    )


def test_match_uses_the_date_window_then_the_circuit_words():
    races = [
        RaceCandidate(
            race_id=1, date=date(2020, 7, 5), words=_words("Austrian GP", "Red Bull Ring", "Spielberg")
        ),
        RaceCandidate(
            race_id=2, date=date(2020, 7, 12), words=_words("Styrian GP", "Red Bull Ring", "Spielberg")
        ),
        RaceCandidate(race_id=3, date=date(2020, 7, 12), words=_words("Other GP", "Silverstone", "UK")),
    ]
    meetings = [
        _meeting(10, date(2020, 7, 3), date(2020, 7, 5), "Spielberg"),
        _meeting(11, date(2020, 7, 10), date(2020, 7, 12), "Spielberg"),
        _meeting(12, date(2020, 2, 19), date(2020, 2, 21), "Sakhir", name="Pre-Season Testing"),
    ]
    assert openf1_meetings_match(meetings=meetings, races=races) == {10: 1, 11: 2}


def test_match_refuses_to_guess_between_two_unnamed_races():
    races = [
        RaceCandidate(race_id=1, date=date(2020, 7, 12), words=_words("A")),
        RaceCandidate(race_id=2, date=date(2020, 7, 12), words=_words("B")),
    ]
    assert (
        openf1_meetings_match(
            meetings=[_meeting(1, date(2020, 7, 10), date(2020, 7, 12), "Nowhere")], races=races
        )
        == {}
    )


def test_lap_text():
    assert lap_text(93.66) == "1:33.660"
    assert lap_text(59.1234) == "59.123"
    assert lap_text(None) == ""


@pytest.mark.django_db
def test_sessions_2023_to_2026_map_to_the_right_races(mirror, ergast_data):
    counts = openf1_sessions_sync(seasons=[2023, 2024, 2025, 2026])
    assert counts["unmapped"] == []

    # Independent oracle: the mirror's keys are year*100 + round (see shared/tools/README.md).
    with open(ERGAST_DUMP_DIR / "races.csv", newline="") as fh:
        calendar = [
            (int(r["year"]), int(r["round"])) for r in csv.DictReader(fh) if 2023 <= int(r["year"]) <= 2026
        ]
    races = {(r.season_id, r.round): r.openf1_meeting_key for r in Race.objects.filter(season_id__gte=2023)}
    assert len(calendar) == len(races) == counts["mapped"]
    for season, rnd in calendar:
        assert races[(season, rnd)] == season * 100 + rnd, (season, rnd)

    sessions = OpenF1Session.objects.filter(race__season_id__gte=2023)
    for s in sessions:
        assert s.session_key // 10 == s.race.openf1_meeting_key
    race_sessions = sessions.filter(session_type=SessionType.RACE)
    assert race_sessions.count() == len(calendar)
    # sprint weekends: the 2024 Chinese GP had a sprint and sprint qualifying, no FP2/FP3
    china = Race.objects.get(slug="2024_china")
    assert set(china.openf1_sessions.values_list("session_type", flat=True)) == {
        "fp1",
        "sprint_qualifying",
        "sprint",
        "qualifying",
        "race",
    }
    # idempotent
    again = openf1_sessions_sync(seasons=[2024])
    assert again["sessions"] == {"created": 0, "updated": 0}


def _race_writes(queries) -> int:
    return sum(q["sql"].startswith('UPDATE "ingestion_race"') for q in queries)


@pytest.mark.django_db
def test_a_resync_that_changes_nothing_writes_no_race(mirror, ergast_data):
    openf1_sessions_sync(seasons=[2024, 2025])
    with CaptureQueriesContext(connection) as one:
        openf1_sessions_sync(seasons=[2024])
    with CaptureQueriesContext(connection) as two:
        openf1_sessions_sync(seasons=[2024, 2025])
    assert _race_writes(one.captured_queries) == _race_writes(two.captured_queries) == 0
    # The second season adds its own fixed set of statements (reads and the session upsert), not one a meeting.
    per_season = len(two.captured_queries) - len(one.captured_queries)
    assert per_season < 10, per_season


@pytest.mark.django_db
def test_sessions_sync_repairs_swapped_and_stale_meeting_keys_in_one_write_each(mirror, ergast_data):
    openf1_sessions_sync(seasons=[2024])
    bahrain, saudi, china = (Race.objects.get(slug=f"2024_{s}") for s in ("bahrain", "saudi_arabia", "china"))
    # Swapped keys (the unique key must be freed before it is given) and a key held by a race of
    # another season, as a stale mapping would leave them.
    Race.objects.filter(pk__in=[bahrain.pk, saudi.pk, china.pk]).update(openf1_meeting_key=None)
    Race.objects.filter(pk=bahrain.pk).update(openf1_meeting_key=202402)
    Race.objects.filter(pk=saudi.pk).update(openf1_meeting_key=202401)
    other = Race.objects.get(slug="2023_bahrain")
    Race.objects.filter(pk=other.pk).update(openf1_meeting_key=202405)

    with CaptureQueriesContext(connection) as ctx:
        openf1_sessions_sync(seasons=[2024])

    keys = dict(
        Race.objects.filter(pk__in=[bahrain.pk, saudi.pk, china.pk, other.pk]).values_list(
            "slug", "openf1_meeting_key"
        )
    )
    # The mirror's keys are year*100 + round (shared/tools/README.md): Bahrain 1, Saudi Arabia 2, China 5.
    assert keys == {
        "2024_bahrain": 202401,
        "2024_saudi_arabia": 202402,
        "2024_china": 202405,
        "2023_bahrain": None,
    }
    assert _race_writes(ctx.captured_queries) == 2  # clear the stale holders, then set the moved keys


@pytest.mark.django_db
def test_sessions_sync_is_recorded_as_an_openf1_sync_run(mirror, ergast_data):
    counts = openf1_sessions_sync(seasons=[2024, 2024])
    run = SyncRun.objects.filter(source=SyncSource.OPENF1).latest("pk")
    assert run.status == SyncStatus.SUCCEEDED and run.finished_at is not None
    assert run.params == {"kind": "sessions", "seasons": [2024]}
    assert run.counts["sessions"]["created"] == counts["sessions"]["created"] > 0
    assert run.requests_made == 2 and run.errors == []

    mirror.set_faults({"prefix": "/v1/sessions", "status": 500})
    with pytest.raises(SourceError):
        openf1_sessions_sync(seasons=[2024])
    failed = SyncRun.objects.filter(source=SyncSource.OPENF1).latest("pk")
    assert failed.status == SyncStatus.FAILED and failed.finished_at is not None
    assert failed.errors[-1]["fatal"] is True and "/v1/sessions" in failed.errors[-1]["url"]
    assert failed.requests_made == 4  # meetings once, sessions 1 + 2 retries


@pytest.mark.django_db
def test_post_session_results_rewrite_practice_and_qualifying_from_openf1(mirror, ergast_data):
    openf1_sessions_sync(seasons=[2024])
    race = Race.objects.get(slug="2024_china")
    # What the dump says (plain csv), to compare with what OpenF1 gives us.
    with open(ERGAST_DUMP_DIR / "qualifying.csv", newline="") as fh:
        dump_quali = {
            int(r["number"]): (int(r["position"]), r["q3"])
            for r in csv.DictReader(fh)
            if int(r["raceId"]) == race.ergast_id
        }
    QualifyingResult.objects.filter(race=race).delete()
    PracticeResult.objects.filter(race=race).delete()

    quali = OpenF1Session.objects.get(race=race, session_type=SessionType.QUALIFYING)
    result = openf1_session_results_ingest(session=quali)
    assert result["unmatched_numbers"] == []
    stored = {q.number: (q.position, q.q3) for q in QualifyingResult.objects.filter(race=race)}
    assert stored == {n: (pos, "" if q3 == "\\N" else q3) for n, (pos, q3) in dump_quali.items()}

    fp1 = OpenF1Session.objects.get(race=race, session_type=SessionType.FP1)
    result = openf1_session_results_ingest(session=fp1)
    assert result["rows"] == PracticeResult.objects.filter(race=race, session="FP1").count() > 15
    fp1.refresh_from_db()
    assert fp1.results_ingested_at is not None


@pytest.mark.django_db
def test_sync_openf1_a_season_openf1_has_no_meetings_for_exits_1_after_syncing_the_rest(mirror, ergast_data):
    """`sync_openf1 --seasons 2022` (OpenF1 starts in 2023) printed "meetings: 0" and exited 0: a typo
    or a wrong season read as success. Now, as `sync_f1 --seasons 2099`: the summary lists it under
    `missing`, the other seasons are synced, and the command exits 1 naming it."""
    import io
    import json

    from django.core.management import CommandError, call_command

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"^not upstream: season 2022: OpenF1 lists no meetings") as caught:
        call_command("sync_openf1", "--seasons", "2022,2024", stdout=out, stderr=err)
    assert caught.value.returncode == 1
    summary = json.loads(out.getvalue())
    assert summary["missing"] == ["season 2022: OpenF1 lists no meetings (its data starts in 2023)"]
    assert summary["mapped"] == Race.objects.filter(season_id=2024).count() > 0
    run = SyncRun.objects.filter(source=SyncSource.OPENF1).latest("pk")
    assert run.status == SyncStatus.SUCCEEDED and run.counts["missing"] == summary["missing"]
    # a season with meetings: no `missing`, exit 0
    out = io.StringIO()
    call_command("sync_openf1", "--seasons", "2024", stdout=out)
    assert json.loads(out.getvalue())["missing"] == []
