"""sync_f1 against the f1mirror over HTTP, into the real PostgreSQL test database.

Expected values are counted independently from the Ergast CSV files the mirror serves (plain
`csv` module), never from the code under test. The shared fixture loads the full dump; tests
that need an empty season delete it inside their own transaction.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from ingestion.clients.http import SourceUnavailable
from ingestion.clients.jolpica import JolpicaClient
from ingestion.models import (
    DriverStanding,
    PitStop,
    QualifyingResult,
    Race,
    RaceResult,
    SprintResult,
    SyncRun,
    SyncStatus,
    TeamStanding,
)
from ingestion.services.ergast_dump import ergast_dump_load
from ingestion.services.jolpica_sync import SyncAborted, jolpica_sync
from ingestion.signals import races_changed
from tests.conftest import ERGAST_DUMP_DIR, load_mirror_module
from tests.ingestion.helpers import check_deferred_constraints, fast_client

SEASON = 2021


def _csv(name: str) -> list[dict]:
    with (ERGAST_DUMP_DIR / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def upstream_2021() -> dict:
    """Per-round row counts of 2021 and a few reference facts, straight from the CSV files."""
    races = {r["raceId"]: int(r["round"]) for r in _csv("races.csv") if r["year"] == str(SEASON)}
    out = {"races": len(races)}
    for table, name in [
        ("results", "results.csv"),
        ("qualifying", "qualifying.csv"),
        ("sprint_results", "sprint_results.csv"),
        ("pit_stops", "pit_stops.csv"),
        ("driver_standings", "driver_standings.csv"),
        ("team_standings", "constructor_standings.csv"),
    ]:
        out[table] = Counter(races[r["raceId"]] for r in _csv(name) if r["raceId"] in races)
    drivers = {d["driverId"]: d["driverRef"] for d in _csv("drivers.csv")}
    last_round = max(races.values())
    last_race = next(rid for rid, rnd in races.items() if rnd == last_round)
    winner = next(r for r in _csv("results.csv") if r["raceId"] == last_race and r["positionOrder"] == "1")
    out["last_round"] = last_round
    out["abu_dhabi_winner"] = (drivers[winner["driverId"]], Decimal(winner["points"]), int(winner["laps"]))
    out["final_standings"] = sorted(
        (int(s["position"]), drivers[s["driverId"]], Decimal(s["points"]))
        for s in _csv("driver_standings.csv")
        if s["raceId"] == last_race
    )
    return out


def minimum_requests(up: dict) -> int:
    """1 calendar + season-wide pages at 100 rows + one request per round for per-round endpoints."""
    pages = 1 + sum(
        max(1, math.ceil(sum(up[t].values()) / 100)) for t in ("results", "qualifying", "sprint_results")
    )
    rounds_with_results = len(up["results"])
    return pages + rounds_with_results * 3  # pit stops (< 100 a race), driver and team standings


def db_counts(season: int = SEASON) -> dict[str, int]:
    scope = {"race__season_id": season}
    return {
        "races": Race.objects.filter(season_id=season).count(),
        "results": RaceResult.objects.filter(**scope).count(),
        "qualifying": QualifyingResult.objects.filter(**scope).count(),
        "sprint_results": SprintResult.objects.filter(**scope).count(),
        "pit_stops": PitStop.objects.filter(**scope).count(),
        "driver_standings": DriverStanding.objects.filter(**scope).count(),
        "team_standings": TeamStanding.objects.filter(**scope).count(),
    }


def expected_counts(up: dict, rounds=None) -> dict[str, int]:
    out = {"races": up["races"]}
    for table in (
        "results",
        "qualifying",
        "sprint_results",
        "pit_stops",
        "driver_standings",
        "team_standings",
    ):
        out[table] = sum(n for rnd, n in up[table].items() if rounds is None or rnd in rounds)
    return out


def snapshot(season: int = SEASON) -> dict[str, set]:
    """Every 2021 row by natural key (refs, not primary keys) for before/after comparisons."""
    scope = {"race__season_id": season}
    common = ("race__round", "driver__ref")
    return {
        "results": set(
            RaceResult.objects.filter(**scope).values_list(
                *common,
                "team__ref",
                "number",
                "grid",
                "position",
                "position_text",
                "position_order",
                "points",
                "laps",
                "status__status",
                "time_text",
                "milliseconds",
                "fastest_lap",
                "fastest_lap_rank",
                "fastest_lap_time",
                "shared_car_index",
            )
        ),
        "qualifying": set(
            QualifyingResult.objects.filter(**scope).values_list(*common, "position", "q1", "q2", "q3")
        ),
        "sprint": set(SprintResult.objects.filter(**scope).values_list(*common, "position_order", "points")),
        "pit_stops": set(PitStop.objects.filter(**scope).values_list(*common, "stop", "lap", "milliseconds")),
        "driver_standings": set(
            DriverStanding.objects.filter(**scope).values_list(*common, "position", "points", "wins")
        ),
        "team_standings": set(
            TeamStanding.objects.filter(**scope).values_list("race__round", "team__ref", "position", "points")
        ),
        "races": set(
            Race.objects.filter(season_id=season).values_list("round", "slug", "name", "date", "start")
        ),
    }


@pytest.fixture
def empty_2021(ergast_data):
    Race.objects.filter(season_id=SEASON).delete()
    assert db_counts()["races"] == 0


# ----------------------------------------------------------------------------------------- tests
def test_full_sync_of_2021_matches_upstream_and_a_second_run_changes_nothing(
    mirror, empty_2021, upstream_2021
):
    signalled: list[list[str]] = []

    def receiver(sender, race_ids, **kwargs):
        signalled.append(race_ids)

    races_changed.connect(receiver)
    try:
        first = jolpica_sync(seasons=[SEASON], client=fast_client())
        check_deferred_constraints()
        second = jolpica_sync(seasons=[SEASON], client=fast_client())
    finally:
        races_changed.disconnect(receiver)

    assert first.status == SyncStatus.SUCCEEDED and first.errors == []
    assert db_counts() == expected_counts(upstream_2021)
    assert first.requests_made == minimum_requests(upstream_2021) == mirror.requests()["total"] // 2
    assert len(first.changed_race_ids) == upstream_2021["races"]
    assert signalled == [first.changed_race_ids]  # once, and not for the no-op second run

    assert second.status == SyncStatus.SUCCEEDED
    assert (second.created, second.updated) == (0, 0)
    assert second.changed_race_ids == []
    run = SyncRun.objects.get(pk=second.run_id)
    assert run.finished_at and run.requests_made == second.requests_made
    assert run.counts["results"] == {
        "created": 0,
        "updated": 0,
        "unchanged": sum(upstream_2021["results"].values()),
    }

    # reference facts, checked against the CSV
    abu_dhabi = Race.objects.get(season_id=SEASON, round=upstream_2021["last_round"])
    winner = RaceResult.objects.select_related("driver").get(race=abu_dhabi, position_order=1)
    assert (winner.driver.ref, winner.points, winner.laps) == upstream_2021["abu_dhabi_winner"]
    standings = sorted(
        DriverStanding.objects.filter(race=abu_dhabi).values_list("position", "driver__ref", "points")
    )
    assert standings == upstream_2021["final_standings"]


def test_sync_on_top_of_the_dump_changes_nothing_for_2021(mirror, ergast_data, upstream_2021):
    """The dump loader and the API sync map the same upstream rows to the same values (also the
    fastest-lap rank of cars without one: 0 in the dump, left out by Jolpica, None for both)."""
    before = snapshot()
    summary = jolpica_sync(seasons=[SEASON], rounds=range(1, 8), client=fast_client())
    assert summary.errors == []
    fact_tables = (
        "results",
        "qualifying",
        "sprint_results",
        "pit_stops",
        "driver_standings",
        "team_standings",
    )
    assert {
        t: summary.counts[t].updated + summary.counts[t].created for t in fact_tables if t in summary.counts
    } == {t: 0 for t in fact_tables if t in summary.counts}
    assert snapshot() == before


def test_a_result_without_a_car_number_syncs_as_the_dump_loads_it(mirror, ergast_data):
    """Jolpica leaves `number` out of a result without one (1961 France, 1962 France, 1963 South
    Africa: drivers who withdrew; `\\N` in the dump, stored as 0 there). The schema required it, so
    the sync rejected each of these races' results on every run ("Results.27.number: Field
    required", status partial) and a database built by the sync alone had no results for them."""
    numberless = Counter(r["raceId"] for r in _csv("results.csv") if r["number"] == "\\N")
    where = {
        r["raceId"]: (int(r["year"]), int(r["round"])) for r in _csv("races.csv") if r["raceId"] in numberless
    }
    assert sorted(where.values()) == [(1961, 4), (1962, 4), (1963, 10)]
    for race_id, (season, rnd) in sorted(where.items()):
        before = snapshot(season)
        summary = jolpica_sync(
            seasons=[season], rounds=[rnd], only=("results",), resume=False, client=fast_client()
        )
        assert summary.errors == [], summary.errors
        assert (summary.counts["results"].created, summary.counts["results"].updated) == (0, 0)
        assert snapshot(season) == before  # on top of the dump: nothing changes
        assert (
            RaceResult.objects.filter(race__season_id=season, race__round=rnd, number=0).count()
            == numberless[race_id]
        )
    # into an empty race: the sync alone stores what the dump does
    before = snapshot(1961)
    RaceResult.objects.filter(race__season_id=1961, race__round=4).delete()
    summary = jolpica_sync(seasons=[1961], rounds=[4], only=("results",), resume=False, client=fast_client())
    assert summary.errors == [] and summary.counts["results"].created > 0
    assert snapshot(1961) == before


