"""Run or enqueue one pipeline job by name, list the jobs, or (re-)seed the beat schedule.

manage.py run_job --list
manage.py run_job daily_results_sync            # here, now, under the job lock, recorded as a JobRun
manage.py run_job daily_results_sync --wait 900 # the same, waiting up to 15 min for a busy lock
manage.py run_job weather_forecasts --enqueue   # send to the workers
manage.py run_job --seed-schedule               # idempotent; also done by `migrate`

Exit status: 0 done; 1 the job failed; 2 a usage error; 75 (`BUSY_EXIT`) busy — another run held a
lock the job needs (its job lock, or the daily / weekly job's Jolpica sync lock, held by another sync
or a dump load) after `--wait` seconds (none by default): one line naming the holder, the JobRun
recorded as a worker records it (skipped; or failed after the job's other steps ran). A worker's task
retries instead, and is unchanged. 130 / 143 on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ingestion.management.sync_exit import (
    BUSY_EXIT,
    busy_advice,
    ctrl_c_exits_130,
    job_run_of,
    parse_wait,
    wait_notice,
)
from ingestion.services import jobs


class Command(BaseCommand):
    help = "Run (or --enqueue) a pipeline job, --list jobs, or --seed-schedule."

    def add_arguments(self, parser):
        parser.add_argument(
            "job",
            nargs="?",
            help="the job to run here, now, under its lock and recorded as a JobRun (names: --list)",
        )
        parser.add_argument("--enqueue", action="store_true", help="send to Celery instead of running here")
        parser.add_argument(
            "--list",
            action="store_true",
            dest="list_jobs",
            help="list the jobs with the schedule in use (as edited in admin) and enabled/DISABLED",
        )
        parser.add_argument(
            "--seed-schedule",
            action="store_true",
            help="add the beat schedule rows that are missing (never changes an existing one; "
            "migrate does it too)",
        )
        parser.add_argument(
            "--wait",
            type=parse_wait,
            metavar="SECONDS",
            help="when another run holds a lock the job needs (its own, or the Jolpica sync's), wait up "
            "to SECONDS for it instead of giving up at once (exit 75)",
        )

    def handle(self, *args, job, enqueue, list_jobs, seed_schedule, wait, **options):
        modes = [
            m
            for m, on in (("a job", bool(job)), ("--list", list_jobs), ("--seed-schedule", seed_schedule))
            if on
        ]
        if len(modes) > 1 or (enqueue and (list_jobs or seed_schedule)):
            # one was silently ignored: `run_job daily_results_sync --seed-schedule` seeded and did
            # not run the job
            raise CommandError(
                "choose one of: a job name (with --enqueue to send it to the workers), --list, --seed-schedule",
                returncode=2,
            )
        if wait is not None and (enqueue or not job):
            # a worker's task retries on its own; --list and --seed-schedule take no lock
            raise CommandError(
                "--wait goes with a job run here (not --enqueue, --list, --seed-schedule)", returncode=2
            )
        if list_jobs:
            self._list()
            return
        if seed_schedule:
            self.stdout.write(json.dumps(jobs.beat_schedule_seed()))
            return
        if not job:
            raise CommandError("name a job (see --list)", returncode=2)
        try:
            spec = jobs.job_spec_get(name=job)
        except KeyError as exc:  # a usage error, as the docstring says (it was exit 1, like a failure)
            raise CommandError(str(exc.args[0]), returncode=2) from None
        if enqueue:
            from f1site.celery import QueueUnavailable
            from ingestion.tasks import job_enqueue, job_enqueue_runs_inline

            try:
                result = job_enqueue(name=spec.name)
            except QueueUnavailable as exc:
                raise CommandError(f"{spec.name} was not queued: {exc}") from exc
            except Exception as exc:  # embedded mode runs it here; its JobRun records the failure
                raise CommandError(f"{spec.name} failed: {exc}") from exc
            if job_enqueue_runs_inline():
                self.stdout.write(f"ran {spec.task} here (embedded mode, no worker) as {result.id}")
            else:
                self.stdout.write(f"queued {spec.task} as {result.id}")
            return
        # Ctrl-C: one line and exit 130, as the sync commands (it was a KeyboardInterrupt traceback);
        # the JobRun (and a sync it was running) is recorded `interrupted` "by the user"
        with ctrl_c_exits_130(
            what=spec.name,
            run_of=job_run_of,
            kept="steps it had committed are kept",
            rerun="rerun the same command to finish",
        ):
            try:
                # one line on stderr when a wait begins (stdout keeps the run's JSON)
                run = jobs.job_run_by_hand(job=spec.name, wait=wait or 0, on_wait=wait_notice(self))
            except jobs.JobBusy as exc:
                if exc.run.counts:  # the steps that ran without the lock
                    self._print_run(exc.run)
                raise CommandError(f"{exc}; {busy_advice(wait)}", returncode=BUSY_EXIT) from None
            except Exception as exc:  # recorded as a failed JobRun by job_run_execute; say so plainly
                raise CommandError(f"{spec.name} failed: {exc}") from exc
        self._print_run(run)
        if run.status == "failed":
            raise CommandError(run.error)

    def _list(self) -> None:
        """The schedule in use (django-celery-beat's rows, as `jobs/status` reads them), each job
        enabled or disabled. It printed the seeded schedule (`jobs.job_specs`) whatever staff had
        edited: a job moved to 07:00 in admin was still listed at 06:00, a disabled one as if on."""
        from django.db import DatabaseError

        from ingestion.api.selectors import job_schedules_list, job_seeded_schedule_text

        unreadable = ""
        try:
            entries = job_schedules_list()
        except DatabaseError as exc:  # no database, or not migrated: the registry, said so (after it)
            unreadable = (
                f"schedule in use not readable ({type(exc).__name__}: {str(exc).strip().splitlines()[0]}); "
                "listed the seeded schedule"
            )
            entries = [
                {
                    "job": spec.name,
                    "task": spec.task,
                    "row": None,
                    "enabled": None,
                    "schedule": "",
                    "seeded": job_seeded_schedule_text(spec=spec),
                }
                for spec in jobs.job_specs()
            ]
        self.stdout.write(f"{'job':22} {'schedule in use (UTC)':40} {'state':9} task")
        missing = False
        for e in entries:
            if e["enabled"] is None:  # the schedule could not be read
                schedule, state = f"seeded: {e['seeded']}", "unknown"
            elif e["row"] is None:
                schedule, state, missing = f"none (seeded: {e['seeded']})", "MISSING", True
            else:
                schedule, state = e["schedule"], "enabled" if e["enabled"] else "DISABLED"
            note = f"  (PeriodicTask {e['row']!r})" if e["row"] and e["row"] != e["job"] else ""
            self.stdout.write(f"{e['job']:22} {schedule:40} {state:9} {e['task']}{note}")
        if missing:
            self.stdout.write("MISSING: no PeriodicTask sends that job; `run_job --seed-schedule` adds it")
        if unreadable:
            self.stderr.write(unreadable)

    def _print_run(self, run) -> None:
        self.stdout.write(
            json.dumps({"status": run.status, "counts": run.counts, "error": run.error}, default=str)
        )
