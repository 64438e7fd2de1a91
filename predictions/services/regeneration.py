"""Staff regeneration of one race's predictions (`POST /api/v1/predictions/race/{id}`, and the
admin's "regenerate predictions" action, inline), inline or queued.

Every regeneration is a JobRun (job `predictions_regenerate:<race pk>`, `task_id` = the public job
id `<race pk>-<uuid4 hex>`, also the Celery task id), so its status survives a Redis flush and shows in
admin next to the pipeline's runs. Public status, from the row:

* `queued`    — RUNNING and no worker has picked it up yet (`worker` empty);
* `running`   — RUNNING with a worker;
* `succeeded` / `failed` (a run interrupted by a dead worker is `failed` too).

A run nobody will finish — its process stopped heartbeating (killed, OOM, host lost), or no worker
picked it up within JOB_QUEUED_MAX_SECONDS — is closed by the stale-run sweep
(ingestion.services.stale_runs), which a regeneration request and a status read run first for that
race: the dead job reads `failed` with the reason, and does not hold the race's dedupe. A late copy
of its message then does nothing (the run is claimed only while RUNNING).

A succeeded job lists under `unchanged` the stages whose inputs and model version were the same as
their current set's: that set was kept, nothing new stored (`prediction_generate`).

At most one regeneration per race and stage(s) per `API_REGENERATE_WINDOW` seconds. The stages are
those the request regenerates: `pre`, `post`, or, with no stage given, every stage available (`all`
once qualifying is in, else just `pre`, so `{}` and `{"stage": "pre"}` are the same request before
qualifying). `post` before qualifying is refused up front (PredictionInputError, no JobRun). The first POST claims `f1:regenerate:{race}:{stages}` in the cache (`cache.add`); with
the cache flushed or down, the database guard finds a queued/running row, or a row / predictions of
those stages stored within the window. A duplicate gets the existing job back instead of a new one.
A failed job is never a duplicate: the next POST starts a new job.

The background task takes the same per-race lock as the pipeline's `race_predictions_refresh`
(`predictions_refresh:<race pk>`), so a staff regeneration and a pipeline refresh never interleave.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from ingestion.models import JobRun, JobStatus, Race
from ingestion.services.jobs import worker_name

logger = logging.getLogger(__name__)

JOB_PREFIX = "predictions_regenerate:"
# `<race pk>-<uuid4 hex>`: the race part lets a status read use the (job, started_at) index
# instead of scanning every JobRun for the task id.
_JOB_ID_RE = re.compile(r"([1-9][0-9]{0,9})-[0-9a-f]{32}")  # fullmatch (`$` would allow a trailing \n)


class QueueUnavailable(RuntimeError):
    """The job could not be handed to the broker (recorded as a failed JobRun)."""


class RegenerationLocked(RuntimeError):
    """Another refresh of the race holds its lock; the task retries later."""


@dataclass(frozen=True)
class Regeneration:
    job: dict
    duplicate: bool
    run: JobRun | None = None

    @property
    def pending(self) -> bool:
        return self.job["status"] in ("queued", "running")

    @property
    def stored_nothing(self) -> bool:
        """The job succeeded and every stage it regenerated was unchanged (no new set stored)."""
        counts = (self.run.counts or {}) if self.run is not None else {}
        return self.job["status"] == "succeeded" and counts.get("stored") == []


def regeneration_job_name(*, race: Race) -> str:
    return f"{JOB_PREFIX}{race.pk}"


def _stages_key(*, race: Race, stage: str | None) -> str:
    """What a regeneration of `stage` regenerates: "pre", "post" or "all" (no stage with qualifying
    in, as prediction_generate decides; no stage before qualifying is "pre")."""
    from predictions.services.predicting import race_has_grid

    if stage is not None:
        return stage
    return "all" if race_has_grid(race=race) else "pre"


def _claim_key(slug: str, stages: str) -> str:
    return f"f1:regenerate:{slug}:{stages}"


def _status(run: JobRun) -> str:
    if run.status == JobStatus.RUNNING:
        return "running" if run.worker else "queued"
    if run.status in (JobStatus.SUCCEEDED, JobStatus.SKIPPED):
        return "succeeded"
    return "failed"


def _moment(value: datetime | str | None) -> datetime | None:
    """A job time as a datetime, whether kept as one or as ISO text (a JobRun's `counts`, a cache
    claim: `isoformat()`, "+00:00"). The payloads hold datetimes, so the API renders them as DRF
    renders every other timestamp ("…Z"); the job times were the one place written "+00:00"."""
    if value is None or value == "":
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def regeneration_job_payload(*, run: JobRun) -> dict:
    """The public shape of one regeneration job (JobOut); times are datetimes (see _moment)."""
    counts = run.counts or {}
    status = _status(run)
    slug = counts.get("race", "")
    return {
        "id": run.task_id,
        "race": slug,
        "stage": counts.get("stage"),
        "mode": counts.get("mode", "inline"),
        "status": status,
        "queued_at": _moment(counts.get("queued_at")) or run.started_at,
        "started_at": None if status == "queued" else run.started_at,
        "finished_at": run.finished_at,
        "error": run.error or None,
        "unchanged": counts.get("unchanged") if status == "succeeded" else None,
        "url": reverse("api-predictions-job", args=[run.task_id]),
        "predictions_url": reverse("api-predictions-race", args=[slug]) if status == "succeeded" else None,
    }


def _job_dict(job: dict) -> dict:
    """A job known only from the cache or a stored prediction batch (no JobRun): same keys, no links."""
    return {
        "id": str(job.get("id") or ""),
        "race": job.get("race", ""),
        "stage": job.get("stage"),
        "mode": job.get("mode", "inline"),
        "status": job.get("status", "succeeded"),
        "queued_at": _moment(job.get("queued_at") or job.get("started_at")),
        "started_at": _moment(job.get("started_at")),
        "finished_at": _moment(job.get("finished_at")),
        "error": job.get("error"),
        "unchanged": None,
        "url": None,
        "predictions_url": job.get("predictions_url"),
    }


def regeneration_job_get(*, job_id: str) -> JobRun | None:
    """The regeneration JobRun with this public id; ValueError if the id is malformed."""
    match = _JOB_ID_RE.fullmatch(job_id) if isinstance(job_id, str) else None
    if match is None:
        raise ValueError("A job id is <race number>-<32 lowercase hexadecimal characters>")
    from ingestion.services.stale_runs import job_runs_stale_close_quietly

    job = f"{JOB_PREFIX}{match.group(1)}"
    job_runs_stale_close_quietly(jobs=Q(job=job, task_id=job_id))  # a dead job reads "failed", not "running"
    return JobRun.objects.filter(job=job, task_id=job_id).first()


def _duplicate_of(*, race: Race, job: dict | None) -> Regeneration:
    if job is None:  # the claim expired between the two cache calls
        job = {"id": "", "race": race.slug, "status": "succeeded", "started_at": timezone.now().isoformat()}
    run = None
    if _JOB_ID_RE.fullmatch(str(job.get("id") or "")):
        run = JobRun.objects.filter(task_id=job["id"], job=regeneration_job_name(race=race)).first()
    payload = regeneration_job_payload(run=run) if run else _job_dict(job)
    return Regeneration(job=payload, duplicate=True, run=run)


def _recent_regeneration(*, race: Race, stages: str, now) -> Regeneration | None:
    """The database guard: what a lost cache claim would have found (same race, same stages)."""
    window = timedelta(seconds=settings.API_REGENERATE_WINDOW)
    # A RUNNING row here is alive or still queued: regeneration_start closed the dead ones first
    # (ingestion.services.stale_runs: worker silent, or queued past JOB_QUEUED_MAX_SECONDS).
    run = (
        JobRun.objects.filter(job=regeneration_job_name(race=race))
        .filter(counts__stages=stages)
        .filter(Q(status=JobStatus.RUNNING) | Q(status=JobStatus.SUCCEEDED, finished_at__gte=now - window))
        .order_by("-started_at")
        .first()
    )
    if run is not None:
        return _unless_stored_since(race=race, stages=stages, duplicate=run)
    return _stored_since(race=race, stages=stages, since=now - window, inclusive=True)


def _stored_since(*, race: Race, stages: str, since, inclusive: bool = False) -> Regeneration | None:
    """A duplicate answered by the current sets of these stages stored after `since`: those of the
    pipeline's refresh (e.g. after a model activation) or `predict`, which have no regeneration job
    (`id` ""; the predictions are linked). A later regeneration's set is found too and answered the
    same way, its job not named: the answer is its predictions either way."""
    from predictions.models import Prediction

    # A set computed at a past clock (`predict --as-of`) refreshed nothing current.
    stored = Prediction.objects.current_candidates().filter(
        race=race, **{"created_at__gte" if inclusive else "created_at__gt": since}
    )
    if stages != "all":  # a refresh of every stage (the pipeline's) covers any one stage too
        stored = stored.filter(stage=stages)
    elif set(stored.values_list("stage", flat=True).distinct()) != {"pre", "post"}:
        stored = stored.none()  # one stage's fresh rows do not stand for a refresh of both
    recent = stored.order_by("-created_at").first()
    if recent is None:
        return None
    return Regeneration(
        job=_job_dict(
            {
                # No regeneration job made these: no job id the jobs endpoint would take (the
                # batch uuid was given and refused there); the predictions are the answer.
                "id": "",
                "predictions_url": reverse("api-predictions-race", args=[race.slug]),
                "race": race.slug,
                "stage": recent.stage,
                "status": "succeeded",
                "started_at": recent.created_at,
                "finished_at": recent.created_at,
            }
        ),
        duplicate=True,
    )


def _unless_stored_since(*, race: Race, stages: str, duplicate: JobRun) -> Regeneration:
    """The duplicate's job, unless it succeeded and its stages were stored again after it finished
    (QA: a POST right after the admin's activation got the earlier job back, `unchanged: ["pre"]`,
    beside predictions of the new model): then the newer sets are the answer."""
    if duplicate.status == JobStatus.SUCCEEDED and duplicate.finished_at is not None:
        newer = _stored_since(race=race, stages=stages, since=duplicate.finished_at)
        if newer is not None:
            return newer
    return Regeneration(job=regeneration_job_payload(run=duplicate), duplicate=True, run=duplicate)


def _release_claim(*, slug: str, stages: str, job_id: str) -> None:
    """Let a retry through at once (the claim is ours only if it still names this job)."""
    key = _claim_key(slug, stages)
    held = cache.get(key)
    if isinstance(held, dict) and held.get("id") == job_id:
        cache.delete(key)


def _outcome_counts(created) -> dict:
    """What a finished regeneration did: rows now current, and the stages whose inputs and model
    were unchanged, so their latest set was kept rather than duplicated (prediction_generate)."""
    return {"predictions": len(created), "stored": list(created.stored), "unchanged": list(created.unchanged)}


def _finish(run: JobRun, *, status: str, error: str = "", counts: dict | None = None, clock=None) -> None:
    run.status = status
    run.error = error[:4000]
    if counts:
        run.counts = {**(run.counts or {}), **counts}
    run.finished_at = timezone.now()
    if clock is not None:
        run.duration_seconds = round(time.monotonic() - clock, 3)
    run.save(update_fields=["status", "error", "counts", "finished_at", "duration_seconds"])


def regeneration_start(*, race: Race, stage: str | None, background: bool) -> Regeneration:
    """Regenerate now (inline) or queue it (background), unless one ran/runs within the window.

    Inline raises ModelUnavailable / PredictionInputError (recorded as a failed job, claim released
    so a retry may follow); background raises QueueUnavailable if the broker refused the job. A
    race upstream no longer lists, without results, a race that has results or has started, and a
    stage not available yet (`post` before qualifying is in) are refused before anything is queued
    or recorded (PredictionInputError, no JobRun: a refusal is not a failed job for `job_failing`).
    """
    from ingestion.services.stale_runs import job_runs_stale_close_quietly
    from predictions.services.predicting import race_live_prediction_check

    # Before anything is queued: a race upstream no longer lists, one run (or started) already, or
    # a stage not available yet (post before qualifying): refused, no JobRun, in both modes.
    race_live_prediction_check(race=race, stage=stage)
    # A dead run of this race (worker killed, message never picked up) is closed first, so it is
    # "failed" below and does not hold the race's dedupe (before: up to CELERY_TASK_TIME_LIMIT).
    job_runs_stale_close_quietly(jobs=Q(job=regeneration_job_name(race=race)))
    window = settings.API_REGENERATE_WINDOW
    now = timezone.now()
    job_id = f"{race.pk}-{uuid.uuid4().hex}"
    stages = _stages_key(race=race, stage=stage)
    key = _claim_key(race.slug, stages)
    claim = {"id": job_id, "race": race.slug, "stage": stage, "status": "queued" if background else "running",
             "started_at": now.isoformat(), "finished_at": None}  # fmt: skip
    claimed = cache.add(key, claim, timeout=window)
    if claimed is False:
        duplicate = _duplicate_of(race=race, job=cache.get(key))
        if duplicate.job["status"] != "failed":
            if duplicate.run is not None:
                return _unless_stored_since(race=race, stages=stages, duplicate=duplicate.run)
            return duplicate
        # A failed job is not what this request asked for: free its claim and start a new job.
        _release_claim(slug=race.slug, stages=stages, job_id=duplicate.job["id"])
        claimed = cache.add(key, claim, timeout=window)
        if claimed is False:  # another retry claimed it in between: that one is the job
            return _duplicate_of(race=race, job=cache.get(key))
    # Claimed (cache flushed?) or cache down (None): the database still enforces the window.
    recent = _recent_regeneration(race=race, stages=stages, now=now)
    if recent is not None:
        if claimed:  # point the claim at the real job, not at one that will never run
            cache.set(key, {**claim, **recent.job}, timeout=window)
        if recent.run is not None and recent.job["status"] == "queued":
            _resend(run=recent.run)
        return recent
    run = JobRun.objects.create(
        job=regeneration_job_name(race=race),
        task_id=job_id,
        status=JobStatus.RUNNING,
        started_at=now,
        worker="" if background else worker_name(),
        heartbeat_at=None if background else now,
        counts={
            "race": race.slug,
            "stage": stage,
            "stages": stages,  # the claim's key part (_stages_key): the database guard matches on it
            "mode": "background" if background else "inline",
            "queued_at": now.isoformat(),
        },
    )
    if background:
        return _enqueue(run=run, race=race)
    return _run_inline(run=run, race=race, stage=stage)


def _run_stages(run: JobRun) -> str:
    return (run.counts or {}).get("stages") or ""


def _enqueue(*, run: JobRun, race: Race) -> Regeneration:
    from f1site.celery import task_publish
    from predictions.tasks import race_predictions_regenerate

    failure: list[Exception] = []

    def send() -> None:
        try:
            # fails within the enqueue budget when the broker is down (not after Celery's ~19 s)
            task_publish(name=race_predictions_regenerate.name, args=[run.pk], task_id=run.task_id)
        except Exception as exc:  # broker down: record it, free the race for a retry
            logger.exception("could not queue a prediction regeneration", extra={"job": run.task_id})
            JobRun.objects.filter(pk=run.pk).update(
                status=JobStatus.FAILED,
                finished_at=timezone.now(),
                error=f"could not queue the job: {type(exc).__name__}: {exc}"[:4000],
            )
            _release_claim(slug=race.slug, stages=_run_stages(run), job_id=run.task_id)
            failure.append(exc)

    # After commit, so the worker finds the JobRun row. Outside a transaction this runs now (and,
    # with eager Celery, runs the job itself), hence the refresh below.
    transaction.on_commit(send)
    if failure:
        raise QueueUnavailable(str(failure[0])[:300])
    run.refresh_from_db()
    return Regeneration(job=regeneration_job_payload(run=run), duplicate=False, run=run)


def _resend(*, run: JobRun) -> None:
    """The claim was lost, so the cache (and the broker, when they share a Redis) may have been
    flushed with the job's message: send it again. Harmless if the first copy still exists: the
    job runs under the race's lock and a copy that finds it finished does nothing."""
    from f1site.celery import task_publish
    from predictions.tasks import race_predictions_regenerate

    def send() -> None:
        try:
            task_publish(name=race_predictions_regenerate.name, args=[run.pk], task_id=run.task_id)
        except Exception:  # the first copy may still be queued; nothing to record
            logger.warning("could not re-send a queued regeneration", extra={"job": run.task_id})

    transaction.on_commit(send)


