"""The Ergast dump loader against the real PostgreSQL test database.

The session fixture (tests/conftest.py) has already loaded the full dump through
`ergast_dump_load`; expected values here are computed independently from the CSV files with the
csv module (or known by hand), never by the loader.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ingestion.models import (
    Circuit,
    CircuitType,
    Driver,
    DriverStanding,
    PitStop,
    PracticeResult,
    QualifyingResult,
    Race,
    RaceResult,
    Season,
    SprintResult,
    Status,
    SyncRun,
    SyncSource,
    SyncStatus,
    Team,
    TeamStanding,
)
from ingestion.selectors import race_get
from ingestion.services.ergast_dump import (
    DumpFormatError,
    circuit_meta,
    circuit_meta_apply,
    ergast_dump_load,
    lap_time_ms,
)
from ingestion.signals import races_changed

pytestmark = pytest.mark.django_db


def _csv(directory: Path, name: str) -> list[dict]:
    with (directory / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write_csv(directory: Path, name: str, rows: list[dict], fieldnames=None) -> None:
    with (directory / name).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames or list(rows[0]), quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows(rows)


def _race_id(directory: Path, year: int, name: str) -> str:
    (race,) = [r for r in _csv(directory, "races.csv") if r["year"] == str(year) and r["name"] == name]
    return race["raceId"]


@pytest.fixture
def dump_copy(ergast_data, tmp_path) -> Path:
    target = tmp_path / "ergast"
    shutil.copytree(ergast_data, target)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def _table_digest(model) -> str:
    """md5 of the whole table's content in pk order (PostgreSQL) - 'identical tables' check."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t")  # noqa: S608
        return cursor.fetchone()[0]


ALL_MODELS = [
    Circuit,
    Driver,
    Team,
    Status,
    Race,
    RaceResult,
    SprintResult,
    QualifyingResult,
    PracticeResult,
    PitStop,
    DriverStanding,
    TeamStanding,
]


def test_counts_equal_csv_rows_minus_rejected(ergast_data):
    d = ergast_data
    # Independently: qualifying races with a repeated position are rejected whole (2025 Singapore).
    quali = _csv(d, "qualifying.csv")
    repeats = Counter((r["raceId"], r["position"]) for r in quali)
    bad_quali_races = {race for (race, _), n in repeats.items() if n > 1}
    expected = {
        Season: len({r["year"] for r in _csv(d, "seasons.csv")} | {r["year"] for r in _csv(d, "races.csv")}),
        Circuit: len(_csv(d, "circuits.csv")),
        Driver: len(_csv(d, "drivers.csv")),
        Team: len(_csv(d, "constructors.csv")),
        Status: len(_csv(d, "status.csv")),
        Race: len(_csv(d, "races.csv")),
        RaceResult: len(_csv(d, "results.csv")),
        SprintResult: len(_csv(d, "sprint_results.csv")),
        QualifyingResult: len([r for r in quali if r["raceId"] not in bad_quali_races]),
        PracticeResult: len(_csv(d, "practice.csv")),
        PitStop: len(_csv(d, "pit_stops.csv")),
        DriverStanding: len(_csv(d, "driver_standings.csv")),
        TeamStanding: len(_csv(d, "constructor_standings.csv")),
    }
    assert {m.__name__: m.objects.count() for m in expected} == {m.__name__: n for m, n in expected.items()}
    assert sum(expected.values()) > 110_000

    # The rejection is recorded with the race and the field.
    assert bad_quali_races == {_race_id(d, 2025, "Singapore Grand Prix")}
    run = SyncRun.objects.filter(source=SyncSource.ERGAST_DUMP).latest("started_at")
    assert run.status == SyncStatus.PARTIAL
    messages = [e["message"] for e in run.errors]
    assert "2025_singapore qualifying: field 'position' 12 used by 2 cars" in messages
    assert run.counts["results"]["created"] + run.counts["results"]["unchanged"] == expected[RaceResult]


def test_second_full_load_changes_nothing(ergast_data):
    before = {m.__name__: _table_digest(m) for m in ALL_MODELS}
    report = ergast_dump_load(directory=ergast_data)
    assert report.created == 0
    assert report.updated == 0
    tables = {"results": RaceResult, "qualifying": QualifyingResult, "pit_stops": PitStop, "races": Race}
    assert {t: report.counts[t]["unchanged"] for t in tables} == {
        t: m.objects.count() for t, m in tables.items()
    }
    assert {m.__name__: _table_digest(m) for m in ALL_MODELS} == before
    run = SyncRun.objects.get(pk=report.sync_run_id)
    assert run.counts["results"] == {"created": 0, "updated": 0, "unchanged": RaceResult.objects.count()}


