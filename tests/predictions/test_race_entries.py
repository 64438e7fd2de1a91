"""`race_entries`: a race's entrants come from its own entry information (results, qualifying,
sprint, free practice) before the fallback to the latest race with results."""

from __future__ import annotations

import pytest

from ingestion.models import Driver, QualifyingResult, Race, RaceResult, SprintResult, Team
from predictions.services.predicting import practice_entrants, race_entries
from tests.factories import DriverFactory, PracticeResultFactory, RaceFactory, SeasonFactory, TeamFactory

pytestmark = pytest.mark.django_db


def _pairs(entries):
    return set(zip(entries["driver_id"].tolist(), entries["team_id"].tolist(), strict=True))


def test_a_new_seasons_first_race_takes_its_field_from_practice(ergast_data):
    """A season with no results yet: the practice field, not the latest race's line-up (2026 here is
    the real dump, so the latest race with results is in another season and has other drivers)."""
    race = RaceFactory(season=SeasonFactory(year=2101), round=1)
    team_a, team_b = TeamFactory(), TeamFactory()
    a1, a2, reserve, b1, b2 = DriverFactory.create_batch(5)
    for session, rows in {
        "FP1": [(a1, team_a), (reserve, team_a), (b1, team_b), (b2, team_b)],
        "FP2": [(a1, team_a), (a2, team_a), (b1, team_b), (b2, team_b)],
        "FP3": [(a1, team_a), (a2, team_a)],  # team B did not run in FP3
    }.items():
        for driver, team in rows:
            PracticeResultFactory(race=race, session=session, driver=driver, team=team)
    entries, source = race_entries(race=race)
    assert source == "practice"
    # team A: FP3's pair (the FP1 reserve gave way); team B: its latest session, FP2
    assert _pairs(entries) == {(a1.id, team_a.id), (a2.id, team_a.id), (b1.id, team_b.id), (b2.id, team_b.id)}
    assert entries["grid"].isna().all()


def test_2026_opener_without_results_uses_its_own_practice_field(ergast_data):
    """The real 2026 Australian GP with the season's results, qualifying and sprints removed (this
    test's transaction only): its entrants are the 22 cars that raced there (Hadjar at Red Bull,
    Cadillac's Pérez and Bottas, Lindblad at Racing Bulls, Audi), not the 2025 finale's line-up."""
    race = Race.objects.get(slug="2026_australia")
    raced = set(RaceResult.objects.filter(race=race).values_list("driver_id", "team_id"))
    for model in (RaceResult, QualifyingResult, SprintResult):
        model.objects.filter(race__season_id=2026).delete()
    entries, source = race_entries(race=race)
    assert source == "practice"
    assert _pairs(entries) == raced and len(raced) == 22
    drivers = {d.id: d.ref for d in Driver.objects.filter(id__in=entries["driver_id"].tolist())}
    teams = {t.id: t.ref for t in Team.objects.filter(id__in=entries["team_id"].tolist())}
    refs = {drivers[d]: teams[t] for d, t in _pairs(entries)}
    assert refs["hadjar"] == "red_bull" and refs["lindblad"] == "rb"
    assert refs["perez"] == refs["bottas"] == "cadillac"
    assert "tsunoda" not in refs and "sauber" not in set(refs.values())


def test_practice_entrants_pure():
    # team 10: FP1 reserve 9 gives way to FP2's driver 2; team 20: driver 5 missed FP3 (found in FP2)
    rows = [("FP1", 1, 10), ("FP1", 9, 10), ("FP2", 1, 10), ("FP2", 2, 10)]
    rows += [("FP1", 4, 20), ("FP1", 5, 20), ("FP2", 4, 20), ("FP2", 5, 20), ("FP3", 4, 20)]
    assert sorted(practice_entrants(rows=rows)) == [(1, 10), (2, 10), (4, 20), (5, 20)]
