"""The post-race step the scheduler calls once a race's results are in."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ingestion.models import Race, RaceResult
from ingestion.selectors import race_pre_race_cutoff
from ingestion.services.upsert import upsert_rows
from predictions.features.frames import points_places, status_is_finished
from predictions.ml.metrics import prediction_set_score
from predictions.models import Prediction, PredictionStage, RaceAccuracy
from predictions.signals import predictions_changed

logger = logging.getLogger(__name__)


def _pre_race_batch(race: Race, stage: str):
    """The latest prediction set genuinely made before the race started (or a backfilled one),
    among the sets that could be current (never one computed at a past clock: the site never
    showed it as its prediction).

    Both `created_at` and `as_of` must be before the start: `as_of` alone is what the caller claimed,
    and a set stored after the race with a past clock (the old `predict --as-of`) must not be taken
    for a pre-race prediction."""
    cutoff = race_pre_race_cutoff(race=race)
    return (
        Prediction.objects.current_candidates()  # a set computed at a past clock was never current
        .filter(race=race, stage=stage)
        .filter(Q(as_of__lt=cutoff, created_at__lt=cutoff) | Q(backfilled=True))
        .order_by("backfilled", "-created_at", "-id")  # a genuine pre-race set beats a backfill
        .values_list("batch", "backfilled", "model_version_id")
        .first()
    )


def race_has_pre_race_prediction(*, race: Race) -> bool:
    """Whether any stage has a prediction made before the race (or a backfilled one) to score."""
    return any(_pre_race_batch(race, stage) for stage in PredictionStage.values)


def _results_scored(race_ids) -> dict[int, pd.DataFrame]:
    """Per race, what a prediction is scored against: driver, finishing place, retired (0/1)."""
    frame = pd.DataFrame(
        RaceResult.objects.filter(race_id__in=race_ids, shared_car_index=0).values_list(
            "race_id", "driver_id", "position_order", "status__status"
        ),
        columns=["race_id", "driver_id", "finish", "status"],
    )
    frame["dnf"] = (~status_is_finished(frame.pop("status"))).astype(float)
    return {
        int(race_id): rows.drop(columns="race_id").sort_values("finish").reset_index(drop=True)
        for race_id, rows in frame.groupby("race_id")
    }


def results_fingerprint(results: pd.DataFrame) -> str:
    """sha256 (32 hex) of a race's scored result (`_results_scored`): stored with each accuracy
    record, so a result corrected after the scoring is found and scored again."""
    text = ";".join(
        f"{d}:{f}:{int(x)}" for d, f, x in results[["driver_id", "finish", "dnf"]].itertuples(index=False)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def races_rescore_due(*, races: Sequence[Race]) -> list[Race]:
    """Those of `races` scored against a result that has changed since (a correction upstream,
    reached by any path: the daily or weekly sync, a staff resync, a run killed after its sync
    committed). Records from before fingerprints were kept (empty) are taken as current."""
    by_id = {race.pk: race for race in races}
    stored: dict[int, set[str]] = {}
    for race_id, fingerprint in (
        RaceAccuracy.objects.filter(race_id__in=by_id)
        .exclude(results_fingerprint="")
        .values_list("race_id", "results_fingerprint")
    ):
        stored.setdefault(race_id, set()).add(fingerprint)
    current = _results_scored(list(stored))
    return [
        by_id[race_id]
        for race_id, fingerprints in stored.items()
        if race_id in current and fingerprints != {results_fingerprint(current[race_id])}
    ]


def race_accuracy_score(*, race: Race) -> list[RaceAccuracy]:
    """Score the stored pre-race predictions of each stage against the results (upserted; a
    re-scoring after a correction updates the records and their `scored_at`)."""
    results = _results_scored([race.pk]).get(race.pk)
    if results is None:
        raise ValueError(f"{race.slug} has no results to score against")
    fingerprint = results_fingerprint(results)
    rows = []
    for stage in PredictionStage.values:
        found = _pre_race_batch(race, stage)
        if not found:
            continue
        batch, backfilled, version_id = found
        pred = pd.DataFrame(
            Prediction.objects.filter(batch=batch).values_list(
                "driver_id",
                "predicted_position",
                "win_probability",
                "podium_probability",
                "points_probability",
                "dnf_probability",
            ),
            columns=["driver_id", "predicted_position", "p_win", "p_podium", "p_points", "p_dnf"],
        )
        score = prediction_set_score(pred, results, places=int(points_places(race.season_id)))
        rows.append(
            {
                "race_id": race.id,
                "stage": stage,
                "batch": batch,
                "model_version_id": version_id,
                "backfilled": backfilled,
                "drivers": score["drivers"],
                "mae": score["mae"],
                "mae_finishers": score["mae_finishers"],
                "spearman": score["spearman"],
                "winner_hit": score["winner_hit"],
                "podium_overlap": score["podium_overlap"],
                "points_accuracy": score["points_accuracy"],
                "brier_win": score["brier_win"],
                "brier_podium": score["brier_podium"],
                "brier_points": score["brier_points"],
                "metrics": {"dnf_log_loss": score.get("dnf_log_loss")},
                "results_fingerprint": fingerprint,
            }
        )
    counts = upsert_rows(
        model=RaceAccuracy, rows=rows, key_fields=["race_id", "stage", "batch"], scope={"race_id": race.id}
    )
    if counts.updated:  # bulk updates skip auto_now: a re-scored record says when it was re-scored
        RaceAccuracy.objects.filter(race=race, results_fingerprint=fingerprint).update(
            scored_at=timezone.now()
        )
    # The accuracy shows wherever the race's predictions do (its page, the home page's last three,
    # the API's accuracy and overview): without this a new score waited for the cache to expire.
    transaction.on_commit(lambda: predictions_changed.send(sender=RaceAccuracy, race_ids=[race.id]))
    return list(RaceAccuracy.objects.filter(race=race).order_by("stage"))


def _race_score(race: Race) -> dict:
    """Score one race's pre-race predictions, backfilling an honest one first if none was stored."""
    from predictions.services.predicting import predictions_backfill

    backfilled = False
    if not race_has_pre_race_prediction(race=race):
        backfilled = bool(predictions_backfill(races=[race]))
    records = race_accuracy_score(race=race)
    return {
        "backfilled": backfilled,
        "accuracy": {
            r.stage: {"mae": r.mae, "spearman": r.spearman, "winner_hit": r.winner_hit} for r in records
        },
    }