def test_a_sync_on_top_of_the_dump_changes_nothing_where_position_and_its_text_disagree(mirror, ergast_data):
    """Where the dump's `position` disagrees with its `positionText`, the loader stored the one and
    the sync (which reads `positionText` for results and Jolpica's `position`, absent for an
    excluded entry, for standings) the other, so every load and every sync rewrote the same rows:
    2005 Australia's P11 and P14 (`\\N` / "11"), 1997 Schumacher's disqualification (26 / "D"),
    2007 McLaren's exclusion (11 / "E", 17 rounds). Both now store `positionText`'s number, else
    null; the rows are found from the CSV the mirror serves, not from the code."""
    races = {r["raceId"]: (int(r["year"]), int(r["round"])) for r in _csv("races.csv")}
    disagree = set()
    for name in ("results.csv", "sprint_results.csv", "driver_standings.csv", "constructor_standings.csv"):
        for r in _csv(name):
            text_position = r["positionText"] if r["positionText"].isdigit() else "\\N"
            if r["position"] != text_position:
                disagree.add(races[r["raceId"]])
    assert {season for season, _ in disagree} == {1997, 2005, 2007}
    for season in (1997, 2005, 2007):
        ergast_dump_load(directory=ergast_data, seasons=range(season, season + 1))
    for season, rnd in sorted(disagree):
        summary = jolpica_sync(
            seasons=[season],
            rounds=[rnd],
            only=("results", "driver_standings", "team_standings"),
            resume=False,
            client=fast_client(),
        )
        written = {t: c.created + c.updated for t, c in summary.counts.items() if c.created + c.updated}
        assert written == {}, (season, rnd, written)
    for season in (1997, 2005, 2007):  # and the other way round
        assert ergast_dump_load(directory=ergast_data, seasons=range(season, season + 1)).updated == 0
    mclaren = TeamStanding.objects.get(race__season_id=2007, race__round=1, team__ref="mclaren")
    assert (mclaren.position, mclaren.position_text) == (None, "E")


