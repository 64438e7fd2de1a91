"""Scoring predictions against results: per-race and pooled metrics, calibration tables. Pure numpy/pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

_EPS = 1e-6


def _logloss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def race_metrics(
    pred_rank: np.ndarray,
    finish: np.ndarray,
    finished: np.ndarray,
    places: int = 10,
    *,
    finisher_finish: np.ndarray | None = None,
) -> dict:
    """Rank metrics for one race. pred_rank/finish: the scored drivers' predicted and real places
    (1..N over all entrants when every entrant is scored, as in the backtest); finished: bool per
    driver. When only some of the field is scored, `finish` is still the place in the whole result,
    so a driver who was not scored but finished ahead counts (the winner may be nobody scored), and
    `finisher_finish` gives the scored finishers' places among all of the race's finishers (default:
    re-ranked among the scored finishers, the same when every entrant is scored)."""
    pred_rank = np.asarray(pred_rank, float)
    finish = np.asarray(finish, float)
    finished = np.asarray(finished, bool)
    out = {
        "mae": float(np.mean(np.abs(pred_rank - finish))),
        "spearman": float(spearmanr(pred_rank, finish).statistic) if len(finish) > 2 else None,
        # the predicted winner (place 1) won; a scored field always has a place 1 unless the
        # predicted winner is not among the scored drivers, which is a miss
        "winner_hit": bool(np.any((pred_rank == 1) & (finish == 1))),
        "podium_overlap": float(len(set(np.where(pred_rank <= 3)[0]) & set(np.where(finish <= 3)[0])) / 3),
        "points_accuracy": float(np.mean((pred_rank <= places) == (finish <= places))),
    }
    if finished.sum() >= 2:
        # finishers only, the predicted order re-ranked among the scored finishers, the actual order
        # among the race's finishers
        p = pd.Series(pred_rank[finished]).rank(method="first").to_numpy()
        if finisher_finish is None:
            a = pd.Series(finish[finished]).rank(method="first").to_numpy()
        else:
            a = np.asarray(finisher_finish, float)[finished]
        out["mae_finishers"] = float(np.mean(np.abs(p - a)))
    else:
        out["mae_finishers"] = None
    return out


def calibration_table(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[list[dict], float]:
    """Equal-width reliability table and expected calibration error (ECE)."""
    p = np.asarray(p, float)
    y = np.asarray(y, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        mean_p, rate = float(p[m].mean()), float(y[m].mean())
        ece += m.sum() / len(p) * abs(mean_p - rate)
        rows.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "n": int(m.sum()),
                "predicted": mean_p,
                "observed": rate,
            }
        )
    return rows, float(ece)


def probability_metrics(p: np.ndarray, y: np.ndarray) -> dict:
    p = np.asarray(p, float)
    y = np.asarray(y, float)
    table, ece = calibration_table(p, y)
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": _logloss(p, y),
        "ece": ece,
        "calibration": table,
    }


def dnf_metrics(p: np.ndarray, y: np.ndarray) -> dict:
    p = np.asarray(p, float)
    y = np.asarray(y, float)
    base = np.full_like(p, y.mean())
    out = probability_metrics(p, y)
    out["constant_rate_log_loss"] = _logloss(base, y)
    out["auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    return out


# The scoreboard's metric names in `summarise`'s output, in the order reports list them.
RANK_METRICS = ("mae", "mae_finishers", "spearman", "winner_hit_rate", "podium_overlap", "points_accuracy")
BRIER_METRICS = ("brier_win", "brier_podium", "brier_points")
ECE_METRICS = ("ece_win", "ece_podium", "ece_points")


def summarise(per_race: pd.DataFrame, entries: pd.DataFrame | None = None) -> dict:
    """Average per-race rank metrics; pooled probability metrics over all entries (when given)."""
    out = {"races": len(per_race)}
    for col in ["mae", "mae_finishers", "spearman", "points_accuracy", "podium_overlap"]:
        out[col] = float(per_race[col].astype(float).mean())
    out["winner_hit_rate"] = float(per_race["winner_hit"].astype(float).mean())
    if entries is not None and "p_win" in entries:
        for name, col in [("win", "win"), ("podium", "podium"), ("points", "in_points")]:
            m = probability_metrics(entries[f"p_{name}"].to_numpy(), entries[col].to_numpy())
            out[f"brier_{name}"] = m["brier"]
            out[f"log_loss_{name}"] = m["log_loss"]
            out[f"ece_{name}"] = m["ece"]
            out[f"calibration_{name}"] = m["calibration"]
        if "p_dnf" in entries:
            m = dnf_metrics(entries["p_dnf"].to_numpy(), entries["dnf"].to_numpy())
            out.update(
                dnf_log_loss=m["log_loss"],
                dnf_constant_log_loss=m["constant_rate_log_loss"],
                dnf_auc=m["auc"],
                dnf_brier=m["brier"],
                ece_dnf=m["ece"],
            )
    return out


def prediction_set_score(pred: pd.DataFrame, actual: pd.DataFrame, *, places: int = 10) -> dict:
    """Score one stored prediction set against a race result.

    pred: driver_id, predicted_position, p_win, p_podium, p_points (, p_dnf);
    actual: driver_id, finish (position order over the whole result, retirements and other
    unclassified drivers at the back in their position order), dnf.

    Every predicted driver with a result is scored against their real place in the whole result,
    and the predicted places are the published ones: a driver who raced but was not predicted (a
    stand-in for an entry-list driver) is not scored but keeps their real place, so if they win
    nobody predicted wins (winner_hit False, P(win) of every scored driver was a miss) and the
    real podium is the one counted. A predicted driver with no result (did not take part) is not
    scored; their predicted place is not handed to anyone else (a predicted winner who did not
    race is a missed winner pick). When every entrant is predicted this is the backtest's scoring.
    """
    actual = actual.assign(
        finish=actual["finish"].rank(method="first"),
        finisher_finish=actual["finish"].where(actual["dnf"] == 0).rank(method="first"),
    )
    pred = pred.assign(predicted_position=pred["predicted_position"].rank(method="first"))
    m = pred.merge(actual, on="driver_id", how="inner")
    if m.empty:
        raise ValueError("no predicted driver has a result")
    rank = m["predicted_position"].to_numpy()
    finish = m["finish"].to_numpy()
    out = race_metrics(
        rank,
        finish,
        (m["dnf"] == 0).to_numpy(),
        places,
        finisher_finish=m["finisher_finish"].to_numpy(),
    )
    y_win, y_pod, y_pts = (finish == 1), (finish <= 3), (finish <= places)
    out["brier_win"] = float(np.mean((m["p_win"] - y_win) ** 2))
    out["brier_podium"] = float(np.mean((m["p_podium"] - y_pod) ** 2))
    out["brier_points"] = float(np.mean((m["p_points"] - y_pts) ** 2))
    if "p_dnf" in m:
        out["dnf_log_loss"] = _logloss(m["p_dnf"].to_numpy(), m["dnf"].to_numpy())
    out["drivers"] = len(m)
    return out
