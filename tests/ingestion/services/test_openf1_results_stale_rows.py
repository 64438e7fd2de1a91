"""A car OpenF1 places on another driver than the stored row of its number: a conflict, kept as
stored and reported by default; replaced only with `replace_conflicts` (`--replace-conflicts`).

The upsert keys practice on (race, session, driver) and qualifying on (race, driver): re-ingesting a
session whose car the old lookup stored under the number's earlier driver (2025 Mexico FP1: #38 as
Beganovic, it is Fuoco) kept that row beside the new one — 21 rows, two P20s; in qualifying the stale
row held the position. And those sessions are marked ingested, so nothing looked at them again:
`sync_openf1 --results --reingest` does. The first fix deleted the stored row unasked, so one car
named wrongly in OpenF1's feed replaced a correct Jolpica or dump row (review 5): the default now
keeps it. Over HTTP from the mirror.
"""

from __future__ import annotations

import json
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ingestion.models import (
    Driver,
    PracticeResult,
    QualifyingResult,
    Race,
    SessionType,
    SyncRun,
    Team,
)
from ingestion.services.openf1_results import openf1_session_results_ingest
from tests.ingestion.helpers import admin_form_data
from tests.ingestion.services.test_openf1_results_teams import (
    _as_after_this_session,
    _dump_rows,
    _session,
    _stored,
)

pytestmark = pytest.mark.django_db


def _stale_beganovic(mexico: Race) -> None:
    """2025 Mexico FP1 as the old lookup stored it: #38 (Fuoco) under Beganovic, who had #38 earlier."""
    row = PracticeResult.objects.get(race=mexico, session="FP1", number=38)
    row.driver = Driver.objects.get(ref="beganovic")
    row.save()


def test_re_ingesting_a_session_replaces_the_row_of_a_car_now_another_drivers(season_2025):
    mexico = Race.objects.get(season_id=2025, round=20)
    fp1 = _session(mexico, SessionType.FP1)
    _as_after_this_session(fp1)
    expected = _dump_rows("practice.csv", race=mexico, session="FP1")
    assert expected[38][1] == "fuoco" and expected[38][0] == 20
    openf1_session_results_ingest(session=fp1)
    _stale_beganovic(mexico)
    # a car OpenF1 does not return keeps its row: a partial feed must not lose data
    vettel = PracticeResult.objects.create(
        race=mexico,
        session="FP1",
        driver=Driver.objects.get(ref="vettel"),
        team=Team.objects.get(ref=expected[38][2]),
        number=99,
        position=None,
    )

    kept = openf1_session_results_ingest(session=fp1)  # the default: nothing stored is lost

    assert PracticeResult.objects.filter(race=mexico, session="FP1", position=20).count() == 1  # was 2
    stored = _stored(PracticeResult, race=mexico, session="FP1")
    assert stored[38][1] == "beganovic" and PracticeResult.objects.filter(pk=vettel.pk).exists()
    assert kept.get("deleted", 0) == 0 and kept["created"] == 0
    assert kept["conflicts"]["numbers"] == [38] and kept["conflicts"]["replaced"] is False
    assert "#38 stored as beganovic, OpenF1 names fuoco" in kept["conflicts"]["message"]

    result = openf1_session_results_ingest(session=fp1, replace_conflicts=True)

    assert PracticeResult.objects.filter(race=mexico, session="FP1", position=20).count() == 1
    stored = _stored(PracticeResult, race=mexico, session="FP1")
    assert 99 not in expected and stored == {**expected, 99: (None, "vettel", expected[38][2])}
    assert PracticeResult.objects.filter(pk=vettel.pk).exists()
    assert result["deleted"] == 1 and result["created"] == 1 and result["changed"] is True
    assert result["conflicts"]["replaced"] is True


def test_a_car_named_wrongly_by_openf1_never_replaces_a_stored_jolpica_qualifying_row(
    season_2025, monkeypatch, caplog
):
    """Review 5: OpenF1's driver list putting #43 on Doohan instead of Colapinto (2025 Mexico) deleted
    Colapinto's correct qualifying row and gave Doohan his P20. The stored row is kept, the car left
    out, the session's answer names both."""
    from ingestion.clients.openf1 import OpenF1Client

    mexico = Race.objects.get(season_id=2025, round=20)
    quali = _session(mexico, SessionType.QUALIFYING)
    _as_after_this_session(quali)
    expected = _dump_rows("qualifying.csv", race=mexico)
    assert expected[43][1] == "colapinto"
    openf1_session_results_ingest(session=quali)  # the correct classification stored first
    assert _stored(QualifyingResult, race=mexico) == expected
    real_drivers = OpenF1Client.drivers

    def doohan_in_43(self, *, session_key):
        infos = real_drivers(self, session_key=session_key)
        return [
            i.model_copy(update={"name_acronym": "DOO", "last_name": "Doohan", "full_name": "Jack DOOHAN"})
            if i.driver_number == 43
            else i
            for i in infos
        ]

    monkeypatch.setattr(OpenF1Client, "drivers", doohan_in_43)
    with caplog.at_level(logging.WARNING, logger="ingestion.services.openf1_results"):
        result = openf1_session_results_ingest(session=quali)

    assert _stored(QualifyingResult, race=mexico) == expected  # Colapinto keeps his row; none for Doohan
    assert result.get("deleted", 0) == 0 and result["conflicts"]["numbers"] == [43]
    assert any("conflicting cars left out, stored rows kept" in r.getMessage() for r in caplog.records)

    # a row corrected in admin wins even over --replace-conflicts, and keeps OpenF1's car out
    QualifyingResult.objects.filter(race=mexico, number=43).update(manually_corrected=True)
    replaced = openf1_session_results_ingest(session=quali, replace_conflicts=True)
    assert _stored(QualifyingResult, race=mexico) == expected
    assert replaced.get("deleted", 0) == 0 and replaced["kept_manual"] == 1


