"""Benchmark the prediction engine: training on 2018-2025, one race predicted with loaded models,
and the 2022-2025 post-qualifying backtest.

    .venv/bin/python -m bench.bench_ml [--skip-backtest]

Needs a database holding the Ergast dump (BENCH_DATABASE_URL or DATABASE_URL, e.g. the dev database
loaded with `manage.py load_ergast`). Prints one JSON object; wall seconds and process CPU seconds
are both reported because the 2-core machine is often shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from bench import django_setup_for_bench


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-backtest", action="store_true")
    args = parser.parse_args()
    django_setup_for_bench()
    from ingestion.models import Race
    from predictions.features.compute import build_features
    from predictions.features.frames import f1_frames_load
    from predictions.ml.backtest import backtest_compute
    from predictions.ml.models import race_predict
    from predictions.services.training import models_fit

    out: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    frames, out["frames_load_s"], _ = _timed(lambda: f1_frames_load(since_season=1996))
    features, out["features_build_s"], out["features_build_cpu_s"] = _timed(lambda: build_features(frames))
    out["feature_rows"] = len(features)
    bundle, out["train_2018_2025_s"], out["train_2018_2025_cpu_s"] = _timed(
        lambda: models_fit(features, from_season=2018, until_season=2025, label="bench", n_jobs=2)
    )
    race = Race.objects.filter(season_id=2025).order_by("-round").first()
    rows = features[features["race_id"] == race.id].reset_index(drop=True)
    for stage in ("pre", "post"):
        times = []
        for _ in range(15):
            _, wall, _ = _timed(lambda s=stage: race_predict(bundle.stages[s], rows))
            times.append(wall)
        out[f"predict_one_race_{stage}_ms"] = round(statistics.median(times) * 1000, 1)
        _, wall, _ = _timed(lambda s=stage: race_predict(bundle.stages[s], rows, explain=0))
        out[f"predict_one_race_{stage}_no_explanation_ms"] = round(wall * 1000, 1)
    _, out["predict_one_race_incl_features_s"], _ = _timed(
        lambda: race_predict(bundle.stages["post"], build_features(frames).query(f"race_id == {race.id}"))
    )
    if not args.skip_backtest:
        report, out["backtest_2022_2025_post_s"], out["backtest_2022_2025_post_cpu_s"] = _timed(
            lambda: backtest_compute(features, seasons=[2022, 2023, 2024, 2025], stage="post")
        )
        out["backtest_model_overall"] = {
            k: v for k, v in report["overall"]["model"].items() if not k.startswith("calibration")
        }
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
