"""What-if: the grid must be the race's field, and every qualifying-derived feature follows it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ingestion.models import QualifyingResult, Race, RaceResult
from predictions.services import prediction_what_if
from predictions.services.predicting import (
    PredictionInputError,
    prediction_what_if_features,
    what_if_qualifying,
)

pytestmark = pytest.mark.django_db


def _best(q):
    return min(t for t in (q.q1_ms, q.q2_ms, q.q3_ms) if t is not None)


def test_reversed_grid_moves_every_qualifying_feature(ergast_data):
    """2026 Spanish GP (round 7), real qualifying reversed: Alonso (real P22) on pole takes the real
    pole lap's numbers, Russell (real pole) from 22nd takes the real P22's."""
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    real = list(QualifyingResult.objects.filter(race=race).select_related("driver").order_by("position"))
    grid = [q.driver.ref for q in reversed(real)]
    assert (grid[0], grid[-1]) == ("alonso", "russell")
    rows = prediction_what_if_features(race=race, grid=grid).set_index("driver_id")
    pole = min(_best(q) for q in real)
    slot_of = {ref: i for i, ref in enumerate(grid, start=1)}
    real_in_q3 = sum(q.q3_ms is not None for q in real)
    for q in real:  # q.driver starts from slot_of[ref]; that slot's real qualifier set real[slot-1]
        slot = slot_of[q.driver.ref]
        row = rows.loc[q.driver_id]
        assert (row["grid"], row["quali_position"], row["grid_penalty"]) == (slot, slot, 0), q.driver.ref
        assert row["quali_gap_to_pole_pct"] == pytest.approx(
            min((_best(real[slot - 1]) / pole - 1) * 100, 10)
        )
        assert row["quali_reached_q3"] == (1.0 if slot <= real_in_q3 else 0.0)
    alonso, russell = rows.loc[real[-1].driver_id], rows.loc[real[0].driver_id]
    assert alonso["quali_position"] == 1 and alonso["quali_gap_to_pole_pct"] == 0
    assert russell["quali_position"] == 22 and russell["quali_reached_q3"] == 0
    # team-mates: Alonso (slot 1, Russell's lap) vs Stroll (slot 2, Hamilton's lap)
    assert alonso["quali_gap_teammate_pct"] == pytest.approx((_best(real[0]) / _best(real[1]) - 1) * 100)


def test_what_if_qualifying_pure():
    q = pd.DataFrame(
        {
            "race_id": [1, 1, 2],
            "driver_id": [10, 11, 10],
            "team_id": [5, 6, 5],
            "position": [1, 2, 1],
            "q1_ms": [90000.0, 90500.0, 80000.0],
            "q2_ms": [np.nan] * 3,
            "q3_ms": [np.nan] * 3,
        }
    )
    out = what_if_qualifying(qualifying=q, race_id=1, order=[(11, 6), (10, 5), (12, 7)])
    race = out[out["race_id"] == 1].set_index("driver_id")
    assert race["position"].to_dict() == {11: 1, 10: 2, 12: 3}
    assert race.loc[11, "q1_ms"] == 90000 and race.loc[10, "q1_ms"] == 90500
    assert math.isnan(race.loc[12, "q1_ms"])  # a slot beyond the real classification: no time
    assert out[out["race_id"] == 2]["q1_ms"].tolist() == [80000.0]  # other races untouched


def test_grid_must_be_the_races_field(ergast_data):
    """A partial grid and retired drivers are refused with the offenders listed (no model needed:
    the grid is checked first)."""
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    field = set(RaceResult.objects.filter(race=race).values_list("driver__ref", flat=True))
    with pytest.raises(PredictionInputError, match="missing from the grid") as partial:
        prediction_what_if(race=race, grid=["stroll"])
    assert set(partial.value.details["missing"]) == field - {"stroll"}
    assert partial.value.details["not_entered"] == []
    upcoming = Race.objects.get(slug="2026_austria")  # no entry information yet: 2026 round 7's field
    grid = [*sorted(field - {"alonso", "stroll"}), "senna", "prost"]
    with pytest.raises(PredictionInputError, match="not entered in this race: senna, prost") as retired:
        prediction_what_if(race=upcoming, grid=grid)
    assert retired.value.details["not_entered"] == ["senna", "prost"]
    assert retired.value.details["missing"] == ["alonso", "stroll"]
    fangio = Race.objects.get(season_id=1996, round=1)
    with pytest.raises(PredictionInputError, match="not entered in this race: fangio"):
        prediction_what_if(race=fangio, grid=["fangio"])


def test_every_problem_with_a_grid_is_reported_at_once(ergast_data):
    """A retired driver, a duplicate and an unknown ref on one grid: all listed in one error (the
    duplicate used to hide the others), with the entrants left out."""
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    field = sorted(RaceResult.objects.filter(race=race).values_list("driver__ref", flat=True))
    assert "norris" in field
    grid = [*(ref for ref in field if ref not in {"alonso", "stroll"}), "senna", "norris", "no_such_driver"]
    with pytest.raises(PredictionInputError) as exc:
        prediction_what_if(race=race, grid=grid)
    assert exc.value.details == {
        "unknown": ["no_such_driver"],
        "duplicates": ["norris"],
        "not_entered": ["senna"],
        "missing": ["alonso", "stroll"],
        "entrants_from": exc.value.details["entrants_from"],
    }
    message = str(exc.value)
    for part in (
        "unknown driver refs: no_such_driver",
        "more than once on the grid: norris",
        "not entered in this race: senna",
        "missing from the grid: alonso, stroll",
    ):
        assert part in message


def test_reversed_grid_prediction_explains_with_the_chosen_slots(active_model):
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    grid = list(
        QualifyingResult.objects.filter(race=race).order_by("-position").values_list("driver__ref", flat=True)
    )
    out = prediction_what_if(race=race, grid=grid)
    assert len(out) == 22 and [r["predicted_position"] for r in out] == list(range(1, 23))
    for r in out:
        assert r["grid"] == grid.index(r["driver"]) + 1
        for e in r["explanation"]:
            if e["feature"] in ("grid", "quali_position"):
                assert e["value"] == r["grid"], (r["driver"], e)
    russell = next(r for r in out if r["driver"] == "russell")
    assert russell["grid"] == 22 and russell["predicted_position"] > 3
    assert 0.0 < sum(r["points_probability"] for r in out) <= 10.0 + 1e-6