def test_2021_uae_result(ergast_data):
    race_id = _race_id(ergast_data, 2021, "Abu Dhabi Grand Prix")
    refs = {r["driverId"]: r["driverRef"] for r in _csv(ergast_data, "drivers.csv")}
    top = sorted(
        (int(r["positionOrder"]), refs[r["driverId"]])
        for r in _csv(ergast_data, "results.csv")
        if r["raceId"] == race_id
    )[:2]
    assert top == [(1, "max_verstappen"), (2, "hamilton")]  # known by hand

    race = race_get(race_id="2021_uae")
    results = list(race.results.select_related("driver").order_by("position_order")[:2])
    assert [(r.position, r.driver.ref, r.driver.code) for r in results] == [
        (1, "max_verstappen", "VER"),
        (2, "hamilton", "HAM"),
    ]
    assert results[0].points == Decimal("26")  # 25 + the fastest-lap point


def test_2021_final_driver_standings(ergast_data):
    race = Race.objects.filter(season_id=2021).order_by("-round").first()
    assert race.name == "Abu Dhabi Grand Prix"
    standings = {s.driver.ref: s for s in race.driver_standings.select_related("driver")}
    assert standings["max_verstappen"].points == Decimal("395.5")
    assert standings["max_verstappen"].position == 1
    assert standings["hamilton"].points == Decimal("387.5")
    assert standings["hamilton"].position == 2


def test_race_ids(ergast_data):
    bahrain = race_get(race_id="2025_bahrain")
    assert (bahrain.season_id, bahrain.name, bahrain.circuit.ref) == (2025, "Bahrain Grand Prix", "bahrain")
    assert race_get(race_id=f"2025_{bahrain.round}") == bahrain
    assert race_get(race_id="2025_4") == bahrain

    slugs_2020 = list(Race.objects.filter(season_id=2020).values_list("slug", flat=True))
    assert len(slugs_2020) == len(set(slugs_2020)) == 17
    assert {"2020_austrian", "2020_styrian", "2020_british", "2020_70th_anniversary"} <= set(slugs_2020)
    assert Race.objects.values("slug").distinct().count() == Race.objects.count()


def test_session_times_are_utc_and_sprint_qualifying_mapped(ergast_data):
    # 2023 Azerbaijan (first sprint-shootout weekend): races.csv fp2 slot 2023-04-29 09:30 is the shootout.
    baku = race_get(race_id="2023_azerbaijan")
    assert baku.start.isoformat() == "2023-04-30T11:00:00+00:00"
    assert baku.sprint_qualifying_start.isoformat() == "2023-04-29T09:30:00+00:00"
    assert baku.fp2_start is None
    # 2022 sprint weekend (Austria): fp2 was still practice (races.csv fp2 2022-07-09 10:30).
    austria = race_get(race_id="2022_austria")
    assert austria.fp2_start.isoformat() == "2022-07-09T10:30:00+00:00"
    assert austria.sprint_qualifying_start is None
    assert austria.sprint_start.isoformat() == "2022-07-09T14:30:00+00:00"


def test_circuit_metadata_applied(ergast_data):
    used = set(Race.objects.filter(season_id__gte=2018).values_list("circuit__ref", flat=True))
    missing = Circuit.objects.filter(ref__in=used, length_km__isnull=True).values_list("ref", flat=True)
    assert list(missing) == []
    monaco = Circuit.objects.get(ref="monaco")
    assert (monaco.circuit_type, monaco.length_km) == (CircuitType.STREET, 3.337)
    assert Circuit.objects.get(ref="spa").circuit_type == CircuitType.PERMANENT


def test_qualifying_times_in_ms(ergast_data):
    q = QualifyingResult.objects.filter(race__slug="2021_uae", position=1).get()
    assert q.q3 == "1:22.109"
    assert q.q3_ms == 82109
    assert lap_time_ms("26.898") == 26898
    assert lap_time_ms("") is None and lap_time_ms("DNF") is None


