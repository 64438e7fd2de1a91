"""Admin "Resync selected races" resyncs the races chosen, by identity: the sync's calendar step
runs first (upstream may have renumbered the season since the last sync), then each race at the
round it holds now; a selected race that step flags is reported, not synced.

Uses the edited mirror of test_sync_calendar: 2019 with an "Emilia Romagna Grand Prix" inserted
upstream as round 6 (results copied from Monaco), later rounds +1.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from ingestion.models import Race, SyncRun
from ingestion.services.jolpica_sync import jolpica_sync
from tests.ingestion.helpers import fast_client

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:ingestion_race_changelist")


def _resync(admin_client, races: list[Race]) -> list[str]:
    response = admin_client.post(
        CHANGELIST, {"action": "resync_race", "_selected_action": [r.pk for r in races]}, follow=True
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def _round_paths(mirror_server, season: int) -> set[int]:
    """Rounds of `season` asked for per round (results etc.: `/2019/11/results...`)."""
    rounds = set()
    for path in mirror_server.requests()["paths"]:
        parts = path.split("/")
        if str(season) in parts:
            after = parts[parts.index(str(season)) + 1 :]
            if after and after[0].isdigit():
                rounds.add(int(after[0]))
    return rounds


def test_resync_after_upstream_renumbered_syncs_the_selected_race_at_its_new_round(
    edited_mirror,
    ergast_data,
    admin_client,
    settings,
    embedded_celery,
):
    settings.ERGAST_API_BASE = edited_mirror.ergast
    settings.ERGAST_RATE_LIMIT = "1000/s"
    edited_mirror.reset_requests()
    canada = Race.objects.get(season_id=2019, round=7)  # round 8 upstream now
    assert "canad" in canada.slug

    messages = _resync(admin_client, [canada])

    run = SyncRun.objects.filter(source="jolpica").latest("started_at")
    assert run.params["race_ids"] == [canada.pk] and run.params["rounds"] is None
    assert messages == [f"2019 rounds [8]: {run.status} (SyncRun {run.pk})"], messages
    canada.refresh_from_db()
    assert canada.round == 8  # same row, moved by the calendar step
    assert _round_paths(edited_mirror, 2019) == {8}  # its new round, not round 7 (now Monaco)


def test_resync_reports_a_selected_race_the_calendar_step_flags(
    mirror,
    edited_mirror,
    ergast_data,
    admin_client,
    embedded_celery,
):
    added = jolpica_sync(seasons=[2019], client=fast_client(base_url=edited_mirror.ergast))
    assert added.status == "succeeded", added.errors
    imola = Race.objects.get(season_id=2019, round=6)
    canada = Race.objects.get(season_id=2019, round=8)
    assert "canad" in canada.slug
    mirror.reset_requests()

    (message,) = _resync(admin_client, [imola, canada])  # the real mirror: Imola gone upstream

    run = SyncRun.objects.filter(source="jolpica").latest("started_at")
    assert message.startswith(f"2019 rounds [7]: partial (SyncRun {run.pk})"), message
    assert f"{imola.slug}: not resynced — no longer on the 2019 calendar upstream (flagged" in message
    imola.refresh_from_db()
    canada.refresh_from_db()
    assert imola.removed_upstream_at is not None and imola.round >= 100
    assert canada.round == 7
    assert _round_paths(mirror, 2019) == {7}
