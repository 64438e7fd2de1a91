"""The three models per stage (position, points, DNF), the ranking layer on top, and race prediction.

Pure functions over the feature frame from `predictions.features.compute.build_features`; no ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from predictions.features.compute import stage_rows
from predictions.features.frames import points_places
from predictions.features.registry import feature_names
from predictions.ml.metrics import (
    BRIER_METRICS,
    ECE_METRICS,
    RANK_METRICS,
    dnf_metrics,
    race_metrics,
    summarise,
)
from predictions.ml.ranking import RankingModel, ranking_fit, strength_inputs

SEED = 20260101
_THREADPOOLS: list[ThreadpoolController] = []


def threadpool_limits(limits: int):
    """Cap OpenMP/BLAS threads (the controller is built once: building it costs ~10 ms)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=limits)


PARAMS = {
    "position": {
        "model": "HistGradientBoostingRegressor",
        "max_iter": 300,
        "learning_rate": 0.03,
        "max_depth": 3,
        "min_samples_leaf": 80,
        "l2_regularization": 1.0,
        # a later grid slot never predicts a better finish (applied where the stage has a grid)
        "monotonic_cst": {"grid": 1},
        "target": "finishing rank among finishers (retirements are the DNF model's job)",
    },
    "points": {
        "model": "RandomForestClassifier",
        "n_estimators": 150,
        "max_features": "sqrt",
        "min_samples_leaf": 10,
        "max_samples": 0.6,
    },
    "dnf": {
        "model": "LogisticRegression",
        "class_weight": "balanced",
        "C": 0.1,
        "max_iter": 1000,
        "base_rate": "latest 3 seasons of the window",
    },
    "calibration_min_races": 20,
    "ranking": {
        "model": "DNF draw + Plackett-Luce over finishers, place-group dispersion (1 | 2-3 | 4-10 | 11+)",
        "pace_index": "linear Plackett-Luce over PACE_INPUTS (within-race log ranks), fitted on the whole window",
        "strength_inputs": "pace index, -position, logit P(points), logit P(DNF); post-qualifying also -log(grid)",
        # the backtest's figures are measured at 2000 too; standard error of a probability ≤ 0.011
        "n_sims": 2000,
    },
    "seed": SEED,
}


# The linear DNF model sees the reliability-related features only: with all 60 collinear inputs it
# extrapolates wildly on rows unlike its training window (e.g. a race with only a forecast). Car
# failures and driver incidents are kept apart (the plain DNF rates mix them and rank worse), and the
# grid enters as log(slot) and distance from mid-grid: retirements cluster in the pack, which a
# linear term in the slot cannot express. Chosen on 2022-2025 season-start folds (AUC 0.583 → 0.599).
DNF_FEATURES = [
    "team_car_failure_rate_10",
    "driver_incident_rate_20",
    "circuit_dnf_rate",
    "circuit_is_street",
    "driver_experience",
    "team_experience",
    "driver_form_5",
    "team_quali_gap_5",
    "practice_laps",
    "weather_rain",
    "weather_is_wet",
    "race_field_size",
]
DNF_RATE_SEASONS = 3


def _dnf_matrix(X: pd.DataFrame) -> pd.DataFrame:
    """The DNF model's inputs: its features, plus the two grid terms when the stage has a grid."""
    out = X[[f for f in DNF_FEATURES if f in X.columns]]
    if "grid" in X.columns:
        grid = X["grid"].to_numpy(dtype=float)
        out = out.assign(grid_log=np.log(np.clip(grid, 1, None)), grid_from_midfield=np.abs(grid - 11))
    return out


# The pace index: a linear Plackett-Luce model over a few strength signals, each as -log(its rank in
# the race) — a rank is comparable across eras and field sizes, and the log spends the resolution at
# the front, where the podium is decided. Low-capacity, so it is fitted on the whole training window
# (thousands of finishing orders) without a held-out block; in the 2022-2025 backtest it ranks and
# prices the podium better than the tree models' outputs alone, which the calibration block then
# blends with it. (column, ascending: a lower value ranks first, pre-qualifying too)
PACE_INPUTS = [
    ("team_quali_gap_5", True, True),
    ("driver_points_form_5", False, True),
    ("team_points_form_5", False, True),
    ("driver_finisher_rank_5", True, True),
    ("team_finisher_rank_3", True, True),
    ("driver_championship_position", True, True),
    ("team_championship_position", True, True),
    ("practice_gap_pct", True, True),
    ("grid", True, False),
    ("quali_gap_to_pole_pct", True, False),
    ("sprint_position", True, False),
]