def test_shared_cars_get_distinct_index(ergast_data):
    rows = _csv(ergast_data, "results.csv")
    groups = Counter((r["raceId"], r["positionOrder"]) for r in rows)
    shared = sum(n - 1 for n in groups.values() if n > 1)
    assert shared > 0
    assert RaceResult.objects.filter(shared_car_index__gt=0).count() == shared


# --- malformed input, corrections ---------------------------------------------------------------


def _stored_results(slug: str, column: str) -> list[tuple]:
    return list(RaceResult.objects.filter(race__slug=slug).order_by("pk").values_list("driver_id", column))


def test_malformed_rows_rejected_per_race_rest_loads(dump_copy):
    d = dump_copy
    abu_dhabi = _race_id(d, 2021, "Abu Dhabi Grand Prix")
    saudi = _race_id(d, 2021, "Saudi Arabian Grand Prix")
    qatar = _race_id(d, 2021, "Qatar Grand Prix")
    bahrain = _race_id(d, 2021, "Bahrain Grand Prix")
    results = _csv(d, "results.csv")
    by_race = defaultdict(list)
    for r in results:
        by_race[r["raceId"]].append(r)
    by_race[abu_dhabi][2]["positionOrder"] = by_race[abu_dhabi][1]["positionOrder"]  # duplicate order
    by_race[saudi][0]["position"] = "R"  # schema drift
    by_race[bahrain][3]["grid"] = "-1"  # a negative integer (QA finding 9)
    by_race[qatar][5]["points"] = "7"  # a legitimate upstream change elsewhere
    changed_driver = by_race[qatar][5]["driverId"]
    _write_csv(d, "results.csv", results)
    # A missing column: sprint_results.csv without positionOrder.
    sprints = _csv(d, "sprint_results.csv")
    for r in sprints:
        del r["positionOrder"]
    _write_csv(d, "sprint_results.csv", sprints)

    before_abu = _stored_results("2021_uae", "position_order")
    before_bahrain = _stored_results("2021_bahrain", "grid")
    sprint_count = SprintResult.objects.count()
    report = ergast_dump_load(directory=d, seasons=range(2021, 2022))

    assert report.status == SyncStatus.PARTIAL
    text = "\n".join(report.rejected)
    assert "2021_uae race: field 'position_order' 2 used by 2 cars (driver_id" in text
    saudi_driver = by_race[saudi][0]["driverId"]
    assert (
        f"2021_saudi_arabia results: driverId {saudi_driver}: field 'position' (column 'position') "
        "has unusable value 'R'" in text
    )
    assert "sprint_results.csv: required column(s) 'positionOrder' missing" in text
    # the column converter refuses it (grid is a PositiveSmallIntegerField), validate_classification
    # behind it: the race is rejected with its existing rows kept, never an IntegrityError
    negative, rejected = [line for line in report.rejected if "2021_bahrain" in line]
    assert negative.startswith("2021_bahrain ") and "'grid'" in negative and "-1" in negative
    assert rejected == f"2021_bahrain results: {len(by_race[bahrain])} rows rejected, existing rows kept"
    # Existing rows of the rejected races are intact; the valid change elsewhere was applied.
    assert _stored_results("2021_uae", "position_order") == before_abu
    assert _stored_results("2021_bahrain", "grid") == before_bahrain
    assert SprintResult.objects.count() == sprint_count
    assert report.counts["results"]["updated"] == 1
    qatar_row = RaceResult.objects.get(race__ergast_id=int(qatar), driver__ergast_id=int(changed_driver))
    assert qatar_row.points == Decimal("7")
    run = SyncRun.objects.get(pk=report.sync_run_id)
    assert run.status == SyncStatus.PARTIAL
    assert any("2021_uae" in e["message"] and "position_order" in e["message"] for e in run.errors)


def test_links_that_are_not_http_are_dropped_not_stored(dump_copy):
    """Security QA: a `javascript:` link in the data was stored and served by the public API for the
    frontend to put in an <a href>. Only http(s) links are kept; the row itself loads."""
    d = dump_copy
    drivers = _csv(d, "drivers.csv")
    (hamilton,) = [r for r in drivers if r["driverRef"] == "hamilton"]
    hamilton["url"] = "javascript:alert(document.cookie)"
    (verstappen,) = [r for r in drivers if r["driverRef"] == "max_verstappen"]
    _write_csv(d, "drivers.csv", drivers)
    races = _csv(d, "races.csv")
    (monza,) = [r for r in races if r["year"] == "2021" and r["name"] == "Italian Grand Prix"]
    monza["url"] = " JavaScript:alert(1)"
    _write_csv(d, "races.csv", races)

    ergast_dump_load(directory=d, seasons=range(2021, 2022))

    assert Driver.objects.get(ref="hamilton").url == ""
    assert Driver.objects.get(ref="max_verstappen").url == verstappen["url"].strip()
    assert verstappen["url"].startswith("http")
    assert Race.objects.get(season_id=2021, name="Italian Grand Prix").url == ""