def test_faults_429_500_slow_truncated_and_resets_are_survived(mirror, empty_2021, upstream_2021):
    mirror.set_faults(
        [
            {"prefix": "/ergast/f1/2021/races", "status": 429, "count": 2, "retry_after": 1},
            {"prefix": "/ergast/f1/2021/results", "status": 500, "count": 2},
            {"prefix": "/ergast/f1/2021/qualifying", "body": "truncate", "count": 2},
            {"prefix": "/ergast/f1/2021/sprint", "body": "short", "count": 1},
            {"prefix": "/ergast/f1/2021/1/", "reset": True, "count": 2},
            {"prefix": "/ergast/f1/2021/2/", "body": "malformed", "count": 2},
            {"prefix": "/ergast/f1/2021/3/", "latency": 1500, "count": 1},
            {"prefix": "/ergast/", "status": 503, "prob": 0.05, "retry_after": 0},
        ],
        seed=7,
    )
    summary = jolpica_sync(seasons=[SEASON], client=fast_client(read_timeout=1.0))
    check_deferred_constraints()

    assert summary.status == SyncStatus.SUCCEEDED, summary.errors
    assert db_counts() == expected_counts(upstream_2021)
    statuses = Counter(r["status"] for r in mirror.requests()["recent"])
    assert statuses[429] >= 2 and statuses[500] >= 2 and statuses[-1] >= 2  # the faults really happened
    assert summary.requests_made > minimum_requests(upstream_2021)


