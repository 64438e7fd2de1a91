"""Feature registry, leakage, missing data and hand-checked values on the real Ergast dump."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictions.features.compute import build_features
from predictions.features.registry import FEATURES, feature_catalogue_markdown, feature_names
from tests.conftest import ERGAST_DUMP_DIR

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _csv(name):
    with open(ERGAST_DUMP_DIR / name, newline="") as fh:
        return list(csv.DictReader(fh))


def test_registry_has_forty_plus_unique_documented_features():
    names = [f.name for f in FEATURES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert all(f.description and f.source and f.group for f in FEATURES)
    groups = {f.group for f in FEATURES}
    assert {"driver", "team", "circuit", "qualifying", "practice", "weather", "interaction"} <= groups
    # qualifying-derived features must not leak into the pre-qualifying stage
    pre = set(feature_names("pre"))
    assert not pre & {"grid", "quali_position", "quali_gap_to_pole_pct", "grid_x_overtaking"}
    assert len(pre) >= 40


def test_docs_catalogue_is_generated_from_the_registry():
    assert (ROOT / "docs" / "features.md").read_text() == feature_catalogue_markdown()


def test_every_registry_feature_is_computed(real_features):
    assert set(feature_names("post")) <= set(real_features.columns)


def _race_id(frames, season, rnd):
    r = frames.races
    return int(r.loc[(r["season"] == season) & (r["round"] == rnd), "race_id"].iloc[0])


def test_changing_a_races_own_result_and_later_races_does_not_change_its_features(real_frames):
    """Leakage: scramble the result of 2024 round 10 and everything after it; its features (both
    stages) must be identical."""
    target = _race_id(real_frames, 2024, 10)
    races = real_frames.races.set_index("race_id")
    later = set(races.index[races["date"] >= races.loc[target, "date"]])
    rng = np.random.default_rng(1)
    res = real_frames.results.copy()
    m = res["race_id"].isin(later)
    res.loc[m, "position_order"] = rng.permutation(res.loc[m, "position_order"].to_numpy())
    res.loc[m, "points"] = rng.permutation(res.loc[m, "points"].to_numpy())
    res.loc[m, "finished"] = rng.permutation(res.loc[m, "finished"].to_numpy())
    res.loc[m, "car_failure"] = rng.permutation(res.loc[m, "car_failure"].to_numpy())
    pits = real_frames.pit_stops.copy()
    pits.loc[pits["race_id"].isin(later), "milliseconds"] = 1
    spr = real_frames.sprints.copy()
    spr.loc[spr["race_id"].isin(later), "points"] = 99
    # the weekend's own sprint is run before the Grand Prix (a post-qualifying input); later ones are not
    after = set(races.index[races["date"] > races.loc[target, "date"]])
    spr.loc[spr["race_id"].isin(after), "position_order"] = 1
    changed = replace(real_frames, results=res, pit_stops=pits, sprints=spr)

    cols = feature_names("post")
    a = build_features(real_frames)
    b = build_features(changed)
    fa = a[a["race_id"] == target].set_index("driver_id")[cols].sort_index()
    fb = b[b["race_id"] == target].set_index("driver_id")[cols].sort_index()
    assert not a[a["race_id"] == target]["finish"].equals(
        b[b["race_id"] == target]["finish"]
    )  # it did change
    pd.testing.assert_frame_equal(fa, fb)


def test_target_race_features_ignore_its_stored_result(real_frames):
    """Predicting a completed race as a target gives the same features as its history row."""
    target = _race_id(real_frames, 2025, 5)
    entrants = real_frames.results[real_frames.results["race_id"] == target][
        ["race_id", "driver_id", "team_id", "grid"]
    ]
    hist = build_features(real_frames)
    as_target = build_features(real_frames, targets=entrants)
    cols = feature_names("post")
    h = hist[hist["race_id"] == target].set_index("driver_id")[cols].sort_index()
    t = as_target[as_target["race_id"] == target].set_index("driver_id")[cols].sort_index()
    pd.testing.assert_frame_equal(h, t)
    assert as_target.loc[as_target["race_id"] == target, "finish"].isna().all()


def test_season_points_and_previous_finish_match_the_csv(real_frames, real_features):
    """Hand check against the dump with plain Python: Verstappen before 2023 round 5."""
    races = {r["raceId"]: (int(r["year"]), int(r["round"])) for r in _csv("races.csv")}
    drivers = {d["driverRef"]: d["driverId"] for d in _csv("drivers.csv")}
    vid = drivers["max_verstappen"]
    pts, prev = 0.0, None
    for row in _csv("results.csv"):
        season, rnd = races[row["raceId"]]
        if row["driverId"] == vid and season == 2023 and rnd < 5:
            pts += float(row["points"])
            if rnd == 4:
                prev = int(row["positionOrder"])
    for row in _csv("sprint_results.csv"):
        season, rnd = races[row["raceId"]]
        if row["driverId"] == vid and season == 2023 and rnd < 5:
            pts += float(row["points"])
    from ingestion.models import Driver, Race

    race = Race.objects.get(season_id=2023, round=5)
    driver = Driver.objects.get(ref="max_verstappen")
    row = real_features[
        (real_features["race_id"] == race.id) & (real_features["driver_id"] == driver.id)
    ].iloc[0]
    assert row["driver_season_points"] == pytest.approx(pts)
    assert row["driver_prev_finish"] == prev


def test_missing_weather_is_nan_with_indicator_not_zero(real_frames):
    target = _race_id(real_frames, 2024, 10)
    no_weather = replace(real_frames, weather=real_frames.weather[real_frames.weather["race_id"] != target])
    f = build_features(no_weather)
    rows = f[f["race_id"] == target]
    assert rows["weather_missing"].eq(1.0).all()
    for col in ["weather_air_temperature", "weather_rain", "weather_is_wet", "weather_humidity"]:
        assert rows[col].isna().all(), col
    with_weather = build_features(real_frames)
    assert with_weather.loc[with_weather["race_id"] == target, "weather_missing"].eq(0.0).all()


def test_new_driver_and_new_team_have_no_invented_history(real_frames, real_features):
    from ingestion.models import Driver, Race, Team

    first = Race.objects.get(season_id=2026, round=1)
    rows = real_features[real_features["race_id"] == first.id]
    lindblad = rows[rows["driver_id"] == Driver.objects.get(ref="lindblad").id].iloc[0]
    assert lindblad["driver_experience"] == 0
    assert np.isnan(lindblad["driver_form_5"]) and np.isnan(lindblad["driver_win_rate"])
    team_rows = rows[rows["team_id"] == Team.objects.get(ref="cadillac").id]
    assert len(team_rows) == 2
    assert team_rows["team_experience"].eq(0).all()
    assert team_rows["team_quali_gap_5"].isna().all()
    assert team_rows["team_form_5"].isna().all()


def _team_row(features, season, rnd, team_ref):
    from ingestion.models import Race, Team

    race = Race.objects.get(season_id=season, round=rnd)
    rows = features[
        (features["race_id"] == race.id) & (features["team_id"] == Team.objects.get(ref=team_ref).id)
    ]
    assert len(rows) == 2, (season, rnd, team_ref)
    return rows


def _team_history_from_csv(refs, before_season, n):
    """Mean finishing position of the entries of `refs` (per race, then averaged) over their last `n`
    races before `before_season`, from the dump with plain Python."""
    races = {r["raceId"]: (int(r["year"]), int(r["round"])) for r in _csv("races.csv")}
    ref = {c["constructorId"]: c["constructorRef"] for c in _csv("constructors.csv")}
    by_race: dict[tuple[int, int], list[int]] = {}
    for row in _csv("results.csv"):
        key = races[row["raceId"]]
        if ref[row["constructorId"]] in refs and key[0] < before_season:
            by_race.setdefault(key, []).append(int(row["positionOrder"]))
    last = sorted(by_race)[-n:]
    return sum(sum(by_race[k]) / len(by_race[k]) for k in last) / len(last)


def test_team_history_follows_rebrands_and_not_a_reused_id(real_features):
    """Audit (real data): the ref "sauber" raced 2018, then as "alfa" 2019-2023 and as "sauber" again
    from 2024 — 2024 Sauber's history came from 2018; the rebrands (Alpine 2021, RB 2024, Audi 2026,
    ...) started from nothing. Each now continues its predecessor's history (`TEAM_LINEAGE`)."""
    sauber_2024 = _team_row(real_features, 2024, 1, "sauber")
    form = _team_history_from_csv({"alfa"}, 2024, 5)  # 2023's last five races, as Alfa Romeo
    assert sauber_2024["team_form_5"].iloc[0] == pytest.approx(form)
    assert sauber_2024["team_experience"].iloc[0] > 100  # Hinwil since 1996, not one season of 2018
    for season, ref, predecessors in (
        (2021, "alpine", {"renault", "lotus_f1", "benetton"}),
        (2024, "rb", {"alphatauri", "toro_rosso", "minardi"}),
        (2026, "audi", {"sauber", "alfa", "bmw_sauber"}),
        (2021, "aston_martin", {"racing_point", "force_india", "spyker", "spyker_mf1", "mf1", "jordan"}),
    ):
        rows = _team_row(real_features, season, 1, ref)
        form = _team_history_from_csv(predecessors, season, 5)
        assert rows["team_form_5"].iloc[0] == pytest.approx(form), ref
        assert rows["team_experience"].iloc[0] > 0 and not rows["team_quali_gap_5"].isna().any(), ref
    # Ocon at Alpine 2021: his Renault races (2020) count as races with the team
    from ingestion.models import Driver

    alpine = _team_row(real_features, 2021, 1, "alpine")
    ocon = alpine[alpine["driver_id"] == Driver.objects.get(ref="ocon").id].iloc[0]
    assert ocon["driver_races_with_team"] == 17  # the 17 races of 2020 with Renault