def _run_inline(*, run: JobRun, race: Race, stage: str | None) -> Regeneration:
    from f1site import cache as f1cache
    from ingestion.services.stale_runs import run_heartbeat
    from predictions.services.predicting import PredictionInputError, prediction_generate
    from predictions.services.training import ModelUnavailable

    clock = time.monotonic()
    try:
        with run_heartbeat(run_id=run.pk):  # a web worker killed mid-request leaves a run the sweep closes
            created = prediction_generate(race=race, stage=stage)
    except (ModelUnavailable, PredictionInputError) as exc:
        _finish(run, status=JobStatus.FAILED, error=f"cannot predict {race.slug}: {exc}", clock=clock)
        _release_claim(slug=race.slug, stages=_run_stages(run), job_id=run.task_id)
        raise
    except Exception as exc:
        # Unexpected: recorded, and the race freed as after any failure (a failed job is never a
        # duplicate, so a kept claim would not hold a retry back anyway).
        _finish(run, status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}", clock=clock)
        _release_claim(slug=race.slug, stages=_run_stages(run), job_id=run.task_id)
        raise
    _finish(run, status=JobStatus.SUCCEEDED, counts=_outcome_counts(created), clock=clock)
    if created.stored:  # an unchanged regeneration stored nothing, so no cached page is stale
        f1cache.cache_invalidate_predictions(race_ids=[race.slug])  # also on the signal; be explicit
    return Regeneration(job=regeneration_job_payload(run=run), duplicate=False, run=run)


