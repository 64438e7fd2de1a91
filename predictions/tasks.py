"""Celery tasks and call points from the pipeline into the prediction engine.

The prediction engine owns the work (predictions.services); these wrappers give the pipeline one
stable entry per step and degrade to a recorded note when the engine is not installed yet.
"""

from __future__ import annotations

import logging

from celery import shared_task

from f1site.celery import JobTask

logger = logging.getLogger(__name__)


def _service(name: str):
    try:
        from predictions import services
    except ImportError:
        return None
    return getattr(services, name, None)


def race_results_process_run(*, race) -> dict:
    """The post-race step: score predictions, retrain if AUTO_RETRAIN_ENABLED, refresh upcoming, invalidate."""
    process = _service("race_results_process")
    if process is None:
        return {"skipped": "predictions.services.race_results_process not available"}
    result = process(race=race)
    return result if isinstance(result, dict) else {"result": str(result)}


def model_evaluation_run() -> dict:
    evaluate = _service("model_evaluation_report")
    if evaluate is None:
        return {"skipped": "predictions.services.model_evaluation_report not available"}
    result = evaluate()
    return result if isinstance(result, dict) else {"result": str(result)}


@shared_task(bind=True, base=JobTask, name="predictions.tasks.race_predictions_refresh", max_retries=2)
def race_predictions_refresh(self, race_id: int, stage: str):
    from ingestion.models import Race
    from ingestion.services.jobs import job_run_execute

    def refresh() -> dict:
        func = _service("race_predictions_refresh")
        if func is None:
            return {"skipped": "predictions.services.race_predictions_refresh not available"}
        result = func(race=Race.objects.get(pk=race_id), stage=stage)
        return result if isinstance(result, dict) else {"result": str(result)}

    run = job_run_execute(job=f"predictions_refresh:{race_id}", func=refresh, task_id=self.request.id or "")
    return {"job_run": run.pk, "status": run.status}


def race_predictions_refresh_enqueue(*, race_id: int, stage: str) -> None:
    """Queue a refresh of one race's predictions once the current transaction commits."""
    from django.db import transaction

    transaction.on_commit(lambda: race_predictions_refresh.delay(race_id, stage))