def test_red_flag_stoppages_are_not_pit_stops(real_features):
    """Audit: 2024 Brazil's red-flag "stops" (~23.7 min) gave team pit-stop ratios of 12-24 (392 of
    3,458 team rows 2018-2025 above 1.5). Now no ratio comes near that."""
    ratios = real_features.loc[real_features["season"].between(2018, 2025), "team_pit_stop_ratio_5"]
    assert ratios.notna().sum() > 3000
    assert ratios.max() < 1.5


def test_frames_load_is_one_query_per_table(ergast_data, django_assert_max_num_queries):
    from predictions.features.frames import f1_frames_load

    with django_assert_max_num_queries(10):
        frames = f1_frames_load(since_season=2020)
    assert len(frames.results) > 2000


def _practice_laps_from_csv(season: int, rnd: int, sessions: set[str]) -> dict[str, int]:
    """driverRef -> laps in `sessions` of that race, summed with plain Python from the dump."""
    races = {r["raceId"]: (int(r["year"]), int(r["round"])) for r in _csv("races.csv")}
    refs = {d["driverId"]: d["driverRef"] for d in _csv("drivers.csv")}
    laps: dict[str, int] = {}
    for row in _csv("practice.csv"):
        if races.get(row["raceId"]) == (season, rnd) and row["session"] in sessions and row["laps"]:
            ref = refs[row["driverId"]]
            laps[ref] = laps.get(ref, 0) + int(row["laps"])
    return laps


