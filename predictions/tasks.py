"""The prediction engine's Celery tasks. Each takes ids, calls a service and owns its retries; the
work is in predictions.services:
* `race_predictions_refresh(race_id, trigger)` — one race's predictions
  (`services.refresh.race_predictions_refresh`): queued by `race_predictions_refresh_enqueue` after a
  session's results are in (trigger "post_qualifying" once the grid is known, "sprint", else
  "practice"), by the daily and weekly jobs' post-qualifying fallback for a race the live job left
  without that set (`services.refresh.post_qualifying_refresh_catch_up`), and by
  `services.refresh.upcoming_predictions_refresh_enqueue(reason=...)` for every
  upcoming race after staff change the active model or a retrain (the reason is the trigger: any
  trigger other than "post_qualifying" refreshes every stage available). The arguments travel
  positionally, so messages queued before the second was renamed from `stage` still run;
* `model_retrain(queued_at)` — the admin's "Retrain models", as a job (JobRun `model_retrain`,
  `services.refresh.model_retrain_run`): train, activate, refresh the upcoming races; skipped when the
  active version was trained after `queued_at`;
* `race_predictions_regenerate(run_id)` — the API's background regeneration
  (`POST /api/v1/predictions/race/{id}` with `{"background": true}`): the JobRun the request created
  is the job's status (predictions.services.regeneration).

The daily and weekly jobs (ingestion.services.jobs) call the post-race step and the evaluation report
(`services.post_race`, `services.backtest.model_evaluation_run`) directly.
"""

from __future__ import annotations

from celery import shared_task

from f1site.celery import JobTask


@shared_task(bind=True, base=JobTask, name="predictions.tasks.race_predictions_refresh", max_retries=2)
def race_predictions_refresh(self, race_id: int, trigger: str):
    from ingestion.services.jobs import job_run_execute
    from predictions.services.refresh import race_predictions_refresh as refresh

    run = job_run_execute(
        job=f"predictions_refresh:{race_id}",
        func=lambda: refresh(race_id=race_id, trigger=trigger),
        task_id=self.request.id or "",
    )
    return {"job_run": run.pk, "status": run.status}


def race_predictions_refresh_enqueue(*, race_id: int, trigger: str) -> None:
    """Queue a refresh of one race's predictions once the current transaction commits."""
    from django.db import transaction

    transaction.on_commit(lambda: race_predictions_refresh.delay(race_id, trigger))


@shared_task(bind=True, base=JobTask, name="predictions.tasks.model_retrain", max_retries=1)
def model_retrain(self, queued_at: str | None = None, activated_by_id: int | None = None):
    """Training takes 3-15 s (more under load): in a worker, not in the admin's web request, which
    gunicorn ends at 30 s. One at a time (the job's lock); a second request meanwhile is recorded
    as skipped, and so is one that runs after a retrain finished since it was queued (`queued_at`,
    the admin click's time: two clicks while the worker was busy train one version, not two).
    `activated_by_id`: the staff user who clicked, logged with the activation (absent from a message
    queued before it was passed: logged as nobody's; an account deleted before the activation: logged
    as nobody's, the note naming the id)."""
    from predictions.services.refresh import model_retrain_run

    run = self.run_job(
        "model_retrain", lambda: model_retrain_run(queued_at=queued_at, activated_by_id=activated_by_id)
    )
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
