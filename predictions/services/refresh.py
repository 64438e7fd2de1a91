"""Refreshing predictions after the data or the model changed: one race's (after a session's
results are in), every upcoming race's (after staff activate another version or a retrain), and the
admin's "Retrain models" job (train, activate, refresh the upcoming races).

The Celery tasks in `predictions.tasks` only take ids, call these and own their retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# The registered name of the task `predictions.tasks.race_predictions_refresh` (named here so this
# module does not import the tasks module).
RACE_PREDICTIONS_REFRESH_TASK = "predictions.tasks.race_predictions_refresh"


def race_predictions_refresh(*, race_id: int, trigger: str) -> dict:
    """Regenerate one race's predictions. `trigger` is what asked for it: "post_qualifying" (the
    grid is known) regenerates the post-qualifying set; any other value — a session ("practice",
    "sprint") or a reason ("model_retrained", …) — every stage available. A race that cannot be
    predicted is a skip, with the reason."""
    from ingestion.models import Race
    from predictions.services import ModelUnavailable, prediction_generate
    from predictions.services.predicting import PredictionInputError

    race = Race.objects.get(pk=race_id)
    try:
        created = prediction_generate(race=race, stage="post" if trigger == "post_qualifying" else None)
    except (ModelUnavailable, PredictionInputError) as exc:
        return {"skipped": f"{race.slug}: {exc}"[:300]}
    return {
        "race": race.slug,
        "trigger": trigger,
        "predictions": len(created),
        "unchanged": list(created.unchanged),  # kept: same model and inputs as the current set
    }


@dataclass(frozen=True)
class UpcomingRefresh:
    """What `upcoming_predictions_refresh_enqueue` sent: the races queued (or, in the embedded mode,
    refreshed here: `ran_here`), those not queued because the broker refused, and its error."""

    queued: list[str] = field(default_factory=list)
    not_queued: list[str] = field(default_factory=list)
    error: str = ""
    ran_here: bool = False  # tasks run eagerly (the embedded mode): `queued` already ran, inline


def upcoming_predictions_refresh_enqueue(*, reason: str) -> UpcomingRefresh:
    """Send a refresh of every upcoming race's predictions (all stages available), e.g. after staff
    activate another model version or a retrain finished, so the next three races show its
    predictions now rather than after the daily job's catch-up. A race that cannot be predicted is
    skipped by the task, which records why (its JobRun).

    Sent at once through `task_publish` (the callers have committed the activation): with the broker
    down the first refusal comes within the enqueue budget and ends the loop (the broker is down for
    every race); an on-commit `.delay` hung the admin request for ~19 s and then answered 500 after
    the activation had been saved. The daily job's catch-up refreshes whatever was not queued."""
    from f1site.celery import QueueUnavailable, app, task_publish
    from predictions.selectors import race_list_upcoming

    slugs = [(race.pk, race.slug) for race in race_list_upcoming()]
    ran_here = bool(app.conf.task_always_eager)
    queued: list[str] = []
    for index, (race_id, slug) in enumerate(slugs):
        try:
            task_publish(name=RACE_PREDICTIONS_REFRESH_TASK, args=[race_id, reason])
        except QueueUnavailable as exc:
            logger.warning("could not queue a predictions refresh", extra={"race": slug, "error": str(exc)})
            return UpcomingRefresh(
                queued=queued, not_queued=[s for _, s in slugs[index:]], error=str(exc), ran_here=ran_here
            )
        except Exception:
            if not ran_here:
                raise
            # embedded mode: the refresh ran here and failed; its JobRun records why
            logger.exception("predictions refresh failed", extra={"race": slug})
        queued.append(slug)
    return UpcomingRefresh(queued=queued, ran_here=ran_here)


def model_retrain_run(*, queued_at: str | None = None) -> dict:
    """The admin's "Retrain models": train on the latest data and activate, then refresh the
    upcoming races with the new version. The counts name both.

    `queued_at` (ISO, the click's time): when the active version was trained after it, a retrain
    already ran since this one was asked for (two clicks while the worker was busy): nothing is
    trained, the run is recorded as skipped, naming that version."""
    from predictions.services import model_train

    newer = version_trained_since(queued_at=queued_at)
    if newer is not None:
        return {
            "skipped": f"a retrain queued at {queued_at} already ran: {newer.label} "
            f"(trained {newer.created_at.isoformat()}, active)",
            "model_version": newer.label,
        }
    version = model_train()
    refresh = upcoming_predictions_refresh_enqueue(reason="model_retrained")
    counts = {"model_version": version.label, "rows": version.rows, "refresh_queued": refresh.queued}
    if refresh.not_queued:
        counts["refresh_not_queued"] = refresh.not_queued
        counts["refresh_error"] = refresh.error[:300]
    return counts


def version_trained_since(*, queued_at: str | None):
    """The active ModelVersion when it was registered after `queued_at` (ISO), else None. Only the
    active one: a backfill's version (trained on earlier seasons, never activated) is no retrain."""
    from datetime import UTC, datetime

    from predictions.models import ModelVersion

    if not queued_at:
        return None  # a message queued before the time was passed: retrain as asked
    try:
        since = datetime.fromisoformat(queued_at)
    except (TypeError, ValueError):
        logger.warning("model_retrain: unreadable queued_at %r; retraining", queued_at)
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return ModelVersion.objects.filter(is_active=True, created_at__gt=since).order_by("-created_at").first()