def test_upstream_swap_of_two_drivers_applies(dump_copy):
    d = dump_copy
    abu_dhabi = _race_id(d, 2021, "Abu Dhabi Grand Prix")
    results = _csv(d, "results.csv")
    first, second = sorted(
        (r for r in results if r["raceId"] == abu_dhabi and r["positionOrder"] in ("1", "2")),
        key=lambda r: int(r["positionOrder"]),
    )
    for field in ("position", "positionText", "positionOrder", "points", "time", "milliseconds"):
        first[field], second[field] = second[field], first[field]
    _write_csv(d, "results.csv", results)

    sent = []

    def receiver(sender, race_ids=(), **kwargs):
        sent.append(list(race_ids))

    races_changed.connect(receiver)
    try:
        report = ergast_dump_load(directory=d, seasons=range(2021, 2022))  # no IntegrityError mid-way
    finally:
        races_changed.disconnect(receiver)

    assert sent == [["2021_uae"]]  # only the race whose rows changed

    assert report.rejected == []
    assert report.counts["results"]["updated"] == 2
    top = list(
        RaceResult.objects.filter(race__slug="2021_uae")
        .order_by("position_order")
        .values_list("driver__ref", "points")[:2]
    )
    assert top == [("hamilton", Decimal("26")), ("max_verstappen", Decimal("18"))]


def test_missing_reference_file_writes_nothing(dump_copy):
    (dump_copy / "drivers.csv").unlink()
    runs = SyncRun.objects.count()
    with pytest.raises(DumpFormatError, match=r"drivers\.csv: file not found"):
        ergast_dump_load(directory=dump_copy, seasons=range(2021, 2022))
    run = SyncRun.objects.latest("started_at")
    assert SyncRun.objects.count() == runs + 1
    assert run.status == SyncStatus.FAILED
    assert "drivers.csv" in run.errors[-1]["message"]


# A file pandas cannot read: a byte that is not UTF-8, a row with more fields than the header, an
# empty file. Each crashed the command with a pandas traceback (exit 1) naming no file; the run's
# error said only "ParserError: Error tokenizing data ..." (QA).
_UNREADABLE = {
    "not_utf8": b"\xff\xfe not UTF-8\n",
    "extra_fields": b"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22\n",
}


def _spoil(path: Path, how: str) -> None:
    if how == "empty":
        path.write_bytes(b"")
    else:
        with path.open("ab") as fh:
            fh.write(_UNREADABLE[how])


@pytest.mark.parametrize("how", ["not_utf8", "extra_fields", "empty"])
def test_unreadable_reference_file_aborts_with_a_message_naming_it(dump_copy, how):
    _spoil(dump_copy / "drivers.csv", how)
    digest = _table_digest(Driver)
    with pytest.raises(
        CommandError, match=r"^Dump not loaded \(nothing written\): drivers\.csv: unreadable CSV"
    ):
        call_command("load_ergast", str(dump_copy), "--seasons", "2021")
    run = SyncRun.objects.latest("started_at")
    assert run.status == SyncStatus.FAILED
    assert run.errors[-1]["message"].startswith("DumpFormatError: drivers.csv: unreadable CSV")
    assert _table_digest(Driver) == digest


