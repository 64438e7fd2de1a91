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


def backtest_run(
    *,
    seasons: list[int],
    stage: str = "post",
    retrain_every: int = 0,
    window: int = WINDOW,
    frames: F1Frames | None = None,
) -> BacktestRun:
    """Backtest race by race over `seasons` (models retrained at each season start, and every
    `retrain_every` races when > 0) and store the report. A failure is stored with its error.
    A stored report sends `models_changed` (on commit): the model pages and API show the latest."""
    if stage not in ("pre", "post"):
        raise ValueError(f"stage must be 'pre' or 'post', got {stage!r}")
    if not seasons:
        raise ValueError("no seasons to backtest")
    if retrain_every < 0:
        raise ValueError(
            f"retrain_every must be 0 (season starts only) or a number of races, got {retrain_every}"
        )
    if window < 1:
        raise ValueError(f"the training window must be at least 1 season, got {window}")
    run = BacktestRun.objects.create(
        seasons=sorted(seasons), stage=stage, retrain_every=retrain_every, params={"window_seasons": window}
    )
    started = time.perf_counter()
    try:
        frames = frames if frames is not None else f1_frames_load(since_season=HISTORY_FROM_SEASON)
        features = build_features(frames)
        available = set(features.loc[features["finish"].notna(), "season"].unique())
        missing = sorted(set(seasons) - available)
        if missing:
            raise ValueError(f"no race results for season(s) {missing}")
        report = backtest_compute(
            features, seasons=sorted(seasons), stage=stage, retrain_every=retrain_every, window=window
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