def _retrain_and_refresh(summary: dict, *, as_of, retrain: bool | None = None, note: str = "") -> None:
    """Retrain once (default: when AUTO_RETRAIN_ENABLED), then re-predict the upcoming races once.
    The new version's activation is logged as the post-race retrain, with `note` (which step).

    A race that cannot be predicted is reported under `errors` and the others still go through;
    `refresh_unchanged` lists the races whose inputs and model were unchanged (sets kept).

    A retrain that fails (an artifact that cannot be written, a fit that raises) does not stop the
    refresh: the upcoming races are re-predicted with the active model from the new results, then
    the error is raised, so the run is recorded failed and the next run's catch-up retrains
    (`post_race_follow_up_pending`). It used to end the step before the refresh, and while training
    kept failing the next races were never re-predicted with the latest results."""
    from ingestion.services.job_guard import job_step_check
    from predictions.models import ActivationReason
    from predictions.selectors import race_list_upcoming
    from predictions.services.predicting import PredictionInputError, prediction_generate
    from predictions.services.training import ModelUnavailable, model_train

    summary.setdefault("refresh_unchanged", [])
    retrain_failure: Exception | None = None
    job_step_check(step="post-race retrain")  # a scheduled job whose lock was lost stops here
    if settings.AUTO_RETRAIN_ENABLED if retrain is None else retrain:
        try:
            summary["retrained"] = model_train(reason=ActivationReason.POST_RACE_RETRAIN, note=note).label
        except Exception as exc:  # refresh with the active model first; raised below
            retrain_failure = exc
            logger.exception("post-race retrain failed; refreshing with the active model")
    job_step_check(step="post-race refresh")  # ... or here, after a retrain that outlasted the lock
    # live: `as_of` is the job's now, and the results it just stored are known (not a past view)
    for upcoming in race_list_upcoming(as_of=as_of, live=True):
        try:
            made = prediction_generate(race=upcoming)
        except (ModelUnavailable, PredictionInputError) as exc:
            summary.setdefault("errors", {})[upcoming.slug] = str(exc)[:300]
            logger.warning("post-race refresh failed for %s: %s", upcoming.slug, exc)
            continue
        summary["refreshed"].append(upcoming.slug)
        if not made.stored:
            summary["refresh_unchanged"].append(upcoming.slug)
    if retrain_failure is not None:
        logger.info("post-race refresh after the failed retrain: %s", summary)
        raise retrain_failure


