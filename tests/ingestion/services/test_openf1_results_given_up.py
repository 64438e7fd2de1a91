"""A car whose driver is never stored (review 3, defect 1): one retry window for both paths.

An FP1-only rookie is never stored (Jolpica lists drivers from race, sprint and qualifying rows; the
dump holds 20 practice-only drivers for 2023–2026 alone), so the session his car was in stayed
un-ingested for good: the live job polled it for 2 days then dropped it without a word, and every
`sync_openf1 --results` was `partial` forever, its message blaming a Jolpica sync that could never
help. Now, on both paths, the session is retried for RESULTS_GIVE_UP (2 days) after it, then marked
ingested without the car, which the run's errors and a warning name. Over HTTP from the mirror.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from ingestion.models import (
    OpenF1Session,
    PracticeResult,
    Race,
    SessionType,
    SyncRun,
    SyncStatus,
)
from ingestion.services.live_timing import (
    LIVE_END_GRACE,
    RESULTS_GIVE_UP,
    RESULTS_RETRY,
    live_timing_tick,
    sessions_awaiting_results,
)
from ingestion.services.openf1_results import openf1_results_sync
from tests.ingestion.services.test_openf1_results_teams import (
    _as_after_this_session,
    _driver_removed,
    _dump_rows,
    _requests,
    _session,
    _stored,
)

pytestmark = pytest.mark.django_db

NEVER_STORED = "a practice-only driver may never be"


def _warnings(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


def test_sync_openf1_results_gives_up_a_car_never_placed_after_the_retry_window(season_2026, caplog):
    """2026 Japan FP1 #34 Jak Crawford, as at his first outing: practice only, so never stored."""
    japan = Race.objects.get(season_id=2026, slug="2026_japan")
    fp1 = _session(japan, SessionType.FP1)
    _as_after_this_session(fp1)
    expected = _dump_rows("practice.csv", race=japan, session="FP1")
    assert expected[34][1] == "jak_crawford"
    _driver_removed("jak_crawford")

    # within the window: partial, retried
    soon = openf1_results_sync(seasons=[2026], now=fp1.date_end + timedelta(hours=1))
    assert soon["status"] == "partial" and soon["sessions"][fp1.session_key]["unmatched_numbers"] == [34]
    assert "session to be retried until" in soon["incomplete"][0] and NEVER_STORED in soon["incomplete"][0]
    fp1.refresh_from_db()
    assert fp1.results_ingested_at is None

    # after it: the run is partial once more, naming the car, and the session is done with
    caplog.set_level(logging.WARNING, logger="ingestion.services.openf1_results")
    late = fp1.date_end + RESULTS_GIVE_UP + timedelta(minutes=1)
    summary = openf1_results_sync(seasons=[2026], now=late)

    assert summary["status"] == "partial"
    [message] = summary["incomplete"]
    assert message.startswith(
        f"2026_japan Practice 1 (OpenF1 session {fp1.session_key}): 1 car(s) not stored, given up"
        " (2 days after the session): session marked ingested without them: #34 CRA"
    )
    assert "family name 'Crawford'" in message and NEVER_STORED in message
    run = SyncRun.objects.get(pk=summary["sync_run"])
    assert run.status == SyncStatus.PARTIAL and run.counts["given_up"] == 1
    assert run.errors[0]["given_up"] is True and run.errors[0]["numbers"] == [34]
    assert any(
        "#34 CRA" in line and "given up" in line
        for line in _warnings(caplog, "ingestion.services.openf1_results")
    )
    fp1.refresh_from_db()
    assert fp1.results_ingested_at == late
    assert _stored(PracticeResult, race=japan, session="FP1") == {
        n: r for n, r in expected.items() if n != 34
    }

    # and it is not asked for again: the next run is a plain success
    after = openf1_results_sync(seasons=[2026], now=late + timedelta(days=1))
    assert after["status"] == "succeeded" and after["sessions"] == {}


