"""The dump loader matches races by identity, as the Jolpica sync does (race_calendar), not by
(season, round): a dump that numbers a season differently (a race added or removed) writes each
race's rows onto that race, and the `{season}_{round}` cache keys of rounds that moved are cleared.

An edited copy of the shared dump (never the shared data itself): 2019 with an "Emilia Romagna
Grand Prix" (Imola, results copied from Monaco) inserted as round 6, later rounds +1.
"""

from __future__ import annotations

import shutil

import pytest
from django.core.cache import cache

from f1site import cache as f1cache
from ingestion.models import Race, RaceResult, SyncRun
from ingestion.services.ergast_dump import ergast_dump_load
from ingestion.services.race_calendar import PARKED_FROM
from ingestion.signals import races_changed
from tests.ingestion.helpers import IMOLA_RACE_ID, csv_read, csv_write, race_insert

pytestmark = pytest.mark.django_db
SEASON = range(2019, 2020)


@pytest.fixture
def dump_2019_with_imola(ergast_data, tmp_path):
    d = tmp_path / "ergast"
    shutil.copytree(ergast_data, d)
    for path in d.iterdir():
        path.chmod(0o644)
    fields, races = csv_read(d / "races.csv")
    monaco = next(r["raceId"] for r in races if r["year"] == "2019" and r["name"] == "Monaco Grand Prix")
    race_insert(
        races,
        year="2019",
        at=6,
        race_id=IMOLA_RACE_ID,
        circuit="21",
        name="Emilia Romagna Grand Prix",
        date="2019-05-19",
    )
    csv_write(d / "races.csv", fields, races)
    fields, results = csv_read(d / "results.csv")
    next_id = max(int(r["resultId"]) for r in results) + 1
    imola = [
        {**r, "resultId": str(next_id + i), "raceId": IMOLA_RACE_ID}
        for i, r in enumerate(r for r in results if r["raceId"] == monaco)
    ]
    csv_write(d / "results.csv", fields, results + imola)
    return d


def _season() -> dict[str, tuple[int, int, int]]:
    """slug -> (pk, round, results) of the 2019 races."""
    return {
        slug: (pk, rnd, RaceResult.objects.filter(race_id=pk).count())
        for pk, slug, rnd in Race.objects.filter(season_id=2019).values_list("pk", "slug", "round")
    }


@pytest.fixture
def sent():
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    races_changed.connect(receiver, dispatch_uid="test-dump-calendar")
    yield calls
    races_changed.disconnect(dispatch_uid="test-dump-calendar")


def test_a_renumbered_dump_keeps_every_race_and_its_rows(dump_2019_with_imola, ergast_data, sent):
    before = _season()
    monaco = next(slug for slug in before if "monaco" in slug)
    cache.set(f1cache.race_key(2019, "2019_21"), {"stale": True})  # served the last round before

    report = ergast_dump_load(directory=dump_2019_with_imola, seasons=SEASON)

    after = _season()
    imola = next(slug for slug in after if slug not in before)
    assert after[imola][1:] == (6, after[monaco][2])  # the new race at round 6, with its results
    for slug, (pk, rnd, results) in before.items():  # every stored race: same pk, id and rows
        assert after[slug] == (pk, rnd + (rnd >= 6), results), slug
    assert any("round 6 -> 7" in w for w in report.warnings), report.warnings
    assert report.status == "succeeded"
    assert set(sent[-1]["vacated_round_ids"]) == {f"2019_{r}" for r in range(6, 22)}
    assert cache.get(f1cache.race_key(2019, "2019_21")) is None

    # the real dump again: Imola is gone from it but has results -> kept, flagged, parked;
    # every other race back at its round, still with its own rows
    cache.set(f1cache.race_key(2019, "2019_22"), {"stale": True})  # a round nobody holds after
    report = ergast_dump_load(directory=ergast_data, seasons=SEASON)
    final = _season()
    assert {slug: v for slug, v in final.items() if slug != imola} == before
    parked = Race.objects.get(slug=imola)
    assert parked.round >= PARKED_FROM and parked.removed_upstream_at is not None
    assert final[imola][2] == before[monaco][2]
    assert any(imola in w and "flagged" in w for w in report.warnings), report.warnings
    assert "2019_22" in sent[-1]["vacated_round_ids"]
    assert cache.get(f1cache.race_key(2019, "2019_22")) is None
    run = SyncRun.objects.get(pk=report.sync_run_id)
    assert any(imola in e["message"] for e in run.errors)

    # and a third load of the same dump changes nothing
    again = ergast_dump_load(directory=ergast_data, seasons=SEASON)
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert _season() == final
