"""Admin changes reach every cached answer that shows them (real Redis and PostgreSQL, no mocks).

Each test warms the cache through HTTP, makes the change the way the admin does (its delete view,
or the `obj.save()` its change view ends in, committed), then asks again: every answer must be the
one the database gives now — `_as_recomputed` compares it with the answer computed after a full
cache clear, so a test does not have to know each payload's shape.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.cache import cache

from f1site import cache as f1cache
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles

pytestmark = pytest.mark.django_db


def _get(client, path: str):
    response = client.get(path)
    return response.status_code, (
        response.json() if response["Content-Type"].startswith("application/json") else None
    )


def _as_recomputed(client, paths: list[str]) -> dict[str, tuple]:
    """Each path's (cached) answer now; asserts it equals the answer computed from the database."""
    cached = {path: _get(client, path) for path in paths}
    cache.clear()
    f1cache._local_copies.clear()
    for path in paths:
        assert _get(client, path) == cached[path], f"{path} served a stale cached answer"
    return cached


def _codes_of(payload, driver_ref: str) -> set[str]:
    """The `code` of every object naming this driver anywhere in a JSON answer."""
    found = set()
    if isinstance(payload, dict):
        if (
            driver_ref in (payload.get("id"), payload.get("ref"), payload.get("driver_id"))
            and "code" in payload
        ):
            found.add(payload["code"])
        for value in payload.values():
            found |= _codes_of(value, driver_ref)
    elif isinstance(payload, list):
        for value in payload:
            found |= _codes_of(value, driver_ref)
    return found


def _committed(django_capture_on_commit_callbacks, change) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        change()


