"""Benchmark: what a what-if grid costs per request, before and after its base is cached.

    .venv/bin/python -m bench.bench_what_if [--requests 15] [--skip-model]

For a race not run yet (the first 2026 race without results) and a race run (the last of 2025):
- `full_build_ms`: the rows built in full, as every what-if did before (`_what_if_rows_built`:
  frames from the database + every race's features), median of 3;
- `first_ms`: the cached path on a cold cache (this process's and the Django cache's entry removed):
  the base is built and stored, then the grid applied;
- `repeat_ms`: the cached path, another random grid each time, base in this process (median / max);
- `repeat_shared_ms`: the base from the Django cache only (another worker built it), median;
- `stamp_ms`: the data-state stamp alone (one query), median;
- `predict_post_ms`: the post-qualifying model on those rows (models fitted in-process on
  2018-2025 like bench_ml; `--skip-model` leaves it out), median.
A request's cost is about `repeat_ms` + `predict_post_ms` + the grid check (a few queries).

Needs a database holding the Ergast dump (BENCH_DATABASE_URL or DATABASE_URL). Reads only (the
cache entries it writes are the what-if's own). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

from bench import django_setup_for_bench


def _ms(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, round((time.perf_counter() - start) * 1000, 1)


def _race_figures(race, *, bundle, requests: int, rng: random.Random) -> dict:
    from django.core.cache import cache

    from ingestion.models import Driver
    from predictions.ml.models import race_predict
    from predictions.services import what_if as what_if_cache
    from predictions.services.predicting import (
        _what_if_rows,
        _what_if_rows_built,
        _what_if_targets,
        race_entries,
    )

    entries, _ = race_entries(race=race)
    refs = dict(Driver.objects.filter(id__in=entries["driver_id"].tolist()).values_list("id", "ref"))
    field = [refs[int(d)] for d in entries["driver_id"]]

    def targets():
        grid = field[:]
        rng.shuffle(grid)
        return _what_if_targets(race, grid)[0]

    t = targets()
    full = [_ms(lambda: _what_if_rows_built(race, t))[1] for _ in range(3)]
    stamp = what_if_cache.what_if_inputs_stamp()
    what_if_cache.what_if_local_clear()
    cache.delete(what_if_cache.what_if_base_key(race_id=race.id, entries=entries, stamp=stamp))
    rows, first = _ms(lambda: _what_if_rows(race, t))
    repeat, shared = [], []
    for _ in range(requests):
        t = targets()
        repeat.append(_ms(lambda t=t: _what_if_rows(race, t))[1])
    for _ in range(5):
        what_if_cache.what_if_local_clear()
        t = targets()
        shared.append(_ms(lambda t=t: _what_if_rows(race, t))[1])
    figures = {
        "full_build_ms": statistics.median(full),
        "first_ms": first,
        "repeat_ms": statistics.median(repeat),
        "repeat_max_ms": max(repeat),
        "repeat_shared_ms": statistics.median(shared),
        "stamp_ms": statistics.median([_ms(what_if_cache.what_if_inputs_stamp)[1] for _ in range(5)]),
    }
    if bundle is not None:
        predict = [_ms(lambda: race_predict(bundle.stages["post"], rows, explain=3))[1] for _ in range(5)]
        figures["predict_post_ms"] = statistics.median(predict)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--skip-model", action="store_true")
    args = parser.parse_args()
    django_setup_for_bench()
    from ingestion.models import Race

    bundle = None
    if not args.skip_model:
        from predictions.features.compute import build_features
        from predictions.features.frames import f1_frames_load
        from predictions.services.training import models_fit

        features = build_features(f1_frames_load(since_season=1996))
        bundle = models_fit(features, from_season=2018, until_season=2025, label="bench", n_jobs=2)
    upcoming = Race.objects.filter(season_id=2026, results__isnull=True).order_by("date").distinct().first()
    past = Race.objects.filter(season_id=2025).order_by("-round").first()
    rng = random.Random(1)
    out: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "races": {}}
    for race in [r for r in (upcoming, past) if r is not None]:
        out["races"][race.slug] = _race_figures(race, bundle=bundle, requests=args.requests, rng=rng)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