def pace_design(rows: pd.DataFrame, stage: str) -> np.ndarray:
    """-log(within-race rank) of each pace input (rows of one or many races). A missing value takes the
    middle rank of its race, so a signal absent for the whole race (a weekend without a sprint, no
    practice data) is a per-race constant, which a Plackett-Luce model ignores."""
    race = rows["race_id"].to_numpy()
    field = pd.Series(race).map(pd.Series(race).value_counts()).to_numpy(dtype=float)
    cols = []
    for name, ascending, pre in PACE_INPUTS:
        if stage == "pre" and not pre:
            continue
        values = pd.to_numeric(rows[name], errors="coerce").reset_index(drop=True)
        rank = values.groupby(race).rank(ascending=ascending, method="average").to_numpy(dtype=float)
        cols.append(-np.log(np.where(np.isnan(rank), (field + 1) / 2, rank)))
    return np.column_stack(cols)


def _kw(name: str) -> dict:
    return {k: v for k, v in PARAMS[name].items() if k not in ("model", "target", "base_rate")}


@dataclass
class StageModels:
    stage: str
    features: list[str]
    position: HistGradientBoostingRegressor
    points: RandomForestClassifier
    dnf: object  # sklearn Pipeline
    dnf_prior_shift: float  # balanced classes inflate P(DNF); shift the logit back to the base rate
    ranking: RankingModel
    medians: pd.Series  # reference values for explanations
    pace: RankingModel | None = None  # the pace index (None in model sets trained before it existed)
    empty_features: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def matrix(self, df: pd.DataFrame) -> pd.DataFrame:
        return _matrix(df, self.features, self.empty_features)


# A feature with no value at all in the training window (e.g. circuit length before the circuit
# table is enriched) carries no information; the tree binning cannot handle an all-NaN column, so
# it is held at a constant sentinel for training and prediction alike (the NaN stays in the data).
_EMPTY_SENTINEL = -1.0


def _matrix(df: pd.DataFrame, features: list[str], empty: list[str]) -> pd.DataFrame:
    X = df[features]
    if empty:
        X = X.copy()
        X[empty] = _EMPTY_SENTINEL
    return X


def _fit_base(train: pd.DataFrame, features: list[str], *, n_jobs: int):
    X = _matrix(train, features, [f for f in features if train[f].isna().all()])
    finished = train["dnf"] == 0
    finisher_rank = train[finished].groupby("race_id")["finish"].rank()
    # one OpenMP thread: spin-waiting OpenMP threads burn CPU on a shared 2-core box; the forest
    # still uses `n_jobs` (joblib threads)
    with threadpool_limits(limits=1):
        kw = _kw("position")
        kw["monotonic_cst"] = {f: c for f, c in kw["monotonic_cst"].items() if f in features}
        position = HistGradientBoostingRegressor(random_state=SEED, **kw).fit(X[finished], finisher_rank)
        points = RandomForestClassifier(random_state=SEED, n_jobs=n_jobs, **_kw("points")).fit(
            X, train["in_points"]
        )
        dnf = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(random_state=SEED, **_kw("dnf")),
        ).fit(_dnf_matrix(X), train["dnf"])
    # the base rate the DNF logit is shifted to comes from the latest seasons only: retirement rates
    # drift (cars get more reliable, regulations reset it); on both backtest periods this lowers
    # the DNF log loss and the win/podium/points calibration error (ECE 0.021 -> 0.019 on 2022-2025)
    recent = train[train["season"] > train["season"].max() - DNF_RATE_SEASONS]
    rate = float(np.clip(recent["dnf"].mean(), 1e-3, 1 - 1e-3))
    shift = float(np.log(rate / (1 - rate)))  # balanced training ≈ prior 0.5 (logit 0)
    return position, points, dnf, shift


