"""Refreshing predictions after the data or the model changed: one race's (after a session's
results are in; the scheduled jobs' post-qualifying fallback when the live job did not make that
set), every upcoming race's (after staff activate another version or a retrain), and the admin's
"Retrain models" job (train, activate, refresh the upcoming races).

The Celery tasks in `predictions.tasks` only take ids, call these and own their retries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

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


# Why a due race was not queued when the broker refused (`post_qualifying_refresh_catch_up`).
POST_QUALIFYING_BROKER_DOWN = (
    "the broker did not take the refresh (see error); the next daily or weekly run queues it"
)


def post_qualifying_refresh_catch_up(*, now: datetime, changed_race_ids: Sequence[str] = ()) -> dict:
    """The post-qualifying set the live job did not make (OpenF1 down or late over qualifying, the
    refresh it queued lost): queue `race_predictions_refresh(trigger="post_qualifying")` — the live
    job's refresh: its per-race lock, its JobRun `predictions_refresh:<race pk>` — for each race
    `race_list_post_qualifying_due` finds as of `now` (not started, qualifying stored, no
    post-qualifying set since qualifying, or its rows changed by the caller's sync:
    `changed_race_ids`). A race that cannot get a live post-qualifying prediction now
    (`race_live_prediction_check`: started meanwhile, no history, off the calendar) is not queued;
    the refresh would refuse it too.

    Sent at once through `task_publish` (the scheduled jobs run outside a transaction; the rows the
    refresh reads are committed): a refused or hung broker fails within the enqueue budget and is
    no failure of the calling job, whose sync and other steps stand — the race is listed under
    `not_queued` (`POST_QUALIFYING_BROKER_DOWN`) with `error`, and stays due, so the next daily or
    weekly run queues it (the live job too, when it ingests the qualifying again).

    Returns {} when nothing is due, else `queued` (race id -> why), `not_queued` (race id -> the
    refusal) and `error` (the broker's, when it refused). Run again with nothing changed it queues
    nothing: the race has its set now."""
    from predictions.selectors import race_list_post_qualifying_due
    from predictions.services.predicting import PredictionInputError, race_live_prediction_check

    refused: dict[str, str] = {}
    to_send: list[tuple[int, str]] = []
    why: dict[str, str] = {}
    for race, reason in race_list_post_qualifying_due(as_of=now, changed_race_ids=changed_race_ids):
        try:
            race_live_prediction_check(race=race, stage="post")
        except PredictionInputError as exc:
            refused[race.slug] = str(exc)[:300]
            continue
        to_send.append((race.pk, race.slug))
        why[race.slug] = reason
    sent = _refresh_publish(races=to_send, trigger="post_qualifying")
    queued = {slug: why[slug] for slug in sent.queued}
    refused.update(dict.fromkeys(sent.not_queued, POST_QUALIFYING_BROKER_DOWN))
    if queued:
        logger.info("post-qualifying refresh queued by the fallback", extra={"races": queued})
    return {
        **({"queued": queued} if queued else {}),
        **({"not_queued": refused} if refused else {}),
        **({"error": sent.error[:300]} if sent.error else {}),
    }


@dataclass(frozen=True)
class UpcomingRefresh:
    """What `upcoming_predictions_refresh_enqueue` (or the post-qualifying catch-up) sent: the races queued (or, in the embedded mode,
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
    from predictions.selectors import race_list_upcoming

    return _refresh_publish(races=[(race.pk, race.slug) for race in race_list_upcoming()], trigger=reason)


def _refresh_publish(*, races: Sequence[tuple[int, str]], trigger: str) -> UpcomingRefresh:
    """Send `race_predictions_refresh(race id, trigger)` for each (race id, slug) now, through
    `task_publish`: the first `QueueUnavailable` ends the loop (the broker is down for every race)
    and the rest are `not_queued`, with the error. In the embedded mode the refresh runs here; one
    that fails is logged (its JobRun records why) and the loop goes on."""
    from f1site.celery import QueueUnavailable, app, task_publish

    ran_here = bool(app.conf.task_always_eager)
    queued: list[str] = []
    for index, (race_id, slug) in enumerate(races):
        try:
            task_publish(name=RACE_PREDICTIONS_REFRESH_TASK, args=[race_id, trigger])
        except QueueUnavailable as exc:
            logger.warning("could not queue a predictions refresh", extra={"race": slug, "error": str(exc)})
            return UpcomingRefresh(
                queued=queued, not_queued=[s for _, s in races[index:]], error=str(exc), ran_here=ran_here
            )
        except Exception:
            if not ran_here:
                raise
            # embedded mode: the refresh ran here and failed; its JobRun records why
            logger.exception("predictions refresh failed", extra={"race": slug})
        queued.append(slug)
    return UpcomingRefresh(queued=queued, ran_here=ran_here)


def model_retrain_run(*, queued_at: str | None = None, activated_by_id: int | None = None) -> dict:
    """The admin's "Retrain models": train on the latest data and activate (logged as the admin's
    retrain, by `activated_by_id`: the staff user who clicked, or nobody with a note naming the id
    when that account was deleted since), then refresh the upcoming races with the new version. The
    counts name both.

    `queued_at` (ISO, the click's time): when the active version was trained after it, a retrain
    already ran since this one was asked for (two clicks while the worker was busy): nothing is
    trained, the run is recorded as skipped, naming that version."""
    from predictions.models import ActivationReason
    from predictions.services import model_train

    newer = version_trained_since(queued_at=queued_at)
    if newer is not None:
        return {
            "skipped": f"a retrain queued at {queued_at} already ran: {newer.label} "
            f"(trained {newer.created_at.isoformat()}, active)",
            "model_version": newer.label,
        }
    version = model_train(reason=ActivationReason.ADMIN_RETRAIN, activated_by_id=activated_by_id)
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
