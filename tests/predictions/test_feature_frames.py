"""Feature computation on small hand-built frames (pure pandas, no database): pit stops, team lineage,
the weather of a backfilled prediction."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from predictions.features.compute import build_features
from predictions.features.frames import FORECAST_WEATHER_COLUMNS, F1Frames, frames_with_pre_race_forecast
from predictions.features.lineage import TEAM_LINEAGE, team_outfits

WEATHER_COLUMNS = list(FORECAST_WEATHER_COLUMNS)


def _frames(entries, *, pit_stops=(), teams=None, weather=None) -> F1Frames:
    """`entries`: (season, driver_id, team_id, position); one race per season, round 1, in order."""
    results = pd.DataFrame(entries, columns=["season", "driver_id", "team_id", "position_order"])
    results["race_id"] = results["season"] - 2000
    results["grid"] = results["position_order"]
    results["points"] = np.where(results["position_order"] == 1, 25.0, 0.0)
    results["finished"] = True
    results["car_failure"] = False
    seasons = sorted(results["season"].unique())
    races = pd.DataFrame(
        {
            "race_id": [s - 2000 for s in seasons],
            "season": seasons,
            "round": 1,
            "date": [pd.Timestamp(f"{s}-06-01") for s in seasons],
            "circuit_id": 1,
            "circuit_type": "permanent",
            "length_km": 5.0,
        }
    )
    drivers = pd.DataFrame(
        {"driver_id": sorted(results["driver_id"].unique()), "date_of_birth": pd.Timestamp("1995-01-01")}
    )
    qualifying = results[["race_id", "driver_id", "team_id"]].assign(
        position=results["position_order"],
        q1_ms=90_000 + 100 * results["position_order"],
        q2_ms=np.nan,
        q3_ms=np.nan,
    )
    weather = (
        weather
        if weather is not None
        else pd.DataFrame(
            [(r, 25.0, 40.0, 50.0, 2.0, 0.0, False, pd.NaT) for r in races["race_id"]],
            columns=WEATHER_COLUMNS,
        )
    )
    return F1Frames(
        races=races,
        drivers=drivers,
        results=results[
            ["race_id", "driver_id", "team_id", "grid", "position_order", "points", "finished", "car_failure"]
        ],
        sprints=pd.DataFrame(columns=["race_id", "driver_id", "points", "position_order"]),
        qualifying=qualifying,
        practice=pd.DataFrame(columns=["race_id", "session", "driver_id", "team_id", "milliseconds", "laps"]),
        pit_stops=pd.DataFrame(list(pit_stops), columns=["race_id", "driver_id", "milliseconds"]),
        weather=weather,
        **({"teams": pd.DataFrame(teams, columns=["team_id", "team_ref"])} if teams is not None else {}),
    )


def _row(features, season, driver_id):
    rows = features[(features["season"] == season) & (features["driver_id"] == driver_id)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_a_red_flag_stoppage_is_not_a_pit_stop():
    """Audit: red-flag suspensions are recorded as pit "stops" (2024 Brazil: ~23.7 min), which gave
    team pit-stop ratios of 12-24. Pit-lane times of a minute or more (`PIT_STOP_MAX_MS`, shared
    with the analytics app) are left out of the ratio and of the race median it is relative to."""
    from analytics.services.common import PIT_STOP_MAX_MS
    from predictions.features import compute

    assert compute.PIT_STOP_MAX_MS is PIT_STOP_MAX_MS == 60_000
    entries = [(s, d, t, p) for s in (2021, 2022, 2023) for d, t, p in ((1, 10, 1), (2, 20, 2))]
    stops = [
        (21, 1, 22_000),
        (21, 1, 23_000),
        (21, 2, 24_000),
        (21, 2, 25_000),
        (22, 1, 22_000),
        (22, 1, 1_422_000),  # red flag: the whole suspension in the pit lane
        (22, 2, 24_000),
        (22, 2, 1_424_000),
    ]
    f = build_features(_frames(entries, pit_stops=stops))
    team_a, team_b = _row(f, 2023, 1), _row(f, 2023, 2)
    assert team_a["team_pit_stop_ratio_5"] == pytest.approx((22.5 / 23.5 + 22 / 23) / 2)
    assert team_b["team_pit_stop_ratio_5"] == pytest.approx((24.5 / 23.5 + 24 / 23) / 2)
    # a race whose only stops are red-flag ones has no ratio (NaN), not one of ~1
    only_red = build_features(_frames(entries, pit_stops=[(21, 1, 1_400_000), (21, 2, 1_401_000)]))
    assert np.isnan(_row(only_red, 2022, 1)["team_pit_stop_ratio_5"])


SAUBER_LIKE = [
    # Hinwil: "sauber" 2018, "alfa" 2019-2020, "sauber" again 2021 (the real gap: 2019-2023)
    (2018, 1, 1, 3),
    (2019, 1, 2, 3),
    (2020, 1, 2, 2),
    (2021, 1, 1, 1),
    # Enstone: "renault" 2019-2020, "alpine" 2021 (driver 2 stays)
    (2019, 2, 3, 1),
    (2020, 2, 3, 3),
    (2021, 2, 4, 4),
    # a constructor id not in the lineage, reused after two seasons away
    (2018, 3, 5, 1),
    (2021, 3, 5, 3),
    # a team racing throughout (keeps every season's field full)
    (2018, 4, 6, 2),
    (2019, 4, 6, 2),
    (2020, 4, 6, 1),
    (2021, 4, 6, 2),
]
SAUBER_LIKE_TEAMS = [
    (1, "sauber"),
    (2, "alfa"),
    (3, "renault"),
    (4, "alpine"),
    (5, "phoenix"),
    (6, "ferrari"),
]


def test_team_history_follows_the_outfit_through_rebrands_and_not_across_a_reused_id(monkeypatch):
    """Audit: 2024 Sauber's team history came from 2018 (the ref "sauber" reused after five seasons as
    "alfa"), and every rebrand (Alpine 2021, Aston Martin 2021, RB 2024, Audi 2026, ...) started
    from nothing. Team history now follows `lineage.TEAM_LINEAGE`."""
    from predictions.features import lineage

    lineage_2021 = [
        (ref, 2021 if ref == "sauber" and season == 2024 else season, pred)
        for ref, season, pred in TEAM_LINEAGE
    ]
    monkeypatch.setattr(lineage, "TEAM_LINEAGE", tuple(lineage_2021))  # the same, with the gap shortened
    f = build_features(_frames(SAUBER_LIKE, teams=SAUBER_LIKE_TEAMS))

    sauber = _row(f, 2021, 1)  # "sauber" again: continues "alfa", which continued "sauber" 2018
    assert sauber["team_experience"] == 3
    assert sauber["team_form_5"] == pytest.approx((3 + 3 + 2) / 3)
    assert sauber["driver_races_with_team"] == 3
    alfa = _row(f, 2019, 1)
    assert alfa["team_experience"] == 1 and alfa["team_form_5"] == 3
    alpine = _row(f, 2021, 2)  # Ocon at Alpine 2021: his Renault races count
    assert alpine["team_experience"] == 2
    assert alpine["team_form_5"] == pytest.approx(2.0)
    assert alpine["driver_races_with_team"] == 2
    assert alpine["circuit_team_avg_finish"] == pytest.approx(2.0)
    assert alpine["team_season_points"] == 0  # season points restart each season, lineage or not
    reused = _row(f, 2021, 3)  # an id back after two seasons away: no history from 2018
    assert reused["team_experience"] == 0 and np.isnan(reused["team_form_5"])
    assert reused["driver_races_with_team"] == 0


def test_a_reused_team_id_starts_afresh_without_a_lineage_entry():
    """The real case: "sauber" 2018 and again 2024, with "alfa" in between. Without the lineage map
    (no refs known) the 2024 entry still picks up nothing from 2018; with it, it continues "alfa"."""
    entries = [(s, 1, 1 if s in (2018, 2024) else 2, 2) for s in range(2018, 2025)]
    entries += [(s, 2, 6, 1) for s in range(2018, 2025)]
    bare = build_features(_frames(entries))
    assert bare.pipe(_row, 2024, 1)["team_experience"] == 0
    assert np.isnan(bare.pipe(_row, 2024, 1)["team_form_5"])
    linked = build_features(_frames(entries, teams=[(1, "sauber"), (2, "alfa"), (6, "ferrari")]))
    assert linked.pipe(_row, 2024, 1)["team_experience"] == 6
    assert linked.pipe(_row, 2024, 1)["team_form_5"] == 2
    assert linked.pipe(_row, 2019, 1)["team_experience"] == 1


def test_team_outfits_lineage_and_stints():
    ts = pd.DataFrame(
        [(1, 2018)]
        + [(2, s) for s in range(2019, 2024)]
        + [(1, 2024), (1, 2025), (7, 2026), (8, 2026), (9, 2026), (9, 2026)],
        columns=["team_id", "season"],
    )
    teams = pd.DataFrame(
        [(1, "sauber"), (2, "alfa"), (7, "audi"), (8, "cadillac")], columns=["team_id", "team_ref"]
    )
    outfit = team_outfits(ts, teams)
    assert outfit.index.equals(ts.index)
    assert outfit.iloc[:9].nunique() == 1  # 2018 "sauber", "alfa", "sauber" again, 2026 "audi": one outfit
    assert outfit.iloc[9] not in set(outfit.iloc[:9]) and outfit.iloc[10] == outfit.iloc[11]  # new teams
    assert outfit.iloc[10] not in set(outfit.iloc[:10])
    # without refs: the ids alone, a new stint after a season or more away
    bare = team_outfits(ts)
    assert bare.iloc[0] != bare.iloc[6] and bare.iloc[6] == bare.iloc[7] and bare.iloc[1:6].nunique() == 1
    assert bare.iloc[1] != bare.iloc[0] and bare.iloc[8] != bare.iloc[7]


def test_the_lineage_names_real_refs_in_their_seasons():
    """Every entry of the map is a constructor ref of the Ergast dump that raced in the season named,
    and its predecessor raced the season before (or earlier in the same one)."""
    import csv

    from tests.conftest import ERGAST_DUMP_DIR

    with open(ERGAST_DUMP_DIR / "constructors.csv", newline="") as fh:
        ref = {r["constructorId"]: r["constructorRef"] for r in csv.DictReader(fh)}
    with open(ERGAST_DUMP_DIR / "races.csv", newline="") as fh:
        year = {r["raceId"]: int(r["year"]) for r in csv.DictReader(fh)}
    with open(ERGAST_DUMP_DIR / "results.csv", newline="") as fh:
        raced = {(ref[r["constructorId"]], year[r["raceId"]]) for r in csv.DictReader(fh)}
    for team, season, predecessor in TEAM_LINEAGE:
        assert (team, season) in raced, (team, season)
        assert (predecessor, season - 1) in raced or (predecessor, season) in raced, (team, predecessor)


def test_a_backfill_without_a_pre_race_forecast_has_no_weather(monkeypatch):
    """Audit: a backfilled (pre-race) prediction of a race run with no forecast issued before its
    start used the race's own observed weather, track temperature included. It now has none
    (NaN, weather_missing = 1); the other races keep theirs (training's observed weather)."""
    from ingestion import selectors
    from predictions.features import frames as frames_module

    entries = [(s, d, 10 + d, d) for s in (2021, 2022) for d in (1, 2)]
    frames = _frames(entries)
    race = SimpleNamespace(id=22)
    monkeypatch.setattr(
        selectors, "race_session_starts", lambda race: {"race": pd.Timestamp("2022-06-01 13:00", tz="UTC")}
    )
    monkeypatch.setattr(
        frames_module, "forecast_weather_load", lambda **kw: pd.DataFrame(columns=WEATHER_COLUMNS)
    )
    f = build_features(frames_with_pre_race_forecast(frames, race=race))
    backfill = f[f["race_id"] == 22]
    assert backfill["weather_missing"].eq(1.0).all()
    for col in ["weather_air_temperature", "weather_track_temperature", "weather_humidity", "weather_rain"]:
        assert backfill[col].isna().all(), col
    assert backfill["weather_is_wet"].isna().all()
    assert f.loc[f["race_id"] == 21, "weather_missing"].eq(0.0).all()
    assert f.loc[f["race_id"] == 21, "weather_track_temperature"].eq(40.0).all()

    # with a forecast issued before the start, that forecast (no track temperature)
    forecast = pd.DataFrame(
        [(22, 18.0, np.nan, 80.0, 4.0, 0.7, True, pd.Timestamp("2022-05-31", tz="UTC"))],
        columns=WEATHER_COLUMNS,
    )
    monkeypatch.setattr(frames_module, "forecast_weather_load", lambda **kw: forecast)
    f = build_features(frames_with_pre_race_forecast(frames, race=race))
    backfill = f[f["race_id"] == 22]
    assert backfill["weather_air_temperature"].eq(18.0).all() and backfill["weather_is_wet"].eq(1.0).all()
    assert backfill["weather_track_temperature"].isna().all() and backfill["weather_missing"].eq(0.0).all()
