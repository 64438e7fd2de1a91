"""GET drivers/{id} and teams/{id}: the entity, a career summary and where to follow it.

Expectations are independent of the code under test: the Ergast CSVs read with plain Python
(tests/drf_support.py), published career records checked by hand against the dump, and a small
factory-built history whose figures are counted by hand.
"""

from __future__ import annotations

import pytest

from tests.drf_support import csv_rows

pytestmark = pytest.mark.django_db

# Entries that never took the start, as the result sheets count them (docs/analytics.md): written
# out here rather than imported, so the expectation does not come from the code under test.
_NON_STARTS = {"Did not qualify", "Did not prequalify", "107% Rule", "Withdrew", "Excluded"}


def _csv_career(key: str, entity: str) -> dict:
    """A driver's (`key` driverId) or team's (constructorId) career from results.csv and
    sprint_results.csv, in plain Python. A 1950s shared car (one race and position order, a row per
    driver) is one podium car of its team and a podium of each driver; a driver's pole is the car
    he started, listed first (lowest resultId)."""
    years = {r["raceId"]: int(r["year"]) for r in csv_rows("races")}
    statuses = {s["statusId"]: s["status"] for s in csv_rows("status")}
    first_listed: dict[tuple[str, str], int] = {}
    for r in csv_rows("results"):
        car = (r["raceId"], r["positionOrder"])
        first_listed[car] = min(first_listed.get(car, int(r["resultId"])), int(r["resultId"]))
    mine = [r for r in csv_rows("results") if r[key] == entity]
    pole_rows = [
        r
        for r in mine
        if r["grid"] == "1"
        and (key != "driverId" or first_listed[(r["raceId"], r["positionOrder"])] == int(r["resultId"]))
    ]
    started = [
        r for r in mine if statuses[r["statusId"]] not in _NON_STARTS and r["positionText"] not in "WF"
    ]
    race_points = sum(float(r["points"]) for r in mine)
    sprint_points = sum(float(r["points"]) for r in csv_rows("sprint_results") if r[key] == entity)
    seasons = sorted({years[r["raceId"]] for r in mine})
    return {
        "seasons": seasons,
        "first_season": seasons[0],
        "last_season": seasons[-1],
        "races": len({r["raceId"] for r in mine}),
        "entries": len(mine),
        "starts": len({r["raceId"] for r in started}),
        "wins": len({r["raceId"] for r in mine if r["position"] == "1"}),
        # a classified position is one car: a team's podium cars, a driver's podium rows
        "podiums": len({(r["raceId"], r["position"]) for r in mine if r["position"] in ("1", "2", "3")}),
        "poles": len({r["raceId"] for r in pole_rows}),
        "points": pytest.approx(race_points + sprint_points),
        "race_points": pytest.approx(race_points),
        "sprint_points": pytest.approx(sprint_points),
    }


def _latest_rows(key: str, entity: str) -> list[dict]:
    """The entity's result rows of its latest race (by date), in finishing order."""
    dates = {r["raceId"]: r["date"] for r in csv_rows("races")}
    mine = [r for r in csv_rows("results") if r[key] == entity]
    latest = max({r["raceId"] for r in mine}, key=lambda race: dates[race])
    return sorted((r for r in mine if r["raceId"] == latest), key=lambda r: int(r["positionOrder"]))


def _slug(race_id: str) -> tuple[int, int]:
    race = next(r for r in csv_rows("races") if r["raceId"] == race_id)
    return int(race["year"]), int(race["round"])