def test_source_down_mid_season_fails_clearly_leaves_no_partial_race_and_resumes(
    mirror, empty_2021, upstream_2021
):
    mirror.set_faults({"prefix": "/ergast/f1/2021/5/", "status": 500})  # round 5's per-round reads
    with pytest.raises(SourceUnavailable) as info:
        jolpica_sync(seasons=[SEASON], client=fast_client(max_retries=1))
    assert "/2021/5/pitstops.json" in info.value.url and info.value.url in str(info.value)

    failed = SyncRun.objects.latest("pk")
    assert failed.status == SyncStatus.FAILED and failed.errors[-1]["url"] == info.value.url
    counts = db_counts()
    assert counts == {**expected_counts(upstream_2021, rounds=range(1, 5)), "races": upstream_2021["races"]}
    assert not RaceResult.objects.filter(race__season_id=SEASON, race__round=5).exists()

    mirror.clear_faults()
    resumed = jolpica_sync(seasons=[SEASON], client=fast_client())
    assert resumed.resumed_from == failed.pk and resumed.skipped_steps == 4 * 6
    assert db_counts() == expected_counts(upstream_2021)
    assert resumed.requests_made < minimum_requests(upstream_2021)  # rounds 1-4 not asked again


def test_killed_mid_season_resumes_and_ends_identical_to_an_uninterrupted_sync(mirror, empty_2021):
    done: list[str] = []

    def crash_after_seven(slug):
        done.append(slug)
        if len(done) == 7:
            raise SyncAborted("simulated kill after 7 races")

    with pytest.raises(SyncAborted):
        jolpica_sync(seasons=[SEASON], client=fast_client(), on_race_done=crash_after_seven)
    interrupted = SyncRun.objects.latest("pk")
    assert interrupted.status == SyncStatus.INTERRUPTED
    assert len(interrupted.cursor["done"]) == 7 * 6
    assert Race.objects.filter(season_id=SEASON, results__isnull=False).distinct().count() == 7

    resumed = jolpica_sync(seasons=[SEASON], client=fast_client())
    assert resumed.resumed_from == interrupted.pk and resumed.status == SyncStatus.SUCCEEDED
    after_resume = snapshot()

    Race.objects.filter(season_id=SEASON).delete()
    uninterrupted = jolpica_sync(seasons=[SEASON], client=fast_client(), resume=False)
    assert uninterrupted.resumed_from is None
    assert snapshot() == after_resume


