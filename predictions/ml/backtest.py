"""Rolling-origin backtest over a feature frame (pure): each race is predicted by models trained only
on earlier races, and scored with the model, the baselines and a small ablation model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from predictions.features.frames import points_places
from predictions.ml.metrics import RANK_METRICS, race_metrics, summarise
from predictions.ml.models import SEED, race_predict, stage_fit

WINDOW = 8
ABLATION_FEATURES = {
    "post": ["grid", "driver_championship_position", "driver_form_5"],
    "pre": ["driver_championship_position", "driver_form_5"],
}
BASELINES = {
    "grid": "grid",
    "championship": "driver_championship_position",
    "previous_race": "driver_prev_finish",
}

FLOORS_POST = {
    "mae": ("<=", 3.2),
    "spearman": (">=", 0.68),
    "podium_overlap": (">=", 0.72),
    "brier_win": ("<=", 0.030),
    "brier_podium": ("<=", 0.063),
    "brier_points": ("<=", 0.150),
    "ece_max": ("<=", 0.02),
    "dnf_auc": (">=", 0.60),
}


def _empirical_probs(train: pd.DataFrame, test: pd.DataFrame, col: str) -> pd.DataFrame:
    """A baseline's probabilities: how often the training rows finished P1 / top 3 / in the points
    from the same baseline rank (e.g. from grid slot k)."""
    tr = train.assign(k=train.groupby("race_id")[col].rank(method="first").fillna(25).clip(upper=25))
    rates = tr.groupby("k")[["win", "podium", "in_points"]].mean()
    k = test.groupby("race_id")[col].rank(method="first").fillna(25).clip(upper=25)
    probs = rates.reindex(k.to_numpy()).fillna(0).to_numpy()
    return pd.DataFrame(probs, columns=["p_win", "p_podium", "p_points"], index=test.index)


def _rank_in_race(df: pd.DataFrame, col: str) -> pd.Series:
    return df.groupby("race_id")[col].rank(method="first", na_option="bottom")


def backtest_compute(
    features: pd.DataFrame,
    *,
    seasons: list[int],
    stage: str,
    retrain_every: int = 0,
    window: int = WINDOW,
    n_sims: int = 2000,
) -> dict:
    """Each of `seasons` (a set: a repeated season is backtested once, not its rows twice) race by
    race; the report of the model, the ablation model and the baselines."""
    features = features[features["finish"].notna()].sort_values(["date", "race_id"], kind="stable")
    scored = []
    for season in sorted(set(seasons)):
        season_rows = features[features["season"] == season]
        race_ids = list(pd.unique(season_rows["race_id"]))
        models, ablation, trained_at = None, None, -1
        for i, race_id in enumerate(race_ids):
            if models is None or (retrain_every and i - trained_at >= retrain_every):
                race_date = season_rows.loc[season_rows["race_id"] == race_id, "date"].iloc[0]
                train = features[(features["season"] >= season - window) & (features["date"] < race_date)]
                models = stage_fit(train, stage)
                finished = train[train["dnf"] == 0]
                with threadpool_limits(limits=1):
                    ablation = HistGradientBoostingRegressor(
                        max_iter=200, learning_rate=0.05, max_depth=3, random_state=SEED
                    ).fit(finished[ABLATION_FEATURES[stage]], finished.groupby("race_id")["finish"].rank())
                baseline_train, trained_at = train, i
            race = season_rows[season_rows["race_id"] == race_id].reset_index(drop=True)
            out = race_predict(models, race, n_sims=n_sims, explain=0)
            row = race.assign(
                pred=out["predicted_position"].to_numpy(),
                p_win=out["p_win"].to_numpy(),
                p_podium=out["p_podium"].to_numpy(),
                p_points=out["p_points"].to_numpy(),
                p_dnf=out["p_dnf"].to_numpy(),
            )
            with threadpool_limits(limits=1):
                row["ablation"] = ablation.predict(race[ABLATION_FEATURES[stage]])
            for name, col in BASELINES.items():
                probs = _empirical_probs(baseline_train, race, col)
                for p in probs:
                    row[f"{name}__{p}"] = probs[p].to_numpy()
            scored.append(row)
    entries = pd.concat(scored, ignore_index=True)
    report = backtest_report(entries, stage=stage)
    report["window_seasons"] = window
    report["retrain_every"] = retrain_every
    return report


def _method_entries(entries: pd.DataFrame, method: str) -> pd.DataFrame:
    if method == "model":
        return entries.assign(rank=_rank_in_race(entries, "pred"))
    if method == "ablation":
        return entries.assign(rank=_rank_in_race(entries, "ablation"))
    col = BASELINES[method]
    return entries.assign(
        rank=_rank_in_race(entries, col),
        p_win=entries[f"{method}__p_win"],
        p_podium=entries[f"{method}__p_podium"],
        p_points=entries[f"{method}__p_points"],
    ).drop(columns=["p_dnf"])


def _summary(df: pd.DataFrame, with_probs: bool) -> dict:
    per_race = []
    for _, g in df.groupby("race_id", sort=False):
        places = int(points_places(int(g["season"].iloc[0])))
        per_race.append(
            race_metrics(g["rank"].to_numpy(), g["finish"].to_numpy(), (g["dnf"] == 0).to_numpy(), places)
        )
    return summarise(pd.DataFrame(per_race), df if with_probs else None)


def backtest_report(entries: pd.DataFrame, *, stage: str) -> dict:
    methods = ["model", "ablation", "championship", "previous_race"] + (["grid"] if stage == "post" else [])
    report: dict = {"stage": stage, "overall": {}, "seasons": {}}
    for method in methods:
        df = _method_entries(entries, method)
        with_probs = method != "ablation"
        report["overall"][method] = _summary(df, with_probs)
        for season, g in df.groupby("season"):
            report["seasons"].setdefault(str(season), {})[method] = _summary(g, with_probs)
    m = report["overall"]["model"]
    m["ece_max"] = max(m["ece_win"], m["ece_podium"], m["ece_points"])
    if stage == "post":
        floors = {}
        for k, (op, v) in FLOORS_POST.items():
            val = m.get(k)
            floors[k] = {
                "floor": f"{op} {v}",
                "value": val,
                "met": bool(val is not None and (val <= v if op == "<=" else val >= v)),
            }
        floors["dnf_log_loss_below_constant"] = {
            "floor": "< constant-rate log loss",
            "value": m["dnf_log_loss"],
            "constant": m["dnf_constant_log_loss"],
            "met": bool(m["dnf_log_loss"] < m["dnf_constant_log_loss"]),
        }
        report["floors"] = floors
    else:
        champ = report["overall"]["championship"]
        lower_better = {
            "mae",
            "mae_finishers",
            "brier_win",
            "brier_podium",
            "brier_points",
            "log_loss_win",
            "log_loss_podium",
            "log_loss_points",
        }
        keys = [*RANK_METRICS, *sorted(lower_better - {"mae", "mae_finishers"})]
        report["floors"] = {
            f"beats_championship_{k}": {
                "model": m[k],
                "championship": champ[k],
                "met": bool(m[k] < champ[k] if k in lower_better else m[k] > champ[k]),
            }
            for k in keys
        }
    report["product_guide_claims"] = {
        "position_mae_lt_2_5": {
            "all_entrants": m["mae"],
            "finishers_reranked": m["mae_finishers"],
            "note": "MAE of the predicted rank vs. finishing order over all entrants; the finishers figure re-ranks predicted and actual order among the drivers who finished",
        },
        "points_accuracy_gt_85pct": {
            "value": m["points_accuracy"],
            "note": "share of drivers correctly called in or out of the top 10",
        },
        "dnf_log_loss_lt_0_4": {"value": m["dnf_log_loss"], "constant_rate": m["dnf_constant_log_loss"]},
    }
    report["races"] = int(entries["race_id"].nunique())
    return _round(report)


def _round(obj):
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if np.isnan(obj) else round(float(obj), 4)
    return obj
