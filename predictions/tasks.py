"""Call points from the automated pipeline into the prediction engine, and its Celery task.

The prediction engine owns the work (predictions.services); the pipeline calls:
* `race_results_process_run(race=...)` — the post-race step (score, retrain if AUTO_RETRAIN_ENABLED,
  refresh upcoming predictions, invalidate caches) for one race; `races_results_process_run(races=...)`
  the same for several races with one retrain and one refresh (the daily job: this run's newly
  completed races plus those an interrupted run left unscored); `post_race_follow_up_run(as_of=...)`
  the retrain / refresh a step stopped after scoring left undone (the daily job, when no race is due);
* `model_evaluation_run(season=...)` — the weekly evaluation report (a backtest of the season so far);
* `race_predictions_refresh_enqueue(race_id=..., stage=...)` — after a session's results are in
  (stage "post_qualifying" once the grid is known, else "practice");
  `upcoming_predictions_refresh_enqueue(reason=...)` — every upcoming race, after staff change the
  active model in admin (any stage other than "post_qualifying" refreshes every stage available);
* `model_retrain(queued_at)` — the admin's "Retrain models", as a job (JobRun `model_retrain`): train,
  activate, refresh the upcoming races; skipped when the active version was trained after `queued_at`.

The API's background regeneration (`POST /api/v1/predictions/race/{id}` with `{"background": true}`)
queues `race_predictions_regenerate(run_id)`: the JobRun the request created is the job's status
(predictions.services.regeneration).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from celery import shared_task

from f1site.celery import JobTask

logger = logging.getLogger(__name__)


def race_results_process_run(*, race) -> dict:
    from predictions.services import race_results_process

    result = race_results_process(race=race)
    return result if isinstance(result, dict) else {"result": str(result)}


def races_results_process_run(*, races: list, as_of=None) -> dict:
    """The post-race step for several races (the daily job's changed + pending races): each is
    scored, then one retrain and one refresh of the upcoming predictions."""
    from predictions.services import races_results_process

    return races_results_process(races=races, as_of=as_of)


def post_race_follow_up_run(*, as_of=None) -> dict:
    """The tail of a post-race step a stopped run left undone (a retrain, a refresh), when no race
    is due its post-race step this run; {} when nothing is pending."""
    from predictions.services import post_race_follow_up

    return post_race_follow_up(as_of=as_of)


def model_evaluation_run(*, season: int) -> dict:
    from predictions.models import BacktestRun
    from predictions.services.backtest import BacktestArgumentError, backtest_run

    try:
        run: BacktestRun = backtest_run(seasons=[season], stage="post")
    except BacktestArgumentError as exc:  # e.g. no completed race yet this season
        return {"skipped": str(exc)[:300]}
    return {"backtest_run": run.pk, "status": run.status, "races": run.races, "error": run.error[:300]}


def race_predictions_refresh_body(*, race_id: int, stage: str) -> dict:
    from ingestion.models import Race
    from predictions.services import ModelUnavailable, prediction_generate
    from predictions.services.predicting import PredictionInputError

    race = Race.objects.get(pk=race_id)
    try:
        created = prediction_generate(race=race, stage="post" if stage == "post_qualifying" else None)
    except (ModelUnavailable, PredictionInputError) as exc:
        return {"skipped": f"{race.slug}: {exc}"[:300]}
    return {
        "race": race.slug,
        "stage": stage,
        "predictions": len(created),
        "unchanged": list(created.unchanged),  # kept: same model and inputs as the current set
    }


@shared_task(bind=True, base=JobTask, name="predictions.tasks.race_predictions_refresh", max_retries=2)
def race_predictions_refresh(self, race_id: int, stage: str):
    from ingestion.services.jobs import job_run_execute

    run = job_run_execute(
        job=f"predictions_refresh:{race_id}",
        func=lambda: race_predictions_refresh_body(race_id=race_id, stage=stage),
        task_id=self.request.id or "",
    )
    return {"job_run": run.pk, "status": run.status}


def race_predictions_refresh_enqueue(*, race_id: int, stage: str) -> None:
    """Queue a refresh of one race's predictions once the current transaction commits."""
    from django.db import transaction

    transaction.on_commit(lambda: race_predictions_refresh.delay(race_id, stage))


@dataclass(frozen=True)
class UpcomingRefresh:
    """What `upcoming_predictions_refresh_enqueue` sent: the races queued (or, in the embedded mode,
    refreshed here), those not queued because the broker refused, and its error."""

    queued: list[str] = field(default_factory=list)
    not_queued: list[str] = field(default_factory=list)
    error: str = ""


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
    queued: list[str] = []
    for index, (race_id, slug) in enumerate(slugs):
        try:
            task_publish(name=race_predictions_refresh.name, args=[race_id, reason])
        except QueueUnavailable as exc:
            logger.warning("could not queue a predictions refresh", extra={"race": slug, "error": str(exc)})
            return UpcomingRefresh(queued=queued, not_queued=[s for _, s in slugs[index:]], error=str(exc))
        except Exception:
            if not app.conf.task_always_eager:
                raise
            # embedded mode: the refresh ran here and failed; its JobRun records why
            logger.exception("predictions refresh failed", extra={"race": slug})
        queued.append(slug)
    return UpcomingRefresh(queued=queued)


def model_retrain_body(*, queued_at: str | None = None) -> dict:
    """The admin's "Retrain models": train on the latest data and activate, then refresh the
    upcoming races with the new version. The counts name both.

    `queued_at` (ISO, the click's time): when the active version was trained after it, a retrain
    already ran since this one was asked for (two clicks while the worker was busy): nothing is
    trained, the run is recorded as skipped, naming that version."""
    from predictions.services import model_train

    newer = _version_trained_since(queued_at)
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


def _version_trained_since(queued_at: str | None):
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


@shared_task(bind=True, base=JobTask, name="predictions.tasks.model_retrain", max_retries=1)
def model_retrain(self, queued_at: str | None = None):
    """Training takes 3-15 s (more under load): in a worker, not in the admin's web request, which
    gunicorn ends at 30 s. One at a time (the job's lock); a second request meanwhile is recorded
    as skipped, and so is one that runs after a retrain finished since it was queued (`queued_at`,
    the admin click's time: two clicks while the worker was busy train one version, not two)."""
    run = self.run_job("model_retrain", lambda: model_retrain_body(queued_at=queued_at))
    return {"job_run": run.pk, "status": run.status} if run is not None else {}


# Lock held by another refresh of the race: retry every 5 s for about a minute, then record a failure.
REGENERATE_LOCK_RETRIES = 12


@shared_task(
    bind=True,
    base=JobTask,
    name="predictions.tasks.race_predictions_regenerate",
    max_retries=REGENERATE_LOCK_RETRIES,
)
def race_predictions_regenerate(self, run_id: int):
    from predictions.services.regeneration import RegenerationLocked, regeneration_run

    try:
        return regeneration_run(run_id=run_id, give_up=self.request.retries >= self.max_retries)
    except RegenerationLocked as exc:
        raise self.retry(countdown=5, exc=exc) from exc