def _forest_proba(forest: RandomForestClassifier, X: pd.DataFrame) -> np.ndarray:
    """P(class 1) averaged over the trees, as `predict_proba` does, without its per-call joblib
    dispatch (which costs more than the 150 tiny tree walks of one race)."""
    X32 = np.ascontiguousarray(X.to_numpy(dtype=np.float32))
    total = np.zeros(len(X32))
    for tree in forest.estimators_:
        leaf = tree.tree_.predict(X32)[:, :2]  # per-leaf class weights (or fractions)
        total += leaf[:, 1] / leaf.sum(axis=1)
    return total / len(forest.estimators_)


def _base_outputs(
    models, X: pd.DataFrame, pos: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    position, points, dnf, shift = models
    with threadpool_limits(limits=1):
        pos = position.predict(X) if pos is None else pos
        p_points = _forest_proba(points, X)
        raw = _dnf_proba(dnf, _dnf_matrix(X))
        p_dnf = expit(logit(np.clip(raw, 1e-6, 1 - 1e-6)) + shift)
    return pos, p_points, p_dnf


def _dnf_proba(pipeline, X: pd.DataFrame) -> np.ndarray:
    """P(DNF) from the fitted imputer → scaler → logistic regression, computed from their fitted
    parameters: the same numbers as `predict_proba`, without three rounds of input validation
    (which cost more than the arithmetic for one race)."""
    imputer, scaler, logistic = (step for _, step in pipeline.steps)
    values = X.to_numpy(dtype=float)
    values = np.where(np.isnan(values), imputer.statistics_[None, :], values)
    z = (values - scaler.mean_) / scaler.scale_
    return expit(z @ logistic.coef_[0] + logistic.intercept_[0])


def _ranking_inputs(
    stage: str,
    rows: pd.DataFrame,
    pos: np.ndarray,
    p_points: np.ndarray,
    p_dnf: np.ndarray,
    *,
    pace: RankingModel | None = None,
    k: int | None = None,
) -> np.ndarray:
    """The ranking layer's strength inputs: the pace index (when the model set has one), the three
    models' outputs, and after qualifying also -log(grid slot), so the held-out likelihood fit decides
    how far to blend the models' view with the plain grid order (a grid slot matters far more at the
    front than a gap of one slot further back). `k` = the number of inputs a fitted ranking model
    expects (older model sets were fitted without the grid)."""
    inputs = strength_inputs(pos, p_points, p_dnf)
    expected_base = None if k is None else k - (pace is not None)
    if stage == "post" and (expected_base is None or expected_base > inputs.shape[1]):
        grid = pd.to_numeric(rows["grid"], errors="coerce").to_numpy(dtype=float)
        field = rows.groupby("race_id")["driver_id"].transform("size").to_numpy(dtype=float)
        grid = np.where(np.isnan(grid) | (grid < 1), field, grid)  # pit lane / unknown: the back
        inputs = np.column_stack([inputs, -np.log(grid)])
    if pace is not None:
        inputs = np.column_stack([pace.strength(pace_design(rows, stage)), inputs])
    return inputs


def _race_groups(df: pd.DataFrame, inputs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per race: the finishers' strength inputs and finishing order (retirements are simulated
    from the DNF model, so the ranking layer is fitted on the finishers only)."""
    out = []
    codes = df["race_id"].to_numpy()
    finish = df["finish"].to_numpy()
    finished = (df["dnf"] == 0).to_numpy()
    for rid in pd.unique(codes):
        m = (codes == rid) & finished
        if m.sum() >= 2:
            out.append((inputs[m], finish[m]))
    return out


def stage_fit(train: pd.DataFrame, stage: str, *, n_jobs: int = 1, score_block: bool = False) -> StageModels:
    """Fit one stage. The ranking weights are fitted on the latest seasons (at least 20 races), predicted by base
    models trained only on the seasons before it (honest, time-ordered calibration); the base models
    are then refitted on the whole window.

    `score_block`: also score the calibration block (`block_quality`) into `metrics["quality"]` —
    the registry records it; the backtest, which refits per season, has no use for it."""
    features = feature_names(stage)
    train = stage_rows(train[train["finish"].notna()], stage)
    seasons = sorted(train["season"].unique())
    calib_from = calibration_from_season(train)
    if calib_from is not None:
        early, late = train[train["season"] < calib_from], train[train["season"] >= calib_from]
        calib_models = _fit_base(early, features, n_jobs=n_jobs)
        pos, pp, pd_ = _base_outputs(calib_models, _matrix(late, features, _empty(early, features)))
        calib = late
    else:
        calib = train
        calib_models = _fit_base(train, features, n_jobs=n_jobs)
        pos, pp, pd_ = _base_outputs(calib_models, _matrix(train, features, _empty(train, features)))
    # The pace index is fitted on the whole window, calibration block included: it is a handful of
    # weights over thousands of finishing orders, so it barely overfits, and the backtest is better
    # with it than with a pace index held out of the block (MAE 3.18 vs 3.22, podium Brier 0.0670 vs
    # 0.0677): the block's fit then gives it its due weight.
    pace = ranking_fit(_race_groups(train, pace_design(train, stage)))
    calib_inputs = _ranking_inputs(stage, calib, pos, pp, pd_, pace=pace)
    ranking = ranking_fit(_race_groups(calib, calib_inputs))
    metrics = {"calibration_from_season": calib_from, "seasons": [int(seasons[0]), int(seasons[-1])]}
    if score_block and calib_from is not None:
        metrics["quality"] = block_quality(
            ranking, calib, inputs=calib_inputs, pos=pos, p_points=pp, p_dnf=pd_
        )
        metrics["quality"]["fitted_on_seasons"] = [int(seasons[0]), int(calib_from) - 1]
    position, points, dnf, shift = _fit_base(train, features, n_jobs=n_jobs)
    return StageModels(
        stage=stage,
        features=features,
        position=position,
        points=points,
        dnf=dnf,
        dnf_prior_shift=shift,
        ranking=ranking,
        pace=pace,
        medians=_matrix(train, features, _empty(train, features)).median(),
        empty_features=_empty(train, features),
        metrics=metrics,
    )


def block_quality(
    ranking: RankingModel,
    block: pd.DataFrame,
    *,
    inputs: np.ndarray,
    pos: np.ndarray,
    p_points: np.ndarray,
    p_dnf: np.ndarray,
) -> dict:
    """Quality figures on the calibration block (`block`: its rows; `pos` / `p_points` / `p_dnf`: the
    outputs on them of the base models fitted on the seasons before it, and `inputs` the ranking
    layer's inputs built from those — both already computed for the ranking fit, so each race is
    predicted exactly as `race_predict` would with those models, without running them again).

    Two kinds, kept apart because only the first is out of sample: `held_out` = the base models'
    own outputs (they never saw the block); `simulated` = the published predictions (the race
    simulation, scored as the backtest scores them), whose ranking layer was fitted on this very
    block and pace index on the whole window — in-sample for those few weights, so optimistic.
    Neither is of the stored models, which are refitted on the whole window, block included: no
    data is left that they did not see (the backtest is the out-of-sample measure). Costs the
    simulation only (about 6 ms a race), no extra fit."""
    finished = (block["dnf"] == 0).to_numpy()
    finisher_rank = block[finished].groupby("race_id")["finish"].rank().to_numpy()
    dnf = dnf_metrics(p_dnf, block["dnf"].to_numpy())
    held_out = {
        # the position model's target: the finishing rank among the race's finishers
        "position_mae_finishers": float(np.mean(np.abs(pos[finished] - finisher_rank))),
        "points_brier": float(np.mean((p_points - block["in_points"].to_numpy()) ** 2)),
        "dnf_log_loss": dnf["log_loss"],
        "dnf_constant_log_loss": dnf["constant_rate_log_loss"],
        "dnf_auc": dnf["auc"],
    }
    codes = block["race_id"].to_numpy()
    finish, season = block["finish"].to_numpy(), block["season"].to_numpy()
    per_race = []
    probs = {c: np.empty(len(block)) for c in ("p_win", "p_podium", "p_points")}
    for rid in pd.unique(codes):
        m = codes == rid
        places = int(points_places(int(season[m][0])))
        sim = _race_simulate(ranking, inputs[m], p_dnf=p_dnf[m], places=places)
        per_race.append(race_metrics(sim["predicted_position"], finish[m], finished[m], places))
        for c in probs:
            probs[c][m] = sim[c]
    summary = summarise(pd.DataFrame(per_race), block.assign(**probs, p_dnf=p_dnf))
    simulated = {k: summary[k] for k in (*RANK_METRICS, *BRIER_METRICS, *ECE_METRICS)}
    seasons = block["season"]
    return {
        "seasons": [int(seasons.min()), int(seasons.max())],
        "races": int(block["race_id"].nunique()),
        "entries": len(block),
        "held_out": {k: _rounded(v) for k, v in held_out.items()},
        "simulated": {k: _rounded(v) for k, v in simulated.items()},
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def calibration_from_season(train: pd.DataFrame) -> int | None:
    """First season of the held-out calibration block: the latest whole seasons holding at least
    `calibration_min_races` races, leaving at least one season to fit on (None if impossible)."""
    races = train.groupby("season")["race_id"].nunique().sort_index()
    total = 0
    for season in reversed(races.index.tolist()):
        total += races[season]
        if total >= PARAMS["calibration_min_races"]:
            return int(season) if season > races.index.min() else None
    return None


def _empty(df: pd.DataFrame, features: list[str]) -> list[str]:
    return [f for f in features if df[f].isna().all()]


def race_strength_inputs(
    models: StageModels,
    race: pd.DataFrame,
    pos: np.ndarray | None = None,
    p_points: np.ndarray | None = None,
    p_dnf: np.ndarray | None = None,
) -> np.ndarray:
    """The ranking layer's inputs for one race (the base models are run when their outputs are not
    given); `models.ranking.strength(...)` of it is each driver's strength."""
    race = stage_rows(race, models.stage)
    if pos is None:
        base = (models.position, models.points, models.dnf, models.dnf_prior_shift)
        pos, p_points, p_dnf = _base_outputs(base, models.matrix(race))
    pace = getattr(models, "pace", None)
    return _ranking_inputs(models.stage, race, pos, p_points, p_dnf, pace=pace, k=len(models.ranking.weights))