# --- a driver --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "published"),
    [
        # Fangio's published record, hand-checked against results.csv: 24 wins, 35 podiums, 29
        # poles, 51 starts; 58 result rows in 51 races (1950s shared cars), 1950-1958.
        ("fangio", {"races": 51, "entries": 58, "starts": 51, "wins": 24, "podiums": 35, "poles": 29}),
        # Leclerc: two entries that never took the start (positionText W): Monaco 2021 (on pole,
        # driveshaft) and São Paulo 2023 (off on the formation lap); 180 races, 2018-2026 in the dump.
        ("leclerc", {"races": 180, "entries": 180, "starts": 178}),
    ],
)
def test_a_driver_career_matches_the_dump(api, ergast_data, django_assert_num_queries, ref, published):
    driver_id = next(d["driverId"] for d in csv_rows("drivers") if d["driverRef"] == ref)
    expected = _csv_career("driverId", driver_id)
    assert {k: expected[k] for k in published} == published  # the hand check of the CSV reading

    with django_assert_num_queries(4):  # the driver, the career by season, sprints, the latest race
        response = api.get(f"/api/v1/drivers/{ref}")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["career"] == expected

    latest = _latest_rows("driverId", driver_id)[0]
    team = next(c for c in csv_rows("constructors") if c["constructorId"] == latest["constructorId"])
    assert body["latest_team"] == {"id": team["constructorRef"], "name": team["name"]}
    assert (body["latest_race"]["season"], body["latest_race"]["round"]) == _slug(latest["raceId"])
    # the list's fields, as drivers?season= gives them
    season = body["career"]["last_season"]
    listed = api.get("/api/v1/drivers", {"season": season, "limit": 200}).json()["results"]
    (row,) = [d for d in listed if d["id"] == ref]
    assert {k: body[k] for k in row} == row


def test_a_driver_page_follows_to_analytics_seasons_and_races(api, ergast_data):
    body = api.get("/api/v1/drivers/piastri").json()
    assert body["links"] == {"analytics": "/api/v1/analytics/driver/piastri"}
    analytics = api.get(body["links"]["analytics"]).json()
    assert analytics["driver"]["id"] == "piastri"
    # the sums of the analytics' season rows (no shared car: his wins and poles per entry are races)
    by_season = [
        api.get(body["links"]["analytics"], {"season": s}).json()["seasons"][0]
        for s in body["career"]["seasons"]
    ]
    assert [s["season"] for s in by_season] == body["career"]["seasons"]
    for key in ("races", "entries", "podiums", "wins", "poles"):
        assert sum(s[key] for s in by_season) == body["career"][key], key
    assert sum(s["points"] for s in by_season) == pytest.approx(body["career"]["points"])
    race = api.get(f"/api/v1/races/{body['latest_race']['id']}").json()
    assert {k: race[k] for k in ("id", "season", "round", "name", "date")} == body["latest_race"]
    assert body["latest_team"]["id"] in {
        r["team"]["id"] for r in race["results"] if r["driver"]["id"] == "piastri"
    }
    assert api.get(f"/api/v1/teams/{body['latest_team']['id']}").status_code == 200


# --- a team ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "published"),
    [
        # Published: Vanwall 9 wins, 7 poles, 13 podiums; its 1957 British GP winner was a car
        # shared by Brooks and Moss (two result rows with position 1): one race won, not two.
        ("vanwall", {"wins": 9, "poles": 7, "podiums": 13, "races": 29}),
        # Alfa Romeo's 10 wins (1950-51, incl. the 1951 French GP's shared winning car).
        ("alfa", {"wins": 10}),
        ("ferrari", {"first_season": 1950}),
        ("red_bull", {"first_season": 2005, "entries": 850}),
    ],
)
def test_a_team_career_matches_the_dump(api, ergast_data, django_assert_num_queries, ref, published):
    team_id = next(c["constructorId"] for c in csv_rows("constructors") if c["constructorRef"] == ref)
    expected = _csv_career("constructorId", team_id)
    assert {k: expected[k] for k in published} == published

    with django_assert_num_queries(4):  # the team, the career by season, sprints, its latest race
        response = api.get(f"/api/v1/teams/{ref}")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["career"] == expected

    rows = _latest_rows("constructorId", team_id)
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    assert [d["id"] for d in body["latest_drivers"]] == list(dict.fromkeys(refs[r["driverId"]] for r in rows))
    assert (body["latest_race"]["season"], body["latest_race"]["round"]) == _slug(rows[0]["raceId"])
    assert body["links"] == {"analytics": f"/api/v1/analytics/team/{ref}"}
    listed = api.get("/api/v1/teams", {"season": body["career"]["last_season"], "limit": 200}).json()[
        "results"
    ]
    (row,) = [t for t in listed if t["id"] == ref]
    assert {k: body[k] for k in row} == row