def test_client_rate_limit_at_the_servers_budget_never_draws_a_429(
    mirror, empty_2021, settings, upstream_2021
):
    mirror.set_rate_limit("4/s,500/h")
    settings.ERGAST_RATE_LIMIT = "4/s,500/h"
    client = JolpicaClient(max_retries=0)  # any 429 would fail the sync
    client.rate_limiter.reset()
    summary = jolpica_sync(seasons=[SEASON], rounds=[1, 2, 3], client=client)
    assert summary.status == SyncStatus.SUCCEEDED
    recent = mirror.requests()["recent"]
    assert len(recent) == summary.requests_made >= 12
    assert {r["status"] for r in recent} == {200}
    assert db_counts()["results"] == sum(upstream_2021["results"][r] for r in (1, 2, 3))


def test_upstream_position_swap_applies_in_one_transaction(mirror, ergast_data):
    """Staged as 'our copy is stale': swap P1/P2 locally, then the sync brings upstream's order back."""
    race = Race.objects.get(season_id=SEASON, round=1)
    first, second = RaceResult.objects.filter(race=race, position_order__in=[1, 2]).order_by("position_order")
    upstream = {r.pk: (r.position, r.position_text, r.position_order, r.points) for r in (first, second)}
    fields = ("position", "position_text", "position_order", "points")
    for row, other in ((first, second), (second, first)):
        for f in fields:
            setattr(row, f, upstream[other.pk][fields.index(f)])
    RaceResult.objects.bulk_update([first, second], fields)
    check_deferred_constraints()

    summary = jolpica_sync(seasons=[SEASON], rounds=[1], only="results", client=fast_client())
    check_deferred_constraints()  # would raise IntegrityError on a transient duplicate position_order

    assert summary.counts["results"].updated == 2 and summary.errors == []
    assert summary.changed_race_ids == [race.slug]
    for row in RaceResult.objects.filter(pk__in=upstream):
        assert (row.position, row.position_text, row.position_order, row.points) == upstream[row.pk]


def test_manual_correction_is_kept_and_the_upstream_value_recorded(mirror, ergast_data):
    result = RaceResult.objects.get(race__season_id=SEASON, race__round=2, position_order=1)
    upstream_points = result.points
    result.points = Decimal("99")
    result.manually_corrected = True
    result.save()

    summary = jolpica_sync(seasons=[SEASON], rounds=[2], only="results", client=fast_client())

    result.refresh_from_db()
    assert result.points == Decimal("99")
    assert len(summary.kept_manual) == 1
    kept = summary.kept_manual[0]
    assert kept["pk"] == result.pk and Decimal(kept["upstream"]["points"]) == upstream_points
    assert any("kept_manual" in e for e in SyncRun.objects.get(pk=summary.run_id).errors)


def test_incremental_fetches_only_what_may_have_changed(mirror, ergast_data, settings):
    latest = RaceResult.objects.filter(race__season_id=2026).order_by("-race__round").first().race
    RaceResult.objects.filter(race=latest).delete()
    DriverStanding.objects.filter(race=latest).delete()

    summary = jolpica_sync(seasons=[2026], incremental=True, client=fast_client())

    assert summary.errors == []
    assert summary.counts["results"].created == RaceResult.objects.filter(race=latest).count() > 0
    assert DriverStanding.objects.filter(race=latest).exists()
    assert summary.changed_race_ids == [latest.slug]
    asked = mirror.requests()["paths"]
    earlier = f"/ergast/f1/2026/{latest.round - 2}/pitstops.json"
    assert earlier not in asked  # rounds that have results and are not the latest are not re-read
    assert summary.requests_made < 20