def _set_jobs(models: StageModels, n_jobs: int) -> None:
    models.points.n_jobs = n_jobs


def race_predict(
    models: StageModels,
    race: pd.DataFrame,
    *,
    n_sims: int | None = None,
    seed: int = SEED,
    explain: int = 5,
    confidence_window: int = 2,
) -> pd.DataFrame:
    """Predict one race (rows = its entrants). Returns one row per driver with the predicted
    position, probabilities, confidence and the top `explain` feature contributions."""
    _set_jobs(models, 1)
    race = stage_rows(race, models.stage)
    X = models.matrix(race)
    base = (models.position, models.points, models.dnf, models.dnf_prior_shift)
    # one pass of the position model over the race and its explanation variants (its cost is
    # per tree and call, not per row)
    with threadpool_limits(limits=1):
        everything = models.position.predict(_explanation_resets(models, X) if explain else X)
    pos, p_points_model, p_dnf = _base_outputs(base, X, everything[: len(X)])
    inputs = race_strength_inputs(models, race, pos, p_points_model, p_dnf)
    places = int(points_places(int(race["season"].iloc[0])))
    sim = _race_simulate(
        models.ranking,
        inputs,
        p_dnf=p_dnf,
        places=places,
        n_sims=n_sims,
        seed=seed,
        confidence_window=confidence_window,
    )
    return pd.DataFrame(
        {
            "race_id": race["race_id"].to_numpy(),
            "driver_id": race["driver_id"].to_numpy(),
            "team_id": race["team_id"].to_numpy(),
            "predicted_position": sim["predicted_position"],
            "expected_position": sim["expected_position"],
            "position_model": pos,
            "p_win": sim["p_win"],
            "p_podium": sim["p_podium"],
            "p_points": sim["p_points"],
            "p_points_model": p_points_model,
            "p_dnf": p_dnf,
            "confidence": sim["confidence"],
            "explanation": (
                explain_position(models, X, pos, top=explain, moved=everything[len(X) :])
                if explain
                else [[] for _ in range(len(race))]
            ),
        }
    )