def test_the_live_job_gives_up_a_car_never_placed_with_a_warning_naming_it(mirror, season_2026, caplog):
    australia = Race.objects.get(season_id=2026, round=1)
    fp1 = _session(australia, SessionType.FP1)
    _as_after_this_session(fp1)
    _driver_removed("lindblad")
    first = fp1.date_end + LIVE_END_GRACE + timedelta(minutes=1)

    assert live_timing_tick(now=first)["results"][fp1.session_key]["unmatched_numbers"] == [41]
    fp1.refresh_from_db()
    assert fp1.results_ingested_at is None

    # the last retry within the window: still awaited
    inside = fp1.date_end + RESULTS_GIVE_UP - timedelta(minutes=5)
    assert live_timing_tick(now=inside)["results"][fp1.session_key]["incomplete"]["given_up"] is False
    mirror.reset_requests()
    caplog.set_level(logging.WARNING, logger="ingestion.services.openf1_results")

    # the attempt after the window gives up: the session is marked ingested, a warning names the car
    past = inside + RESULTS_RETRY
    counts = live_timing_tick(now=past)

    result = counts["results"][fp1.session_key]
    assert result["incomplete"]["given_up"] is True and result["incomplete"]["numbers"] == [41]
    assert _requests(mirror) == 2
    assert any(
        "#41 LIN Arvid LINDBLAD" in line and "marked ingested without them" in line
        for line in _warnings(caplog, "ingestion.services.openf1_results")
    )
    fp1.refresh_from_db()
    assert fp1.results_ingested_at == past
    # never asked again, by either path
    assert live_timing_tick(now=past + RESULTS_RETRY) == {"skipped": "no session in progress"}
    assert openf1_results_sync(seasons=[2026], now=past + RESULTS_RETRY)["sessions"] == {}
    assert _requests(mirror) == 2


def test_an_unpublished_session_given_up_by_the_live_job_is_named_in_a_warning(mirror, season_2026, caplog):
    australia = Race.objects.get(season_id=2026, round=1)
    fp1 = _session(australia, SessionType.FP1)
    _as_after_this_session(fp1)
    mirror.set_faults({"prefix": "/v1/session_result", "status": 503})
    caplog.set_level(logging.WARNING, logger="ingestion.services.live_timing")

    result = live_timing_tick(now=fp1.date_end + RESULTS_GIVE_UP + timedelta(minutes=1))

    assert "error" in result["results"][fp1.session_key]
    assert any(
        f"2026_australia Practice 1 (session {fp1.session_key})" in line and "given up" in line
        for line in _warnings(caplog, "ingestion.services.live_timing")
    )


def test_the_last_attempt_comes_after_a_live_window_covering_the_end_of_the_retry_window(mirror, season_2026):
    """Review 5: the last attempt's slot was the 10 minutes after the 2-day window, and a tick does no
    results work while a session is live — FP2 ends at the time of day the race ends two days later,
    so the race covered the slot and the session dropped out with no give-up and no warning. The
    last attempt now comes at the first free tick of the following day, once."""
    session = OpenF1Session.objects.filter(race__season_id=2026, session_type=SessionType.FP2).earliest(
        "date_end"
    )
    closes = session.date_end + RESULTS_GIVE_UP
    OpenF1Session.objects.filter(pk=session.pk).update(
        results_ingested_at=None, results_attempted_at=closes - timedelta(minutes=5)
    )
    after_the_race = closes + timedelta(hours=3)  # the slot of 10 minutes passed while the race was live
    assert session.pk in {s.pk for s in sessions_awaiting_results(now=after_the_race)}
    OpenF1Session.objects.filter(pk=session.pk).update(results_attempted_at=after_the_race)
    # attempted once after the window: not again, however long the session stays un-ingested
    assert session.pk not in {
        s.pk for s in sessions_awaiting_results(now=after_the_race + timedelta(hours=1))
    }
    assert session.pk not in {s.pk for s in sessions_awaiting_results(now=closes + timedelta(days=2))}
