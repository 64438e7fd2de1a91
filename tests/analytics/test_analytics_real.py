"""driver_analytics_get / team_analytics_get on the real dump, checked against the CSVs with plain Python."""

from __future__ import annotations

import csv
import json
import statistics
from functools import cache as memoize

import pytest
from django.core.cache import cache

from analytics.selectors import driver_analytics_get, team_analytics_get
from analytics.services.common import MECHANICAL_STATUSES
from ingestion.models import Driver, Team
from ingestion.models.results import NON_STARTS
from tests.conftest import ERGAST_DUMP_DIR

pytestmark = pytest.mark.django_db

VER, MERCEDES = "830", "131"


@memoize
def _csv(name: str) -> list[dict]:
    with open(ERGAST_DUMP_DIR / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _race_ids(year: int) -> set[str]:
    return {r["raceId"] for r in _csv("races") if r["year"] == str(year)}


def _ms(text: str) -> int | None:
    if not text or text == "\\N":
        return None
    minutes, _, seconds = text.rpartition(":")
    return round((int(minutes or 0) * 60 + float(seconds)) * 1000)


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def test_verstappen_2021_against_the_csv(django_assert_max_num_queries):
    races = _race_ids(2021)
    with django_assert_max_num_queries(12):
        data = driver_analytics_get(driver=Driver.objects.get(ref="max_verstappen"), season=2021)
    json.dumps(data)  # the API returns it as it is

    results = [r for r in _csv("results") if r["raceId"] in races]
    own = [r for r in results if r["driverId"] == VER]
    finishes = [int(r["position"]) for r in own if r["position"] != "\\N"]
    c = data["race_pace_consistency"]
    assert c["finishes"] == len(finishes)
    assert c["position_stdev"] == pytest.approx(statistics.stdev(finishes), abs=0.001)
    sprints = [r for r in _csv("sprint_results") if r["raceId"] in races and r["driverId"] == VER]
    race_points = sum(float(r["points"]) for r in own)
    sprint_points = sum(float(r["points"]) for r in sprints)
    assert data["form"]["race_points"] == pytest.approx(race_points)
    assert data["form"]["sprint_points"] == pytest.approx(sprint_points) and sprint_points > 0
    assert data["form"]["points"] == pytest.approx(race_points + sprint_points)

    # qualifying gap: deepest session both Red Bull drivers set a time, race by race
    quali = [q for q in _csv("qualifying") if q["raceId"] in races]
    gaps, ahead = [], 0
    for q in (q for q in quali if q["driverId"] == VER):
        mates = [
            m
            for m in quali
            if m["raceId"] == q["raceId"]
            and m["constructorId"] == q["constructorId"]
            and m["driverId"] != VER
        ]
        assert len(mates) == 1
        mate = mates[0]
        for session in ("q3", "q2", "q1"):
            mine, theirs = _ms(q[session]), _ms(mate[session])
            if mine and theirs:
                gaps.append((mine - theirs) / theirs * 100)
                break
        ahead += int(q["position"]) < int(mate["position"])
    g = data["qualifying_gap_to_teammate"]
    assert g["races"] == 22  # one head-to-head per race ...
    assert sum(r["gap_pct"] is not None for r in g["per_race"]) == len(gaps)  # ... a lap time in all but one
    assert g["median_gap_pct"] == pytest.approx(statistics.median(gaps), abs=0.001)
    assert g["ahead"] == ahead

    pits = [p for p in _csv("pit_stops") if p["raceId"] in races and p["driverId"] == VER]
    assert data["pit_stops"]["stops"] == len(pits)
    assert data["pit_stops"]["median_stop_ms"] == pytest.approx(
        statistics.median(int(p["milliseconds"]) for p in pits if int(p["milliseconds"]) < 60000), abs=0.5
    )

    # championship position after the last round from driver_standings.csv
    last = max(races, key=lambda r: int(next(x["round"] for x in _csv("races") if x["raceId"] == r)))
    final = next(s for s in _csv("driver_standings") if s["raceId"] == last and s["driverId"] == VER)
    assert data["championship"]["final_position"] == int(final["position"])

    # a second call is served from the cache
    driver = Driver.objects.get(ref="max_verstappen")
    with django_assert_max_num_queries(0):
        assert driver_analytics_get(driver=driver, season=2021) == data


def test_verstappen_2025_season_points_are_the_final_standings():
    """QA: the driver page said "389 points in 24 races" for Verstappen's 2025 while the standings
    say 421: the season's points left out his sprint points. They are the championship's now, race
    by race (a round's points are its Grand Prix plus its sprint) and in total."""
    races = _race_ids(2025)
    last = max((r for r in _csv("races") if r["year"] == "2025"), key=lambda r: int(r["round"]))
    final = next(
        s for s in _csv("driver_standings") if s["raceId"] == last["raceId"] and s["driverId"] == VER
    )
    form = driver_analytics_get(driver=Driver.objects.get(ref="max_verstappen"), season=2025)["form"]
    assert form["points"] == float(final["points"]) == 421
    assert (form["race_points"], form["sprint_points"]) == (389, 32)
    assert sum(r["points"] for r in form["per_race"]) == pytest.approx(421)
    sprint_by_race = {
        r["raceId"]: float(r["points"])
        for r in _csv("sprint_results")
        if r["raceId"] in races and r["driverId"] == VER
    }
    slug_to_id = {r["round"]: r["raceId"] for r in _csv("races") if r["year"] == "2025"}
    for row in form["per_race"]:
        assert row["sprint_points"] == sprint_by_race.get(slug_to_id[str(row["round"])], 0)
        assert row["points"] == pytest.approx(row["race_points"] + row["sprint_points"])


def test_mercedes_2021_against_the_csv():
    races = _race_ids(2021)
    data = team_analytics_get(team=Team.objects.get(ref="mercedes"), season=2021)
    json.dumps(data)
    statuses = {s["statusId"]: s["status"] for s in _csv("status")}
    non_starts = {"Did not qualify", "Did not prequalify", "107% Rule", "Withdrew", "Excluded"}
    rows = [r for r in _csv("results") if r["raceId"] in races and r["constructorId"] == MERCEDES]
    # a car that never took the start: a non-start status, or the sheet's W (did not start) / F
    starts = [
        r for r in rows if statuses[r["statusId"]] not in non_starts and r["positionText"] not in ("W", "F")
    ]
    mechanical = [r for r in starts if statuses[r["statusId"]] in MECHANICAL_STATUSES]
    assert data["reliability"]["starts"] == len(starts) == 44
    assert data["reliability"]["mechanical_dnfs"] == len(mechanical)

    drove = {(r["raceId"], r["driverId"]) for r in rows}
    stops = [
        int(p["milliseconds"])
        for p in _csv("pit_stops")
        if (p["raceId"], p["driverId"]) in drove and int(p["milliseconds"]) < 60000
    ]
    assert data["pit_stops"]["stops"] == len(stops)
    assert data["pit_stops"]["median_ms"] == pytest.approx(statistics.median(stops), abs=0.5)

    last = max(races, key=int)
    final = next(
        s for s in _csv("constructor_standings") if s["raceId"] == last and s["constructorId"] == MERCEDES
    )
    assert data["championship"]["final_position"] == int(final["position"])
    ranking = data["qualifying_pace_ranking"]
    assert [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
    assert data["qualifying_pace"]["team"] == "mercedes"


@pytest.mark.parametrize(
    ("team", "season", "starts", "reasons"),
    [
        # 2022 Bahrain: Pérez (classified 18th) and Verstappen (19th) both stopped with fuel pressure
        ("red_bull", 2022, 44, {"Fuel leak": 1, "Fuel pressure": 2, "Gearbox": 1}),
        # 2025 Zandvoort: Norris out with an oil leak, classified 18th
        ("mclaren", 2025, 48, {"Oil leak": 1}),
    ],
)
def test_a_classified_car_that_retired_mechanically_is_a_mechanical_retirement(team, season, starts, reasons):
    """Review defect 1: the reliability card counted only unclassified cars, so a car that stopped in
    the last laps and was still classified ("2 of 44 starts" for Red Bull 2022; the right figure is
    4) was dropped. The status decides: every started car of the team whose status is mechanical."""
    team_id = next(c["constructorId"] for c in _csv("constructors") if c["constructorRef"] == team)
    statuses = {s["statusId"]: s["status"] for s in _csv("status")}
    rows = [r for r in _csv("results") if r["raceId"] in _race_ids(season) and r["constructorId"] == team_id]
    mechanical = [r for r in rows if statuses[r["statusId"]] in MECHANICAL_STATUSES]
    assert any(r["position"] != "\\N" for r in mechanical)  # classified, yet retired
    out = team_analytics_get(team=Team.objects.get(ref=team), season=season)["reliability"]
    assert (out["starts"], out["mechanical_dnfs"], out["reasons"]) == (starts, len(mechanical), reasons)
    assert out["mechanical_dnf_rate"] == round(len(mechanical) / starts, 3)
    # the API serves the same figure (it returns team_analytics_get as it is)
    from rest_framework.test import APIClient

    api = APIClient().get(f"/api/v1/analytics/team/{team}?season={season}").json()
    assert api["analytics"]["reliability"] == out


def test_a_shared_car_is_one_car_in_the_reliability_figures():
    """Maserati 1955: cars driven in turn by two or three drivers (one classification, a result row
    per driver, all with the car's status). The card reads "N of M starts": a car takes the start
    once and retires once, so each counts once — at the Argentine GP two cars out with engine and
    fuel-pressure failures were six rows, and counted six."""
    maserati = next(c["constructorId"] for c in _csv("constructors") if c["constructorRef"] == "maserati")
    statuses = {s["statusId"]: s["status"] for s in _csv("status")}
    rows = [r for r in _csv("results") if r["raceId"] in _race_ids(1955) and r["constructorId"] == maserati]
    cars = {(r["raceId"], r["positionOrder"]): r for r in rows}  # a shared car's rows share its slot
    assert len(cars) < len(rows)
    started_cars = [
        r
        for r in cars.values()
        if statuses[r["statusId"]] not in NON_STARTS and r["positionText"] not in ("W", "F")
    ]
    mechanical = [r for r in started_cars if statuses[r["statusId"]] in MECHANICAL_STATUSES]
    out = team_analytics_get(team=Team.objects.get(ref="maserati"), season=1955)["reliability"]
    assert (out["entries"], out["starts"], out["mechanical_dnfs"]) == (
        len(cars),
        len(started_cars),
        len(mechanical),
    )


def test_a_car_that_did_not_start_is_no_start():
    """Leclerc's 2021: on pole at Monaco, out before the start (results.csv: positionText "W", status
    "Driveshaft"). Entered in 22 Grands Prix, started 21 — as the result sheets count them; a
    non-start whose status names the reason (not "Withdrew") used to count as a start."""
    leclerc = next(d["driverId"] for d in _csv("drivers") if d["driverRef"] == "leclerc")
    rows = [r for r in _csv("results") if r["raceId"] in _race_ids(2021) and r["driverId"] == leclerc]
    dns = [r for r in rows if r["positionText"] == "W"]
    assert (len(rows), len(dns)) == (22, 1)
    form = driver_analytics_get(driver=Driver.objects.get(ref="leclerc"), season=2021)["form"]
    assert (form["races"], form["starts"], form["non_starts"]) == (22, 21, 1)
    monaco = next(
        c for c in driver_analytics_get(driver=Driver.objects.get(ref="leclerc"), season=2021)["circuits"]
        if c["circuit"] == "monaco"
    )  # fmt: skip
    assert monaco["starts"] == monaco["races"] - 1  # 2021 is his only non-start there


def test_circuit_history_counts_races_not_result_rows():
    """Review defect 5: Fangio's circuit history added up to 58 starts, but he started 51 races —
    in 7 he also drove a team-mate's car (two result rows). Monaco read 5 (1950, 1955, 1956 twice,
    1957: 4 races), Monza 9 (7)."""
    fangio = next(d["driverId"] for d in _csv("drivers") if d["driverRef"] == "fangio")
    circuit_of = {r["raceId"]: r["circuitId"] for r in _csv("races")}
    refs = {c["circuitId"]: c["circuitRef"] for c in _csv("circuits")}
    rows = [r for r in _csv("results") if r["driverId"] == fangio]
    races = {r["raceId"] for r in rows}
    assert (len(rows), len(races)) == (58, 51)
    per_circuit: dict[str, set[str]] = {}
    for race in races:
        per_circuit.setdefault(refs[circuit_of[race]], set()).add(race)
    circuits = driver_analytics_get(driver=Driver.objects.get(ref="fangio"))["circuits"]
    assert sum(c["starts"] for c in circuits) == sum(c["races"] for c in circuits) == 51
    assert {c["circuit"]: c["races"] for c in circuits} == {k: len(v) for k, v in per_circuit.items()}
    by_ref = {c["circuit"]: c for c in circuits}
    assert (by_ref["monaco"]["starts"], by_ref["monza"]["starts"]) == (4, 7)
    # wins stay per row, as the records count a shared car's win for each of its drivers
    assert sum(c["wins"] for c in circuits) == 24


def test_driver_without_results_is_not_an_error():
    driver = Driver.objects.create(ref="test_rookie", given_name="Test", family_name="Rookie")
    data = driver_analytics_get(driver=driver)
    assert data["available"] is False and data["season"] is None


@pytest.mark.parametrize("season", [2030, 1950])  # no races at all / races, but not this team's or driver's
def test_a_season_without_the_entitys_races_is_unavailable_not_an_error(season):
    """QA: /api/v1/analytics/team/ferrari?season=2030 answered 500 (KeyError 'grid' on an empty frame)."""
    team = team_analytics_get(team=Team.objects.get(ref="red_bull"), season=season)
    driver = driver_analytics_get(driver=Driver.objects.get(ref="max_verstappen"), season=season)
    assert team["available"] is False and team["season"] == season
    assert driver["available"] is False and driver["season"] == season
    # the API answers 200 with the same flag, not a 500
    from rest_framework.test import APIClient

    response = APIClient().get(f"/api/v1/analytics/team/red_bull?season={season}")
    assert response.status_code == 200 and response.json()["analytics"]["available"] is False


def test_an_excluded_entry_has_no_championship_position():
    """QA: Schumacher 1997 showed "final_position: 26" and his chart plotted R17 at 26: the stored
    position of an entry excluded from the championship (driver_standings.csv positionText "D";
    constructors "E", McLaren 2007) is a sort order, not a place."""
    schumacher = next(d["driverId"] for d in _csv("drivers") if d["driverRef"] == "michael_schumacher")
    last = max((r for r in _csv("races") if r["year"] == "1997"), key=lambda r: int(r["round"]))
    row = next(
        s for s in _csv("driver_standings") if s["raceId"] == last["raceId"] and s["driverId"] == schumacher
    )
    assert (row["position"], row["positionText"]) == ("26", "D")
    trend = driver_analytics_get(driver=Driver.objects.get(ref="michael_schumacher"), season=1997)[
        "championship"
    ]
    assert trend["final_position"] is None and trend["excluded"] is True
    assert trend["per_round"][-1] == {"round": 17, "position": None, "points": 78, "excluded": True}
    assert trend["best_position"] == 1  # he led it during the season
    mclaren = team_analytics_get(team=Team.objects.get(ref="mclaren"), season=2007)["championship"]
    assert mclaren["excluded"] is True and mclaren["final_position"] is None
    ferrari = team_analytics_get(team=Team.objects.get(ref="ferrari"), season=2007)["championship"]
    assert ferrari["excluded"] is False and ferrari["final_position"] == 1
