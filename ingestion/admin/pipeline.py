"""Admin for the automated pipeline: job runs (read-only history), OpenF1 sessions and live data
(read-only too: nothing here is added, edited or deleted by hand).

The schedule itself is edited under "Periodic tasks" (django-celery-beat's admin): staff change a
crontab or interval there and the running beat (DatabaseScheduler) picks it up without a restart.
"Run now" on a job run re-queues that job at once and reports whether the broker took it (an error
message, not "Queued", when it is down); in the embedded mode (CELERY_TASK_ALWAYS_EAGER, no worker)
it runs the job right away.

Who may run what: an action that changes anything needs a permission beyond "view". On a view-only
admin it is the model's own "Can change" permission (`has_operate_permission`: nothing else uses it
there, since no row is edited by hand), e.g. `ingestion.change_jobrun` for "Run now"; the periodic
tasks' actions need `django_celery_beat.change_periodictask`. Django neither offers nor runs an
action the user lacks the permission for (a forged POST gets "No action selected.").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import Case, F, Value, When
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from ingestion.models import JobRun, LiveDriverSnapshot, OpenF1Session, RaceControlMessage

logger = logging.getLogger(__name__)


class ViewOnlyAdmin(admin.ModelAdmin):
    """View only: no add, change or delete (no action, no button); an admin's own actions still run,
    and call services. For history and audit records — here job runs (the weekly job prunes them
    after JOB_RUN_RETENTION_DAYS), OpenF1 sessions with their results-ingested and live markers and
    their live snapshots (pruned weekly too); also sync runs and the prediction engine's records.

    Actions that change state declare `permissions=["operate"]`: the model's own "Can change"
    permission, asked of the user directly, since `has_change_permission` is False here for everyone
    (superusers included). Without it a staff user with "view" saw and ran every action (QA sec #1)."""

    def has_operate_permission(self, request) -> bool:
        """May the user run this admin's actions: `<app>.change_<model>` (superusers: always)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(ViewOnlyAdmin):
    list_display = ("job", "status", "started_at", "duration", "summary", "worker")
    list_filter = ("job", "status")
    search_fields = ("job", "task_id", "error")
    date_hierarchy = "started_at"
    readonly_fields = ("job", "task_id", "status", "started_at", "finished_at", "duration_seconds", "worker",
                       "heartbeat_at", "pretty_counts", "error")  # fmt: skip
    exclude = ("counts",)
    actions = ("run_now",)

    def changelist_view(self, request, extra_context=None):
        """Runs whose worker died (or that no worker picked up) are closed before the list is shown
        (ingestion.services.stale_runs), so a dead run reads `interrupted` with why, not `running`."""
        from ingestion.services.stale_runs import job_runs_stale_close_quietly

        job_runs_stale_close_quietly()
        return super().changelist_view(request, extra_context)

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

    @admin.action(description="Run these jobs again now", permissions=["operate"])
    def run_now(self, request, queryset):
        from ingestion.services.jobs import job_spec_get

        names = []
        for name in sorted(set(queryset.values_list("job", flat=True))):
            try:
                job_spec_get(name=name)
            except KeyError:
                self.message_user(request, f"Not queued: {name} is not a scheduled job", messages.WARNING)
                continue
            names.append(name)
        from ingestion.tasks import job_enqueue

        enqueue_report(self, request, [(name, lambda name=name: job_enqueue(name=name)) for name in names])


def enqueue_report(model_admin: admin.ModelAdmin, request, sends: list[tuple[str, Callable]]) -> list[str]:
    """Run each (label, send) and tell staff what happened: queued, ran here (embedded mode), or
    NOT queued because the broker is down — an error message naming the broker, never "Queued".
    The first send the broker refuses ends the loop (not in embedded mode, which has no broker): the broker is down for every one of them, and
    a hung broker costs JOB_ENQUEUE_TIMEOUT per send (15 tasks would outlast gunicorn's 30 s
    timeout); the rest are reported as not tried. Messages lead with a fixed word: the admin
    capitalises the first letter (`capfirst`), which would misspell a lowercase job name.
    Returns the labels queued (or run here)."""
    from f1site.celery import QueueUnavailable
    from ingestion.tasks import job_enqueue_runs_inline

    queued, refused, untried = [], [], []
    inline = job_enqueue_runs_inline()
    for index, (label, send) in enumerate(sends):
        try:
            send()
        except QueueUnavailable as exc:
            refused.append((label, exc))
            if inline:  # embedded mode: refused for this task alone (not registered), no broker involved
                continue
            untried = [later for later, _ in sends[index + 1 :]]
            break
        except Exception:
            if not inline:
                raise
            # embedded mode ran the job in this request: its JobRun records the failure and the page
            # still renders, as when the send ran on commit with robust=True
            logger.exception("job run from admin failed", extra={"job": label})
        queued.append(label)
    for label, exc in refused:
        model_admin.message_user(request, f"NOT queued: {label}: {exc}", messages.ERROR)
    if untried:
        model_admin.message_user(
            request,
            f"NOT queued (not tried, the broker is down): {', '.join(untried)}",
            messages.ERROR,
        )
    if queued and inline:  # embedded mode: no worker, the job runs in this request
        model_admin.message_user(
            request,
            f"Ran here (embedded mode, no worker): {', '.join(queued)}; the job runs show the outcome",
            messages.SUCCESS,
        )
    elif queued:
        model_admin.message_user(request, f"Queued: {', '.join(queued)}", messages.SUCCESS)
    return queued


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's admin, with its "Run selected tasks" action reporting a down broker.

    Upstream publishes with Celery's defaults (~19 s of retries with Redis down, then a 500); here a
    pipeline job goes through `job_enqueue` (its expiry, eager mode) and any other task through
    `task_publish` (its args, kwargs and queue), both failing fast with a message per task.

    Every action needs `django_celery_beat.change_periodictask`, like editing a schedule: upstream's
    declare no permission, so a staff user with "view" could run, enable, disable or toggle every
    schedule. Its enable / disable / toggle are re-declared here with the permission."""

    @admin.action(description=BeatPeriodicTaskAdmin.enable_tasks.short_description, permissions=["change"])
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(description=BeatPeriodicTaskAdmin.disable_tasks.short_description, permissions=["change"])
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(description=BeatPeriodicTaskAdmin.toggle_tasks.short_description, permissions=["change"])
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    def _toggle_tasks_activity(self, queryset):
        """Upstream's toggle kept `last_run_at` on the tasks it switched off, where its disable clears
        it: toggled back on after a pause, a schedule then looked overdue and beat fired it at once. A
        task switched off here forgets its last run, as a disabled one does (beat counts from now
        when it is enabled again)."""
        return queryset.update(
            enabled=Case(When(enabled=True, then=Value(False)), default=Value(True)),
            last_run_at=Case(When(enabled=True, then=Value(None)), default=F("last_run_at")),
        )

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request, queryset):
        from f1site.celery import task_publish
        from ingestion.services.jobs import job_specs
        from ingestion.tasks import job_enqueue

        job_names = {spec.name for spec in job_specs()}
        sends = []
        for task in queryset.order_by("name"):
            if task.name in job_names:
                sends.append((task.name, lambda name=task.name: job_enqueue(name=name)))
                continue
            options = {"queue": task.queue} if task.queue else {}
            sends.append(
                (
                    task.name,
                    lambda t=task, o=options: task_publish(
                        name=t.task,
                        args=json.loads(t.args or "[]"),
                        kwargs=json.loads(t.kwargs or "{}"),
                        headers={"periodic_task_name": t.name},
                        **o,
                    ),
                )
            )
        enqueue_report(self, request, sends)


@admin.register(OpenF1Session)
class OpenF1SessionAdmin(ViewOnlyAdmin):
    list_display = ("session_key", "race", "session_type", "date_start", "date_end", "results_ingested_at",
                    "live_ok_at", "live_error")  # fmt: skip
    list_filter = ("session_type", "race__season")
    search_fields = ("race__slug", "race__name", "session_name")
    list_select_related = ("race",)
    ordering = ("-date_start",)

    def get_queryset(self, request):  # str(session) names its race: the change page's title
        return super().get_queryset(request).select_related("race")


@admin.register(LiveDriverSnapshot)
class LiveDriverSnapshotAdmin(ViewOnlyAdmin):
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
class RaceControlMessageAdmin(ViewOnlyAdmin):
    list_display = ("session", "date", "category", "flag", "lap_number", "message")
    list_filter = ("category", "flag")
    search_fields = ("message",)
    list_select_related = ("session", "session__race")
