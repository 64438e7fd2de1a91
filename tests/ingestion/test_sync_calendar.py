"""Upstream calendar changes (races added / removed, rounds renumbered) and the resume cursor.

A second mirror serves an edited copy of the shared dump (never the shared data itself):
* 2019: an "Emilia Romagna Grand Prix" (Imola, with results copied from Monaco) inserted as
  round 6, later rounds +1 — then the real mirror is the same calendar with that race removed;
* 2020: a "Qatar Grand Prix" (no results) inserted as round 16, Sakhir and Abu Dhabi +1;
* 2021: round 3's results not published yet.
Over real HTTP into the real test database, like test_sync_jolpica.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingestion.clients.http import SourceUnavailable
from ingestion.models import Race, RaceResult, SyncRun, SyncSource, SyncStatus
from ingestion.services.jolpica_sync import jolpica_sync
from ingestion.services.race_calendar import PARKED_FROM, StoredRace, UpstreamEntry, match_calendar
from tests.ingestion.helpers import check_deferred_constraints, fast_client


def _ids(season: int) -> dict[int, tuple[str, int]]:
    """pk -> (slug, round) of a season's races."""
    return {
        pk: (slug, rnd)
        for pk, slug, rnd in Race.objects.filter(season_id=season).values_list("pk", "slug", "round")
    }


def _result_counts(season: int) -> dict[str, int]:
    return {
        race.slug: RaceResult.objects.filter(race=race).count()
        for race in Race.objects.filter(season_id=season)
    }


# ----------------------------------------------------------------------------- H1: calendar identity
def test_match_calendar_tells_2020_double_headers_apart():
    """Same circuit, different names and dates; stored ids from an older naming rule."""
    d = dt.date
    stored = [
        StoredRace(1, 1, "2020_austria", "Austrian Grand Prix", 70, d(2020, 7, 5), False),
        StoredRace(2, 2, "2020_styria", "Styrian Grand Prix", 70, d(2020, 7, 12), False),
        StoredRace(3, 15, "2020_bahrain", "Bahrain Grand Prix", 3, d(2020, 11, 29), False),
        StoredRace(4, 16, "2020_sakhir", "Sakhir Grand Prix", 3, d(2020, 12, 6), False),
        StoredRace(5, 17, "2020_australia", "Australian Grand Prix", 1, d(2020, 3, 15), False),
    ]
    upstream = [
        UpstreamEntry(1, "2020_austrian", "Austrian Grand Prix", 70, "red_bull_ring", d(2020, 7, 5)),
        UpstreamEntry(2, "2020_styrian", "Styrian Grand Prix", 70, "red_bull_ring", d(2020, 7, 12)),
        UpstreamEntry(3, "2020_bahrain", "Bahrain Grand Prix", 3, "bahrain", d(2020, 11, 29)),
        UpstreamEntry(4, "2020_sakhir", "Sakhir Grand Prix", 3, "bahrain", d(2020, 12, 8)),  # moved
    ]
    matched, vanished = match_calendar(stored, upstream)
    assert {rnd: race.pk for rnd, race in matched.items()} == {1: 1, 2: 2, 3: 3, 4: 4}
    assert [r.pk for r in vanished] == [5]