@pytest.mark.parametrize(
    ("season", "rnd"),
    [(2022, 4), (2021, 10)],  # Imola 2022 (session times known), Silverstone 2021 (no times in the dump)
)
def test_pre_qualifying_stage_reads_no_practice_run_after_qualifying(real_frames, real_features, season, rnd):
    """Leakage: on the 2021-2022 sprint weekends FP2 ran on the Saturday, after Friday's qualifying.
    The pre-qualifying stage's practice features come from FP1 alone; the post-qualifying stage (made
    after qualifying, FP2 known) reads both sessions."""
    from ingestion.models import Driver
    from predictions.features.compute import stage_rows

    fp1 = _practice_laps_from_csv(season, rnd, {"FP1"})
    both = _practice_laps_from_csv(season, rnd, {"FP1", "FP2"})
    assert fp1 != both  # the weekend has an FP2 to leave out
    race_id = _race_id(real_frames, season, rnd)
    rows = real_features[real_features["race_id"] == race_id]
    ref = dict(Driver.objects.filter(id__in=rows["driver_id"].tolist()).values_list("id", "ref"))
    pre = stage_rows(rows, "pre").set_index(rows["driver_id"].map(ref))
    post = stage_rows(rows, "post").set_index(rows["driver_id"].map(ref))
    assert pre["practice_laps"].dropna().to_dict() == pytest.approx({k: float(v) for k, v in fp1.items()})
    assert post["practice_laps"].dropna().to_dict() == pytest.approx({k: float(v) for k, v in both.items()})