def _race_simulate(
    ranking: RankingModel,
    inputs: np.ndarray,
    *,
    p_dnf: np.ndarray,
    places: int,
    n_sims: int | None = None,
    seed: int = SEED,
    confidence_window: int = 2,
) -> dict[str, np.ndarray]:
    """One race's simulated outcome from its entrants' ranking-layer inputs: the predicted order,
    expected position, P(win / podium / points) and confidence."""
    sims = ranking.simulate(inputs, dnf_prob=p_dnf, n_sims=n_sims or PARAMS["ranking"]["n_sims"], seed=seed)
    expected = sims.mean(axis=0)
    strength = ranking.strength(inputs)
    # The predicted order is the simulated expected finishing position (retirements included), ties
    # broken by strength. Of the candidate orders it is the one that holds up in both backtest
    # periods: ordering by strength was best on 2022-2025 (MAE 3.18) but worst on 2018-2021 (winner
    # hit 0.43 vs 0.48), the position model's own order the reverse; the expected position is within
    # 0.04 MAE of the best in each period and best over 2018-2025 on MAE, podium overlap and winner hit.
    order = np.lexsort((-strength, expected))
    predicted = np.empty(len(order), int)
    predicted[order] = np.arange(1, len(order) + 1)
    return {
        "predicted_position": predicted,
        "expected_position": expected,
        "p_win": (sims == 1).mean(axis=0),
        "p_podium": (sims <= 3).mean(axis=0),
        "p_points": (sims <= places).mean(axis=0),
        "confidence": (np.abs(sims - predicted[None, :]) <= confidence_window).mean(axis=0),
    }