def test_re_ingesting_qualifying_replaces_a_stale_row_holding_a_position(season_2025):
    """A stored qualifying row of a number now another driver's holds that driver's position (the
    unique position constraint would refuse the write at commit): it is replaced."""
    mexico = Race.objects.get(season_id=2025, round=20)
    quali = _session(mexico, SessionType.QUALIFYING)
    _as_after_this_session(quali)
    expected = _dump_rows("qualifying.csv", race=mexico)
    openf1_session_results_ingest(session=quali)
    last = max(expected, key=lambda n: expected[n][0])
    stale = QualifyingResult.objects.get(race=mexico, number=last)
    stale.driver = Driver.objects.get(ref="beganovic")  # no qualifying row of his at Mexico
    stale.save()

    result = openf1_session_results_ingest(session=quali, replace_conflicts=True)

    assert QualifyingResult.objects.filter(race=mexico).count() == len(expected)
    assert _stored(QualifyingResult, race=mexico) == expected
    assert result["deleted"] == 1 and result["created"] == 1


def test_sync_openf1_reingest_repairs_the_sessions_stored_wrongly_before(season_2025, settings):
    settings.OPENF1_RATE_LIMIT = "1000/s"
    mexico = Race.objects.get(season_id=2025, round=20)
    fp1 = _session(mexico, SessionType.FP1)
    _as_after_this_session(fp1)
    expected = _dump_rows("practice.csv", race=mexico, session="FP1")
    openf1_session_results_ingest(session=fp1)
    _stale_beganovic(mexico)
    fp1.refresh_from_db()
    assert fp1.results_ingested_at is not None  # as the old code left it: never looked at again
    out = StringIO()
    call_command("sync_openf1", "--seasons", "2025", "--results", stdout=out, stderr=StringIO())
    assert _stored(PracticeResult, race=mexico, session="FP1")[38][1] == "beganovic"  # untouched

    out, err = StringIO(), StringIO()
    call_command("sync_openf1", "--seasons", "2025", "--results", "--reingest", stdout=out, stderr=err)

    summary = json.loads(out.getvalue())["results"]
    assert _stored(PracticeResult, race=mexico, session="FP1")[38][1] == "beganovic"  # kept, reported
    assert f"conflict: {mexico.slug} " in err.getvalue()
    assert "#38 stored as beganovic, OpenF1 names fuoco" in err.getvalue()
    run = SyncRun.objects.get(pk=summary["sync_run"])
    assert run.params == {"kind": "results", "seasons": [2025], "reingest": True}
    assert run.status == "partial" and any(e.get("numbers") == [38] for e in run.errors)

    out = StringIO()
    call_command(
        "sync_openf1", "--seasons", "2025", "--results", "--reingest", "--replace-conflicts",
        stdout=out, stderr=StringIO(),
    )  # fmt: skip

    summary = json.loads(out.getvalue())["results"]
    assert summary["sessions"][str(fp1.session_key)]["deleted"] == 1
    assert _stored(PracticeResult, race=mexico, session="FP1") == expected
    run = SyncRun.objects.get(pk=summary["sync_run"])
    assert run.counts["deleted"] == 1 and not any(e.get("numbers") == [38] for e in run.errors)


def test_reingest_without_results_is_refused(mirror):
    with pytest.raises(CommandError, match="--reingest re-ingests results: use it with --results"):
        call_command("sync_openf1", "--seasons", "2025", "--reingest", stdout=StringIO())
    with pytest.raises(CommandError, match="--replace-conflicts applies to results: use it with --results"):
        call_command("sync_openf1", "--seasons", "2025", "--replace-conflicts", stdout=StringIO())


def test_a_practice_row_corrected_in_admin_survives_re_ingesting_its_session(season_2025, admin_client):
    """Admin review: a practice result corrected in admin was overwritten by the next ingest of its
    session (`--reingest`); only race, sprint and qualifying results were kept. Now saving it in
    admin marks it `manually_corrected`, and the ingest keeps it and says so (`kept_manual`)."""
    mexico = Race.objects.get(season_id=2025, round=20)
    fp1 = _session(mexico, SessionType.FP1)
    _as_after_this_session(fp1)
    openf1_session_results_ingest(session=fp1)
    row = PracticeResult.objects.filter(race=mexico, session="FP1").order_by("position").first()
    upstream_laps = row.laps
    data = admin_form_data(row)
    response = admin_client.post(
        f"/admin/ingestion/practiceresult/{row.pk}/change/", {**data, "laps": upstream_laps + 5}
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    result = openf1_session_results_ingest(session=fp1)  # what `sync_openf1 --results --reingest` runs

    row.refresh_from_db()
    assert row.laps == upstream_laps + 5  # the correction kept, not OpenF1's laps
    assert row.manually_corrected is True
    assert result["kept_manual"] == 1 and result.get("updated", 0) == 0

    # a correction that is a conflict (car #38 put on Beganovic here; OpenF1 says Fuoco) wins even
    # over --replace-conflicts, as a corrected qualifying row does
    fuoco = PracticeResult.objects.get(race=mexico, session="FP1", number=38)
    data = admin_form_data(fuoco)
    beganovic = Driver.objects.get(ref="beganovic")
    response = admin_client.post(
        f"/admin/ingestion/practiceresult/{fuoco.pk}/change/", {**data, "driver": beganovic.pk}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    replaced = openf1_session_results_ingest(session=fp1, replace_conflicts=True)
    assert _stored(PracticeResult, race=mexico, session="FP1")[38][1] == "beganovic"
    assert replaced.get("deleted", 0) == 0 and replaced["kept_manual"] == 2
