"""A bad OpenF1 classification is rejected with a message, not written, and the other sessions go on.

Real data: the mirror's 2025 Singapore qualifying (from the dump, as upstream) lists positions 12 and 13
twice. Before the fix that classification was written as it came: `sync_openf1 --results` died on
`IntegrityError ... qualifying_result_unique_position` at that session, with no summary, and every
later session stayed unread; the live job's catch-up crashed the same way.

The test transaction never commits, so the deferred position constraints are switched to immediate
first (`SET CONSTRAINTS ALL IMMEDIATE`): the database checks what a production commit would check.
Each test restricts the work to the few sessions it needs (the others are marked ingested).
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from ingestion.models import (
    Driver,
    OpenF1Session,
    PracticeResult,
    QualifyingResult,
    Race,
    SessionType,
    SyncRun,
    SyncSource,
    SyncStatus,
    Team,
)
from ingestion.services.live_timing import live_timing_tick
from ingestion.services.openf1_results import openf1_session_results_ingest
from ingestion.services.openf1_sessions import openf1_sessions_sync

pytestmark = pytest.mark.django_db

DUPLICATE = "2025_singapore qualifying: field 'position' 12 used by 2 cars"


def _constraints_immediate() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _only_these_pending(*sessions: OpenF1Session) -> None:
    OpenF1Session.objects.exclude(pk__in=[s.pk for s in sessions]).update(results_ingested_at=timezone.now())
    OpenF1Session.objects.filter(pk__in=[s.pk for s in sessions]).update(
        results_ingested_at=None, results_attempted_at=None
    )


@pytest.fixture
def season_2025(mirror, ergast_data):
    openf1_sessions_sync(seasons=[2025])
    singapore = Race.objects.get(slug="2025_singapore")
    austin = Race.objects.get(season_id=2025, round=singapore.round + 1)  # the next race
    _constraints_immediate()
    return singapore, austin


def _session(race: Race, session_type: str) -> OpenF1Session:
    return OpenF1Session.objects.get(race=race, session_type=session_type)


def _russell_on_pole(race: Race) -> QualifyingResult:
    """A stored row (the dump's Singapore qualifying was rejected, so there is none) to check it stays."""
    return QualifyingResult.objects.create(
        race=race,
        driver=Driver.objects.get(ref="russell"),
        team=Team.objects.get(ref="mercedes"),
        number=63,
        position=1,
        q3="1:29.158",
        q3_ms=89158,
    )


def test_singapore_qualifying_is_rejected_naming_race_session_and_field(season_2025):
    singapore, _ = season_2025
    kept = _russell_on_pole(singapore)
    quali = _session(singapore, SessionType.QUALIFYING)

    result = openf1_session_results_ingest(session=quali)

    assert result["rows"] == 0
    rejected = result["rejected"]
    assert rejected["race"] == "2025_singapore" and rejected["session"] == "qualifying"
    assert rejected["session_key"] == quali.session_key
    assert rejected["message"].startswith(
        f"2025_singapore Qualifying (OpenF1 session {quali.session_key}): rejected, stored rows kept: "
    )
    assert DUPLICATE in rejected["message"]
    assert DUPLICATE in rejected["problems"]
    assert "2025_singapore qualifying: field 'position' 13 used by 2 cars" in rejected["problems"]
    # nothing written: the stored row stays as it was, and the session is tried again next time
    assert list(QualifyingResult.objects.filter(race=singapore)) == [kept]
    kept.refresh_from_db()
    assert (kept.position, kept.q3) == (1, "1:29.158")
    quali.refresh_from_db()
    assert quali.results_ingested_at is None and quali.results_attempted_at is not None


def test_a_constraint_the_validation_cannot_see_is_rejected_too(mirror, ergast_data):
    """A stored row of a driver OpenF1 does not list still holds P1: the database refuses the write."""
    openf1_sessions_sync(seasons=[2024])
    china = Race.objects.get(slug="2024_china")
    QualifyingResult.objects.filter(race=china).delete()
    squatter = QualifyingResult.objects.create(
        race=china, driver=Driver.objects.get(ref="senna"), team=Team.objects.get(ref="mclaren"), position=1
    )
    _constraints_immediate()

    result = openf1_session_results_ingest(session=_session(china, SessionType.QUALIFYING))

    assert "qualifying_result_unique_position" in result["rejected"]["message"]
    assert result["rejected"]["message"].startswith("2024_china Qualifying (OpenF1 session ")
    assert list(QualifyingResult.objects.filter(race=china)) == [squatter]


def test_sync_openf1_results_rejects_singapore_and_ingests_the_later_sessions(season_2025):
    singapore, austin = season_2025
    kept = _russell_on_pole(singapore)
    fp1 = _session(singapore, SessionType.FP1)
    quali = _session(singapore, SessionType.QUALIFYING)
    later = _session(austin, SessionType.QUALIFYING)
    _only_these_pending(fp1, quali, later)
    PracticeResult.objects.filter(race=singapore, session="FP1").delete()
    QualifyingResult.objects.filter(race=austin).delete()
    out, err = StringIO(), StringIO()

    call_command("sync_openf1", "--seasons", "2025", "--results", stdout=out, stderr=err)  # no raise: exit 0

    summary = json.loads(out.getvalue())["results"]
    assert summary["status"] == "partial"
    assert summary["ingested"] == 2 and summary["not_published"] == 0
    assert list(summary["sessions"]) == [str(fp1.session_key), str(quali.session_key), str(later.session_key)]
    assert summary["sessions"][str(later.session_key)]["created"] == 20
    assert len(summary["rejected"]) == 1 and DUPLICATE in summary["rejected"][0]
    assert f"rejected: 2025_singapore Qualifying (OpenF1 session {quali.session_key})" in err.getvalue()
    assert DUPLICATE in err.getvalue()

    run = SyncRun.objects.get(pk=summary["sync_run"])
    assert run.source == SyncSource.OPENF1 and run.params == {"kind": "results", "seasons": [2025]}
    assert run.status == SyncStatus.PARTIAL and run.finished_at is not None
    assert run.counts == {
        "ingested": 2,
        "incomplete": 0,
        "given_up": 0,
        "conflicts": 0,
        "deleted": 0,
        "not_published": 0,
        "rejected": 1,
        "sessions": 3,
    }
    assert [e["race"] for e in run.errors] == ["2025_singapore"]
    assert run.errors[0]["session_key"] == quali.session_key and DUPLICATE in run.errors[0]["message"]
    assert run.requests_made == 6  # session_result + drivers per session; the sessions sync is its own run

    assert list(QualifyingResult.objects.filter(race=singapore)) == [kept]
    assert QualifyingResult.objects.filter(race=austin).count() == 20
    assert PracticeResult.objects.filter(race=singapore, session="FP1").count() == 20
    assert set(
        OpenF1Session.objects.filter(results_ingested_at__isnull=True, race__season_id=2025).values_list(
            "pk", flat=True
        )
    ) == {quali.pk}


def test_the_live_catch_up_rejects_singapore_and_ingests_the_other_session(season_2025):
    singapore, _ = season_2025
    fp3 = _session(singapore, SessionType.FP3)
    quali = _session(singapore, SessionType.QUALIFYING)
    _only_these_pending(fp3, quali)
    PracticeResult.objects.filter(race=singapore, session="FP3").delete()

    counts = live_timing_tick(now=quali.date_end + timedelta(minutes=30))

    assert DUPLICATE in counts["results"][quali.session_key]["rejected"]["message"]
    assert "predictions_refresh" not in counts["results"][quali.session_key]
    assert counts["results"][fp3.session_key]["rows"] == 20
    assert counts["results"][fp3.session_key]["predictions_refresh"] == "practice"
    assert not QualifyingResult.objects.filter(race=singapore).exists()
    quali.refresh_from_db()
    fp3.refresh_from_db()
    assert quali.results_ingested_at is None and fp3.results_ingested_at is not None
