"""Resync chosen races from Jolpica in the background: the admin's "Resync selected races" action.

The sync is bounded by Jolpica's rate limit (4/s, 500/h shared in Redis), not by our code: 46 races
took 43.5 s at 4/s, past gunicorn's 30 s timeout, so with a worker the action does not sync in the
request. It records a JobRun (job `races_resync`, status running, no worker yet = queued; `counts`
names the races) and, once that row is committed, queues `ingestion.tasks.races_resync(race_ids,
run_id=...)`. The worker runs `races_resync_run` — `jolpica_sync(seasons=[season], race_ids=[...],
resume=False)` once per season: the races by identity, not by round (the sync's calendar step runs
first and may renumber them; each is then synced at the round it holds now, and one upstream no
longer lists is reported, not synced) — and finishes the JobRun with each season's status and
SyncRun id. While another Jolpica sync holds its lock the task retries (every 30 s, about 10
minutes) before recording a failure. A broker refusal marks the JobRun failed ("could not queue")
and raises `QueueUnavailable` for the admin to report.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ingestion.models import JobRun, JobStatus, Race

logger = logging.getLogger(__name__)

RESYNC_JOB = "races_resync"
RESYNC_LOCK_RETRY_SECONDS = 30
RESYNC_LOCK_RETRIES = 20  # ~10 minutes of waiting for another Jolpica sync to finish


def race_rounds(*, race_ids: Iterable[int]) -> dict[int, list[int]]:
    """season -> sorted rounds of these races."""
    rounds: dict[int, list[int]] = defaultdict(list)
    for season, round_number in Race.objects.filter(pk__in=list(race_ids)).values_list("season_id", "round"):
        rounds[season].append(round_number)
    return {season: sorted(rs) for season, rs in sorted(rounds.items())}


def race_resync_season(*, season: int, race_ids: Iterable[int]) -> dict:
    """Resync these races of one season by identity (one `jolpica_sync(race_ids=...)`): rounds they
    were synced at (after the calendar step), status, SyncRun, and `not_synced` (race id -> why:
    no longer on the calendar upstream) and `kept_manual` (one line per corrected row the sync kept)
    when any. Sync errors (source, lock, abort) propagate."""
    from ingestion.services.jolpica_sync import jolpica_sync

    summary = jolpica_sync(seasons=[season], race_ids=list(race_ids), resume=False)
    entry: dict = {
        "rounds": sorted(rnd for rnd, _ in summary.races_synced.values()),
        "status": summary.status,
        "sync_run": summary.run_id,
    }
    if summary.races_not_synced:
        entry["not_synced"] = dict(sorted(summary.races_not_synced.items()))
    # a race flagged or an id conflict found by this run's calendar step is said too
    calendar = [e["message"] for e in summary.errors if e.get("kind") == "calendar"]
    if calendar:
        entry["calendar"] = calendar
    # rows staff corrected that the sync kept (upstream differs): said, not only in the SyncRun
    if summary.kept_manual:
        entry["kept_manual"] = [k["message"] for k in summary.kept_manual]
    return entry


def race_ids_by_season(*, race_ids: Iterable[int]) -> dict[int, list[int]]:
    """season -> sorted pks of these races (stored ones only)."""
    by_season: dict[int, list[int]] = defaultdict(list)
    for pk, season in Race.objects.filter(pk__in=list(race_ids)).values_list("pk", "season_id"):
        by_season[season].append(pk)
    return {season: sorted(pks) for season, pks in sorted(by_season.items())}


def races_resync_run(*, race_ids: Iterable[int]) -> dict:
    """Resync these races from Jolpica by identity, one `jolpica_sync` per season. Returns per-season
    outcomes ({"2021": {"rounds": [22], "status": "succeeded", "sync_run": 12}}, plus `not_synced`
    for a race upstream no longer lists); a source outage or an
    interrupted sync is recorded for its season and the next season goes on. Raises
    `SyncAlreadyRunning` when another Jolpica sync holds the lock (nothing done for the seasons left)."""
    from ingestion.clients.http import SourceError
    from ingestion.services.jolpica_sync import SyncAborted

    seasons: dict[str, dict] = {}
    for season, pks in race_ids_by_season(race_ids=race_ids).items():
        try:
            entry = race_resync_season(season=season, race_ids=pks)
        except SourceError as exc:
            entry = {"status": "failed", "error": f"sync failed: {exc}"[:500]}
        except SyncAborted as exc:
            entry = {
                "status": "interrupted",
                "error": f"sync interrupted ({exc}); races committed so far are kept",
            }
        seasons[str(season)] = entry
    return {"seasons": seasons}


def races_resync_enqueue(*, races: list[Race]) -> JobRun:
    """Record the queued job and send it once the row is committed. Raises `QueueUnavailable` when the
    broker refuses it (the row is then marked failed)."""
    from f1site.celery import QueueUnavailable, task_publish

    race_ids = sorted(r.pk for r in races)
    run = JobRun.objects.create(
        job=RESYNC_JOB,
        task_id=str(uuid.uuid4()),  # the message's id: the run and the task name each other
        status=JobStatus.RUNNING,
        worker="",  # no worker has it yet: queued
        counts={
            "races": sorted(r.slug for r in races),
            "race_ids": race_ids,
            "queued_at": timezone.now().isoformat(),
        },
    )
    failure: list[Exception] = []

    def send() -> None:
        try:
            task_publish(
                name="ingestion.tasks.races_resync",
                args=[race_ids],
                kwargs={"run_id": run.pk},
                task_id=run.task_id,
            )
        except Exception as exc:
            logger.warning("could not queue a race resync", extra={"job_run": run.pk, "error": str(exc)})
            JobRun.objects.filter(pk=run.pk).update(
                status=JobStatus.FAILED,
                finished_at=timezone.now(),
                error=f"could not queue the job: {type(exc).__name__}: {exc}"[:4000],
            )
            failure.append(exc)

    # After commit, so the worker finds the JobRun; outside a transaction (the admin) this runs now.
    transaction.on_commit(send)
    if failure:
        exc = failure[0]
        if isinstance(exc, QueueUnavailable):
            raise exc
        raise QueueUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
    run.refresh_from_db()
    return run


def races_resync_job(
    *, race_ids: list[int], run_id: int | None, task_id: str = "", give_up: bool = False
) -> dict:
    """The Celery task's body: run the resync and record it on the JobRun the admin created (or a new
    one). Raises `SyncAlreadyRunning` (the task retries) unless `give_up`, which records a failure."""
    from django.db.models import Q

    from ingestion.services.jobs import worker_name
    from ingestion.services.jolpica_sync import SyncAlreadyRunning
    from ingestion.services.stale_runs import job_run_claim, run_heartbeat

    if run_id:
        # Claimed only while still RUNNING (one conditional UPDATE): a message redelivered after the
        # run finished, or after the stale-run sweep closed it (never picked up, worker dead), or a
        # pruned row, does nothing and leaves the row as it is.
        run = job_run_claim(run_id=run_id, job_filter=Q(job=RESYNC_JOB), worker=worker_name())
        if run is None:
            gone = JobRun.objects.filter(pk=run_id, job=RESYNC_JOB).values_list("status", flat=True).first()
            return {"job_run": run_id, "status": gone or "missing"}
    else:
        now = timezone.now()
        run = JobRun.objects.create(
            job=RESYNC_JOB, task_id=task_id, counts={"race_ids": sorted(race_ids)},
            worker=worker_name(), started_at=now, heartbeat_at=now,
        )  # fmt: skip
    clock = time.monotonic()
    status, error, outcome = JobStatus.FAILED, "", {}
    try:
        with run_heartbeat(run_id=run.pk):  # for the stale-run sweep
            outcome = races_resync_run(race_ids=race_ids)
        bad = {s: e for s, e in outcome["seasons"].items() if e["status"] in ("failed", "interrupted")}
        status = JobStatus.FAILED if bad else JobStatus.SUCCEEDED
        error = "; ".join(f"{s}: {e['error']}" for s, e in bad.items())
    except SyncAlreadyRunning as exc:
        if not give_up:
            run.worker = ""  # queued again
            run.save(update_fields=["worker"])
            raise
        error = f"another Jolpica sync kept running; not resynced: {exc}"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if status == JobStatus.SUCCEEDED or error:
            run.status = status
            run.error = error[:4000]
            run.counts = {**(run.counts or {}), **outcome}
            run.finished_at = timezone.now()
            run.duration_seconds = round(time.monotonic() - clock, 3)
            run.save(update_fields=["status", "error", "counts", "finished_at", "duration_seconds"])
    return {"job_run": run.pk, "status": run.status, **outcome}