def post_race_follow_up_pending(*, as_of=None) -> dict:
    """What a post-race step stopped after its RaceAccuracy marker (a killed worker, a restart) may
    have left undone; the daily job's catch-up, which finds races by that marker, would otherwise
    leave it until the next race is scored. With an active model:

    * `retrain` (only with AUTO_RETRAIN_ENABLED): why a retrain is due — no model version was
      trained on data through the latest race with results. Any version counts, not just the active
      one, so a staff roll-back to an older version is not undone by a retrain the next morning;
    * `refresh`: upcoming races with no current prediction at all (one that just entered the next
      three while the race before is still awaiting its results: only a post-race refresh predicted
      it), or whose current predictions (any stage) were made by a model version older than the
      active one.

    Nothing is pending ({"retrain": None, "refresh": []}) once a step has run to its end."""
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from predictions.models import ModelVersion
    from predictions.selectors import race_list_upcoming

    pending: dict = {"retrain": None, "refresh": []}
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is None:  # nothing trained yet: that is `train_models`' business, not a catch-up
        return pending
    if settings.AUTO_RETRAIN_ENABLED:
        today = (as_of or timezone.now()).date()
        latest = (
            Race.objects.on_calendar()
            .filter(date__lte=today)
            .filter(Exists(RaceResult.objects.filter(race=OuterRef("pk"))))
            .order_by("-date", "-round")
            .first()
        )
        if (
            latest is not None
            and not ModelVersion.objects.filter(trained_until_date__gte=latest.date).exists()
        ):
            pending["retrain"] = (
                f"no model version is trained on data through {latest.slug} ({latest.date}); "
                f"the active {active.label} ends {active.trained_until_date}"
            )
    for race in race_list_upcoming(as_of=as_of, live=True):  # the job's now, as the refresh reads it
        currents = [
            Prediction.objects.current_candidates()
            .filter(race=race, stage=stage)
            .order_by("-created_at", "-id")
            .values_list("model_version_id", "model_version__created_at")
            .first()
            for stage in PredictionStage.values
        ]
        if all(current is None for current in currents) or any(
            current is not None and current[0] != active.pk and current[1] < active.created_at
            for current in currents
        ):
            pending["refresh"].append(race.slug)
    return pending


def post_race_follow_up(*, as_of=None) -> dict:
    """The daily job's catch-up of a post-race step's tail (see `post_race_follow_up_pending`):
    retrain once if a retrain is due, then refresh the upcoming predictions once if either is due.
    Returns {} when nothing is pending (no retrain, no refresh), else a summary with `pending`."""
    pending = post_race_follow_up_pending(as_of=as_of)
    if not (pending["retrain"] or pending["refresh"]):
        return {}
    summary: dict = {"pending": pending, "retrained": None, "refreshed": []}
    _retrain_and_refresh(
        summary, as_of=as_of, retrain=bool(pending["retrain"]), note=f"daily catch-up: {pending['retrain']}"
    )
    logger.info("post-race follow-up: %s", summary)
    return summary


def races_results_process(*, races: Sequence[Race], as_of=None) -> dict:
    """The post-race step for several races at once (e.g. a run that catches up on races an
    interrupted run left unscored): score each race (backfilling where needed), then retrain once
    and refresh the upcoming predictions once, not once per race.

    A race that cannot be scored (no usable model, unpredictable input) is reported under `errors`
    and left without a RaceAccuracy row, so the next run retries it; the others still go through."""
    from predictions.services.predicting import PredictionInputError
    from predictions.services.training import ModelUnavailable

    summary: dict = {"races": {}, "errors": {}, "retrained": None, "refreshed": []}
    if not races:
        return summary
    for race in races:
        try:
            summary["races"][race.slug] = _race_score(race)
        except (ModelUnavailable, PredictionInputError) as exc:
            summary["errors"][race.slug] = str(exc)[:300]
            logger.warning("post-race scoring failed for %s: %s", race.slug, exc)
    _retrain_and_refresh(summary, as_of=as_of, note=f"after {', '.join(r.slug for r in races)}")
    logger.info("post-race step for %s: %s", [r.slug for r in races], summary)
    return summary