@pytest.mark.parametrize("bad", ["0", "-1", "first"])
def test_a_race_without_a_usable_round_aborts_the_load_naming_race_and_value(dump_copy, bad):
    """Rounds start at 1 (Race's `race_round_gte_1`). Round 0 reached the database and ended the
    command as "Load failed ...: IntegrityError: ... violates check constraint"; a word ended it as
    pandas' ValueError. A bad round is the races table's, so the load stops, as for a bad date."""
    with (dump_copy / "races.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, races = reader.fieldnames, list(reader)
    spoiled = next(r for r in races if r["year"] == "2021" and r["round"] == "1")
    spoiled["round"] = bad
    with (dump_copy / "races.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(races)
    digest = _table_digest(Race)
    with pytest.raises(
        CommandError,
        match=rf"^Dump not loaded \(nothing written\): races\.csv: raceId {spoiled['raceId']}: "
        rf"field 'round' unusable \('{bad}'; rounds start at 1\)$",
    ):
        call_command("load_ergast", str(dump_copy), "--seasons", "2021")
    assert SyncRun.objects.latest("started_at").status == SyncStatus.FAILED
    assert _table_digest(Race) == digest


@pytest.mark.parametrize("how", ["not_utf8", "extra_fields", "empty"])
def test_unreadable_fact_file_is_skipped_with_a_message_the_rest_loads(dump_copy, how):
    """As a fact file missing a column: that table is not loaded (its rows stay), the rest is."""
    _spoil(dump_copy / "pit_stops.csv", how)
    pit_stops = _table_digest(PitStop)
    out, err = io.StringIO(), io.StringIO()
    call_command("load_ergast", str(dump_copy), "--seasons", "2021", stdout=out, stderr=err)
    run = SyncRun.objects.latest("started_at")
    assert run.status == SyncStatus.PARTIAL
    assert "pit_stops" not in run.counts and run.counts["results"]["unchanged"] == 440
    (message,) = [e["message"] for e in run.errors if "pit_stops.csv" in e["message"]]
    assert message.startswith("pit_stops.csv: unreadable CSV") and "table pit_stops not loaded" in message
    assert "rejected: pit_stops.csv: unreadable CSV" in err.getvalue()
    assert _table_digest(PitStop) == pit_stops


@pytest.mark.parametrize("correction", ["driver", "number"])
def test_a_correction_that_changed_a_rows_key_rejects_that_race_not_the_whole_load(ergast_data, correction):
    """Staff corrected the 2021 Bahrain winner's row in admin, changing its driver or its car number
    (its natural key). The dump's row for that result then no longer matches it and is inserted
    beside it, colliding with the kept correction on `ergast_id` and the position order: every load
    of the dump failed with an IntegrityError traceback, nothing of any season written. As the sync
    does ("a kept row that collides with upstream's rejects that race"), that race's results are
    rejected with a message naming the correction; the rest of the dump loads."""
    winner = RaceResult.objects.select_related("race").get(race__slug="2021_bahrain", position_order=1)
    if correction == "driver":
        winner.driver = Driver.objects.get(ref="max_verstappen")  # P2's driver, number 44 kept
    else:
        winner.number = 4
    winner.manually_corrected = True  # what saving it in admin does
    winner.save()
    before = _stored_results("2021_bahrain", "position_order")
    report = ergast_dump_load(directory=ergast_data, seasons=range(2021, 2022))
    assert report.status == SyncStatus.PARTIAL
    *collisions, last = [m for m in report.rejected if m.startswith("2021_bahrain results")]
    assert [m.split(" with ")[0] for m in collisions] == [
        "2021_bahrain results: the dump's row collides (position_order 1, shared_car_index 0)",
        f"2021_bahrain results: the dump's row collides (ergast_id {winner.ergast_id})",
    ]
    assert all(f"a row staff corrected in admin (pk {winner.pk}, " in m for m in collisions)
    assert all("release the correction in admin" in m for m in collisions)
    assert last == "2021_bahrain results: 20 rows rejected, existing rows kept"
    assert _stored_results("2021_bahrain", "position_order") == before
    winner.refresh_from_db()
    assert winner.manually_corrected and (winner.driver.ref == "max_verstappen" or winner.number == 4)
    # the other races and tables loaded (2021 qualifying of the same race too)
    assert report.counts["results"]["unchanged"] == 440 - 20 and report.counts["qualifying"]["unchanged"] > 0


def test_season_filter_loads_into_empty_tables(ergast_data, f1_tables_empty):
    assert Race.objects.count() == 0
    report = ergast_dump_load(directory=ergast_data, seasons=range(2021, 2022))
    expected_races = [r for r in _csv(ergast_data, "races.csv") if r["year"] == "2021"]
    assert Race.objects.count() == len(expected_races) == 22
    race_ids = {r["raceId"] for r in expected_races}
    assert RaceResult.objects.count() == sum(
        1 for r in _csv(ergast_data, "results.csv") if r["raceId"] in race_ids
    )
    assert report.counts["races"]["created"] == 22


# --- command and circuit metadata ---------------------------------------------------------------


def test_load_ergast_command_json(ergast_data):
    out = io.StringIO()
    call_command("load_ergast", str(ergast_data), "--seasons", "2021", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["created"] == 0 and summary["updated"] == 0
    assert summary["counts"]["races"] == {"created": 0, "updated": 0, "unchanged": 22}
    assert SyncRun.objects.get(pk=summary["sync_run_id"]).params == {
        "directory": str(ergast_data),
        "seasons": [2021, 2021],
    }


@pytest.mark.parametrize("seasons", ["20x1", "2026-2018", "1800"])
def test_load_ergast_command_rejects_bad_seasons(ergast_data, seasons):
    with pytest.raises(CommandError, match="--seasons"):
        call_command("load_ergast", str(ergast_data), "--seasons", seasons)


def test_load_ergast_seasons_not_in_the_dump_exit_1_after_loading_the_rest(ergast_data):
    """`load_ergast DIR --seasons 2099` printed "0 created, 0 updated … succeeded" and exited 0: a
    typo read as success. As `sync_f1 --seasons 2099`: the seasons the dump has are loaded, the rest
    are named (report `missing`, a SyncRun warning, status unaffected) and the command exits 1."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("load_ergast", str(ergast_data), "--seasons", "2026-2028", stdout=out, stderr=err)
    assert caught.value.returncode == 1
    assert str(caught.value) == "not in the dump: seasons 2027, 2028 (its races run from 1950 to 2026)"
    assert "0 created" in out.getvalue()
    run = SyncRun.objects.latest("started_at")
    assert run.status == SyncStatus.SUCCEEDED and run.counts["races"]["unchanged"] > 0  # 2026 loaded
    assert {
        "level": "warning",
        "message": "not in the dump: seasons 2027, 2028 (its races run from 1950 to 2026)",
    } in run.errors
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^not in the dump: season 2099 "):
        call_command("load_ergast", str(ergast_data), "--seasons", "2099", "--json", stdout=out)
    assert json.loads(out.getvalue())["missing"] == [2099]
    call_command("load_ergast", str(ergast_data), "--seasons", "2026", stdout=io.StringIO())  # no raise


def test_load_ergast_command_an_unexpected_error_is_one_line_naming_the_run(ergast_data, monkeypatch):
    """Any other failure of the load (here pandas running out of memory on a file) was a full
    traceback; as `sync_f1`: one line naming the failed SyncRun, exit 1, `--traceback` for details."""
    import pandas as pd

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.1 GiB for an array")

    monkeypatch.setattr(pd, "read_csv", out_of_memory)
    with pytest.raises(CommandError) as caught:
        call_command("load_ergast", str(ergast_data), "--seasons", "2021")
    run = SyncRun.objects.latest("started_at")
    assert run.status == SyncStatus.FAILED
    assert str(caught.value) == (
        f"Load failed (SyncRun {run.pk}; nothing written): MemoryError: Unable to allocate 2.1 GiB for an "
        "array (--traceback for details)"
    )
    assert caught.value.returncode == 1


def test_load_ergast_command_missing_directory(tmp_path):
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("load_ergast", str(tmp_path / "nope"))


def test_circuit_meta_apply_restores_metadata(ergast_data):
    Circuit.objects.filter(ref__in=["monaco", "spa"]).update(circuit_type=CircuitType.UNKNOWN, length_km=None)
    counts = circuit_meta_apply()
    assert counts.updated == 2
    assert Circuit.objects.get(ref="spa").length_km == 7.004
    assert circuit_meta()["monaco"] == {"circuit_type": "street", "length_km": 3.337}


@pytest.fixture(params=["copy", "orm"])
def load_path(request, monkeypatch):
    """Both write paths of the loader: COPY + INSERT .. ON CONFLICT (PostgreSQL) and upsert_rows
    (any other database; forced here by making the loader see another vendor)."""
    if request.param == "orm":
        monkeypatch.setattr(connection, "vendor", "not-postgresql")
    return request.param


def test_reload_of_a_changed_dump_converges_per_race(dump_copy, ergast_data, load_path):
    """A race's rows become exactly the dump's: a changed car number (part of the natural key)
    replaces its row, rows gone from the dump are deleted, rows corrected in admin are kept."""
    d = dump_copy
    bahrain = _race_id(d, 2021, "Bahrain Grand Prix")
    imola = _race_id(d, 2021, "Emilia Romagna Grand Prix")
    mazepin, bottas = "853", "822"
    results = _csv(d, "results.csv")
    for r in results:
        if r["raceId"] == bahrain and r["driverId"] == mazepin:
            r["number"] = "99"
    imola_last = max((r for r in results if r["raceId"] == imola), key=lambda r: int(r["positionOrder"]))
    results.remove(imola_last)
    _write_csv(d, "results.csv", results)
    stops = [
        r
        for r in _csv(d, "pit_stops.csv")
        if not (r["raceId"] == bahrain and r["driverId"] == bottas and r["stop"] == "3")
    ]
    _write_csv(d, "pit_stops.csv", stops)
    standings = _csv(d, "driver_standings.csv")
    standings.remove(max((r for r in standings if r["raceId"] == bahrain), key=lambda r: int(r["position"])))
    _write_csv(d, "driver_standings.csv", standings)
    manual = RaceResult.objects.get(
        race__slug="2021_emilia_romagna", position_order=int(imola_last["positionOrder"])
    )
    RaceResult.objects.filter(pk=manual.pk).update(manually_corrected=True)
    before = {
        "stops": PitStop.objects.filter(race__slug="2021_bahrain").count(),
        "standings": DriverStanding.objects.filter(race__slug="2021_bahrain").count(),
    }

    sent = []

    def receiver(sender, race_ids=(), **kwargs):
        sent.append(list(race_ids))

    races_changed.connect(receiver)
    try:
        report = ergast_dump_load(directory=d, seasons=range(2021, 2022))
    finally:
        races_changed.disconnect(receiver)
    with connection.cursor() as cursor:  # the test transaction never commits: check deferred ones now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    assert report.rejected == []
    assert report.counts["results"]["deleted"] == 1 and report.counts["results"]["created"] == 1
    assert report.counts["pit_stops"]["deleted"] == 1 and report.counts["driver_standings"]["deleted"] == 1
    assert report.deleted == 3
    numbers = RaceResult.objects.filter(race__slug="2021_bahrain", driver__ref="mazepin").values_list(
        "number", flat=True
    )
    assert list(numbers) == [99]
    assert PitStop.objects.filter(race__slug="2021_bahrain").count() == before["stops"] - 1
    assert DriverStanding.objects.filter(race__slug="2021_bahrain").count() == before["standings"] - 1
    assert RaceResult.objects.filter(pk=manual.pk).exists()
    assert any("no longer upstream" in w and str(manual.pk) in w for w in report.warnings)
    assert sent and "2021_bahrain" in sent[0]

    # the original dump again: back to where it was
    report = ergast_dump_load(directory=ergast_data, seasons=range(2021, 2022))
    assert report.counts["results"]["deleted"] == 1  # mazepin 99 -> 9
    assert PitStop.objects.filter(race__slug="2021_bahrain").count() == before["stops"]
    assert DriverStanding.objects.filter(race__slug="2021_bahrain").count() == before["standings"]


def test_practice_is_replaced_per_session_a_session_missing_from_the_dump_is_kept(dump_copy, load_path):
    """OpenF1 ingests practice sessions the dump may not have yet: a reload replaces the sessions
    it carries and leaves the others of the same race alone."""
    d = dump_copy
    bahrain = _race_id(d, 2023, "Bahrain Grand Prix")
    practice = _csv(d, "practice.csv")
    fp1 = [r for r in practice if r["raceId"] == bahrain and r["session"] == "FP1"]
    dropped = max(fp1, key=lambda r: int(r["position"]))
    kept = [
        r for r in practice if r is not dropped and not (r["raceId"] == bahrain and r["session"] == "FP3")
    ]
    _write_csv(d, "practice.csv", kept)
    stored = PracticeResult.objects.filter(race__slug="2023_bahrain")
    fp3_before = stored.filter(session="FP3").count()
    fp1_before = stored.filter(session="FP1").count()
    assert fp3_before > 0

    report = ergast_dump_load(directory=d, seasons=range(2023, 2024))

    assert report.counts["practice"]["deleted"] == 1
    assert stored.filter(session="FP1").count() == fp1_before - 1
    assert stored.filter(session="FP3").count() == fp3_before
