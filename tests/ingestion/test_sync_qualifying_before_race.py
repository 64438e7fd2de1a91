"""The incremental sync brings a race's qualifying as soon as it has begun, not only from the race's
date on: 2025 Las Vegas qualified on Saturday 04:00 UTC and raced on Sunday 04:00 UTC, so the daily
job's Saturday 06:00 run is the only one between the two. Against a mirror serving the data as
upstream stood that Saturday (tests/ingestion/helpers.py: race_weekend_data)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.models import QualifyingResult, RaceResult
from ingestion.services.jolpica_sync import jolpica_sync
from tests.conftest import start_mirror
from tests.ingestion.helpers import fast_client, race_weekend_data, race_weekend_state

pytestmark = pytest.mark.django_db

SATURDAY_MORNING = datetime(2025, 11, 22, 6, 0, tzinfo=UTC)  # qualifying 04:00, the race Sunday 04:00


@pytest.fixture(scope="module")
def vegas_saturday_mirror(tmp_path_factory):
    mirror = start_mirror(race_weekend_data(tmp_path_factory.mktemp("vegas"), season=2025, round_=22))
    yield mirror
    mirror.server.shutdown()


def test_the_incremental_sync_fetches_a_qualifying_held_before_its_races_date(
    ergast_data, vegas_saturday_mirror, time_machine
):
    vegas = race_weekend_state(season=2025, round_=22, qualifying=False)
    assert vegas.date.isoformat() == "2025-11-23" and vegas.qualifying_start < SATURDAY_MORNING
    time_machine.move_to(SATURDAY_MORNING, tick=True)
    vegas_saturday_mirror.reset_requests()

    summary = jolpica_sync(
        seasons=[2025], incremental=True, client=fast_client(base_url=vegas_saturday_mirror.ergast)
    )

    assert summary.errors == []
    assert QualifyingResult.objects.filter(race=vegas).count() == 20
    assert not RaceResult.objects.filter(race=vegas).exists()
    assert vegas.slug in summary.changed_race_ids
    # Politely: two requests for the round (its results, still empty, and its qualifying) beside the
    # calendar and the latest round with results (São Paulo's six); nothing of the later rounds.
    paths = vegas_saturday_mirror.requests()["paths"]
    assert {p for p in paths if p.startswith("/ergast/f1/2025/22/")} == {
        "/ergast/f1/2025/22/results.json",
        "/ergast/f1/2025/22/qualifying.json",
    }
    assert not any(p.startswith(("/ergast/f1/2025/23/", "/ergast/f1/2025/24/")) for p in paths), paths
    assert summary.requests_made == sum(paths.values()) == 1 + 6 + 2
