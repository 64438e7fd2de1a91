"""JSON-ready payloads for the /api/v1 prediction endpoints, built on predictions.selectors."""

from __future__ import annotations

from django.utils import timezone

from ingestion.api.selectors import race_status_derive
from ingestion.models import Race, RaceResult
from predictions import selectors as engine


def race_ref(*, race: Race, status: str | None = None) -> dict:
    if status is None:
        has_results = RaceResult.objects.filter(race=race).exists()
        status = race_status_derive(race_date=race.date, has_results=has_results)
    return {
        "id": race.slug,
        "season": race.season_id,
        "round": race.round,
        "name": race.name,
        "date": race.date,
        "start": race.start,
        "status": status,
    }


def _prediction_row(p) -> dict:
    return {
        "driver": {"id": p.driver.ref, "code": p.driver.code, "name": p.driver.full_name},
        "team": {"id": p.team.ref, "name": p.team.name},
        "predicted_position": p.predicted_position,
        "expected_position": p.expected_position,
        "win_probability": p.win_probability,
        "podium_probability": p.podium_probability,
        "points_probability": p.points_probability,
        "dnf_probability": p.dnf_probability,
        "confidence": p.confidence,
        "low_confidence": p.low_confidence,
        "explanation": [
            {
                "feature": str(e.get("feature", "")),
                "value": e.get("value") if isinstance(e.get("value"), int | float) else None,
                "contribution": float(e.get("contribution") or 0.0),
            }
            for e in (p.explanation or [])
            if isinstance(e, dict)
        ],
    }


def stages_payload(*, race: Race) -> list[dict]:
    stages = []
    for stage, rows in engine.prediction_list_current(race=race).items():
        first = rows[0]
        stages.append(
            {
                "stage": stage,
                "model_version": first.model_version.label,
                "created_at": first.created_at,
                "as_of": first.as_of,
                "backfilled": first.backfilled,
                "predictions": [_prediction_row(p) for p in rows],
            }
        )
    return stages


def race_predictions(*, race: Race, status: str | None = None) -> dict:
    return {"race": race_ref(race=race, status=status), "stages": stages_payload(race=race)}


def upcoming_predictions(*, limit: int = 3) -> dict:
    races = engine.race_list_upcoming(limit=limit)
    return {
        "as_of": timezone.now(),
        "races": [race_predictions(race=r, status="scheduled") for r in races],
    }


_ACCURACY_FIELDS = (
    "drivers",
    "mae",
    "mae_finishers",
    "spearman",
    "winner_hit",
    "podium_overlap",
    "points_accuracy",
    "brier_win",
    "brier_podium",
    "brier_points",
)


def race_accuracy(*, race: Race) -> dict | None:
    """None when the race has no results yet; `stages` empty when nothing was scored."""
    records = engine.race_accuracy_get(race=race)
    if records is None:
        return None
    return {
        "race": race_ref(race=race, status="completed"),
        "stages": [
            {
                "stage": stage,
                "model_version": rec.model_version.label if rec.model_version_id else None,
                "backfilled": rec.backfilled,
                "scored_at": rec.scored_at,
                **{f: getattr(rec, f) for f in _ACCURACY_FIELDS},
                "metrics": rec.metrics or {},
            }
            for stage, rec in sorted(records.items())
        ],
    }


def model_performance() -> dict:
    version = engine.model_version_active()
    backtests = {}
    for stage in ("pre", "post"):
        run = engine.backtest_latest(stage=stage)
        if run is not None:
            backtests[stage] = {
                "id": run.pk,
                "created_at": run.created_at,
                "seasons": run.seasons,
                "races": run.races,
                "results": run.results,
            }
    return {
        "active_model": None
        if version is None
        else {
            "label": version.label,
            "created_at": version.created_at,
            "train_from_season": version.train_from_season,
            "train_until_season": version.train_until_season,
            "trained_until_date": version.trained_until_date,
            "rows": version.rows,
            "features": version.features,
            "metrics": version.metrics,
        },
        "backtests": backtests,
        "features": engine.feature_catalogue(),
    }