def test_a_shared_winning_car_is_one_win_of_its_team_and_one_of_each_driver(api, ergast_data):
    """1957 British GP: Brooks and Moss shared the winning Vanwall (both rows position 1)."""
    race = next(r for r in csv_rows("races") if r["year"] == "1957" and r["name"] == "British Grand Prix")
    winners = [r for r in csv_rows("results") if r["raceId"] == race["raceId"] and r["position"] == "1"]
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    assert sorted(refs[r["driverId"]] for r in winners) == ["brooks", "moss"]
    vanwall = api.get("/api/v1/teams/vanwall").json()["career"]
    (season,) = api.get("/api/v1/analytics/team/vanwall", {"season": 1957}).json()["seasons"]
    # 1957: British, Pescara and Italian GPs won (the season row counted 4, one per row)
    assert season["wins"] == 3 and vanwall["wins"] == 9
    for ref in ("brooks", "moss"):
        driver_id = next(d for d, r in refs.items() if r == ref)
        assert (
            api.get(f"/api/v1/drivers/{ref}").json()["career"]["wins"]
            == _csv_career("driverId", driver_id)["wins"]
        )


# --- a small history counted by hand ---------------------------------------------------------------
def test_a_hand_built_history(api, ergast_data, django_assert_num_queries):
    """Two seasons of a new team with two drivers; every figure below is counted by hand.

    2101 r1: A wins from pole (25), B 3rd (15);  r2: A did not start (W, "Engine"), B 2nd from pole
    (18), B also 1 sprint point there;  2102 r1: C (new) 1st from grid 2 (25), A 4th (12)."""
    from ingestion.models import SprintResult
    from tests.factories import DriverFactory, RaceFactory, RaceResultFactory, StatusFactory, TeamFactory

    team = TeamFactory(ref="test_hand_team", name="Hand Team")
    a, b, c = (DriverFactory(ref=f"test_hand_{x}", code=x.upper() * 3) for x in "abc")
    r1, r2 = RaceFactory(season__year=2101, round=1), RaceFactory(season__year=2101, round=2)
    r3 = RaceFactory(season__year=2102, round=1)
    finished, engine = StatusFactory(status="Finished"), StatusFactory(status="Engine")
    rows = [
        (r1, a, 1, 1, 25, finished, "1"),
        (r1, b, 3, 4, 15, finished, "3"),
        (r2, b, 2, 1, 18, finished, "2"),
        (r2, a, None, 0, 0, engine, "W"),
        (r3, c, 1, 2, 25, finished, "1"),
        (r3, a, 4, 3, 12, finished, "4"),
    ]
    for order, (race, driver, position, grid, points, status, text) in enumerate(rows, start=1):
        RaceResultFactory(
            race=race, driver=driver, team=team, position=position, position_order=order, grid=grid,
            points=points, status=status, position_text=text,
        )  # fmt: skip
    SprintResult.objects.create(
        race=r2, driver=b, team=team, position=8, position_text="8", position_order=8, points=1,
        status=finished,
    )  # fmt: skip

    with django_assert_num_queries(4):
        body = api.get(f"/api/v1/teams/{team.ref}").json()
    assert body["career"] == {
        "seasons": [2101, 2102],
        "first_season": 2101,
        "last_season": 2102,
        "races": 3,
        "entries": 6,
        "starts": 3,  # r2: A did not start, B did
        "wins": 2,
        "podiums": 4,
        "poles": 2,  # r1 (A), r2 (B)
        "points": 96.0,
        "race_points": 95.0,
        "sprint_points": 1.0,
    }
    assert body["latest_drivers"] == [
        {"id": "test_hand_c", "code": "CCC", "name": c.full_name},
        {"id": "test_hand_a", "code": "AAA", "name": a.full_name},
    ]
    assert body["latest_race"] == {
        "id": r3.slug, "season": 2102, "round": 1, "name": r3.name, "date": r3.date.isoformat(),
    }  # fmt: skip

    career = api.get("/api/v1/drivers/test_hand_a").json()["career"]
    assert {k: career[k] for k in ("races", "entries", "starts", "wins", "podiums", "poles", "points")} == {
        "races": 3, "entries": 3, "starts": 2, "wins": 1, "podiums": 1, "poles": 1, "points": 37.0,
    }  # fmt: skip
    b_body = api.get("/api/v1/drivers/test_hand_b").json()
    assert (b_body["career"]["seasons"], b_body["career"]["points"], b_body["career"]["sprint_points"]) == (
        [2101], 34.0, 1.0,
    )  # fmt: skip
    assert b_body["latest_team"] == {"id": "test_hand_team", "name": "Hand Team"}
    assert b_body["latest_race"]["id"] == r2.slug