# --- schema drift: a second mirror serving a modified copy of the dump ------------------------
@pytest.fixture(scope="module")
def drifted_mirror(tmp_path_factory):
    data = tmp_path_factory.mktemp("drifted")
    shutil.copytree(ERGAST_DUMP_DIR, data / "ergast")
    (data / "openf1").mkdir()
    races = {int(r["round"]): r["raceId"] for r in _csv("races.csv") if r["year"] == str(SEASON)}
    rows = _csv("results.csv")
    by_race = {rnd: [r for r in rows if r["raceId"] == rid] for rnd, rid in races.items()}
    by_race[22][3]["positionOrder"] = "R"  # -> "position": "R"
    by_race[21][5]["positionOrder"] = by_race[21][4]["positionOrder"]  # duplicate positions
    by_race[21][5]["positionText"] = by_race[21][4]["positionText"]
    by_race[21][5]["position"] = by_race[21][4]["position"]
    by_race[20][0]["laps"] = "\\N"  # field missing from the payload
    with (data / "ergast" / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    server = load_mirror_module().make_server(str(data), "127.0.0.1", 0)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}/ergast/f1"
    server.shutdown()


def test_schema_drift_is_rejected_per_race_logged_and_stored_data_kept(drifted_mirror, ergast_data, settings):
    settings.ERGAST_RATE_LIMIT = "1000/s"
    before = snapshot()
    summary = jolpica_sync(
        seasons=[SEASON], rounds=[19, 20, 21, 22], only="results", client=fast_client(base_url=drifted_mirror)
    )
    assert summary.status == SyncStatus.PARTIAL
    rejected = {e["race"]: " ".join(e["problems"]) for e in summary.errors}
    slugs = dict(Race.objects.filter(season_id=SEASON).values_list("round", "slug"))
    assert set(rejected) == {slugs[20], slugs[21], slugs[22]}
    assert re.search(r"Results\.\d+\.position: .*\(got 'R'\)", rejected[slugs[22]])
    assert "position_order" in rejected[slugs[21]]
    assert "Results.0.laps" in rejected[slugs[20]] and "Field required" in rejected[slugs[20]]
    assert drifted_mirror in rejected[slugs[22]]  # the message names the URL
    assert snapshot() == before  # rejected races untouched; round 19 was already identical
    run = SyncRun.objects.get(pk=summary.run_id)
    assert run.status == SyncStatus.PARTIAL and len([e for e in run.errors if "race" in e]) == 3


def test_command_json_summary_and_bad_arguments(mirror, ergast_data, capsys):
    import json

    call_command("sync_f1", "--seasons", "2021", "--rounds", "1", "--only", "results", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "succeeded" and data["counts"]["results"]["created"] == 0
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="unknown kind 'resluts'"):
        call_command("sync_f1", "--seasons", "2021", "--only", "resluts")
    with pytest.raises(CommandError, match="--seasons"):
        call_command("sync_f1", "--seasons", "21-x")


def test_sync_into_an_empty_database_creates_drivers_teams_and_circuits(
    mirror, f1_tables_empty, upstream_2021
):
    """References come from the results payloads themselves (here: no standings asked for)."""
    summary = jolpica_sync(seasons=[SEASON], rounds=[1], only="results,qualifying", client=fast_client())
    assert summary.status == SyncStatus.SUCCEEDED, summary.errors
    assert db_counts()["results"] == upstream_2021["results"][1]
    assert db_counts()["qualifying"] == upstream_2021["qualifying"][1]
    race = Race.objects.select_related("circuit").get(season_id=SEASON, round=1)
    assert race.slug == "2021_bahrain" and race.circuit.ref == "bahrain"
    assert race.circuit.circuit_type == "permanent" and race.circuit.length_km  # circuit_meta.csv applied
    assert summary.counts["drivers"].created == 20 and summary.counts["teams"].created == 10