# --- 1. a race deleted in admin --------------------------------------------------------------------
def test_race_deleted_in_admin_is_no_longer_served(
    api, client, admin_client, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import Race

    race = Race.objects.get(slug="1950_uk")
    assert race.round == 1
    api_paths = [
        "/api/v1/races/1950_uk",
        "/api/v1/races/1950_1",
        "/api/v1/races?season=1950",
        "/api/v1/races?limit=5",
        "/api/v1/standings?season=1950&round=1",
        "/api/v1/standings?season=1950",
        "/api/v1/predictions/race/1950_uk",
        "/api/v1/analytics/driver/farina",
        "/api/v1/analytics/driver/farina?season=1950",
        "/api/v1/analytics/team/alfa?season=1950",
        "/api/v1/drivers/farina",
        "/api/v1/teams/alfa",
    ]
    before = {path: _get(api, path) for path in api_paths}
    assert before["/api/v1/races/1950_uk"][0] == before["/api/v1/races/1950_1"][0] == 200
    assert "1950_uk" in [r["id"] for r in before["/api/v1/races?season=1950"][1]["results"]]
    assert before["/api/v1/standings?season=1950&round=1"][0] == 200
    assert client.get("/races/1950_uk/").status_code == 200

    # the admin view runs in the test's transaction: its on-commit callbacks run at our "commit"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/ingestion/race/{race.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:500]
    assert not Race.objects.filter(slug="1950_uk").exists()

    for path in ("/api/v1/races/1950_uk", "/api/v1/races/1950_1", "/api/v1/predictions/race/1950_uk"):
        assert api.get(path).status_code == 404, path
    assert api.get("/api/v1/standings?season=1950&round=1").status_code == 404
    assert client.get("/races/1950_uk/").status_code == 404
    after = _as_recomputed(api, api_paths)
    assert "1950_uk" not in [r["id"] for r in after["/api/v1/races?season=1950"][1]["results"]]
    assert (
        after["/api/v1/analytics/driver/farina?season=1950"]
        != before["/api/v1/analytics/driver/farina?season=1950"]
    )
    for path in ("/api/v1/drivers/farina", "/api/v1/teams/alfa"):  # one race fewer in the career
        assert after[path][1]["career"]["races"] == before[path][1]["career"]["races"] - 1, path


def test_race_deleted_by_the_orm_inside_an_atomic_block_clears_on_commit_only(
    api, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import Race

    assert api.get("/api/v1/races/1950_uk").status_code == 200
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Race.objects.get(slug="1950_uk").delete()
    assert cache.get(f1cache.race_key(1950, "1950_uk")) is not None  # nothing cleared before the commit
    for callback in callbacks:
        callback()
    assert cache.get(f1cache.race_key(1950, "1950_uk")) is None
    assert api.get("/api/v1/races/1950_uk").status_code == 404


# --- 2. season-filtered analytics ------------------------------------------------------------------
def test_season_filtered_analytics_follow_an_admin_result_edit(
    api, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import RaceResult

    paths = [
        "/api/v1/analytics/driver/max_verstappen",
        "/api/v1/analytics/driver/max_verstappen?season=2025",
        "/api/v1/analytics/driver/max_verstappen?season=2024",  # career metrics are in every season
        "/api/v1/analytics/team/red_bull",
        "/api/v1/analytics/team/red_bull?season=2025",
        "/api/v1/drivers/max_verstappen",  # the career's points
        "/api/v1/teams/red_bull",
    ]
    before = {path: _get(api, path) for path in paths}
    assert all(status == 200 for status, _ in before.values())

    row = RaceResult.objects.filter(race__season_id=2025, driver__ref="max_verstappen", points__gt=0).first()

    def edit():
        row.points = row.points + 7
        row.save()

    _committed(django_capture_on_commit_callbacks, edit)
    after = _as_recomputed(api, paths)
    for path in paths[:2] + paths[3:]:
        assert after[path] != before[path], path


def test_a_deleted_result_row_leaves_its_driver_s_career(
    api, ergast_data, django_capture_on_commit_callbacks
):
    """drivers/{id} is in the `drivers` family, which every race change bumps: the race's own
    entities are read after the delete (`race_entities`), so the driver whose only row in that race
    is gone (1950: no qualifying rows) would not have been found by a per-driver key."""
    from ingestion.models import QualifyingResult, RaceResult

    row = RaceResult.objects.get(race__slug="1950_uk", driver__ref="farina")
    assert not QualifyingResult.objects.filter(race__slug="1950_uk").exists()
    paths = ["/api/v1/drivers/farina", "/api/v1/teams/alfa"]
    before = {path: _get(api, path) for path in paths}
    _committed(django_capture_on_commit_callbacks, row.delete)
    after = _as_recomputed(api, paths)
    assert after[paths[0]][1]["career"]["wins"] == before[paths[0]][1]["career"]["wins"] - 1  # he won it
    assert after[paths[1]][1]["career"]["entries"] == before[paths[1]][1]["career"]["entries"] - 1


def test_season_filtered_analytics_follow_a_sync(api, ergast_data):
    """A sync writes in bulk (no model signals) and then sends races_changed: the same clearing."""
    from ingestion.models import RaceResult
    from ingestion.signals import races_changed_send

    paths = [
        "/api/v1/analytics/driver/max_verstappen?season=2025",
        "/api/v1/analytics/team/red_bull?season=2025",
    ]
    before = {path: _get(api, path) for path in paths}
    row = RaceResult.objects.filter(race__season_id=2025, driver__ref="max_verstappen", points__gt=0).first()
    RaceResult.objects.filter(pk=row.pk).update(points=row.points + 7)
    races_changed_send(sender=test_season_filtered_analytics_follow_a_sync, race_ids=[row.race.slug])
    after = _as_recomputed(api, paths)
    assert all(after[path] != before[path] for path in paths)


def _fp1(race: dict) -> list:
    return next((s["results"] for s in race["practice"] if s["session"] == "FP1"), [])


def test_openf1_qualifying_and_practice_reach_the_cached_race_and_analytics(
    api, mirror, ergast_data, django_capture_on_commit_callbacks
):
    """QA: OpenF1's post-session classifications were written in bulk without races_changed, so
    the race answer and the analytics kept the old rows until their TTLs (up to 7 days for the
    season lists), and a later Jolpica sync finding the same rows cleared nothing."""
    from ingestion.models import OpenF1Session, PracticeResult, QualifyingResult, Race, SessionType
    from ingestion.services.openf1_results import openf1_session_results_ingest
    from ingestion.services.openf1_sessions import openf1_sessions_sync

    openf1_sessions_sync(seasons=[2024])
    china = Race.objects.get(slug="2024_china")
    QualifyingResult.objects.filter(race=china).delete()
    PracticeResult.objects.filter(race=china, session="FP1").delete()
    paths = [
        "/api/v1/races/2024_china",
        "/api/v1/analytics/driver/max_verstappen?season=2024",
        "/api/v1/analytics/team/red_bull?season=2024",
    ]
    before = {path: _get(api, path) for path in paths}  # cached without China's qualifying
    assert before[paths[0]][1]["qualifying"] == [] and _fp1(before[paths[0]][1]) == []
    for session_type in (SessionType.QUALIFYING, SessionType.FP1):
        session = OpenF1Session.objects.get(race=china, session_type=session_type)
        with django_capture_on_commit_callbacks(execute=True):
            assert openf1_session_results_ingest(session=session)["created"] > 15
    after = _as_recomputed(api, paths)
    assert len(after[paths[0]][1]["qualifying"]) == 20 and len(_fp1(after[paths[0]][1])) == 20
    assert all(after[path] != before[path] for path in paths)


# --- 3. other admin edits --------------------------------------------------------------------------
def test_driver_edit_reaches_races_standings_analytics_and_predictions(
    api, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import Driver, QualifyingResult, Race
    from tests.factories import PredictionFactory

    albon = Driver.objects.get(ref="albon")
    assert albon.code == "ALB"
    qatar = Race.objects.get(slug="2026_qatar")
    team = QualifyingResult.objects.filter(driver=albon).latest("race__date").team
    PredictionFactory(race=qatar, driver=albon, team=team)  # so its predictions show him
    paths = [
        "/api/v1/drivers",
        "/api/v1/drivers?season=2025",
        "/api/v1/races/2025_uae",
        "/api/v1/standings?season=2025",
        "/api/v1/analytics/driver/albon",
        "/api/v1/analytics/driver/albon?season=2025",
        "/api/v1/predictions/race/2026_qatar",
        "/api/v1/predictions/race/2026_22",
        "/api/v1/drivers/albon",
        "/api/v1/teams/williams",  # its latest drivers
    ]
    before = {path: _get(api, path) for path in paths}
    for path in paths:
        assert _codes_of(before[path][1], "albon") == {"ALB"}, path

    def edit():
        albon.code = "ALX"
        albon.save()

    _committed(django_capture_on_commit_callbacks, edit)
    after = _as_recomputed(api, paths)
    for path in paths:
        assert _codes_of(after[path][1], "albon") == {"ALX"}, path


def test_team_edit_reaches_races_and_analytics(api, ergast_data, django_capture_on_commit_callbacks):
    from ingestion.models import Team

    williams = Team.objects.get(ref="williams")
    paths = [
        "/api/v1/teams?season=2025",
        "/api/v1/races/2025_uae",
        "/api/v1/standings?season=2025",
        "/api/v1/analytics/team/williams?season=2025",
        "/api/v1/analytics/driver/albon?season=2025",
        "/api/v1/teams/williams",
        "/api/v1/drivers/albon",  # his latest team
    ]
    before = {path: _get(api, path) for path in paths}

    def edit():
        williams.name = "Williams Racing (renamed)"
        williams.save()

    _committed(django_capture_on_commit_callbacks, edit)
    after = _as_recomputed(api, paths)
    for path in paths[:4] + paths[5:]:
        assert "Williams Racing (renamed)" in str(after[path][1]) and after[path] != before[path], path


def test_circuit_edit_reaches_its_races(api, client, ergast_data, django_capture_on_commit_callbacks):
    from ingestion.models import Circuit

    yas = Circuit.objects.get(races__slug="2025_uae")
    paths = ["/api/v1/races/2025_uae", "/api/v1/races?season=2025&limit=100", "/api/v1/races/2024_uae"]
    before = {path: _get(api, path) for path in paths}
    assert yas.name in str(before["/api/v1/races/2025_uae"][1])
    page = client.get("/races/2025_uae/")
    assert page.status_code == 200

    def edit():
        yas.name = "Yas Marina (renamed)"
        yas.save()

    _committed(django_capture_on_commit_callbacks, edit)
    after = _as_recomputed(api, paths)
    for path in paths:
        assert "Yas Marina (renamed)" in str(after[path][1]), path
    assert "Yas Marina (renamed)" in client.get("/races/2025_uae/").content.decode()


# Status and Season edits in admin (admin review): connect_invalidation_signals covered drivers, teams
# and circuits only, so a renamed status stayed in every cached race for up to CACHE_TTL_STATIC (7 d).
STATUS_PATHS = ["/api/v1/races/2024_bahrain", "/api/v1/races/2024_1", "/api/v1/races/2023_bahrain"]


def _status_renamed_in_admin(admin_client, status, new_text: str):
    response = admin_client.post(
        f"/admin/ingestion/status/{status.pk}/change/",
        {"status": new_text, "ergast_id": "" if status.ergast_id is None else status.ergast_id},
    )
    assert response.status_code == 302, response.content[:500]


def _status_texts(answer: tuple) -> set[str]:
    return {row["status"] for row in answer[1]["results"]}


def test_status_renamed_in_admin_reaches_the_race_in_the_api_and_on_its_page(
    api, client, admin_client, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import Status

    status = Status.objects.get(status="+2 Laps")  # one car of 2024 Bahrain, 768 races in all
    before = {path: _get(api, path) for path in STATUS_PATHS}
    assert "+2 Laps" in _status_texts(before["/api/v1/races/2024_bahrain"])
    page = client.get("/races/2024_bahrain/").content.decode()
    assert "+2 Laps" in page and "Two laps down" not in page

    with django_capture_on_commit_callbacks(execute=True):
        _status_renamed_in_admin(admin_client, status, "Two laps down")
    after = _as_recomputed(api, STATUS_PATHS)
    for path in STATUS_PATHS[:2]:
        assert "Two laps down" in _status_texts(after[path]) and "+2 Laps" not in _status_texts(after[path])
    page = client.get("/races/2024_bahrain/").content.decode()
    assert "Two laps down" in page and "+2 Laps" not in page


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend")
def test_a_status_rename_s_invalidation_is_kept_for_replay_when_redis_is_down(
    api, admin_client, ergast_data, settings, django_capture_on_commit_callbacks
):
    from ingestion.models import CacheInvalidation, Status
    from tests.brokers import closed_port

    status = Status.objects.get(status="+2 Laps")
    path = "/api/v1/races/2024_bahrain"
    before = _get(api, path)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _status_renamed_in_admin(admin_client, status, "Two laps down")
    original = settings.CACHES
    settings.CACHES = {
        **original,
        "default": {**original["default"], "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"},
    }
    try:  # the commit, with the cache's Redis unreachable
        for callback in callbacks:
            callback()
    finally:
        settings.CACHES = original
    f1cache.breaker.reset()
    kept = list(CacheInvalidation.objects.values_list("keys", flat=True))
    assert any(f1cache.race_key(2024, "2024_bahrain") in keys for keys in kept)
    assert _get(api, path) == before  # Redis back, still stale

    assert f1cache.cache_invalidations_replay()
    assert "Two laps down" in _status_texts(_as_recomputed(api, [path])[path])
    assert not CacheInvalidation.objects.exists()


def test_season_edited_in_admin_clears_its_races_in_the_api_and_on_their_pages(
    api, client, admin_client, ergast_data, django_capture_on_commit_callbacks
):
    """A season's own fields (its link) are printed nowhere yet, so what the edit must do is seen
    through a probe: the race's name changed by a bulk update, which sends no signal. After the edit
    every answer of the season's races is recomputed (as a circuit edit recomputes its races'); the
    other seasons' are left alone."""
    from ingestion.models import Race

    paths = [
        "/api/v1/races/2024_bahrain",
        "/api/v1/races?season=2024&limit=100",
        "/api/v1/races/2023_bahrain",
    ]
    for path in paths:
        assert _get(api, path)[0] == 200
    assert "Bahrain Grand Prix" in client.get("/races/2024_bahrain/").content.decode()
    assert "Bahrain Grand Prix" in client.get("/races/2023_bahrain/").content.decode()
    Race.objects.filter(slug__in=["2024_bahrain", "2023_bahrain"]).update(name="Sakhir Probe Grand Prix")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/ingestion/season/2024/change/",
            {"year": "2024", "url": "https://en.wikipedia.org/wiki/2024_F1_season"},
        )
    assert response.status_code == 302, response.content[:500]
    assert api.get(paths[0]).json()["name"] == "Sakhir Probe Grand Prix"
    assert "Sakhir Probe Grand Prix" in str(api.get(paths[1]).json())
    assert "Sakhir Probe Grand Prix" in client.get("/races/2024_bahrain/").content.decode()
    # 2023's entries were not the edit's to clear: the probe is not seen there yet
    assert api.get(paths[2]).json()["name"] == "Bahrain Grand Prix"


def test_race_start_edit_reaches_both_prediction_ids(api, ergast_data, django_capture_on_commit_callbacks):
    from ingestion.models import Race

    qatar = Race.objects.get(slug="2026_qatar")
    assert qatar.round == 22
    paths = [
        "/api/v1/predictions/race/2026_qatar",
        "/api/v1/predictions/race/2026_22",
        "/api/v1/races/2026_22",
    ]
    before = {path: _get(api, path) for path in paths}
    assert before[paths[0]][0] == 200

    def edit():
        qatar.start = qatar.start + timedelta(hours=2)
        qatar.save()

    _committed(django_capture_on_commit_callbacks, edit)
    after = _as_recomputed(api, paths)
    assert after[paths[0]][1]["race"]["start"] == after[paths[1]][1]["race"]["start"]
    assert after[paths[0]][1]["race"]["start"] != before[paths[0]][1]["race"]["start"]


def test_race_renumbered_in_admin_leaves_no_old_round_behind(
    api, client, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import Race

    uae = Race.objects.get(slug="2026_uae")
    assert uae.round == 23 and not Race.objects.filter(season_id=2026, round=24).exists()
    assert api.get("/api/v1/races/2026_23").json()["round"] == 23
    assert api.get("/api/v1/predictions/race/2026_23").status_code == 200
    assert api.get("/api/v1/races/2026_24").status_code == 404

    def renumber(to: int):
        def change():
            uae.round = to
            uae.save()

        _committed(django_capture_on_commit_callbacks, change)

    renumber(24)
    assert api.get("/api/v1/races/2026_23").status_code == 404
    assert api.get("/api/v1/predictions/race/2026_23").status_code == 404
    assert api.get("/api/v1/races/2026_24").json()["round"] == 24
    assert api.get("/api/v1/races/2026_uae").json()["round"] == 24
    assert client.get("/races/2026_24/").status_code == 200

    renumber(23)
    assert api.get("/api/v1/races/2026_24").status_code == 404
    assert client.get("/races/2026_24/").status_code == 404
    assert api.get("/api/v1/races/2026_23").json()["round"] == 23
    _as_recomputed(api, ["/api/v1/races?season=2026&limit=100", "/api/v1/races/2026_uae"])


def test_championship_follows_a_standings_correction(api, ergast_data, django_capture_on_commit_callbacks):
    """QA: after a correction of Norris' 2025 final standing (423 -> 500; then in admin, which now
    shows standings read-only, see tests/ingestion/test_admin.py) the standings showed 500 but the
    championship (API and page, which share the entry) kept 423 for up to 30 min: `races_changed` did
    not retire the championship family. A standing saved by any other means (a shell, a fix script)
    still goes through the same row signals."""
    from ingestion.models import DriverStanding, Race

    paths = ["/api/v1/championship/2025", "/api/v1/standings?season=2025"]
    before = {path: _get(api, path) for path in paths}
    assert all(status == 200 for status, _ in before.values())
    final = Race.objects.filter(season_id=2025, results__isnull=False).order_by("-round").first()
    row = DriverStanding.objects.get(race=final, driver__ref="norris")

    def edit():
        row.points = row.points + 77
        row.save()

    _committed(django_capture_on_commit_callbacks, edit)
    after = _as_recomputed(api, paths)
    norris = next(d for d in after[paths[0]][1]["drivers"] if d["driver"] == "norris")
    assert norris["current_points"] == float(row.points)
    assert after[paths[0]] != before[paths[0]]


# --- 4. a changed row's own driver and team ----------------------------------------------------------
# QA (analytics): a row's invalidation read the race's drivers and teams (`race_entities`) after the
# commit, so the driver or team whose only row of that race was deleted (or moved to another driver)
# was no longer among them: its analytics kept the old figures for up to CACHE_TTL_STATIC (7 days).
def _season_row(answer: tuple, season: int) -> dict:
    return next(s for s in answer[1]["seasons"] if s["season"] == season)


def test_a_result_row_deleted_in_admin_leaves_its_driver_s_analytics(
    api, admin_client, ergast_data, django_capture_on_commit_callbacks
):
    from ingestion.models import QualifyingResult, RaceResult

    row = RaceResult.objects.get(race__slug="1950_uk", driver__ref="farina")  # his only row there
    assert not QualifyingResult.objects.filter(race__slug="1950_uk").exists()
    paths = ["/api/v1/analytics/driver/farina", "/api/v1/analytics/driver/farina?season=1950"]
    before = {path: _get(api, path) for path in paths}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/ingestion/raceresult/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:500]
    after = _as_recomputed(api, paths)
    for path in paths:
        was, now = _season_row(before[path], 1950), _season_row(after[path], 1950)
        assert (now["races"], now["wins"]) == (was["races"] - 1, was["wins"] - 1), path  # he won it


def test_a_queryset_delete_leaves_every_deleted_row_s_driver_and_team(
    api, ergast_data, django_capture_on_commit_callbacks
):
    """A bulk delete in code (the sync's `replace`, a shell): Alta's two cars of 1950_uk, the team's
    and each driver's only rows of that race."""
    from ingestion.models import RaceResult

    rows = RaceResult.objects.filter(race__slug="1950_uk", team__ref="alta")
    assert sorted(rows.values_list("driver__ref", flat=True)) == ["crossley", "kelly"]
    paths = [
        "/api/v1/analytics/team/alta",
        "/api/v1/analytics/team/alta?season=1950",
        "/api/v1/analytics/driver/kelly?season=1950",
        "/api/v1/analytics/driver/crossley",
    ]
    before = {path: _get(api, path) for path in paths}
    assert all(status == 200 for status, _ in before.values())
    _committed(django_capture_on_commit_callbacks, rows.delete)
    after = _as_recomputed(api, paths)
    for path in paths:
        assert after[path] != before[path], path


def test_a_result_row_moved_to_another_driver_leaves_the_first_driver_s_analytics(
    api, ergast_data, django_capture_on_commit_callbacks
):
    """The admin's change form edits `driver` (and `team`, `race`): the race's entities read after
    the save name the new driver only."""
    from ingestion.models import Driver, RaceResult

    row = RaceResult.objects.get(race__slug="1950_uk", driver__ref="farina")
    paths = ["/api/v1/analytics/driver/farina?season=1950", "/api/v1/analytics/driver/ascari?season=1950"]
    before = {path: _get(api, path) for path in paths}

    def move():
        row.driver = Driver.objects.get(ref="ascari")  # not in that race
        row.save()

    _committed(django_capture_on_commit_callbacks, move)
    after = _as_recomputed(api, paths)
    assert _season_row(after[paths[0]], 1950)["races"] == _season_row(before[paths[0]], 1950)["races"] - 1
    assert _season_row(after[paths[1]], 1950)["races"] == _season_row(before[paths[1]], 1950)["races"] + 1


def test_a_standings_correction_reaches_a_driver_absent_from_that_race(api, ergast_data):
    """A sync writes in bulk (no row signals) and sends races_changed: the race's entities must
    include its standings' drivers — Doohan, replaced after round 6 of 2025, still has a standing
    after every later round, and his championship trend shows them."""
    from ingestion.models import DriverStanding, RaceResult
    from ingestion.signals import races_changed_send

    standing = DriverStanding.objects.get(race__slug="2025_uae", driver__ref="doohan")
    assert not RaceResult.objects.filter(race=standing.race, driver=standing.driver).exists()
    paths = ["/api/v1/analytics/driver/doohan", "/api/v1/analytics/driver/doohan?season=2025"]
    for path in paths:  # cached, with the stored figure
        assert _get(api, path)[1]["analytics"]["championship"]["per_round"][-1]["points"] == float(
            standing.points
        )
    DriverStanding.objects.filter(pk=standing.pk).update(points=standing.points + 5)
    races_changed_send(
        sender=test_a_standings_correction_reaches_a_driver_absent_from_that_race, race_ids=["2025_uae"]
    )
    after = _as_recomputed(api, paths)
    for path in paths:
        assert after[path][1]["analytics"]["championship"]["per_round"][-1]["points"] == float(
            standing.points + 5
        )


def test_a_bulk_delete_clears_its_race_in_one_callback(api, ergast_data, django_capture_on_commit_callbacks):
    """The sync's `upsert_rows(replace=True)` deletes a race's rows as one queryset: post_delete
    fires row by row, and each row ran its own on-commit lookups and races_changed for the same
    race (43 callbacks, 215 queries for 2024 Bahrain's pit stops). One callback per transaction,
    a constant number of queries however many rows, and still every row's driver cleared."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ingestion.models import RaceResult
    from ingestion.services.upsert import upsert_rows

    rows = RaceResult.objects.filter(race__slug="1950_uk")
    kept = rows.get(driver__ref="farina")  # upstream now lists only the winner
    count, drivers = rows.count(), sorted(set(rows.exclude(pk=kept.pk).values_list("driver__ref", flat=True)))
    assert count > 20
    paths = [f"/api/v1/analytics/driver/{ref}?season=1950" for ref in drivers[:3]]
    before = {path: _get(api, path) for path in paths}
    upstream = [
        {"race_id": kept.race_id, "driver_id": kept.driver_id, "number": kept.number, "points": kept.points}
    ]
    with django_capture_on_commit_callbacks() as callbacks:  # collected, run below
        deleted = upsert_rows(
            model=RaceResult,
            rows=upstream,
            key_fields=("race_id", "driver_id", "number"),
            scope={"race_id": kept.race_id},
            replace=True,
        ).deleted
    assert deleted == count - 1
    assert len(callbacks) == 1
    with CaptureQueriesContext(connection) as queries:
        callbacks[0]()
    assert len(queries) == 6, [q["sql"] for q in queries]  # drivers, teams, race, race_entities (3)
    after = _as_recomputed(api, paths)
    for path in paths:
        assert after[path] != before[path], path


def test_a_row_deleted_in_a_rolled_back_savepoint_keeps_the_later_rows_invalidation(
    api, ergast_data, django_capture_on_commit_callbacks
):
    """The first row's callback dies with its savepoint: a later row of the same transaction must
    not join that lost batch (over-invalidating is fine, under-invalidating is not)."""
    from django.db import transaction

    from ingestion.models import RaceResult

    kept = RaceResult.objects.get(race__slug="1950_uk", driver__ref="farina")
    gone = RaceResult.objects.get(race__slug="1950_uk", team__ref="alta", driver__ref="kelly")
    paths = ["/api/v1/analytics/driver/kelly?season=1950", "/api/v1/analytics/driver/farina?season=1950"]
    before = {path: _get(api, path) for path in paths}

    def change() -> None:
        with transaction.atomic():
            try:
                with transaction.atomic():  # a savepoint
                    RaceResult.objects.filter(pk=kept.pk).delete()
                    raise RuntimeError("roll the savepoint back")
            except RuntimeError:
                pass
            RaceResult.objects.filter(pk=gone.pk).delete()

    _committed(django_capture_on_commit_callbacks, change)
    assert RaceResult.objects.filter(pk=kept.pk).exists()
    after = _as_recomputed(api, paths)
    assert after[paths[0]] != before[paths[0]]  # kelly's row went: his 1950 season changed
    assert after[paths[1]] == before[paths[1]]


# --- 3. bulk upserts (a sync, a dump load) that move a row away from its team or driver -----------
# The sync and the dump load write in bulk (bulk_create(update_conflicts=…), COPY + INSERT … ON
# CONFLICT, DELETE … RETURNING): no model signals. Their races_changed names the race, whose entities
# are read after the commit: a team every row of a race moved away from is not among them. Alta ran
# two cars at 1950_uk (its only rows there: no qualifying, no constructors' standings in 1950).
UK_1950 = "833"  # raceId of 1950 round 1 in the dump
ALTA, ERA = "alta", "era"
ALTA_PATHS = ["/api/v1/analytics/team/alta", "/api/v1/analytics/team/alta?season=1950"]


def _dump_with(tmp_path, edits: dict) -> object:
    """A copy of the dump (ergast/ and an empty openf1/ for the mirror) with `edits` applied:
    {"results.csv": edit(rows) -> rows, ...}."""
    import shutil

    from tests.conftest import ERGAST_DUMP_DIR
    from tests.ingestion.helpers import csv_read, csv_write

    shutil.copytree(ERGAST_DUMP_DIR, tmp_path / "ergast")
    (tmp_path / "openf1").mkdir()
    for name, edit in edits.items():
        path = tmp_path / "ergast" / name
        path.chmod(0o644)
        fields, rows = csv_read(path)
        csv_write(path, fields, edit(rows))
    return tmp_path


def _dump_id(table: str, ref: str) -> str:
    """The dump's id of a driver or constructor by its ref (`drivers` / `constructors`)."""
    from tests.conftest import ERGAST_DUMP_DIR
    from tests.ingestion.helpers import csv_read

    kind = table.removesuffix("s")
    _, rows = csv_read(ERGAST_DUMP_DIR / f"{table}.csv")
    return next(r[f"{kind}Id"] for r in rows if r[f"{kind}Ref"] == ref)


def _alta_to_era(tmp_path):
    alta, era = _dump_id("constructors", ALTA), _dump_id("constructors", ERA)

    def edit(rows):
        for r in rows:
            if r["raceId"] == UK_1950 and r["constructorId"] == alta:
                r["constructorId"] = era
        return rows

    return _dump_with(tmp_path, {"results.csv": edit})


def _alta_rows_at_uk() -> list[str]:
    from ingestion.models import RaceResult

    return sorted(
        RaceResult.objects.filter(race__slug="1950_uk", team__ref=ALTA).values_list("driver__ref", flat=True)
    )


@pytest.fixture(params=["copy", "orm"])
def load_path(request, monkeypatch):
    """Both write paths of the dump loader: COPY + INSERT … ON CONFLICT (PostgreSQL), and upsert_rows
    (bulk_create(update_conflicts=…), as the Jolpica sync), forced by the loader seeing another vendor
    — only for the load: the analytics read PostgreSQL as such."""
    from django.db import connection

    if request.param == "copy" and connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")

    def load(**kwargs):
        from ingestion.services.ergast_dump import ergast_dump_load

        with monkeypatch.context() as patch:
            if request.param == "orm":
                patch.setattr(connection, "vendor", "not-postgresql")
            return ergast_dump_load(**kwargs)

    return load


def test_a_dump_load_that_moves_a_result_to_another_team_clears_the_old_team(
    api, ergast_data, tmp_path, load_path, django_capture_on_commit_callbacks
):
    directory = _alta_to_era(tmp_path)
    assert _alta_rows_at_uk() == ["crossley", "kelly"]
    paths = [*ALTA_PATHS, "/api/v1/analytics/team/era?season=1950"]
    before = {path: _get(api, path) for path in paths}
    assert all(status == 200 for status, _ in before.values())

    with django_capture_on_commit_callbacks(execute=True):  # the load's commit
        report = load_path(directory=directory / "ergast", seasons=range(1950, 1951))
    assert report.counts["results"]["updated"] == 2 and report.rejected == []
    assert _alta_rows_at_uk() == []

    after = _as_recomputed(api, paths)  # alta's cached answers were cleared: they equal a recompute
    for path in paths:
        assert after[path] != before[path], path


def _loaded_with_redis_down(directory, seasons, settings, capture_on_commit) -> None:
    """Load `seasons` of an edited dump copy with the cache's Redis unreachable at the commit, then
    reset the breaker (the web process never saw the outage)."""
    from ingestion.services.ergast_dump import ergast_dump_load
    from tests.brokers import closed_port

    original = settings.CACHES
    settings.CACHES = {
        **original,
        "default": {**original["default"], "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"},
    }
    try:
        with capture_on_commit(execute=True):
            ergast_dump_load(directory=directory / "ergast", seasons=seasons)
    finally:
        settings.CACHES = original
    f1cache.breaker.reset()


def _synced_from(data_dir, api, paths, season, rnd, capture_on_commit):
    """The API's answers at `paths` read (and cached), then one round's results synced from Jolpica
    through a mirror serving `data_dir` (an edited copy of the dump), its on-commit callbacks run:
    (answers before, the sync's summary)."""
    from ingestion.services.jolpica_sync import jolpica_sync
    from tests.conftest import start_mirror
    from tests.ingestion.helpers import fast_client

    mirror = start_mirror(data_dir)
    try:
        before = {path: _get(api, path) for path in paths}
        with capture_on_commit(execute=True):
            summary = jolpica_sync(
                seasons=[season],
                rounds=[rnd],
                only="results",
                resume=False,
                client=fast_client(base_url=mirror.ergast),
            )
    finally:
        mirror.server.shutdown()
    assert summary.errors == [], summary.errors
    return before, summary


def test_a_sync_that_moves_a_result_to_another_team_clears_the_old_team(
    api, ergast_data, tmp_path, django_capture_on_commit_callbacks
):
    """The Jolpica sync (upsert_rows, one transaction per race) from a mirror serving the edited dump."""
    before, summary = _synced_from(
        _alta_to_era(tmp_path), api, ALTA_PATHS, 1950, 1, django_capture_on_commit_callbacks
    )
    assert summary.counts["results"].updated == 2
    assert _alta_rows_at_uk() == []
    after = _as_recomputed(api, ALTA_PATHS)
    for path in ALTA_PATHS:
        assert after[path] != before[path], path


def test_a_dump_load_that_drops_a_driver_from_a_race_clears_his_analytics(
    api, ergast_data, tmp_path, load_path, django_capture_on_commit_callbacks
):
    """Kelly's 1950_uk result goes to Ascari (not in that race) and his standing after it goes: the
    rows are deleted and replaced (the driver is part of the natural key) — on the COPY path by a
    DELETE … RETURNING, which sends no model signals either."""
    from ingestion.models import RaceResult

    kelly, ascari = _dump_id("drivers", "kelly"), _dump_id("drivers", "ascari")
    directory = _dump_with(
        tmp_path,
        {
            "results.csv": lambda rows: [
                {**r, "driverId": ascari} if (r["raceId"], r["driverId"]) == (UK_1950, kelly) else r
                for r in rows
            ],
            "driver_standings.csv": lambda rows: [
                r for r in rows if (r["raceId"], r["driverId"]) != (UK_1950, kelly)
            ],
        },
    )
    paths = ["/api/v1/analytics/driver/kelly", "/api/v1/analytics/driver/kelly?season=1950"]
    before = {path: _get(api, path) for path in paths}
    with django_capture_on_commit_callbacks(execute=True):
        report = load_path(directory=directory / "ergast", seasons=range(1950, 1951))
    assert report.rejected == [], report.rejected
    assert RaceResult.objects.filter(race__slug="1950_uk", driver__ref="ascari").exists()
    assert not RaceResult.objects.filter(race__slug="1950_uk", driver__ref="kelly").exists()
    after = _as_recomputed(api, paths)
    for path in paths:
        assert after[path] != before[path], path


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend")
def test_the_old_team_s_invalidation_is_kept_for_replay_when_redis_is_down(
    api, ergast_data, tmp_path, settings, django_capture_on_commit_callbacks
):
    """The old team goes through cache_invalidate like every other invalidation: refused by an
    unreachable Redis at the load's commit, it is kept in the outbox and replayed once Redis is back."""
    from ingestion.models import CacheInvalidation

    directory = _alta_to_era(tmp_path)
    before = {path: _get(api, path) for path in ALTA_PATHS}
    _loaded_with_redis_down(directory, range(1950, 1951), settings, django_capture_on_commit_callbacks)
    kept = CacheInvalidation.objects.values_list("keys", "families")
    assert any(
        f1cache.team_key(ALTA) in keys and f1cache.team_family(ALTA) in families for keys, families in kept
    )
    assert {path: _get(api, path) for path in ALTA_PATHS} == before  # Redis back, still stale

    assert f1cache.cache_invalidations_replay()
    after = _as_recomputed(api, ALTA_PATHS)
    for path in ALTA_PATHS:
        assert after[path] != before[path], path
    assert not CacheInvalidation.objects.exists()


# --- 5. bulk loads that change only a driver, team or circuit ----------------------------------------
# API review (2026-11-28): a dump load whose only change was Bortoleto's code (BOR -> BRT), Sauber's
# name or the Shanghai circuit's name sent no invalidation at all (the loader's races_changed names the
# races whose own rows changed: none), so `races/2025_2` said BOR for up to CACHE_TTL_STATIC (7 d). An
# admin save of the same rows clears a lot (cache_invalidate_entity); a bulk write sends no model
# signals, so the upserts send `entity_rows_written` and the transaction's batch clears the same.
RENAMED_TEAM, RENAMED_CIRCUIT = "Sauber (renamed)", "Shanghai Intl Circuit (renamed)"
ENTITY_PATHS = [
    "/api/v1/races/2025_2",
    "/api/v1/races/2025_china",
    "/api/v1/races/2025_2?as_of=2025-06-15T17:00",
    "/api/v1/races/2026_1",
    "/api/v1/races?season=2025&limit=100",
    "/api/v1/races?season=2025&limit=100&as_of=2025-06-15T17:00",
    "/api/v1/drivers?season=2025",
    "/api/v1/drivers/bortoleto",
    "/api/v1/teams?season=2025",
    "/api/v1/teams?as_of=2025-06-15T17:00&limit=200",
    "/api/v1/teams/sauber",
    "/api/v1/standings?season=2025&round=9",
    "/api/v1/championship/2025",
    "/api/v1/analytics/driver/bortoleto",
    "/api/v1/analytics/driver/hulkenberg?season=2025",
    "/api/v1/analytics/driver/hamilton?season=2025&as_of=2025-06-15T17:00",
    "/api/v1/analytics/team/sauber?season=2025",
]


def _references_edited(tmp_path):
    """The dump with only reference rows changed: Bortoleto's and Hülkenberg's codes, Sauber's name,
    the Shanghai circuit's name."""

    def drivers(rows):
        codes = {"bortoleto": "BRT", "hulkenberg": "HLK"}
        return [{**r, "code": codes.get(r["driverRef"], r["code"])} for r in rows]

    def teams(rows):
        return [{**r, "name": RENAMED_TEAM} if r["constructorRef"] == "sauber" else r for r in rows]

    def circuits(rows):
        return [{**r, "name": RENAMED_CIRCUIT} if r["circuitRef"] == "shanghai" else r for r in rows]

    return _dump_with(tmp_path, {"drivers.csv": drivers, "constructors.csv": teams, "circuits.csv": circuits})


def _assert_references_renamed(before: dict, after: dict) -> None:
    assert _codes_of(before["/api/v1/races/2025_2"][1], "bortoleto") == {"BOR"}
    for path in ENTITY_PATHS:
        assert after[path][0] == 200, (path, after[path])
    for path in ("/api/v1/races/2025_2", "/api/v1/races/2025_china", "/api/v1/drivers/bortoleto"):
        assert _codes_of(after[path][1], "bortoleto") == {"BRT"}, path
    for path in ("/api/v1/teams?season=2025", "/api/v1/teams/sauber", "/api/v1/championship/2025"):
        assert RENAMED_TEAM in str(after[path][1]), path
    for path in ("/api/v1/races/2025_2", "/api/v1/races?season=2025&limit=100"):
        assert RENAMED_CIRCUIT in str(after[path][1]), path


def test_a_dump_load_that_changes_only_drivers_teams_and_circuits_clears_what_shows_them(
    api, ergast_data, tmp_path, load_path, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    directory = _references_edited(tmp_path)
    before = {path: _get(api, path) for path in ENTITY_PATHS}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # the load's commit
        report = load_path(directory=directory / "ergast", seasons=range(2025, 2026))
    # the README's rejected 2025 Singapore qualifying, as on every load of 2025
    assert all(m.startswith("2025_singapore qualifying") for m in report.rejected), report.rejected
    assert report.counts["drivers"]["updated"] == 2
    assert report.counts["teams"]["updated"] == 1 and report.counts["circuits"]["updated"] == 1
    assert all(
        v.get("updated", 0) == 0
        for t, v in report.counts.items()
        if t not in {"drivers", "teams", "circuits"}
    )
    # one batch for the four rows, and its queries do not grow with them (no query per row): the
    # drivers' and teams' refs, the races that show any of them, then races_changed's own
    assert len(callbacks) == 1
    with CaptureQueriesContext(connection) as queries:
        callbacks[0]()
    assert len(queries) <= 6, [q["sql"][:120] for q in queries]

    after = _as_recomputed(api, ENTITY_PATHS)
    _assert_references_renamed(before, after)


def test_a_sync_that_changes_only_drivers_teams_and_circuits_clears_what_shows_them(
    api, ergast_data, tmp_path, django_capture_on_commit_callbacks
):
    """The Jolpica sync from a mirror serving the edited dump: the calendar's circuits and the race's
    drivers and teams (`_write_references`), each in its own transaction, none with a changed result."""
    before, summary = _synced_from(
        _references_edited(tmp_path), api, ENTITY_PATHS, 2025, 2, django_capture_on_commit_callbacks
    )
    assert summary.counts["drivers"].updated >= 1 and summary.counts["teams"].updated == 1
    assert summary.counts["circuits"].updated == 1
    assert summary.counts["results"].updated == summary.counts["results"].created == 0
    after = _as_recomputed(api, ENTITY_PATHS)
    _assert_references_renamed(before, after)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the django-redis backend")
def test_a_renamed_driver_s_invalidation_is_kept_for_replay_when_redis_is_down(
    api, ergast_data, tmp_path, settings, django_capture_on_commit_callbacks
):
    from ingestion.models import CacheInvalidation

    directory = _references_edited(tmp_path)
    paths = ["/api/v1/races/2025_2", "/api/v1/drivers/bortoleto", "/api/v1/analytics/driver/bortoleto"]
    before = {path: _get(api, path) for path in paths}
    _loaded_with_redis_down(directory, range(2025, 2026), settings, django_capture_on_commit_callbacks)
    kept = list(CacheInvalidation.objects.values_list("keys", "families"))
    assert any(f1cache.driver_key("bortoleto") in keys for keys, _ in kept)
    assert any(f1cache.race_key(2025, "2025_2") in keys for keys, _ in kept)
    assert {path: _get(api, path) for path in paths} == before  # Redis back, still stale

    assert f1cache.cache_invalidations_replay()
    after = _as_recomputed(api, paths)
    for path in paths[:2]:
        assert _codes_of(after[path][1], "bortoleto") == {"BRT"}, path
    assert not CacheInvalidation.objects.exists()
