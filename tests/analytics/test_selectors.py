"""analytics.selectors on the real dump, checked against the CSVs."""

from __future__ import annotations

import csv
from functools import cache as memoize

import pytest
from django.core.cache import cache

from analytics.selectors import driver_get, points_progression_get, team_get
from f1site.errors import NotFound
from tests.conftest import ERGAST_DUMP_DIR

pytestmark = pytest.mark.django_db


@memoize
def _csv(name: str) -> list[dict]:
    with open(ERGAST_DUMP_DIR / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _final_standings(year: int) -> list[dict]:
    last = max((r for r in _csv("races") if r["year"] == str(year)), key=lambda r: int(r["round"]))
    return [s for s in _csv("driver_standings") if s["raceId"] == last["raceId"]]


def test_points_progression_keeps_an_excluded_driver_among_the_leaders():
    """Review defect 4: the 1997 chart had no Michael Schumacher — excluded from the championship
    (driver_standings.csv: positionText "D", position 26), he led 78–77 before the last round. The
    leaders are the most points after the last round; his series is flagged `excluded`."""
    names = {d["driverId"]: d["surname"] for d in _csv("drivers")}
    final = sorted(_final_standings(1997), key=lambda s: (-float(s["points"]), int(s["position"])))
    schumacher = next(s for s in final if s["positionText"] == "D")
    assert (names[schumacher["driverId"]], schumacher["position"], schumacher["points"]) == (
        "Schumacher",
        "26",
        "78",
    )
    data = points_progression_get(season=1997)
    assert [s["label"] for s in data["series"]] == [names[s["driverId"]] for s in final[:6]]
    series = {s["ref"]: s for s in data["series"]}
    assert series["michael_schumacher"]["excluded"] is True
    assert series["michael_schumacher"]["points"][-2:] == [78, 78]  # led 78-77 before Jerez
    assert series["villeneuve"]["points"][-2] == 77
    assert [s["excluded"] for s in data["series"]].count(True) == 1


def test_points_progression_labels_are_family_names_told_apart_by_initial():
    """Review defect 4: labels mixed codes and family names ("VIL", "Frentzen", "COU"): a code
    exists only for some drivers. Family names always; two series with one get the initial."""
    labels = [s["label"] for s in points_progression_get(season=1997)["series"]]
    assert "Villeneuve" in labels and "Frentzen" in labels and "Coulthard" in labels
    assert all(len(label) > 3 for label in labels)  # no three-letter code
    labels_2001 = [s["label"] for s in points_progression_get(season=2001)["series"]]
    assert {"M. Schumacher", "R. Schumacher"} <= set(labels_2001)
    assert "Schumacher" not in labels_2001


def test_points_progression_leaders_are_the_final_standings_top_in_a_season_without_exclusion():
    names = {d["driverId"]: d["driverRef"] for d in _csv("drivers")}
    final = sorted(_final_standings(2021), key=lambda s: int(s["position"]))
    data = points_progression_get(season=2021)
    assert [s["ref"] for s in data["series"]] == [names[s["driverId"]] for s in final[:6]]
    assert not any(s["excluded"] for s in data["series"])


def test_driver_and_team_get_take_another_case_only_when_asked():
    """The pages look a ref up in any case (and redirect to the stored spelling); the API keys its
    answers and their invalidation by the stored ref, so by default the ref is exact."""
    assert driver_get(ref="Hamilton", any_case=True).ref == "hamilton"
    assert driver_get(ref="CANNOC", any_case=True).ref == "Cannoc"
    assert team_get(ref="McLaren", any_case=True).ref == "mclaren"
    with pytest.raises(NotFound):
        driver_get(ref="Hamilton")
    with pytest.raises(NotFound):
        team_get(ref="McLaren")
    with pytest.raises(NotFound):
        driver_get(ref="hamilton\u212a", any_case=True)  # no Unicode folding (the Kelvin sign)