def test_a_second_concurrent_sync_is_refused(mirror, ergast_data):
    """Two runs would share one cursor: the PostgreSQL advisory lock lets only one in."""
    if connection.vendor != "postgresql":
        pytest.skip("advisory lock is PostgreSQL-only")
    import psycopg

    from ingestion.services.jolpica_sync import SYNC_LOCK_KEY, SyncAlreadyRunning

    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port")}
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [SYNC_LOCK_KEY])
        with pytest.raises(SyncAlreadyRunning, match="in progress"):
            jolpica_sync(seasons=[SEASON], rounds=[1], client=fast_client())
        other.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])
    summary = jolpica_sync(seasons=[SEASON], rounds=[1], only="results", client=fast_client())
    assert summary.status == SyncStatus.SUCCEEDED


def test_kill_inside_a_race_transaction_leaves_no_trace_of_that_race(mirror, empty_2021, monkeypatch):
    """Fault injection: the process 'dies' (KeyboardInterrupt) between two tables of round 3."""
    from ingestion.services import jolpica_sync as sync_module

    real_upsert = sync_module.upsert_rows
    calls = {"n": 0}

    def dying_upsert(**kwargs):
        race_id = (kwargs.get("scope") or {}).get("race_id")
        if race_id is not None and Race.objects.filter(pk=race_id, round=3).exists():
            calls["n"] += 1
            if calls["n"] == 3:  # two tables of the race written, then killed
                raise KeyboardInterrupt
        return real_upsert(**kwargs)

    monkeypatch.setattr(sync_module, "upsert_rows", dying_upsert)
    with pytest.raises(KeyboardInterrupt):
        jolpica_sync(seasons=[SEASON], rounds=range(1, 7), client=fast_client())
    monkeypatch.setattr(sync_module, "upsert_rows", real_upsert)

    run = SyncRun.objects.latest("pk")
    assert run.status == SyncStatus.INTERRUPTED
    assert not any(step.startswith(f"{SEASON}:3:") for step in run.cursor["done"])
    round_3 = {"race__season_id": SEASON, "race__round": 3}
    assert not RaceResult.objects.filter(**round_3).exists()
    assert not QualifyingResult.objects.filter(**round_3).exists()
    assert RaceResult.objects.filter(race__season_id=SEASON, race__round=2).exists()

    resumed = jolpica_sync(seasons=[SEASON], rounds=range(1, 7), client=fast_client())
    assert resumed.resumed_from == run.pk and resumed.status == SyncStatus.SUCCEEDED
    assert RaceResult.objects.filter(**round_3).count() == 20


def test_race_ids_from_the_api_calendar(mirror, f1_tables_empty):
    """2025_bahrain names the 2025 Bahrain GP (round from races.csv); 2020's double-headers stay unique."""
    bahrain_round = next(
        int(r["round"])
        for r in _csv("races.csv")
        if r["year"] == "2025" and r["name"] == "Bahrain Grand Prix"
    )
    jolpica_sync(seasons=[2020, 2025], rounds=[1], only="results", client=fast_client())
    race = Race.objects.get(slug="2025_bahrain")
    assert (race.season_id, race.round, race.name) == (2025, bahrain_round, "Bahrain Grand Prix")
    slugs_2020 = list(Race.objects.filter(season_id=2020).values_list("slug", flat=True))
    assert len(slugs_2020) == len(set(slugs_2020)) == 17
    assert {"2020_austrian", "2020_styrian", "2020_bahrain", "2020_sakhir"} <= set(slugs_2020)


def test_races_written_counts_only_races_that_got_rows(mirror, ergast_data):
    """Rounds not run yet (2026 round 8 on: no results upstream) are asked for and answered empty;
    they are not "written" (the summary said 3 races written for 1 race's rows)."""
    with_results = set(RaceResult.objects.filter(race__season_id=2026).values_list("race__round", flat=True))
    ran = max(with_results)
    rounds = [ran, ran + 1, ran + 2]  # one run, two not run yet

    summary = jolpica_sync(seasons=[2026], rounds=rounds, only="results", client=fast_client())

    assert summary.errors == []
    assert summary.counts["results"].unchanged > 0  # the run race's rows, identical to upstream's
    assert summary.races_written == 1
