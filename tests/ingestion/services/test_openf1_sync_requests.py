"""`sync_openf1`'s reported request count against the mirror's own count (`/__requests`).

Before, the JSON summary's `requests` was the sessions sync's alone: `--results` made two more
requests per session (`session_result`, `drivers`) that no figure the command printed included.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from ingestion.models import OpenF1Session, Race, SessionType, SyncRun
from ingestion.services.openf1_sessions import openf1_sessions_sync

pytestmark = pytest.mark.django_db

SESSIONS_PATHS = ("/v1/meetings", "/v1/sessions")
RESULTS_PATHS = ("/v1/session_result", "/v1/drivers")


def _served(mirror) -> dict[str, int]:
    log = mirror.requests()  # read until it settles: the mirror logs a request after answering it
    assert log["total"] == sum(log["paths"].values())
    return log["paths"]


def test_sync_openf1_results_reports_every_request_it_made(mirror, ergast_data):
    openf1_sessions_sync(seasons=[2025])
    bahrain = Race.objects.get(slug="2025_bahrain")
    pending = list(
        OpenF1Session.objects.filter(
            race=bahrain, session_type__in=[SessionType.FP1, SessionType.FP2, SessionType.QUALIFYING]
        )
    )
    assert len(pending) == 3
    OpenF1Session.objects.exclude(pk__in=[s.pk for s in pending]).update(results_ingested_at=timezone.now())
    OpenF1Session.objects.filter(pk__in=[s.pk for s in pending]).update(results_ingested_at=None)
    mirror.reset_requests()

    out = StringIO()
    call_command("sync_openf1", "--seasons", "2025", "--results", stdout=out)

    summary = json.loads(out.getvalue())
    paths = _served(mirror)
    assert set(paths) <= {*SESSIONS_PATHS, *RESULTS_PATHS}, paths
    results_made = sum(paths.get(p, 0) for p in RESULTS_PATHS)
    assert results_made == 2 * len(pending)  # session_result + drivers per session
    assert summary["requests"] == sum(paths.values())  # everything the command asked the mirror
    assert summary["results"]["requests"] == results_made
    assert summary["results"]["ingested"] == len(pending)
    # each part's SyncRun keeps its own figure
    results_run = SyncRun.objects.get(pk=summary["results"]["sync_run"])
    sessions_run = SyncRun.objects.filter(params__kind="sessions").latest("pk")
    assert results_run.requests_made == results_made
    assert sessions_run.requests_made == sum(paths.get(p, 0) for p in SESSIONS_PATHS) == 2


def test_without_results_the_count_is_the_sessions_requests(mirror, ergast_data):
    mirror.reset_requests()
    out = StringIO()
    call_command("sync_openf1", "--seasons", "2024-2025", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["requests"] == sum(_served(mirror).values()) == 4 and "results" not in summary
