"""Team lineage: which constructor ids are one outfit, so team history follows it through rebrands.

Ergast (and so the database) gives a team a new constructor ref when it changes its name — Toro Rosso
→ AlphaTauri → RB, Renault → Alpine, Force India → Racing Point → Aston Martin, Sauber → Alfa Romeo →
Sauber → Audi — and reuses a ref after years away ("sauber" raced 2018, then as "alfa" 2019–2023, then
as "sauber" again from 2024). The team history features (`team_*`, `circuit_team_avg_finish`,
`driver_races_with_team`) are computed per *outfit*:

- a ref's entries form one stint while the team races season after season; a ref seen again after
  a season or more without a race (its previous race more than one season earlier) starts a new
  stint, which picks up no history from the old one unless the lineage below links it;
- a stint that starts in the season a `TEAM_LINEAGE` entry names for its ref continues the outfit of
  the predecessor ref's latest stint (started in or before that season).

Refs and seasons as in the Ergast dump (`constructors.csv` / `results.csv`), checked there.
"""

from __future__ import annotations

import pandas as pd

# (constructor ref, first season under that ref, predecessor ref): the same outfit under a new name.
TEAM_LINEAGE: tuple[tuple[str, int, str], ...] = (
    # current grid
    ("toro_rosso", 2006, "minardi"),
    ("alphatauri", 2020, "toro_rosso"),
    ("rb", 2024, "alphatauri"),
    ("renault", 2002, "benetton"),
    ("lotus_f1", 2012, "renault"),  # Lotus F1 (Enstone) 2012-2015
    ("renault", 2016, "lotus_f1"),  # the ref "renault" again after four seasons away
    ("alpine", 2021, "renault"),
    ("mf1", 2006, "jordan"),  # Midland
    ("spyker_mf1", 2006, "mf1"),  # renamed during 2006
    ("spyker", 2007, "spyker_mf1"),
    ("force_india", 2008, "spyker"),
    ("racing_point", 2019, "force_india"),
    ("aston_martin", 2021, "racing_point"),
    ("bmw_sauber", 2006, "sauber"),
    ("sauber", 2010, "bmw_sauber"),  # the ref "sauber" again after four seasons away
    ("alfa", 2019, "sauber"),  # Alfa Romeo 2019-2023
    ("sauber", 2024, "alfa"),  # the ref "sauber" again after five seasons away
    ("audi", 2026, "sauber"),
    ("jaguar", 2000, "stewart"),
    ("red_bull", 2005, "jaguar"),
    ("bar", 1999, "tyrrell"),
    ("honda", 2006, "bar"),
    ("brawn", 2009, "honda"),
    ("mercedes", 2010, "brawn"),
    ("prost", 1997, "ligier"),
    ("arrows", 1997, "footwork"),
    ("caterham", 2012, "lotus_racing"),
    ("marussia", 2012, "virgin"),
    ("manor", 2015, "marussia"),
)


def team_outfits(team_seasons: pd.DataFrame, teams: pd.DataFrame | None = None) -> pd.Series:
    """Pure: the outfit of each (team_id, season) in `team_seasons` (columns team_id, season; any
    order, duplicates allowed), as a Series of int outfit ids aligned with its index.

    `teams`: columns team_id, team_ref — the refs `TEAM_LINEAGE` is written in. Without it (or for a
    team id it does not list) only the stint rule applies: a team id not seen in the previous season
    starts a new outfit.
    """
    ts = team_seasons[["team_id", "season"]].drop_duplicates().sort_values(["season", "team_id"])
    ts = ts.reset_index(drop=True)
    if ts.empty:
        return pd.Series(0, index=team_seasons.index, dtype="int64")
    prev = ts.groupby("team_id")["season"].shift(1)
    ts["stint_start"] = ts["season"].where(prev.isna() | (ts["season"] - prev > 1))
    ts["stint_start"] = ts.groupby("team_id")["stint_start"].ffill().astype(int)
    refs = {} if teams is None else dict(zip(teams["team_id"], teams["team_ref"], strict=False))
    ids_by_ref: dict[str, list] = {}
    for team_id, ref in refs.items():
        ids_by_ref.setdefault(ref, []).append(team_id)
    predecessor = {(ref, season): pred for ref, season, pred in TEAM_LINEAGE}
    stints = set(zip(ts["team_id"], ts["stint_start"], strict=True))
    next_id = 0

    pending = sorted(stints, key=lambda stint: (stint[1], stint[0]))
    outfit: dict[tuple, int] = {}
    while pending:  # a stint waits for its predecessor's (a rename within a season: the same start)
        deferred = []
        for team_id, start in pending:
            pred_ref = predecessor.get((refs.get(team_id), start))
            pred_ids = set(ids_by_ref.get(pred_ref, ())) if pred_ref is not None else set()
            candidates = [(s, tid) for tid, s in stints if tid in pred_ids and s <= start and tid != team_id]
            if candidates and (max(candidates)[1], max(candidates)[0]) not in outfit:
                deferred.append((team_id, start))
                continue
            if candidates:
                s, tid = max(candidates)
                outfit[(team_id, start)] = outfit[(tid, s)]
            else:
                outfit[(team_id, start)] = next_id
                next_id += 1
        if deferred and len(deferred) == len(pending):  # a cycle in the map: the first starts afresh
            outfit[deferred[0]] = next_id
            next_id += 1
            deferred = deferred[1:]
        pending = deferred
    ts["outfit"] = [outfit[(t, s)] for t, s in zip(ts["team_id"], ts["stint_start"], strict=True)]
    keyed = ts.set_index(["team_id", "season"])["outfit"]
    index = pd.MultiIndex.from_frame(team_seasons[["team_id", "season"]])
    return pd.Series(keyed.reindex(index).to_numpy(), index=team_seasons.index, dtype="int64")
