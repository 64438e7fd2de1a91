"""Stored rolling-origin backtests (BacktestRun)."""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from predictions.features.compute import build_features
from predictions.features.frames import F1Frames, f1_frames_load
from predictions.ml.backtest import WINDOW, backtest_compute
from predictions.models import BacktestRun, BacktestStatus
from predictions.services.training import HISTORY_FROM_SEASON
from predictions.signals import models_changed


class BacktestArgumentError(ValueError):
    """The seasons / stage / window asked for cannot be backtested; nothing was stored. Its own
    type, so the weekly job skips only this and a crash inside the backtest fails the job."""


def backtest_run(
    *,
    seasons: list[int],
    stage: str = "post",
    retrain_every: int = 0,
    window: int = WINDOW,
    frames: F1Frames | None = None,
) -> BacktestRun:
    """Backtest race by race over `seasons` (models retrained at each season start, and every
    `retrain_every` races when > 0) and store the report. Bad arguments (a season without results,
    or without an earlier season to train on) raise BacktestArgumentError and store nothing; a failure of the
    backtest itself is stored with its error.
    `seasons` is a set: duplicates count once (each season's races are predicted and scored once).
    A stored report sends `models_changed` (on commit): the model pages and API show the latest."""
    seasons = sorted(set(seasons))
    if stage not in ("pre", "post"):
        raise BacktestArgumentError(f"stage must be 'pre' or 'post', got {stage!r}")
    if not seasons:
        raise BacktestArgumentError("no seasons to backtest")
    if retrain_every < 0:
        raise BacktestArgumentError(
            f"retrain_every must be 0 (season starts only) or a number of races, got {retrain_every}"
        )
    if window < 1:
        raise BacktestArgumentError(f"the training window must be at least 1 season, got {window}")
    started = time.perf_counter()
    frames = frames if frames is not None else f1_frames_load(since_season=HISTORY_FROM_SEASON)
    features = build_features(frames)
    # Seasons it cannot backtest are bad arguments: refused before a run is stored.
    seasons_check(
        seasons=seasons,
        window=window,
        with_results={int(s) for s in features.loc[features["finish"].notna(), "season"].unique()},
    )
    run = BacktestRun.objects.create(
        seasons=seasons, stage=stage, retrain_every=retrain_every, params={"window_seasons": window}
    )
    try:
        report = backtest_compute(
            features, seasons=seasons, stage=stage, retrain_every=retrain_every, window=window
        )
    except Exception as exc:
        run.status = BacktestStatus.FAILED
        run.error = str(exc)
        run.finished_at = timezone.now()
        run.duration_seconds = round(time.perf_counter() - started, 2)
        run.save()
        raise
    run.status = BacktestStatus.SUCCEEDED
    run.results = report
    run.races = report["races"]
    run.finished_at = timezone.now()
    run.duration_seconds = round(time.perf_counter() - started, 2)
    run.save()
    transaction.on_commit(lambda: models_changed.send(sender=BacktestRun, reason="backtest"))
    return run


def seasons_check(*, seasons: list[int], window: int, with_results: set[int]) -> None:
    """Each season needs results, and at least one season with results among the `window` seasons
    before it (its first race is predicted by models trained on them). The features start in
    HISTORY_FROM_SEASON, so that season itself has nothing earlier to train on."""
    if not with_results:
        raise BacktestArgumentError("no race results in the database: load data first (load_ergast)")
    first, last = min(with_results), max(with_results)
    too_early = sorted(s for s in set(seasons) if s <= first)
    if too_early:
        start = f"the model's history starts in {HISTORY_FROM_SEASON} (HISTORY_FROM_SEASON)"
        if first > HISTORY_FROM_SEASON:
            start += f" and the database has results from {first} on"
        raise BacktestArgumentError(
            f"cannot backtest season(s) {too_early}: {start}; each season is predicted by models trained "
            f"on earlier seasons, so the first season that can be backtested is {first + 1}"
        )
    missing = sorted(set(seasons) - with_results)
    if missing:
        raise BacktestArgumentError(
            f"no race results for season(s) {missing} to backtest (seasons with results: {first}-{last})"
        )
    # arithmetic, not set(range(...)): a window of 10**11 seasons must not build 10**11 integers
    untrainable = [s for s in sorted(set(seasons)) if not any(s - window <= r < s for r in with_results)]
    if untrainable:
        raise BacktestArgumentError(
            f"nothing to train on for season(s) {untrainable}: no results in the {window} season(s) "
            "before (raise --window)"
        )


def model_evaluation_run(*, season: int) -> dict:
    """The weekly job's evaluation report: a backtest of `season` so far (stage post). A season it
    cannot backtest (e.g. no completed race yet) is a skip; a crash inside the backtest propagates
    (its BacktestRun is stored as failed) and fails the job."""
    try:
        run: BacktestRun = backtest_run(seasons=[season], stage="post")
    except BacktestArgumentError as exc:  # e.g. no completed race yet this season
        return {"skipped": str(exc)[:300]}
    return {"backtest_run": run.pk, "status": run.status, "races": run.races, "error": run.error[:300]}
