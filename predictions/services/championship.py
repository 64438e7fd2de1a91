"""Championship Monte Carlo: title probabilities and expected final points over the remaining rounds."""

from __future__ import annotations

import numpy as np
from django.db.models import Sum

from ingestion.models import Driver, Race, RaceResult, SprintResult, Team
from predictions.ml.models import race_predict, race_strength_inputs
from predictions.services.predicting import _race_features, race_entries
from predictions.services.training import model_bundle_load

POINTS = np.array([25, 18, 15, 12, 10, 8, 6, 4, 2, 1], float)


def title_odds_simulate(
    strengths: np.ndarray, current: np.ndarray, teams: np.ndarray, *, races: int, n_sims: int, seed: int = 0
) -> dict:
    """Pure: simulate `races` Plackett–Luce races for drivers with `strengths`, add to `current`
    points. Returns per-driver title probability and expected points, per-team likewise."""
    rng = np.random.default_rng(seed)
    n = len(strengths)
    total = np.tile(current.astype(float), (n_sims, 1))
    table = np.zeros(n)
    table[: min(n, len(POINTS))] = POINTS[: min(n, len(POINTS))]
    for _ in range(races):
        order = np.argsort(-(strengths[None, :] + rng.gumbel(size=(n_sims, n))), axis=1)
        pts = np.zeros((n_sims, n))
        np.put_along_axis(pts, order, np.broadcast_to(table, (n_sims, n)), axis=1)
        total += pts
    # ties for the title split the probability (count-back is not simulated)
    best = total.max(axis=1, keepdims=True)
    champ = (total == best) / (total == best).sum(axis=1, keepdims=True)
    team_ids = np.unique(teams)
    team_total = np.stack([total[:, teams == t].sum(axis=1) for t in team_ids], axis=1)
    team_best = team_total.max(axis=1, keepdims=True)
    team_champ = (team_total == team_best) / (team_total == team_best).sum(axis=1, keepdims=True)
    return {
        "driver_title": champ.mean(axis=0),
        "driver_expected": total.mean(axis=0),
        "team_ids": team_ids,
        "team_title": team_champ.mean(axis=0),
        "team_expected": team_total.mean(axis=0),
    }


def championship_simulate(*, season: int, as_of=None, n_sims: int = 5000) -> dict:
    """Simulate the rest of `season` with the active models (pre-qualifying stage).

    Simplifications, stated: every remaining round uses the strengths predicted for the next race
    (form features cannot know the results in between), sprints are not simulated, and points are
    the 25-18-15-12-10-8-6-4-2-1 table.
    """
    races = list(Race.objects.filter(season_id=season).order_by("round"))
    if not races:
        raise ValueError(f"no races in season {season}")
    done = set(RaceResult.objects.filter(race__season_id=season).values_list("race_id", flat=True).distinct())
    remaining = [r for r in races if r.id not in done]
    driver_pts = dict(
        RaceResult.objects.filter(race__season_id=season)
        .values("driver_id")
        .annotate(p=Sum("points"))
        .values_list("driver_id", "p")
    )
    for d, p in (
        SprintResult.objects.filter(race__season_id=season)
        .values("driver_id")
        .annotate(p=Sum("points"))
        .values_list("driver_id", "p")
    ):
        driver_pts[d] = driver_pts.get(d, 0) + p
    version, bundle = model_bundle_load()
    if remaining:
        entries, _ = race_entries(race=remaining[0])
        rows = _race_features(remaining[0], entries, None)
        out = race_predict(bundle.stages["pre"], rows, explain=0, n_sims=200)
        models = bundle.stages["pre"]
        strengths = models.ranking.strength(race_strength_inputs(models, rows))
        drivers = out["driver_id"].to_numpy()
        teams = out["team_id"].to_numpy()
    else:
        last = RaceResult.objects.filter(
            race_id=max(done, key=lambda i: next(r.round for r in races if r.id == i))
        )
        pairs = list(last.values_list("driver_id", "team_id"))
        drivers = np.array([d for d, _ in pairs])
        teams = np.array([t for _, t in pairs])
        strengths = np.zeros(len(drivers))
    current = np.array([float(driver_pts.get(int(d), 0)) for d in drivers])
    sim = title_odds_simulate(strengths, current, teams, races=len(remaining), n_sims=n_sims)
    names = {d.id: d for d in Driver.objects.filter(id__in=drivers.tolist())}
    team_names = {t.id: t for t in Team.objects.filter(id__in=teams.tolist())}
    driver_rows = sorted(
        (
            {
                "driver": names[int(d)].ref,
                "driver_name": names[int(d)].full_name,
                "team": team_names[int(t)].ref,
                "current_points": float(c),
                "expected_points": round(float(e), 1),
                "title_probability": round(float(p), 4),
            }
            for d, t, c, e, p in zip(
                drivers, teams, current, sim["driver_expected"], sim["driver_title"], strict=True
            )
        ),
        key=lambda r: (-r["title_probability"], -r["expected_points"]),
    )
    team_rows = sorted(
        (
            {
                "team": team_names[int(t)].ref,
                "team_name": team_names[int(t)].name,
                "expected_points": round(float(e), 1),
                "title_probability": round(float(p), 4),
            }
            for t, e, p in zip(sim["team_ids"], sim["team_expected"], sim["team_title"], strict=True)
        ),
        key=lambda r: (-r["title_probability"], -r["expected_points"]),
    )
    return {
        "season": season,
        "remaining_races": [r.slug for r in remaining],
        "n_sims": n_sims,
        "model_version": version.label,
        "drivers": driver_rows,
        "teams": team_rows,
        "note": "team points count only the drivers in the current entry list",
    }
