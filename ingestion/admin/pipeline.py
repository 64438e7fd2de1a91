"""Admin for the automated pipeline: job runs (read-only history), OpenF1 sessions and live data.

The schedule itself is edited under "Periodic tasks" (django-celery-beat's admin): staff change a
crontab or interval there and the running beat (DatabaseScheduler) picks it up without a restart.
"Run now" on a job run re-queues that job (after the admin's transaction commits); in the embedded mode
(CELERY_TASK_ALWAYS_EAGER, no worker) it runs the job right away.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from ingestion.models import JobRun, LiveDriverSnapshot, OpenF1Session, RaceControlMessage


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(_ReadOnly):
    list_display = ("job", "status", "started_at", "duration", "summary", "worker")
    list_filter = ("job", "status")
    search_fields = ("job", "task_id", "error")
    date_hierarchy = "started_at"
    readonly_fields = ("job", "task_id", "status", "started_at", "finished_at", "duration_seconds", "worker",
                       "pretty_counts", "error")  # fmt: skip
    exclude = ("counts",)
    actions = ("run_now",)

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, obj):
        return "" if obj.duration_seconds is None else f"{obj.duration_seconds:.1f} s"

    @admin.display(description="outcome")
    def summary(self, obj):
        text = obj.error or json.dumps(obj.counts, default=str)
        return text if len(text) <= 120 else text[:117] + "..."

    @admin.display(description="counts")
    def pretty_counts(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.counts, indent=2, default=str))

    @admin.action(description="Run these jobs again now (queued)")
    def run_now(self, request, queryset):
        from ingestion.services.jobs import job_spec_get
        from ingestion.tasks import job_enqueue, job_enqueue_runs_inline

        queued = []
        for name in sorted(set(queryset.values_list("job", flat=True))):
            try:
                job_spec_get(name=name)
            except KeyError:
                self.message_user(request, f"{name} is not a scheduled job; not queued", messages.WARNING)
                continue
            job_enqueue(name=name)
            queued.append(name)
        if queued and job_enqueue_runs_inline():  # embedded mode: no worker, the job runs in this request
            self.message_user(
                request,
                f"Ran here (embedded mode, no worker): {', '.join(queued)}; the job runs show the outcome",
                messages.SUCCESS,
            )
        elif queued:
            self.message_user(request, f"Queued: {', '.join(queued)}", messages.SUCCESS)


@admin.register(OpenF1Session)
class OpenF1SessionAdmin(_ReadOnly):
    list_display = ("session_key", "race", "session_type", "date_start", "date_end", "results_ingested_at",
                    "live_ok_at", "live_error")  # fmt: skip
    list_filter = ("session_type", "race__season")
    search_fields = ("race__slug", "race__name", "session_name")
    list_select_related = ("race",)
    ordering = ("-date_start",)


@admin.register(LiveDriverSnapshot)
class LiveDriverSnapshotAdmin(_ReadOnly):
    list_display = (
        "session",
        "driver_number",
        "position",
        "gap_to_leader",
        "interval",
        "lap_number",
        "updated_at",
    )
    list_filter = ("session__race__season",)
    list_select_related = ("session", "session__race")


@admin.register(RaceControlMessage)
class RaceControlMessageAdmin(_ReadOnly):
    list_display = ("session", "date", "category", "flag", "lap_number", "message")
    list_filter = ("category", "flag")
    search_fields = ("message",)
    list_select_related = ("session", "session__race")
