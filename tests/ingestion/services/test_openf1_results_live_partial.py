"""The live job with a car it cannot place (review 3, minor 1 and 5): the qualifying's Jolpica fallback
was asked only when OpenF1 gave no rows — a rookie's first qualifying, whose driver Jolpica's
classification would store, waited 2 days — and the tick was recorded plainly `succeeded`.
Over HTTP from the mirror.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingestion.models import (
    JobStatus,
    QualifyingResult,
    Race,
    SessionType,
)
from ingestion.services.jobs import job_run_execute
from ingestion.services.live_timing import (
    LIVE_END_GRACE,
    QUALIFYING_JOLPICA_AFTER,
    live_timing_tick,
)
from tests.ingestion.services.test_openf1_results_teams import (
    _as_after_this_session,
    _driver_removed,
    _dump_rows,
    _session,
    _stored,
)

pytestmark = pytest.mark.django_db


def test_a_qualifying_car_not_placed_asks_the_jolpica_fallback(mirror, season_2026):
    australia = Race.objects.get(season_id=2026, round=1)
    quali = _session(australia, SessionType.QUALIFYING)
    _as_after_this_session(quali)
    expected = _dump_rows("qualifying.csv", race=australia)
    assert expected[41][1] == "lindblad"
    _driver_removed("lindblad")

    counts = live_timing_tick(now=quali.date_end + QUALIFYING_JOLPICA_AFTER + timedelta(minutes=1))

    result = counts["results"][quali.session_key]
    assert result["unmatched_numbers"] == [41]  # OpenF1's attempt
    assert result["source"] == "jolpica" and result["jolpica"]["rows"] == len(expected)
    assert "incomplete" not in result
    assert result["predictions_refresh"] == "post_qualifying"
    assert _stored(QualifyingResult, race=australia) == expected  # Jolpica stored him
    quali.refresh_from_db()
    assert quali.results_ingested_at is not None
    # the tick is not plainly a success either way: here Jolpica completed it, so nothing is partial
    assert "partial" not in counts


def test_a_tick_leaving_a_car_unplaced_is_not_recorded_as_a_plain_success(season_2026):
    australia = Race.objects.get(season_id=2026, round=1)
    fp1 = _session(australia, SessionType.FP1)
    _as_after_this_session(fp1)
    _driver_removed("lindblad")
    first = fp1.date_end + LIVE_END_GRACE + timedelta(minutes=1)

    run = job_run_execute(job="live_timing", func=lambda: live_timing_tick(now=first))

    # JobStatus has no `partial`: the run says so in its error (jobs/status `last_error`, admin)
    assert run.status == JobStatus.SUCCEEDED
    assert run.error.startswith(f"partial: 2026_australia Practice 1 (OpenF1 session {fp1.session_key})")
    assert "#41 LIN" in run.error and run.counts["partial"] == [run.error.removeprefix("partial: ")]
    assert run.counts["results"][fp1.session_key]["unmatched_numbers"] == [41]


def test_a_tick_keeping_a_conflicting_row_is_not_recorded_as_a_plain_success(season_2026):
    """Review 6: a car OpenF1 places on another driver than the stored row of its number is kept out
    (the stored row wins), and the live tick said plainly `succeeded` with no word of it."""
    from ingestion.models import Driver, OpenF1Session, PracticeResult
    from ingestion.services.openf1_results import openf1_session_results_ingest

    australia = Race.objects.get(season_id=2026, round=1)
    fp1 = _session(australia, SessionType.FP1)
    _as_after_this_session(fp1)
    openf1_session_results_ingest(session=fp1)  # the classification stored
    # a stored row of #41 under another driver (as the dump or an older version could hold it)
    PracticeResult.objects.filter(race=australia, session="FP1", number=41).update(
        driver=Driver.objects.get(ref="beganovic")
    )
    OpenF1Session.objects.filter(pk=fp1.pk).update(results_ingested_at=None, results_attempted_at=None)
    first = fp1.date_end + LIVE_END_GRACE + timedelta(minutes=1)

    run = job_run_execute(job="live_timing", func=lambda: live_timing_tick(now=first))

    assert run.status == JobStatus.SUCCEEDED and run.error.startswith("partial: ")
    assert "#41 stored as beganovic, OpenF1 names lindblad" in run.error
    assert PracticeResult.objects.get(race=australia, session="FP1", number=41).driver.ref == "beganovic"
