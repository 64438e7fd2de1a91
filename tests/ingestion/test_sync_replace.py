"""Upstream corrections converge: after a sync a race's rows of a kind are exactly upstream's.

A second mirror serves an edited copy of the dump ("corrected upstream"): 2021 Bahrain with
Mazepin's car number 9 -> 99, an extra Bottas pit stop (stop 4) and an extra driver-standings row
for Massa. Syncing from it and then from the real mirror must end with the real rows each time.
"""

from __future__ import annotations

import csv
import shutil
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from ingestion.models import DriverStanding, PitStop, Race, RaceResult, SyncRun
from ingestion.services.ergast_dump import ergast_dump_load
from ingestion.services.jolpica_sync import jolpica_sync
from ingestion.signals import races_changed
from tests.conftest import ERGAST_DUMP_DIR, load_mirror_module
from tests.factories import DriverFactory
from tests.ingestion.helpers import check_deferred_constraints, fast_client

SEASON = 2021
BAHRAIN = "1052"  # raceId of 2021 round 1 in the dump
MAZEPIN, BOTTAS, MASSA = "853", "822", "13"  # driverIds


def _rewrite(path, edit) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fieldnames = list(rows[0])
    rows = edit(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def corrected_mirror(tmp_path_factory):
    data = tmp_path_factory.mktemp("corrected")
    shutil.copytree(ERGAST_DUMP_DIR, data / "ergast")
    (data / "openf1").mkdir()

    def car_number(rows):
        for r in rows:
            if r["raceId"] == BAHRAIN and r["driverId"] == MAZEPIN:
                r["number"] = "99"
        return rows

    def extra_stop(rows):
        extra = {"raceId": BAHRAIN, "driverId": BOTTAS, "stop": "4", "lap": "56", "time": "19:40:00"}
        return [*rows, {**extra, "duration": "23.100", "milliseconds": "23100"}]

    def extra_standing(rows):
        return [
            *rows,
            {
                "driverStandingsId": "99999",
                "raceId": BAHRAIN,
                "driverId": MASSA,
                "points": "0",
                "position": "21",
                "positionText": "21",
                "wins": "0",
            },
        ]

    _rewrite(data / "ergast" / "results.csv", car_number)
    _rewrite(data / "ergast" / "pit_stops.csv", extra_stop)
    _rewrite(data / "ergast" / "driver_standings.csv", extra_standing)
    server = load_mirror_module().make_server(str(data), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}/ergast/f1"
    server.shutdown()


def jolpica_sync_rounds(base_url: str):
    return jolpica_sync(seasons=[SEASON], rounds=[1, 2], client=fast_client(base_url=base_url), resume=False)


def bahrain_state() -> dict:
    race = Race.objects.get(season_id=SEASON, round=1)
    return {
        "mazepin": sorted(
            RaceResult.objects.filter(race=race, driver__ref="mazepin").values_list("number", flat=True)
        ),
        "results": RaceResult.objects.filter(race=race).count(),
        "pit_stops": PitStop.objects.filter(race=race).count(),
        "bottas_stops": PitStop.objects.filter(race=race, driver__ref="bottas").count(),
        "standings": DriverStanding.objects.filter(race=race).count(),
        "massa": DriverStanding.objects.filter(race=race, driver__ref="massa").exists(),
    }


@pytest.fixture
def signalled():
    calls: list[list[str]] = []

    def receiver(sender, race_ids, **kwargs):
        calls.append(list(race_ids))

    races_changed.connect(receiver)
    yield calls
    races_changed.disconnect(receiver)


def test_upstream_corrections_replace_and_delete_rows_both_ways(
    mirror, corrected_mirror, ergast_data, signalled
):
    real = bahrain_state()
    assert real["mazepin"] == [9] and not real["massa"] and real["bottas_stops"] == 3
    slug = Race.objects.get(season_id=SEASON, round=1).slug

    # upstream corrects: the car number replaces the row, the extra rows arrive
    summary = jolpica_sync_rounds(corrected_mirror)
    check_deferred_constraints()  # the old (mazepin, 9) row must be gone, not collide on position 20
    assert summary.errors == [], summary.errors
    corrected = bahrain_state()
    assert corrected == {
        **real,
        "mazepin": [99],
        "pit_stops": real["pit_stops"] + 1,
        "bottas_stops": 4,
        "standings": real["standings"] + 1,
        "massa": True,
    }
    assert summary.counts["results"].deleted == 1 and summary.counts["results"].created == 1

    # upstream takes it back: rows no longer upstream are deleted, the old number returns
    signalled.clear()
    summary = jolpica_sync_rounds(mirror.ergast)
    check_deferred_constraints()
    assert summary.errors == [], summary.errors
    assert bahrain_state() == real
    assert {t: summary.counts[t].deleted for t in ("results", "pit_stops", "driver_standings")} == {
        "results": 1,
        "pit_stops": 1,
        "driver_standings": 1,
    }
    assert summary.deleted == 3 and summary.as_dict()["deleted"] == 3
    assert slug in summary.changed_race_ids and signalled == [summary.changed_race_ids]
    run = SyncRun.objects.get(pk=summary.run_id)
    assert run.counts["pit_stops"]["deleted"] == 1 and run.counts["driver_standings"]["deleted"] == 1

    # and a third run changes nothing
    again = jolpica_sync_rounds(mirror.ergast)
    assert (again.created, again.updated, again.deleted) == (0, 0, 0) and again.changed_race_ids == []


def standings_api_drivers(client) -> list[str]:
    body = client.get("/api/v1/standings", {"season": SEASON, "round": 1}).json()
    return [d["driver"]["id"] for d in body["drivers"]]


def test_only_pitstops_and_standings_delete_what_upstream_dropped(
    mirror, corrected_mirror, ergast_data, capsys, client
):
    assert "massa" not in standings_api_drivers(client)  # and now cached
    jolpica_sync_rounds(corrected_mirror)
    assert "massa" in standings_api_drivers(client)  # races_changed dropped the cached answer
    call_command(
        "sync_f1", "--seasons", "2021", "--rounds", "1-2", "--only", "pitstops,standings", "--no-resume"
    )
    out = capsys.readouterr().out
    assert "2 deleted" in out, out
    state = bahrain_state()
    assert state["bottas_stops"] == 3 and not state["massa"]
    assert "massa" not in standings_api_drivers(client)  # a deletion signals the race changed too


def test_manual_correction_no_longer_upstream_is_kept_and_reported(mirror, ergast_data):
    race = Race.objects.get(season_id=SEASON, round=2)
    template = RaceResult.objects.filter(race=race).order_by("position_order").last()
    extra = {"race": race, "team_id": template.team_id, "status_id": template.status_id, "laps": 0}
    manual = RaceResult.objects.create(
        **extra,
        driver=DriverFactory(),
        number=98,
        position_order=98,
        position_text="R",
        manually_corrected=True,
    )
    stale = RaceResult.objects.create(
        **extra, driver=DriverFactory(), number=97, position_order=97, position_text="R"
    )

    summary = jolpica_sync(seasons=[SEASON], rounds=[2], only="results", client=fast_client())

    assert summary.errors == []
    assert RaceResult.objects.filter(pk=manual.pk).exists()
    assert not RaceResult.objects.filter(pk=stale.pk).exists()
    assert summary.counts["results"].deleted == 1
    kept = [k for k in summary.kept_manual if k["pk"] == manual.pk]
    assert kept and kept[0]["upstream"] == {"row": "no longer upstream"}


def test_a_rejected_race_keeps_every_stored_row_even_after_the_delete(mirror, corrected_mirror, ergast_data):
    """A staff-corrected (mazepin, 9) stays, so upstream's (mazepin, 99) collides on position 20:
    the race is rejected and its deletes (the other kinds, the same transaction) roll back too."""
    RaceResult.objects.filter(race__season_id=SEASON, race__round=1, driver__ref="mazepin").update(
        manually_corrected=True
    )
    PitStop.objects.filter(race__season_id=SEASON, race__round=1, driver__ref="bottas", stop=3).update(lap=1)
    before = bahrain_state()
    with connection.cursor() as cursor:  # the test transaction never commits: check at each statement
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    summary = jolpica_sync_rounds(corrected_mirror)

    slug = Race.objects.get(season_id=SEASON, round=1).slug
    assert [e["race"] for e in summary.errors] == [slug]
    assert "race_result_unique_position_order" in summary.errors[0]["problems"][0]
    assert bahrain_state() == before
    assert PitStop.objects.get(race__season_id=SEASON, race__round=1, driver__ref="bottas", stop=3).lap == 1
    assert slug not in summary.changed_race_ids


# --- the dump and the API agree: a load then a sync writes nothing, and the other way round -------
def test_load_then_sync_of_2022_writes_nothing_and_a_reload_neither(mirror, ergast_data):
    """2022 has 14 results without a fastest lap: rank 0 in the dump, no rank from Jolpica. Both
    must store None, or every load/sync pair flips them (and re-signals 8 races)."""
    load = ergast_dump_load(directory=ergast_data, seasons=range(2022, 2023))
    assert not RaceResult.objects.filter(race__season_id=2022, fastest_lap_rank=0).exists()
    assert RaceResult.objects.filter(race__season_id=2022, fastest_lap_rank=None).count() == 14
    assert load.rejected == []

    summary = jolpica_sync(seasons=[2022], only="results,sprint", client=fast_client(), resume=False)
    assert summary.errors == []
    assert (summary.created, summary.updated, summary.deleted) == (0, 0, 0), summary.as_dict()["counts"]
    assert summary.changed_race_ids == []

    again = ergast_dump_load(directory=ergast_data, seasons=range(2022, 2023))
    assert (again.created, again.updated, again.deleted) == (0, 0, 0), again.counts
