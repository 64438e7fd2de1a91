"""Read-side queries of the prediction engine (keyword-only; used by the API, pages and commands).

Race status relative to a clock `as_of` (default now; settable for demos and backtests), by race
date (UTC):
  completed        results are stored and the race date is on or before as_of's date;
  awaiting_results no results yet although the race date is before as_of's date (shown as such,
                   never as upcoming);
  scheduled        the race date is after as_of's date, or it is today and no results are in.
Upcoming = the first `limit` scheduled races; recent = the last `limit` completed races. With a
past clock, a race run since then counts as scheduled (it was, as of that clock).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ingestion.models import Race, RaceResult
from predictions.features.registry import feature_catalogue_rows
from predictions.models import (
    BacktestRun,
    BacktestStatus,
    ModelVersion,
    Prediction,
    PredictionStage,
    RaceAccuracy,
)


def _today(as_of: datetime | None):
    return (as_of or timezone.now()).date() if isinstance(as_of, datetime) or as_of is None else as_of


def _races_with_results() -> QuerySet[Race]:
    return Race.objects.select_related("circuit").annotate(
        has_results=Exists(RaceResult.objects.filter(race=OuterRef("pk")))
    )


def race_status(*, race: Race, as_of: datetime | None = None) -> str:
    today = _today(as_of)
    has_results = RaceResult.objects.filter(race=race).exists()
    if has_results and race.date <= today:
        return "completed"
    return "awaiting_results" if race.date < today else "scheduled"


def race_list_upcoming(*, as_of: datetime | None = None, limit: int = 3) -> list[Race]:
    today = _today(as_of)
    qs = _races_with_results().filter(Q(date__gt=today) | Q(date=today, has_results=False))
    return list(qs.order_by("date", "round")[:limit])


def race_list_recent_completed(*, as_of: datetime | None = None, limit: int = 3) -> list[Race]:
    qs = _races_with_results().filter(has_results=True, date__lte=_today(as_of)).order_by("-date", "-round")
    return list(qs[:limit])


def race_list_awaiting_results(*, as_of: datetime | None = None) -> list[Race]:
    qs = _races_with_results().filter(has_results=False, date__lt=_today(as_of))
    latest_completed = _races_with_results().filter(has_results=True).order_by("-date").first()
    if latest_completed is not None:  # the dump's calendar starts in 1950; only after the data ends
        qs = qs.filter(date__gt=latest_completed.date)
    return list(qs.order_by("date", "round"))


def prediction_list_current(*, race: Race) -> dict[str, list[Prediction]]:
    """Stage -> the latest prediction set for that stage (ordered by predicted position)."""
    out: dict[str, list[Prediction]] = {}
    batches = _latest_batches(race)
    if not batches:
        return out
    rows = (
        Prediction.objects.filter(batch__in=batches.values())
        .select_related("driver", "team", "model_version")
        .order_by("stage", "predicted_position")
    )
    for p in rows:
        out.setdefault(p.stage, []).append(p)
    return {s: out[s] for s in PredictionStage.values if s in out}


def _latest_batches(race: Race) -> dict[str, str]:
    out = {}
    for stage in PredictionStage.values:
        batch = (
            Prediction.objects.filter(race=race, stage=stage)
            .order_by("-created_at", "-id")
            .values_list("batch", flat=True)
            .first()
        )
        if batch:
            out[stage] = batch
    return out


def race_accuracy_get(*, race: Race) -> dict[str, RaceAccuracy] | None:
    """Stage -> the latest accuracy record; None when the race has no results yet."""
    if not RaceResult.objects.filter(race=race).exists():
        return None
    out = {}
    for rec in RaceAccuracy.objects.filter(race=race).order_by("stage", "-scored_at"):
        out.setdefault(rec.stage, rec)
    return out


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("-created_at")


def backtest_latest(*, stage: str | None = None) -> BacktestRun | None:
    qs = BacktestRun.objects.filter(status=BacktestStatus.SUCCEEDED)
    if stage:
        qs = qs.filter(stage=stage)
    return qs.order_by("-created_at").first()


def feature_catalogue() -> list[dict]:
    """name, group, description, source, available_pre_qualifying — from the feature registry."""
    return feature_catalogue_rows()


def race_results_list(*, race: Race) -> list[RaceResult]:
    return list(
        RaceResult.objects.filter(race=race, shared_car_index=0)
        .select_related("driver", "team", "status")
        .order_by("position_order")
    )


def prediction_overview(*, as_of: datetime | None = None) -> dict:
    """The "next 3 / past 3" view: upcoming races with their current predictions, the last three
    completed races with predicted-vs-actual and accuracy, and races awaiting results."""
    upcoming = [
        {"race": r, "status": "scheduled", "predictions": prediction_list_current(race=r)}
        for r in race_list_upcoming(as_of=as_of)
    ]
    recent = []
    for r in race_list_recent_completed(as_of=as_of):
        predictions = prediction_list_current(race=r)
        results = race_results_list(race=r)
        actual = {res.driver_id: res for res in results}
        recent.append(
            {
                "race": r,
                "status": "completed",
                "predictions": predictions,
                "results": results,
                "predicted_vs_actual": {
                    stage: [
                        {
                            "prediction": p,
                            "actual_position": actual[p.driver_id].position_order
                            if p.driver_id in actual
                            else None,
                        }
                        for p in rows
                    ]
                    for stage, rows in predictions.items()
                },
                "accuracy": race_accuracy_get(race=r) or {},
            }
        )
    awaiting = [
        {"race": r, "status": "awaiting_results", "predictions": prediction_list_current(race=r)}
        for r in race_list_awaiting_results(as_of=as_of)
    ]
    return {
        "as_of": as_of or timezone.now(),
        "upcoming": upcoming,
        "recent": recent,
        "awaiting_results": awaiting,
    }


def race_prediction_unavailable(*, race: Race) -> str | None:
    """Why `race` cannot be predicted (nor what-if'd), or None when it can: no history before
    HISTORY_FROM_SEASON. No query."""
    from predictions.services.predicting import PredictionInputError, _check_predictable

    try:
        _check_predictable(race)
    except PredictionInputError as exc:
        return str(exc)
    return None
