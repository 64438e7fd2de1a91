"""A renumbered calendar clears the `{season}_{round}` cache keys of the rounds races left — also
a round nobody holds any more — not only the season-wide cache (edited mirror of
test_sync_calendar: 2019 gains an Imola round 6 upstream, later rounds +1; then loses it)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from f1site import cache as f1cache
from ingestion.services.jolpica_sync import jolpica_sync
from tests.ingestion.helpers import fast_client

pytestmark = pytest.mark.django_db


def _round_keys(round_id: str) -> list[str]:
    season = int(round_id.split("_")[0])
    return [f1cache.race_key(season, round_id), f1cache.predictions_key(round_id), f"f1:accuracy:{round_id}"]


def test_cache_invalidate_races_clears_vacated_round_ids(ergast_data):
    keys = _round_keys("2019_22")
    for key in keys:
        cache.set(key, {"stale": True})
    cleared = f1cache.cache_invalidate_races(race_ids=[], vacated_round_ids=["2019_22"])
    assert all(cache.get(key) is None for key in keys)
    assert set(keys) <= set(cleared["keys"]) and "races:2019" in cleared["families"]


def test_renumbering_sync_clears_the_round_keys_races_left(
    mirror,
    edited_mirror,
    ergast_data,
):
    cache.clear()
    for key in _round_keys("2019_21"):  # round 21 was Abu Dhabi; it becomes round 22
        cache.set(key, {"stale": True})
    added = jolpica_sync(seasons=[2019], client=fast_client(base_url=edited_mirror.ergast))
    assert added.status == "succeeded", added.errors
    assert all(cache.get(key) is None for key in _round_keys("2019_21"))

    for key in _round_keys("2019_22"):  # after Imola leaves again nobody holds round 22
        cache.set(key, {"stale": True})
    removed = jolpica_sync(seasons=[2019], client=fast_client(base_url=mirror.ergast))
    assert removed.calendar or removed.errors
    assert all(cache.get(key) is None for key in _round_keys("2019_22"))