def test_race_added_then_removed_upstream_keeps_every_race_id_and_its_data(
    mirror, edited_mirror, ergast_data, capsys
):
    """QA repro 1: 2019 gains a round 6 upstream, then loses it again."""
    before = _ids(2019)
    before_results = _result_counts(2019)
    slug_round = {slug: rnd for slug, rnd in before.values()}
    assert len(before) == 21 and slug_round["2019_monaco"] == 6

    with CaptureQueriesContext(connection) as ctx:
        added = jolpica_sync(seasons=[2019], client=fast_client(base_url=edited_mirror.ergast))
    check_deferred_constraints()
    assert added.status == SyncStatus.SUCCEEDED, added.errors
    # 16 races move (rounds 6-21): out of the 1..N range, then to their rounds, one statement each
    round_writes = [
        q for q in ctx.captured_queries if q["sql"].startswith('UPDATE "ingestion_race" SET "round"')
    ]
    assert len(round_writes) == 2, [q["sql"][:80] for q in round_writes]
    after_add = _ids(2019)
    assert len(after_add) == 22
    for pk, (slug, rnd) in before.items():  # same row, same id, round moved only after Imola
        assert after_add[pk] == (slug, rnd + 1 if rnd >= 6 else rnd)
    imola = Race.objects.get(season_id=2019, round=6)
    assert (imola.slug, imola.name) == ("2019_emilia_romagna", "Emilia Romagna Grand Prix")
    assert _result_counts(2019) == {**before_results, "2019_emilia_romagna": before_results["2019_monaco"]}
    assert "2019_monaco: round 6 -> 7" in " ".join(c["message"] for c in added.calendar)
    assert (
        Race.objects.get(slug="2019_italy").round == 15
    )  # matched by circuit + date (its id would now be 2019_italian)

    removed = jolpica_sync(seasons=[2019], client=fast_client(base_url=mirror.ergast))
    check_deferred_constraints()
    assert _ids(2019) == {**before, imola.pk: ("2019_emilia_romagna", PARKED_FROM)}
    assert _result_counts(2019) == {**before_results, "2019_emilia_romagna": before_results["2019_monaco"]}
    # the race upstream dropped had results: kept, flagged, parked, and reported loudly
    assert removed.status == SyncStatus.PARTIAL
    imola.refresh_from_db()
    assert imola.removed_upstream_at is not None and imola.round == PARKED_FROM
    (error,) = [e for e in removed.errors if e.get("kind") == "calendar"]
    assert error["race"] == "2019_emilia_romagna" and "no longer on the 2019 calendar" in error["message"]
    assert "results" in error["message"] and f"round {PARKED_FROM}" in error["message"]
    run = SyncRun.objects.get(pk=removed.run_id)
    assert run.status == SyncStatus.PARTIAL and any(e.get("kind") == "calendar" for e in run.errors)

    # the next sync still says it (a warning: the daily job is not left partial for good, since a
    # race with predictions cannot be deleted in admin), and a race back upstream is unflagged
    call_command("sync_f1", "--seasons", "2019")
    out = capsys.readouterr().out
    assert "Sync succeeded" in out
    assert (
        "calendar: 2019_emilia_romagna: still not on the 2019 calendar upstream; kept (20 race results)"
        in out
    )
    back = jolpica_sync(seasons=[2019], client=fast_client(base_url=edited_mirror.ergast))
    check_deferred_constraints()
    assert back.status == SyncStatus.SUCCEEDED, back.errors
    imola.refresh_from_db()
    assert (imola.round, imola.removed_upstream_at) == (6, None)
    assert _ids(2019) == after_add


def test_race_added_upstream_renumbers_without_a_slug_collision_and_is_deleted_when_gone(
    mirror, edited_mirror, ergast_data, capsys, settings
):
    """QA repro 2: 2020 gains a round 16 (Sakhir, Abu Dhabi +1); then upstream drops it again."""
    before = _ids(2020)
    settings.ERGAST_API_BASE = edited_mirror.ergast
    call_command("sync_f1", "--seasons", "2020")
    check_deferred_constraints()
    out = capsys.readouterr().out
    assert "Sync succeeded" in out
    assert "calendar: 2020_sakhir: round 16 -> 17" in out and "calendar: 2020_qatar: added upstream" in out
    after = _ids(2020)
    slugs = {slug: rnd for slug, rnd in after.values()}
    assert (slugs["2020_qatar"], slugs["2020_sakhir"], slugs["2020_uae"]) == (16, 17, 18)
    assert all(after[pk][0] == slug for pk, (slug, _) in before.items())

    settings.ERGAST_API_BASE = mirror.ergast
    summary = jolpica_sync(seasons=[2020], client=fast_client())
    check_deferred_constraints()
    assert summary.status == SyncStatus.SUCCEEDED, summary.errors
    assert _ids(2020) == before  # Qatar had no data: deleted; the rest back at their rounds
    assert any("2020_qatar" in c["message"] and "deleted" in c["message"] for c in summary.calendar)


def test_unresolvable_race_id_collision_is_a_clear_error_not_a_traceback(
    edited_mirror, ergast_data, settings, capsys
):
    """Stored ids that an added race's id would duplicate (here: set by hand) stop only that race."""
    settings.ERGAST_RATE_LIMIT = "1000/s"
    settings.ERGAST_API_BASE = edited_mirror.ergast
    Race.objects.filter(season_id=2020, round=1).update(slug="2020_qatar")
    Race.objects.filter(season_id=2020, round=2).update(slug="2020_qatar_losail")
    call_command("sync_f1", "--seasons", "2020")  # no exception: exit 0, the rest is synced
    check_deferred_constraints()
    out, err = capsys.readouterr()
    assert "Sync partial" in out
    assert "CALENDAR: 2020 calendar: upstream round 16 Qatar Grand Prix (2020-12-01) would take" in err
    run = SyncRun.objects.latest("pk")
    assert run.status == SyncStatus.PARTIAL
    (error,) = [e for e in run.errors if e.get("level") != "warning"]
    assert error["kind"] == "calendar" and "round 16 Qatar Grand Prix" in error["message"]
    assert "Austrian Grand Prix" in error["message"] and "2020_qatar_losail" in error["message"]
    assert not Race.objects.filter(season_id=2020, name="Qatar Grand Prix").exists()
    assert dict(Race.objects.filter(season_id=2020).values_list("slug", "round"))["2020_uae"] == 18


