"""Manual corrections a Jolpica sync kept are warnings with a readable line, not errors.

Before, each kept row went to SyncRun.errors as `{"kept_manual": {...}}` with no level: a succeeded
resync of 2026 Canada with two corrected results showed "2" in Sync runs' errors column and the raw
JSON, labelled "error", on the run's page; the admin's resync message and `sync_f1` said nothing
readable about them. The dump loader already recorded them as `{"level": "warning", "message": ...}`."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from ingestion.models import Race, RaceResult, SyncRun, SyncStatus
from tests.ingestion.helpers import admin_form_data

CANADA = "2026_canada"


def _correct_by_admin(admin_client, result: RaceResult, **changes) -> None:
    """Save `result` through its admin change form (which sets manually_corrected)."""
    data = admin_form_data(result, **changes)
    url = reverse("admin:ingestion_raceresult_change", args=[result.pk])
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    result.refresh_from_db()
    assert result.manually_corrected is True


def _two_corrections(admin_client) -> list[RaceResult]:
    rows = list(RaceResult.objects.filter(race__slug=CANADA).order_by("position_order")[:2])
    for row, points in zip(rows, ("99", "77"), strict=True):
        _correct_by_admin(admin_client, row, points=points)
    return rows


@pytest.mark.django_db
def test_admin_resync_keeps_corrections_as_readable_warnings(
    mirror, ergast_data, admin_client, embedded_celery
):
    rows = _two_corrections(admin_client)
    race = Race.objects.get(slug=CANADA)
    response = admin_client.post(
        reverse("admin:ingestion_race_changelist"),
        {"action": "resync_race", "_selected_action": [race.pk]},
        follow=True,
    )
    assert response.status_code == 200
    run = SyncRun.objects.filter(source="jolpica").latest("started_at")
    assert run.status == SyncStatus.SUCCEEDED
    for row in rows:
        row.refresh_from_db()
    assert [r.points for r in rows] == [Decimal("99"), Decimal("77")]  # kept

    # the admin's message names the kept rows
    message = [str(m) for m in response.context["messages"]][-1]  # after the two "changed" ones
    assert message.startswith(f"2026 rounds [{race.round}]: succeeded (SyncRun {run.pk})")
    for row in rows:
        assert f"{CANADA}: kept manual correction of RaceResult pk {row.pk}" in message

    # the run records warnings with a message, each keeping the upstream value
    kept = [e for e in run.errors if "kept_manual" in e]
    assert len(kept) == 2 and all(e["level"] == "warning" for e in kept)
    by_pk = {e["kept_manual"]["pk"]: e for e in kept}
    assert set(by_pk) == {row.pk for row in rows}
    assert "upstream has points" in by_pk[rows[0].pk]["message"]

    # Sync runs: no errors, two warnings; the run's page shows the readable line, not raw JSON
    listing = admin_client.get(reverse("admin:ingestion_syncrun_changelist")).content.decode()
    assert "0 (+2 warnings)" in listing
    detail = admin_client.get(reverse("admin:ingestion_syncrun_change", args=[run.pk])).content.decode()
    assert f"<b>warning</b>: {CANADA}: kept manual correction of RaceResult pk {rows[0].pk}" in detail
    assert "<b>error</b>" not in detail and "{&quot;kept_manual&quot;" not in detail


@pytest.mark.django_db
def test_sync_f1_says_which_corrections_it_kept(mirror, ergast_data, admin_client):
    rows = _two_corrections(admin_client)
    race = Race.objects.get(slug=CANADA)
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_f1", "--seasons", "2026", "--rounds", str(race.round), stdout=out, stderr=err)
    lines = [line for line in err.getvalue().splitlines() if "kept manual correction" in line]
    assert len(lines) == 2
    assert lines[0].startswith(f"{CANADA}: kept manual correction of RaceResult pk {rows[0].pk} (key ")
    assert "{'model'" not in err.getvalue()  # not the raw dict
    run = SyncRun.objects.filter(source="jolpica").latest("started_at")
    assert run.status == SyncStatus.SUCCEEDED
    assert [e["level"] for e in run.errors if "kept_manual" in e] == ["warning", "warning"]