def test_practice_before_qualifying_by_start_time_else_by_weekend_format():
    from predictions.features.clock import practice_before_qualifying

    utc = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    races = pd.DataFrame(
        {
            "race_id": [1, 2, 3, 4],
            # 1: 2022-style sprint weekend (FP2 on Saturday after Friday's qualifying); 2: a normal
            # weekend with times; 3 and 4: no times (3 a sprint weekend, 4 not)
            "fp1_start": [utc("2022-04-22 11:30"), utc("2022-05-27 12:00"), pd.NaT, pd.NaT],
            "fp2_start": [utc("2022-04-23 10:30"), utc("2022-05-27 15:00"), pd.NaT, pd.NaT],
            "fp3_start": [pd.NaT, utc("2022-05-28 11:00"), pd.NaT, pd.NaT],
            "qualifying_start": [utc("2022-04-22 15:00"), utc("2022-05-28 14:00"), pd.NaT, pd.NaT],
        }
    )
    practice = pd.DataFrame(
        [(1, "FP1"), (1, "FP2")] + [(race, s) for race in (2, 3, 4) for s in ("FP1", "FP2", "FP3")],
        columns=["race_id", "session"],
    )
    kept = practice_before_qualifying(practice, races, sprint_race_ids=[1, 3])
    assert sorted(map(tuple, kept[["race_id", "session"]].to_numpy().tolist())) == [
        (1, "FP1"),
        (2, "FP1"),
        (2, "FP2"),
        (2, "FP3"),
        (3, "FP1"),
        (3, "FP3"),
        (4, "FP1"),
        (4, "FP2"),
        (4, "FP3"),
    ]
    # frames built without the start columns (times unknown): the format rule alone
    bare = practice_before_qualifying(practice, races[["race_id"]], sprint_race_ids=[1, 3])
    assert len(bare) == 9 and not ((bare["race_id"] == 3) & (bare["session"] == "FP2")).any()


def test_stage_rows_swaps_in_the_pre_qualifying_practice_columns_only_for_that_stage():
    from predictions.features.compute import PRE_QUALIFYING_PRACTICE, stage_rows

    rows = pd.DataFrame({"practice_laps": [50.0], "practice_laps__pre_qualifying": [20.0], "grid": [3.0]})
    for c, pre in PRE_QUALIFYING_PRACTICE.items():
        rows[c] = rows.get(c, 1.0)
        rows[pre] = rows.get(pre, 0.0)
    pre = stage_rows(rows, "pre")
    assert pre["practice_laps"].iloc[0] == 20.0 and pre["grid"].iloc[0] == 3.0
    assert stage_rows(pre, "pre").equals(pre)  # idempotent
    assert stage_rows(rows, "post")["practice_laps"].iloc[0] == 50.0
    assert stage_rows(rows[["grid"]], "pre").equals(rows[["grid"]])  # nothing to swap
