"""GET analytics/driver/{id} and analytics/team/{id} on the real dump: season aggregates, poles and
points against the Ergast CSVs read with plain Python (tests/drf_support.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.drf_support import csv_rows

pytestmark = pytest.mark.django_db


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