def test_an_entity_without_a_race_has_an_empty_career(api, ergast_data):
    """A practice-only driver (an FP1 outing) and a team synced before its first race: 200, zeros."""
    from tests.factories import DriverFactory, PracticeResultFactory, RaceFactory, TeamFactory

    driver, team = DriverFactory(ref="test_fp1_only"), TeamFactory(ref="test_no_race_yet")
    PracticeResultFactory(race=RaceFactory(season__year=2101), driver=driver, team=team)
    for path in ("/api/v1/drivers/test_fp1_only", "/api/v1/teams/test_no_race_yet"):
        body = api.get(path).json()
        assert body["career"]["seasons"] == [] and body["career"]["first_season"] is None, path
        assert body["career"]["races"] == body["career"]["points"] == 0, path
        assert body["latest_race"] is None, path
    assert api.get("/api/v1/drivers/test_fp1_only").json()["latest_team"] is None
    assert api.get("/api/v1/teams/test_no_race_yet").json()["latest_drivers"] == []


# --- errors and caching ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/drivers/nobody_at_all",
        "/api/v1/drivers/MAX_VERSTAPPEN",  # ids are case-sensitive (Cannoc, scott_Brown)
        "/api/v1/drivers/max_verstappen%0A",
        "/api/v1/drivers/not%20a%20driver",
        "/api/v1/drivers/843",  # a primary key is no id
        "/api/v1/teams/NOT%20a%20team",
        "/api/v1/teams/red_bull%0A",
        "/api/v1/teams/nobody_at_all",
    ],
)
def test_an_unknown_id_is_the_api_404(api, ergast_data, path):
    response = api.get(path)
    assert response.status_code == 404, response.content[:300]
    error = response.json()
    assert set(error) == {"error"} and set(error["error"]) == {"code", "message", "details"}
    assert error["error"]["code"] == "not_found" and "with id" in error["error"]["message"]


@pytest.mark.parametrize("ref", ["Cannoc", "scott_Brown"])
def test_mixed_case_ids_resolve(api, ergast_data, ref):
    assert api.get(f"/api/v1/drivers/{ref}").json()["id"] == ref


def test_a_second_request_is_served_from_the_cache_with_validators(
    api, ergast_data, django_assert_num_queries
):
    first = api.get("/api/v1/teams/mclaren")
    assert first["ETag"] and first["Cache-Control"] == "public, no-cache"
    with django_assert_num_queries(0):
        again = api.get("/api/v1/teams/mclaren")
        not_modified = api.get("/api/v1/teams/mclaren", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.content == first.content and not_modified.status_code == 304
