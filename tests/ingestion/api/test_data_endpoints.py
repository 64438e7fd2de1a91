"""GET races / races/{id} / drivers / teams / standings / analytics / jobs / health on the real dump.

Expected values come from the Ergast CSVs read with plain Python (tests/drf_support.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.conftest import in_season
from tests.drf_support import csv_race, csv_rows

pytestmark = pytest.mark.django_db


def _driver_ref(driver_id: str) -> str:
    return next(d["driverRef"] for d in csv_rows("drivers") if d["driverId"] == driver_id)


def test_races_filtered_by_season_match_the_dump(api, ergast_data, django_assert_max_num_queries):
    expected = sorted((int(r["round"]), r["name"]) for r in csv_rows("races") if r["year"] == "2024")
    with django_assert_max_num_queries(3):
        response = api.get("/api/v1/races", {"season": 2024, "limit": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(expected) == 24
    assert [(r["round"], r["name"]) for r in body["results"]] == expected
    assert {r["status"] for r in body["results"]} == {"completed"}
    first = body["results"][0]
    assert first["id"] == "2024_bahrain"
    assert set(first) == {"id", "season", "round", "name", "date", "start", "status", "circuit"}
    assert first["circuit"]["id"] == "bahrain"


@in_season  # race statuses are derived from today's date, and the API takes no clock
def test_races_status_scheduled_awaiting_completed(api, ergast_data):
    from django.utils import timezone

    from ingestion.models import Race, RaceResult

    body = api.get("/api/v1/races", {"season": 2026, "limit": 200}).json()
    by_id = {r["id"]: r for r in body["results"]}
    with_results = set(
        Race.objects.filter(season_id=2026, results__isnull=False).values_list("slug", flat=True)
    )
    today = timezone.now().date()
    for race in Race.objects.filter(season_id=2026):
        status = by_id[race.slug]["status"]
        if race.slug in with_results:
            assert status == "completed"
        elif race.date < today:
            assert status == "awaiting_results"
        else:
            assert status == "scheduled"
    assert RaceResult.objects.filter(race__season_id=2026).exists()
    assert {r["status"] for r in body["results"]} == {"completed", "awaiting_results", "scheduled"}


def test_races_page_size_is_capped_and_paginates(api, ergast_data, settings):
    body = api.get("/api/v1/races", {"limit": 1000000}).json()
    assert body["limit"] == settings.API_MAX_PAGE_SIZE
    assert len(body["results"]) == settings.API_MAX_PAGE_SIZE
    assert body["count"] == len(csv_rows("races"))
    second = api.get("/api/v1/races", {"limit": 10, "offset": 10}).json()
    first_twenty = api.get("/api/v1/races", {"limit": 20}).json()
    assert [r["id"] for r in second["results"]] == [r["id"] for r in first_twenty["results"][10:]]


@pytest.mark.parametrize("race_id", ["2025_bahrain", "2025_4"])
def test_race_detail_both_id_forms(api, ergast_data, race_id, django_assert_max_num_queries):
    race = csv_race(2025, 4)
    results = sorted(
        (r for r in csv_rows("results") if r["raceId"] == race["raceId"]),
        key=lambda r: int(r["positionOrder"]),
    )
    quali = sorted(
        (q for q in csv_rows("qualifying") if q["raceId"] == race["raceId"]), key=lambda q: int(q["position"])
    )
    with django_assert_max_num_queries(12):
        response = api.get(f"/api/v1/races/{race_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "2025_bahrain" and body["round"] == 4 and body["name"] == race["name"]
    assert body["status"] == "completed"
    assert [r["driver"]["id"] for r in body["results"]] == [_driver_ref(r["driverId"]) for r in results]
    assert body["results"][0]["points"] == float(results[0]["points"])
    assert [q["driver"]["id"] for q in body["qualifying"]] == [_driver_ref(q["driverId"]) for q in quali]
    assert body["schedule"]["race"].startswith(f"{race['date']}T{race['time'][:5]}")
    assert set(body["weather"]) == {"observed", "forecasts"}
    practice = [p for p in csv_rows("practice") if p.get("raceId") == race["raceId"]]
    assert sum(len(s["results"]) for s in body["practice"]) == len(practice)


def test_race_ids_match_in_any_case_and_share_the_canonical_cache_entry(api, ergast_data, staff_api):
    """`2026_QATAR` answered 400 while `2026_qatar` worked. Every race lookup takes any case and
    serves (and caches) the canonical lower-case id, so an invalidation of that id reaches it."""
    from django.core.cache import cache

    from f1site import cache as f1cache

    canonical = api.get("/api/v1/races/2025_bahrain").json()
    for race_id in ("2025_BAHRAIN", "2025_Bahrain"):
        response = api.get(f"/api/v1/races/{race_id}")
        assert response.status_code == 200, response.content
        assert response.json() == canonical
    assert cache.get(f1cache.race_key(2025, "2025_BAHRAIN")) is None  # one entry, the canonical one
    predictions = api.get("/api/v1/predictions/race/2025_BAHRAIN")
    assert predictions.status_code == 200, predictions.content
    assert predictions.json()["race"]["id"] == "2025_bahrain"
    accuracy = api.get("/api/v1/predictions/accuracy/2025_BAHRAIN")  # no stored predictions: 404
    assert accuracy.status_code == 404 and "2025_bahrain" in accuracy.json()["error"]["message"]
    what_if = api.post("/api/v1/predictions/what-if/2025_BAHRAIN", {"grid": ["hamilton"]}, format="json")
    assert what_if.status_code not in (400, 404), what_if.content  # the race resolves (409/503 here)
    # unknown stays 404 and malformed 400, in the API's one error shape
    unknown = api.get("/api/v1/races/2099_NOWHERE")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert staff_api.post("/api/v1/predictions/race/2099_NOWHERE", {}, format="json").status_code == 404
    malformed = api.get("/api/v1/races/2025-BAHRAIN")
    assert malformed.status_code == 400 and set(malformed.json()["error"]) == {"code", "message", "details"}
    # only ASCII letters fold: the Kelvin sign lower-cases to "k" in Python, but is no id
    assert api.get("/api/v1/races/2025_\u212aorea").status_code == 400


def test_every_stored_race_id_is_a_valid_id(ergast_data):
    from ingestion.models import Race
    from ingestion.services.race_ids import parse_race_id

    ids = list(Race.objects.values_list("season_id", "slug"))
    assert len(ids) == len(csv_rows("races"))
    for season, slug in ids:
        assert parse_race_id(slug) == (season, None, slug)


def test_race_id_starting_with_a_number_resolves(api, ergast_data):
    race = next(r for r in csv_rows("races") if r["name"] == "70th Anniversary Grand Prix")
    listed = api.get("/api/v1/races", {"season": race["year"], "limit": 100}).json()["results"]
    (race_id,) = [r["id"] for r in listed if r["round"] == int(race["round"])]
    assert race_id == "2020_70th_anniversary"
    detail = api.get(f"/api/v1/races/{race_id}")
    assert detail.status_code == 200, detail.content
    assert detail.json()["name"] == race["name"]
    predictions = api.get(f"/api/v1/predictions/race/{race_id}")
    assert predictions.status_code == 200, predictions.content
    assert predictions.json()["race"]["id"] == race_id


@pytest.mark.parametrize("ref", ["Cannoc", "scott_Brown", "Changy"])
def test_mixed_case_driver_refs_resolve(api, ergast_data, ref):
    assert any(d["driverRef"] == ref for d in csv_rows("drivers"))
    response = api.get(f"/api/v1/analytics/driver/{ref}")
    assert response.status_code == 200, response.content
    assert response.json()["driver"]["id"] == ref


def test_what_if_grid_refs_are_matched_whole(api, ergast_data):
    # Validation runs before the engine: a malformed grid is 400 with or without a trained model.
    response = api.post("/api/v1/predictions/what-if/2026_1", {"grid": ["max_verstappen\n"]}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"


def test_race_detail_sprint_weekend(api, ergast_data):
    sprint_race_ids = {r["raceId"] for r in csv_rows("sprint_results")}
    race = next(r for r in csv_rows("races") if r["year"] == "2024" and r["raceId"] in sprint_race_ids)
    expected = sum(1 for r in csv_rows("sprint_results") if r["raceId"] == race["raceId"])
    body = api.get(f"/api/v1/races/2024_{race['round']}").json()
    assert len(body["sprint"]) == expected > 0


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/races/bahrain", 400, "bad_request"),
        ("/api/v1/races/2025_", 400, "bad_request"),
        ("/api/v1/races/2025_99999999999999999999", 400, "bad_request"),
        ("/api/v1/races/2025_atlantis", 404, "not_found"),
        ("/api/v1/races/2025_30", 404, "not_found"),
        ("/api/v1/races?season=abc", 400, "invalid"),
        ("/api/v1/races?season=1800", 400, "invalid"),
        ("/api/v1/races?limit=0", 400, "invalid"),
        ("/api/v1/standings?season=1949", 400, "invalid"),
        ("/api/v1/standings?season=2024&round=99", 400, "invalid"),
        ("/api/v1/analytics/driver/nobody_at_all", 404, "not_found"),
        ("/api/v1/analytics/team/NOT a team", 404, "not_found"),
        ("/api/v1/championship/abc", 400, "invalid"),  # declared an integer
        ("/api/v1/championship/1800", 400, "invalid"),  # declared 1950..2100
        ("/api/v1/championship/2027", 404, "not_found"),  # in range, no races
        ("/api/v1/races/2025_4%0A", 400, "bad_request"),  # `$` alone would take the newline
        ("/api/v1/races/2025_bahrain%0A", 400, "bad_request"),
        ("/api/v1/predictions/race/2025_4%0A", 400, "bad_request"),
        ("/api/v1/analytics/driver/max_verstappen%0A", 404, "not_found"),
        ("/api/v1/analytics/team/red_bull%0A", 404, "not_found"),
    ],
)
def test_errors_share_one_shape(api, ergast_data, path, status, code):
    response = api.get(path)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_drivers_by_season_match_the_dump(api, ergast_data, django_assert_max_num_queries):
    race_ids = {r["raceId"] for r in csv_rows("races") if r["year"] == "2024"}
    ids = {
        r["driverId"] for name in ("results", "qualifying") for r in csv_rows(name) if r["raceId"] in race_ids
    }
    expected = sorted(_driver_ref(i) for i in ids)
    with django_assert_max_num_queries(3):
        body = api.get("/api/v1/drivers", {"season": 2024, "limit": 200}).json()
    assert body["count"] == len(expected)
    assert sorted(d["id"] for d in body["results"]) == expected
    ver = next(d for d in body["results"] if d["id"] == "max_verstappen")
    assert ver["code"] == "VER" and ver["name"] == "Max Verstappen" and ver["permanent_number"] == 33


def test_drivers_of_a_season_are_its_race_drivers_not_practice_only_ones(api, ergast_data):
    race_ids = {r["raceId"] for r in csv_rows("races") if r["year"] == "2025"}
    raced = {r["driverId"] for r in csv_rows("results") if r["raceId"] in race_ids}
    practice_only = {r["driverId"] for r in csv_rows("practice") if r.get("raceId") in race_ids} - raced
    assert len(race_ids) == 24 and len(raced) == 21 and len(practice_only) == 15  # FP1 outings
    body = api.get("/api/v1/drivers", {"season": 2025, "limit": 200}).json()
    assert body["count"] == 21
    assert {d["id"] for d in body["results"]} == {_driver_ref(i) for i in raced}
    # Practice-only drivers stay reachable: the unfiltered list and the race's practice results.
    everyone = api.get("/api/v1/drivers", {"limit": 200, "offset": 0}).json()["count"]
    assert everyone == len(csv_rows("drivers"))
    one = next(
        r for r in csv_rows("practice") if r.get("raceId") in race_ids and r["driverId"] in practice_only
    )
    race = next(r for r in csv_rows("races") if r["raceId"] == one["raceId"])
    detail = api.get(f"/api/v1/races/2025_{race['round']}").json()
    practiced = {p["driver"]["id"] for s in detail["practice"] for p in s["results"]}
    assert _driver_ref(one["driverId"]) in practiced


def test_drivers_unfiltered_pagination(api, ergast_data):
    body = api.get("/api/v1/drivers", {"limit": 5, "offset": 0}).json()
    assert body["count"] == len(csv_rows("drivers"))
    assert len(body["results"]) == 5


def test_teams_by_season_match_the_dump(api, ergast_data):
    race_ids = {r["raceId"] for r in csv_rows("races") if r["year"] == "2024"}
    ids = {r["constructorId"] for r in csv_rows("results") if r["raceId"] in race_ids}
    refs = {c["constructorId"]: c["constructorRef"] for c in csv_rows("constructors")}
    body = api.get("/api/v1/teams", {"season": 2024}).json()
    assert sorted(t["id"] for t in body["results"]) == sorted(refs[i] for i in ids)
    assert body["count"] == 10
    assert api.get("/api/v1/teams", {"season": 2025}).json()["count"] == 10


def test_standings_after_a_round_match_the_dump(api, ergast_data, django_assert_max_num_queries):
    race = csv_race(2024, 10)
    rows = sorted(
        (s for s in csv_rows("driver_standings") if s["raceId"] == race["raceId"]),
        key=lambda s: int(s["position"]),
    )
    teams = sorted(
        (s for s in csv_rows("constructor_standings") if s["raceId"] == race["raceId"]),
        key=lambda s: int(s["position"]),
    )
    with django_assert_max_num_queries(6):
        body = api.get("/api/v1/standings", {"season": 2024, "round": 10}).json()
    assert body["season"] == 2024 and body["round"] == 10 and body["race"]["name"] == race["name"]
    assert [d["driver"]["id"] for d in body["drivers"]] == [_driver_ref(s["driverId"]) for s in rows]
    assert [d["points"] for d in body["drivers"]] == [float(s["points"]) for s in rows]
    assert [t["points"] for t in body["teams"]] == [float(s["points"]) for s in teams]
    assert body["drivers"][0]["team"]["id"] == "red_bull"


def test_standings_for_a_round_not_run_or_not_in_the_season_are_404(api, ergast_data):
    # Independently: the rounds of 2025 and 2026, and the last 2026 round with standings (the dump).
    years = {r["raceId"]: (int(r["year"]), int(r["round"])) for r in csv_rows("races")}
    rounds_2025 = sum(1 for year, _ in years.values() if year == 2025)
    done_2026 = max(
        rnd
        for year, rnd in map(years.get, {s["raceId"] for s in csv_rows("driver_standings")})
        if year == 2026
    )
    assert (rounds_2025, done_2026) == (24, 7)

    for params, text in (
        ({"season": 2025, "round": 40}, "the season has 24 rounds"),
        ({"season": 2026, "round": 10}, f"latest with standings is round {done_2026}"),
    ):
        response = api.get("/api/v1/standings", params)
        assert response.status_code == 404, (params, response.content[:200])
        error = response.json()["error"]
        assert error["code"] == "not_found" and text in error["message"]
    assert api.get("/api/v1/standings", {"season": 2026, "round": done_2026}).json()["round"] == done_2026


def test_standings_default_to_the_latest_round(api, ergast_data):
    with_standings = {s["raceId"] for s in csv_rows("driver_standings")}
    latest = max(
        (int(r["year"]), int(r["round"])) for r in csv_rows("races") if r["raceId"] in with_standings
    )
    body = api.get("/api/v1/standings").json()
    assert (body["season"], body["round"]) == latest
    assert api.get("/api/v1/standings", {"season": 2024}).json()["round"] == 24


def test_a_round_without_a_season_skips_a_season_whose_only_standings_are_of_a_removed_race(api, ergast_data):
    """`?round=N` alone means round N of the latest season with standings it can show: a later
    season whose only standings belong to a race upstream removed (kept, off the calendar) made it
    a 404, while the latest standings (no round) skipped that race."""
    from django.utils import timezone

    from ingestion.models import DriverStanding
    from tests.factories import RaceFactory

    kept = DriverStanding.objects.filter(race__season_id=2026, race__round=1).first()
    removed = RaceFactory(season__year=2027, round=1, removed_upstream_at=timezone.now())
    DriverStanding.objects.create(
        race=removed, driver_id=kept.driver_id, points=25, position=1, position_text="1", wins=1
    )
    response = api.get("/api/v1/standings", {"round": 1})
    assert response.status_code == 200, response.content[:300]
    assert (response.json()["season"], response.json()["round"]) == (2026, 1)
    assert api.get("/api/v1/standings").json()["season"] == 2026


def _csv_season_aggregates(rows: list[dict]) -> dict:
    """The Grand Prix figures of a season's result rows (one per car entered; sprints are apart),
    with plain Python: classified = a numeric positionText (R, D, E, W, F, N are not); the averages
    over classified positions and over real grid slots (0 = pit lane or no start), to 2 decimals."""
    finishes = [int(r["positionText"]) for r in rows if r["positionText"].isdigit()]
    grids = [int(r["grid"]) for r in rows if r["grid"] not in (None, "0")]
    return {
        "entries": len(rows),
        "races": len({r["raceId"] for r in rows}),
        "podiums": sum(1 for p in finishes if p in (1, 2, 3)),
        "classified": len(finishes),
        "not_classified": len(rows) - len(finishes),
        "best_finish": min(finishes, default=None),
        "average_finish": round(sum(finishes) / len(finishes), 2) if finishes else None,
        "average_grid": round(sum(grids) / len(grids), 2) if grids else None,
    }


_AGGREGATE_FIELDS = (
    "entries",
    "races",
    "podiums",
    "classified",
    "not_classified",
    "best_finish",
    "average_finish",
    "average_grid",
)


def test_driver_analytics_season_aggregates(api, ergast_data, django_assert_max_num_queries):
    race_ids = {r["raceId"] for r in csv_rows("races") if r["year"] == "2023"}
    ver = next(d["driverId"] for d in csv_rows("drivers") if d["driverRef"] == "max_verstappen")
    mine = [r for r in csv_rows("results") if r["raceId"] in race_ids and r["driverId"] == ver]
    wins = sum(1 for r in mine if r["position"] == "1")
    expected = _csv_season_aggregates(mine)
    points = sum(float(r["points"]) for r in mine)
    sprint = sum(
        float(r["points"])
        for r in csv_rows("sprint_results")
        if r["raceId"] in race_ids and r["driverId"] == ver
    )
    body = api.get("/api/v1/analytics/driver/max_verstappen", {"season": 2023}).json()
    assert body["driver"]["id"] == "max_verstappen"
    (season,) = body["seasons"]
    assert season["season"] == 2023 and season["races"] == len(mine) == 22
    assert season["wins"] == wins == 19
    assert season["race_points"] == pytest.approx(points)
    assert season["sprint_points"] == pytest.approx(sprint) and sprint > 0  # 2023 had six sprints
    assert season["points"] == pytest.approx(points + sprint)
    assert {k: season[k] for k in _AGGREGATE_FIELDS} == expected
    assert (expected["podiums"], expected["best_finish"], expected["not_classified"]) == (21, 1, 0)
    assert "analytics" in body


@pytest.mark.parametrize(
    ("kind", "ref", "season", "entries", "races"),
    [
        ("driver", "fangio", 1956, 10, 7),  # shared cars: three races with two entries
        ("driver", "perez", 2023, 22, 22),  # two pit-lane starts (grid 0), two unclassified
        ("team", "red_bull", 2023, 44, 22),  # two cars per race
        ("team", "ferrari", 1956, 43, 7),  # up to eight entries a race, shared cars
    ],
)
def test_analytics_season_aggregates_match_the_dump(api, ergast_data, kind, ref, season, entries, races):
    """QA finding 4: podiums, average finish and grid, best finish and the classified counts are
    per entry (result row) of the Grand Prix results; compared with the CSVs read in plain Python."""
    race_ids = {r["raceId"] for r in csv_rows("races") if r["year"] == str(season)}
    if kind == "driver":
        key, entity = "driverId", next(d["driverId"] for d in csv_rows("drivers") if d["driverRef"] == ref)
    else:
        key = "constructorId"
        entity = next(c["constructorId"] for c in csv_rows("constructors") if c["constructorRef"] == ref)
    mine = [r for r in csv_rows("results") if r["raceId"] in race_ids and r[key] == entity]
    expected = _csv_season_aggregates(mine)
    (row,) = api.get(f"/api/v1/analytics/{kind}/{ref}", {"season": season}).json()["seasons"]
    assert {k: row[k] for k in _AGGREGATE_FIELDS} == expected
    assert (expected["entries"], expected["races"]) == (entries, races)
    assert expected["classified"] and expected["not_classified"]  # both branches are exercised


@pytest.mark.parametrize(
    ("ref", "season", "poles"),
    [("senna", 1988, 13), ("villeneuve", 1997, 10), ("hamilton", 2021, 5)],
)
def test_poles_are_starts_from_pole_in_every_era(api, ergast_data, ref, season, poles):
    """QA: `poles` counted qualifying P1 rows, which start in 1994 with gaps: Senna 1988 had 0 (13
    starts from grid 1), Villeneuve 1997 6 (qualifying has rounds 1-10 only), Hamilton 2021 8 (the
    2021 sprint weekends' Friday qualifying; the sprint set the grid). Now: grid 1 in the results."""
    race_ids = {r["raceId"] for r in csv_rows("races") if r["year"] == str(season)}
    driver = next(d["driverId"] for d in csv_rows("drivers") if d["driverRef"] == ref)
    from_grid = sum(
        1
        for r in csv_rows("results")
        if r["raceId"] in race_ids and r["driverId"] == driver and r["grid"] == "1"
    )
    assert from_grid == poles
    (row,) = api.get(f"/api/v1/analytics/driver/{ref}", {"season": season}).json()["seasons"]
    assert row["poles"] == poles


def _final_standing_points(kind: str, season: int, ref: str) -> float:
    """Points in the season's final drivers' or constructors' standings, from the CSVs."""
    last = max((r for r in csv_rows("races") if r["year"] == str(season)), key=lambda r: int(r["round"]))
    if kind == "driver":
        ids, standings, key = csv_rows("drivers"), csv_rows("driver_standings"), "driverId"
        entity = next(d[key] for d in ids if d["driverRef"] == ref)
    else:
        ids, standings, key = csv_rows("constructors"), csv_rows("constructor_standings"), "constructorId"
        entity = next(c[key] for c in ids if c["constructorRef"] == ref)
    return float(next(s["points"] for s in standings if s["raceId"] == last["raceId"] and s[key] == entity))


@pytest.mark.parametrize(
    ("kind", "ref", "standing", "race_only"),
    [("driver", "max_verstappen", 421, 389), ("team", "mclaren", 833, 775)],
)
def test_analytics_season_points_match_the_final_standings(api, ergast_data, kind, ref, standing, race_only):
    """QA: 2025's `seasons[].points` left out sprint points (Verstappen 389, McLaren 775) while the
    standings say 421 and 833: the season total is now the championship's, the Grand Prix part is
    `race_points`."""
    assert _final_standing_points(kind, 2025, ref) == standing
    (season,) = api.get(f"/api/v1/analytics/{kind}/{ref}", {"season": 2025}).json()["seasons"]
    assert season["points"] == pytest.approx(standing)
    assert season["race_points"] == pytest.approx(race_only)
    assert season["sprint_points"] == pytest.approx(standing - race_only)
    standings = api.get("/api/v1/standings", {"season": 2025}).json()
    (row,) = [r for r in standings["drivers" if kind == "driver" else "teams"] if r[kind]["id"] == ref]
    assert row["points"] == pytest.approx(season["points"])


def test_team_analytics_all_seasons(api, ergast_data):
    team = next(c["constructorId"] for c in csv_rows("constructors") if c["constructorRef"] == "mclaren")
    years = {r["raceId"]: int(r["year"]) for r in csv_rows("races")}
    mine = [r for r in csv_rows("results") if r["constructorId"] == team]
    entries = Counter(years[r["raceId"]] for r in mine)
    races = Counter(years[race_id] for race_id in {r["raceId"] for r in mine})
    body = api.get("/api/v1/analytics/team/mclaren").json()
    assert {s["season"]: s["entries"] for s in body["seasons"]} == dict(entries)
    assert {s["season"]: s["races"] for s in body["seasons"]} == dict(races)


def test_team_analytics_counts_races_not_cars(api, ergast_data):
    (season,) = api.get("/api/v1/analytics/team/red_bull", {"season": 2025}).json()["seasons"]
    assert (season["races"], season["entries"]) == (24, 48)  # 24 Grands Prix, two cars each
    (driver,) = api.get("/api/v1/analytics/driver/max_verstappen", {"season": 2025}).json()["seasons"]
    assert driver["races"] == driver["entries"] == 24


def test_jobs_status_lists_scheduled_jobs_or_sync_runs(api, ergast_data):
    from django_celery_beat.models import PeriodicTask

    body = api.get("/api/v1/jobs/status").json()
    if PeriodicTask.objects.exists():
        assert body["source"] == "scheduler"
        assert {j["name"] for j in body["jobs"]} == set(PeriodicTask.objects.values_list("name", flat=True))
    else:
        assert body["source"] == "sync_runs"
        assert any(j["name"] == "sync_ergast_dump" for j in body["jobs"])


def test_health_reports_each_check(api, ergast_data):
    response = api.get("/api/v1/health")
    body = response.json()
    assert set(body["checks"]) == {"database", "cache", "broker", "worker", "beat", "model"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["cache"]["status"] == "ok"
    assert response.status_code == 200
    assert "breaker" in body["cache"] and "tiers" in body["cache"]


def test_health_is_503_when_the_database_is_down(api, ergast_data, monkeypatch):
    from ingestion.services import health

    def broken():
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(health, "_check_database", broken)
    response = api.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "down"


def test_championship_of_a_completed_season_answers_from_the_standings_without_a_model(api, ergast_data):
    """No model is trained here: a completed season needs no simulation (it was a 503 before), while
    a season with rounds left still needs the model. Points and champions from the dump's CSVs."""
    race_ids = {r["raceId"]: int(r["round"]) for r in csv_rows("races") if r["year"] == "2025"}
    last = max(race_ids, key=race_ids.get)
    ref_of = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    team_of = {c["constructorId"]: c["constructorRef"] for c in csv_rows("constructors")}
    drivers = {ref_of[s["driverId"]]: s for s in csv_rows("driver_standings") if s["raceId"] == last}
    teams = {team_of[s["constructorId"]]: s for s in csv_rows("constructor_standings") if s["raceId"] == last}
    response = api.get("/api/v1/championship/2025")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["remaining_races"] == [] and body["model_version"] is None
    assert {d["driver"]: d["current_points"] for d in body["drivers"]} == {
        k: float(s["points"]) for k, s in drivers.items()
    }
    assert {t["team"]: t["current_points"] for t in body["teams"]} == {
        k: float(s["points"]) for k, s in teams.items()
    }
    assert [d["driver"] for d in body["drivers"] if d["title_probability"] == 1] == [
        k for k, s in drivers.items() if s["position"] == "1"
    ]
    assert [t["team"] for t in body["teams"] if t["title_probability"] == 1] == [
        k for k, s in teams.items() if s["position"] == "1"
    ]
    unavailable = api.get("/api/v1/championship/2026")
    assert unavailable.status_code == 503 and unavailable.json()["error"]["code"] == "model_unavailable"


@in_season  # Qatar still to come, so `predict --race` reaches the model on any date
def test_a_model_unavailable_answer_names_no_server_path(api, ergast_data, settings, tmp_path, caplog):
    """QA: anonymous `GET championship/2026` and what-if 503s quoted ModelUnavailable's reasons,
    which name the artifacts' paths on the server. Those stay in the log and in the error of the
    command-line `predict`, where the operator needs them."""
    import logging

    from django.core.management import CommandError, call_command

    from ingestion.models import Race, RaceResult
    from tests.factories import ModelVersionFactory

    missing = tmp_path / "models" / "vgone.joblib"
    ModelVersionFactory(label="vgone", artifact_path=str(missing), is_active=True)
    latest = Race.objects.filter(results__isnull=False).order_by("-date").first()
    grid = list(RaceResult.objects.filter(race=latest).values_list("driver__ref", flat=True))
    with caplog.at_level(logging.WARNING):
        championship = api.get("/api/v1/championship/2026")
        what_if = api.post("/api/v1/predictions/what-if/2026_qatar", {"grid": grid}, format="json")
    for response in (championship, what_if):
        assert response.status_code == 503, response.content
        assert response.json()["error"] == {
            "code": "model_unavailable",
            "message": "No usable trained model: run `python manage.py train_models`",
            "details": {},
        }
        assert str(tmp_path) not in response.content.decode() and ".joblib" not in response.content.decode()
    assert f"model artifact {missing} for vgone is missing" in caplog.text
    with pytest.raises(
        CommandError, match=f"run `python manage.py train_models` \\(model artifact {missing}"
    ):
        call_command("predict", "--race", "2026_qatar")


@pytest.mark.parametrize(
    "season",
    [
        "02026",  # not canonical: was 404 "no races in season 02026"
        "99999999999999999999",  # was 404
        "2026.0",
        "-1",
        "abc",
        "+2026",
        "2026%20",
        "%D9%A2%D9%A0%D9%A2%D9%A6",  # Arabic-Indic digits: str.isdigit() is true for them
        "1949",  # below the documented minimum (1950)
        "2101",  # above the documented maximum (2100)
        "0",
    ],
)
def test_a_championship_season_that_is_not_a_canonical_integer_in_range_is_400_invalid(
    api, ergast_data, season
):
    """QA: the schema declares an integer 1950..2100 and documents 400 for a non-integer, but
    `02026` and a 20-digit number answered 404 while `2026.0`, `-1` and `abc` answered 400
    (`bad_request`, no details). Everything outside the declared parameter is one 400 `invalid`."""
    response = api.get(f"/api/v1/championship/{season}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"season"} and "1950" in error["details"]["season"][0]
    assert api.get("/api/v1/championship/1950").status_code == 200  # the bounds themselves are valid


# fixed one-minute throttle windows: the clock stopped mid-window, so no boundary falls between charges
@pytest.mark.time_machine(datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC), tick=False)
def test_only_a_simulating_championship_request_counts_against_the_expensive_rate(api, ergast_data, settings):
    """One client, 'expensive' at 2/min. QA: browsing completed seasons (1960..1995, stored final
    standings, nothing simulated) was charged per cache miss and got 429 after the budget, spending
    the what-if budget too. Now only a request that simulates (2026: rounds left) is charged — here
    without a model, so each 2026 request is charged and answers 503 (not cached) until the third,
    refused with 429 and Retry-After; completed and cached seasons are still served."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "expensive": "2/min"},
    }
    for season in range(1960, 1996):  # 36 computations of completed seasons in one window
        response = api.get(f"/api/v1/championship/{season}")
        assert response.status_code == 200, (season, response.content)
        assert response.json()["remaining_races"] == []
    for _ in range(6):
        assert api.get("/api/v1/championship/2024").status_code == 200  # computed once, then cached
    for _ in range(2):  # simulating: charged (503 without a model, after the charge)
        assert api.get("/api/v1/championship/2026").status_code == 503
    refused = api.get("/api/v1/championship/2026")  # the third simulation in the window
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"]["code"] == "throttled" and int(refused["Retry-After"]) >= 1
    assert api.get("/api/v1/championship/2023").status_code == 200  # completed: still served
    # the what-if budget (the same bucket) was spent by the simulations only
    what_if = api.post("/api/v1/predictions/what-if/2026_qatar", {"grid": ["a"]}, format="json")
    assert what_if.status_code == 429, what_if.content


def test_an_engine_error_in_the_championship_is_a_500_not_a_404(api, ergast_data, monkeypatch):
    """Only a season without races is a 404. Any other ValueError out of the simulation (a strict
    zip, pandas, sklearn) is a bug: it was a 404 `not_found` carrying the internal message."""

    def crash(**kwargs):
        raise ValueError("zip() argument 2 is shorter than argument 1")

    monkeypatch.setattr("predictions.api.views.championship_simulate", crash)
    api.raise_request_exception = False
    response = api.get("/api/v1/championship/2026")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "zip()" not in response.content.decode()


@pytest.mark.parametrize("season", ["2027", "2099"])
def test_a_championship_without_races_has_one_wording(api, ergast_data, season):
    """A season in the documented range without races stored is one 404 wording."""
    response = api.get(f"/api/v1/championship/{season}")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"no races in season {season}"