def regeneration_run(*, run_id: int, give_up: bool = False) -> dict:
    """The background job body (Celery task `race_predictions_regenerate`).

    Raises RegenerationLocked while another refresh of the race holds its lock (the task retries),
    unless `give_up`, which records the job as failed instead. Every outcome is recorded on the row.
    """
    from f1site import cache as f1cache
    from ingestion.services.jobs import JobLock
    from ingestion.services.stale_runs import job_run_claim, run_heartbeat
    from predictions.services.predicting import PredictionInputError, prediction_generate
    from predictions.services.training import ModelUnavailable

    run = JobRun.objects.filter(pk=run_id, job__startswith=JOB_PREFIX).first()
    if run is None or run.status != JobStatus.RUNNING:
        # Redelivered after it finished or after the stale-run sweep closed it (never picked up,
        # worker dead), or the row was pruned: nothing to do, the row stays as it is.
        return {"job": run.task_id if run else None, "status": _status(run) if run else "missing"}
    counts = run.counts or {}
    slug = counts.get("race", "")
    race = Race.objects.get(pk=int(run.job.removeprefix(JOB_PREFIX)))
    lock = JobLock(f"predictions_refresh:{race.pk}")
    if not lock.acquire():
        holder = lock.holder() or "?"
        if not give_up:
            raise RegenerationLocked(f"another refresh of {race.slug} is running ({holder})")
        run.refresh_from_db()
        if run.status != JobStatus.RUNNING or run.worker:
            # Another copy of this job's message ran or runs it (a re-send): its outcome stands.
            return {"job": run.task_id, "status": _status(run)}
        _finish(
            run,
            status=JobStatus.FAILED,
            error=f"another refresh of {race.slug} kept the race locked ({holder})",
        )
        _release_claim(slug=slug, stages=_run_stages(run), job_id=run.task_id)
        return {"job": run.task_id, "status": "failed"}
    clock = time.monotonic()
    try:
        # Claimed only if still RUNNING (the sweep may have closed it since the read above).
        claimed = job_run_claim(run_id=run.pk, job_filter=Q(job__startswith=JOB_PREFIX), worker=worker_name())
        if claimed is None:
            run.refresh_from_db()
            return {"job": run.task_id, "status": _status(run)}
        run = claimed
        with lock.heartbeat(), run_heartbeat(run_id=run.pk):
            created = prediction_generate(race=race, stage=counts.get("stage"))
    except (ModelUnavailable, PredictionInputError) as exc:
        _finish(run, status=JobStatus.FAILED, error=f"cannot predict {race.slug}: {exc}", clock=clock)
        _release_claim(slug=slug, stages=_run_stages(run), job_id=run.task_id)
        return {"job": run.task_id, "status": "failed"}
    except Exception as exc:
        # Recorded, not re-raised: the JobRun is the job's outcome, and with eager Celery a raise
        # here would turn the staff's 202 into a 500.
        logger.exception("prediction regeneration failed", extra={"job": run.task_id})
        _finish(run, status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}", clock=clock)
        _release_claim(slug=slug, stages=_run_stages(run), job_id=run.task_id)
        return {"job": run.task_id, "status": "failed"}
    finally:
        lock.release()
    _finish(run, status=JobStatus.SUCCEEDED, counts=_outcome_counts(created), clock=clock)
    if created.stored:
        f1cache.cache_invalidate_predictions(race_ids=[race.slug])  # also on the signal; be explicit
    return {"job": run.task_id, "status": "succeeded", **_outcome_counts(created)}