def _explanation_resets(models: StageModels, X: pd.DataFrame) -> pd.DataFrame:
    """The race's rows as they are, then once per feature with that feature reset to its training
    median (feature-major: reset 0 for every driver, then reset 1, ...)."""
    feats = models.features
    ref = models.medians.reindex(feats).to_numpy()
    stacked = np.repeat(X.to_numpy(dtype=float)[None, :, :], len(feats) + 1, axis=0)
    resets = np.arange(len(feats))
    stacked[resets + 1, :, resets] = ref[:, None]
    return pd.DataFrame(stacked.reshape(-1, len(feats)), columns=feats)


def explain_position(
    models: StageModels, X: pd.DataFrame, pred: np.ndarray, *, top: int = 5, moved: np.ndarray | None = None
) -> list[list[dict]]:
    """Per-driver contributions to the predicted position: how much the prediction moves when one
    feature is reset to its training median (negative = the feature helps the driver finish higher).
    Only features with a known value are offered (the top `top` of them).
    `moved` = the position model's predictions on `_explanation_resets` when already computed."""
    n, feats = len(X), models.features
    values = X.to_numpy(dtype=float)
    if moved is None:
        with threadpool_limits(limits=1):
            moved = models.position.predict(_explanation_resets(models, X))[n:]
    moved = np.asarray(moved).reshape(len(feats), n)
    # A feature whose value is unknown is no reason: resetting its NaN to the median moves the
    # prediction, but that says what a known value would do, not why this driver is placed here.
    contrib = np.where(np.isnan(values.T), 0.0, pred[None, :] - moved)  # (features, drivers)
    out = []
    for i in range(n):
        idx = np.argsort(-np.abs(contrib[:, i]))[:top]
        out.append(
            [
                {
                    "feature": feats[j],
                    "value": None if np.isnan(values[i, j]) else round(float(values[i, j]), 4),
                    "contribution": round(float(contrib[j, i]), 3),
                }
                for j in idx
                if abs(contrib[j, i]) > 1e-9
            ]
        )
    return out