# ----------------------------------------------------------------------------- M1: empty steps, age
def test_a_round_without_results_is_fetched_again_by_the_resumed_run(mirror, edited_mirror, ergast_data):
    Race.objects.filter(season_id=2021).delete()
    edited_mirror.set_faults({"prefix": "/ergast/f1/2021/4/pitstops", "status": 500})
    try:
        with pytest.raises(SourceUnavailable):
            jolpica_sync(
                seasons=[2021],
                rounds=[3, 4],
                client=fast_client(base_url=edited_mirror.ergast, max_retries=0),
            )
    finally:
        edited_mirror.reset()
    failed = SyncRun.objects.latest("pk")
    assert failed.status == SyncStatus.FAILED
    assert not [s for s in failed.cursor["done"] if s.startswith("2021:3:results")]

    resumed = jolpica_sync(seasons=[2021], rounds=[3, 4], client=fast_client())
    assert resumed.resumed_from == failed.pk and resumed.status == SyncStatus.SUCCEEDED
    assert RaceResult.objects.filter(race__slug="2021_portugal").count() == 20
    assert RaceResult.objects.filter(race__slug="2021_spain").count() == 20


def test_an_old_cursor_is_not_resumed(mirror, ergast_data, settings):
    params = {"seasons": [2021], "rounds": [1], "only": ["results"], "incremental": False}
    old = SyncRun.objects.create(
        source=SyncSource.JOLPICA,
        params=params,
        status=SyncStatus.FAILED,
        cursor={"done": ["2021:1:results"]},
    )
    SyncRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - dt.timedelta(hours=13))
    settings.SYNC_RESUME_MAX_AGE_HOURS = 12
    summary = jolpica_sync(seasons=[2021], rounds=[1], only="results", client=fast_client())
    assert summary.resumed_from is None and summary.skipped_steps == 0

    # a fresh one is resumed, and its age travels with the cursor (not reset by the resume)
    SyncRun.objects.filter(pk=summary.run_id).update(status=SyncStatus.FAILED)
    resumed = jolpica_sync(seasons=[2021], rounds=[1], only="results", client=fast_client())
    assert resumed.resumed_from == summary.run_id and resumed.skipped_steps == 1
    first_since = SyncRun.objects.get(pk=summary.run_id).cursor["since"]
    assert SyncRun.objects.get(pk=resumed.run_id).cursor["since"] == first_since


# ----------------------------------------------------------------------------- M2: killed runs
def test_a_killed_run_is_closed_and_a_resume_saves_its_cursor_before_any_race(
    mirror, ergast_data, monkeypatch
):
    params = {"seasons": [2021], "rounds": [1, 2, 3], "only": ["results"], "incremental": False}
    other = SyncRun.objects.create(  # killed before its first commit, other parameters
        source=SyncSource.JOLPICA, params={"seasons": [2018]}, status=SyncStatus.RUNNING, cursor={}
    )
    failed = SyncRun.objects.create(
        source=SyncSource.JOLPICA,
        params=params,
        status=SyncStatus.FAILED,
        cursor={"done": ["2021:1:results", "2021:2:results"]},
    )
    client = fast_client()
    seen = {}
    real_results = client.results

    def results(*args, **kwargs):  # the season-wide fetch, before any race commits
        run = SyncRun.objects.latest("pk")
        seen.setdefault("cursor", run.cursor)
        return real_results(*args, **kwargs)

    monkeypatch.setattr(client, "results", results)
    summary = jolpica_sync(seasons=[2021], rounds=[1, 2, 3], only="results", client=client)

    other.refresh_from_db()
    assert other.status == SyncStatus.INTERRUPTED and other.finished_at is not None
    assert summary.resumed_from == failed.pk
    assert seen["cursor"]["done"] == ["2021:1:results", "2021:2:results"]  # a kill here keeps them


def test_a_resumed_cursor_follows_the_renumbering(edited_mirror, ergast_data, settings):
    """Steps are `season:round:kind`: after upstream inserts round 6, the old round-6 step is
    Monaco's (now round 7) and the new round 6 (Imola) still has to be synced."""
    settings.ERGAST_RATE_LIMIT = "1000/s"
    params = {"seasons": [2019], "rounds": None, "only": ["results"], "incremental": False}
    failed = SyncRun.objects.create(
        source=SyncSource.JOLPICA,
        params=params,
        status=SyncStatus.FAILED,
        cursor={"done": [f"2019:{r}:results" for r in range(1, 22)]},
    )
    summary = jolpica_sync(seasons=[2019], only="results", client=fast_client(base_url=edited_mirror.ergast))
    check_deferred_constraints()
    assert summary.resumed_from == failed.pk and summary.skipped_steps == 21
    monaco = Race.objects.get(slug="2019_monaco")
    assert monaco.round == 7
    assert RaceResult.objects.filter(race__slug="2019_emilia_romagna").count() == monaco.results.count()
    done = SyncRun.objects.get(pk=summary.run_id).cursor["done"]
    assert sorted(done, key=lambda s: int(s.split(":")[1])) == [f"2019:{r}:results" for r in range(1, 23)]
