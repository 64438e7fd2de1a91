"""The what-if's cached base: the same rows as a full build for every grid, and never stale."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from ingestion.models import Driver, PracticeResult, QualifyingResult, Race, RaceResult
from predictions.services import what_if as what_if_cache
from predictions.services.predicting import (
    _what_if_rows,
    _what_if_rows_built,
    _what_if_targets,
    race_entries,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_process_cache():
    what_if_cache.what_if_local_clear()
    yield
    what_if_cache.what_if_local_clear()


def _field(race: Race) -> list[str]:
    entries, _ = race_entries(race=race)
    by_id = dict(Driver.objects.filter(id__in=entries["driver_id"].tolist()).values_list("id", "ref"))
    return [by_id[int(d)] for d in entries["driver_id"]]


def _grids(race: Race) -> list[list[str]]:
    field = sorted(_field(race))
    shuffled = field[:]
    random.Random(7).shuffle(shuffled)
    return [field, field[::-1], shuffled]


def _assert_same_as_full_build(race: Race, grid: list[str]) -> pd.DataFrame:
    targets, _ = _what_if_targets(race, grid)
    cached = _what_if_rows(race, targets)
    built, _ = _what_if_rows_built(race, targets)
    pd.testing.assert_frame_equal(cached, built, check_exact=True)
    return cached


@pytest.mark.parametrize(
    "slug",
    [
        "2026_qatar",  # not run: the entry list of the latest race, no qualifying
        "2026_barcelona_catalunya",  # 2026, run: its own qualifying times move with the grid
        "2025_bahrain",  # a past season
        "2005_monaco",  # qualifying before Q1/Q2/Q3 (one session)
    ],
)
def test_cached_rows_equal_a_full_build_for_every_grid(ergast_data, slug):
    race = Race.objects.get(slug=slug)
    for grid in _grids(race):  # the first builds the base, the others reuse it
        _assert_same_as_full_build(race, grid)
    what_if_cache.what_if_local_clear()  # another worker: the base from the Django cache
    _assert_same_as_full_build(race, _grids(race)[2])


def test_the_base_is_built_once_per_data_state(ergast_data, monkeypatch):
    race = Race.objects.get(slug="2026_qatar")
    calls = []
    real_build = what_if_cache.what_if_base_get

    def counting(*, race_id, entries, build, clock=None):
        return real_build(
            race_id=race_id, entries=entries, build=lambda: calls.append(1) or build(), clock=clock
        )

    monkeypatch.setattr("predictions.services.predicting.what_if_base_get", counting)
    for grid in _grids(race):
        targets, _ = _what_if_targets(race, grid)
        _what_if_rows(race, targets)
    assert len(calls) <= 1  # 0 when an earlier test left this data state's base in the cache
    stamp = what_if_cache.what_if_inputs_stamp()
    assert stamp is not None and stamp == what_if_cache.what_if_inputs_stamp()


def test_a_new_practice_result_is_reflected(ergast_data):
    """An upcoming race gets its FP1 in: the field and the practice features come from it."""
    race = Race.objects.get(slug="2026_qatar")
    before = _assert_same_as_full_build(race, _field(race))
    previous = Race.objects.filter(results__isnull=False, date__lt=race.date).order_by("-date").first()
    for i, r in enumerate(RaceResult.objects.filter(race=previous, shared_car_index=0).order_by("driver_id")):
        PracticeResult.objects.create(
            race=race, session="FP1", driver_id=r.driver_id, team_id=r.team_id, position=i + 1,
            milliseconds=80_000 + 97 * i, laps=20 + i,
        )  # fmt: skip
    after = _assert_same_as_full_build(race, _field(race))
    assert before["practice_missing"].eq(1.0).all()
    assert after["practice_missing"].eq(0.0).all()
    assert after["practice_laps"].sort_values().tolist() == [20.0 + i for i in range(len(after))]


def test_a_corrected_qualifying_time_is_reflected(ergast_data):
    """The pole time of a race run (its grid slot 1's numbers) is corrected: no stale gaps."""
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    grid = _grids(race)[2]
    before = _assert_same_as_full_build(race, grid)
    pole = QualifyingResult.objects.get(race=race, position=1)
    QualifyingResult.objects.filter(pk=pole.pk).update(q3_ms=pole.q3_ms - 1500)  # no signal: .update()
    after = _assert_same_as_full_build(race, grid)
    assert not before["quali_gap_to_pole_pct"].equals(after["quali_gap_to_pole_pct"])


def test_a_new_qualifying_result_is_reflected(ergast_data):
    """An upcoming race's qualifying comes in: its times follow the grid from then on."""
    race = Race.objects.get(slug="2026_qatar")
    before = _assert_same_as_full_build(race, _field(race))
    assert before["quali_gap_to_pole_pct"].isna().all()
    entries, _ = race_entries(race=race)
    for i, e in enumerate(entries.sort_values("driver_id").itertuples(), start=1):
        QualifyingResult.objects.create(
            race=race, driver_id=e.driver_id, team_id=e.team_id, position=i, q1_ms=85_000 + 50 * i
        )
    after = _assert_same_as_full_build(race, _field(race))
    assert after["quali_gap_to_pole_pct"].notna().all()


def test_a_changed_history_result_is_reflected(ergast_data):
    """A result of an earlier race is corrected (raw SQL-like update, no signal): the form
    features of the race's what-if move."""
    race = Race.objects.get(slug="2026_qatar")
    grid = _field(race)
    before = _assert_same_as_full_build(race, grid)
    previous = Race.objects.filter(results__isnull=False, date__lt=race.date).order_by("-date").first()
    winner = RaceResult.objects.get(race=previous, position_order=1)
    last = RaceResult.objects.filter(race=previous).order_by("-position_order").first()
    RaceResult.objects.filter(pk=winner.pk).update(position_order=last.position_order)
    RaceResult.objects.filter(pk=last.pk).update(position_order=1)
    after = _assert_same_as_full_build(race, grid)
    assert not before["driver_prev_finish"].equals(after["driver_prev_finish"])


# --- bounded builds ----------------------------------------------------------------------------
def test_build_slots_are_bounded_site_wide(settings):
    settings.WHAT_IF_MAX_BUILDS = 2
    with what_if_cache.what_if_build_slot(), what_if_cache.what_if_build_slot():
        with pytest.raises(what_if_cache.WhatIfBusy) as busy, what_if_cache.what_if_build_slot():
            pass
        assert busy.value.retry_after >= 1 and "try again in" in str(busy.value)
    with what_if_cache.what_if_build_slot():  # released on exit
        pass


def test_a_slot_left_by_a_killed_worker_expires():
    client = what_if_cache._redis()
    if client is None:
        pytest.skip("needs Redis")
    key = what_if_cache.cache.make_key(what_if_cache._SLOTS_KEY)
    client.zadd(key, {"killed-worker": 1})  # expired long ago, never released
    with what_if_cache.what_if_build_slot():
        assert client.zscore(key, "killed-worker") is None


def test_without_redis_slots_are_per_process(settings, monkeypatch):
    settings.WHAT_IF_MAX_BUILDS = 1

    def down():
        raise ConnectionError("redis down")

    monkeypatch.setattr(what_if_cache, "_redis", down)
    held = what_if_cache.what_if_build_slot()
    with held, pytest.raises(what_if_cache.WhatIfBusy), what_if_cache.what_if_build_slot():
        pass
    with what_if_cache.what_if_build_slot():
        pass


def test_a_cached_base_needs_no_slot(ergast_data, settings):
    """Only a build is bounded: with every slot taken, a grid for a race already built answers."""
    settings.WHAT_IF_MAX_BUILDS = 1
    race = Race.objects.get(slug="2026_qatar")
    grid = _field(race)
    _assert_same_as_full_build(race, grid)
    with what_if_cache.what_if_build_slot():
        targets, _ = _what_if_targets(race, grid[::-1])
        _what_if_rows(race, targets)
        other = Race.objects.get(slug="2025_bahrain")
        targets, _ = _what_if_targets(other, _field(other))
        what_if_cache.what_if_local_clear()
        from django.core.cache import cache

        cache.delete(
            what_if_cache.what_if_base_key(
                race_id=other.id,
                entries=race_entries(race=other)[0],
                stamp=what_if_cache.what_if_inputs_stamp(),
            )
        )
        with pytest.raises(what_if_cache.WhatIfBusy):
            _what_if_rows(other, targets)


# --- as of a clock ---------------------------------------------------------------------------
def _field_at(race: Race, clock) -> list[str]:
    entries, _ = race_entries(race=race, clock=clock)
    by_id = dict(Driver.objects.filter(id__in=entries["driver_id"].tolist()).values_list("id", "ref"))
    return sorted(by_id[int(d)] for d in entries["driver_id"])


def test_at_a_clock_the_base_is_built_from_what_was_known_then_and_cached_per_clock(ergast_data):
    """2026 Barcelona (round 7; FP1 2026-06-12 11:30, qualifying 06-13 14:00, race 06-14 13:00 UTC),
    run now: as of a clock between FP1 and qualifying its what-if has no qualifying times (today's
    has them), as of a clock after qualifying it has; each clock's rows equal a full build at that
    clock, and each clock has its own base entry, never today's."""
    from django.core.cache import cache

    from f1site.clock import clock_from_text

    race = Race.objects.get(slug="2026_barcelona_catalunya")
    today_rows = _assert_same_as_full_build(race, _grids(race)[2])
    assert today_rows["quali_gap_to_pole_pct"].notna().any()
    stamp = what_if_cache.what_if_inputs_stamp()
    keys = set()
    for text, qualified in (("2026-06-12T12:00", False), ("2026-06-13T18:00", True)):
        clock = clock_from_text(text=text)
        grid = _field_at(race, clock)
        random.Random(3).shuffle(grid)
        targets, _ = _what_if_targets(race, grid, clock=clock)
        cached = _what_if_rows(race, targets, clock=clock)
        built, real = _what_if_rows_built(race, targets, clock=clock)
        pd.testing.assert_frame_equal(cached, built, check_exact=True)
        assert cached["quali_gap_to_pole_pct"].notna().any() == qualified, text
        assert real.empty != qualified  # the real qualifying rows only once it had begun
        key = what_if_cache.what_if_base_key(race_id=race.id, entries=targets, stamp=stamp, clock=clock)
        assert f":at:{text}:" in key and cache.get(key) is not None
        keys.add(key)
        today_key = what_if_cache.what_if_base_key(race_id=race.id, entries=targets, stamp=stamp)
        assert today_key != key
    assert len(keys) == 2


def test_at_a_clock_a_race_s_history_ends_at_the_clock(ergast_data):
    """2026 Qatar as of an hour before the 2025 Canadian GP: its field is the entry list of the
    latest race run by then (2025 Spain, round 9) and each driver's previous finish is his Spanish
    GP finish, not one from the 17 rounds run since."""
    from f1site.clock import clock_from_text

    race = Race.objects.get(slug="2026_qatar")
    clock = clock_from_text(text="2025-06-15T17:00")
    _, source = race_entries(race=race, clock=clock)
    spain = Race.objects.get(season_id=2025, round=9)
    assert source == f"entry list of {spain.slug}"
    targets, _ = _what_if_targets(race, _field_at(race, clock), clock=clock)
    rows = _what_if_rows(race, targets, clock=clock).set_index("driver_id")
    finish = dict(
        RaceResult.objects.filter(race=spain, shared_car_index=0).values_list("driver_id", "position_order")
    )
    assert {int(d): int(v) for d, v in rows["driver_prev_finish"].items()} == finish
    today = _what_if_rows(race, _what_if_targets(race, _field(race))[0]).set_index("driver_id")
    assert not today["driver_prev_finish"].equals(rows["driver_prev_finish"].reindex(today.index))
