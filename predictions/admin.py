"""Staff views of the prediction engine: model registry (activate = roll back, retrain; artifact
on disk / missing / pruned), predictions (regenerate), accuracy records and backtests. Actions call
services and report back.

Every model here is history and read-only: no add, edit or delete (neither the "Delete selected"
action nor the change page's button). Predictions are never overwritten, accuracy records score
them, backtests are the evaluation record, and a model version's row keeps the metrics and window of
the predictions that reference it; deleting the active one left the site serving whichever artifact
was newest. Old artifacts are pruned by `prune_models` (the row stays, marked pruned)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Max
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ingestion.admin.pipeline import ViewOnlyAdmin
from predictions.ml.artifacts import ArtifactError
from predictions.models import (
    ActivationReason,
    BacktestRun,
    ModelActivation,
    ModelVersion,
    Prediction,
    RaceAccuracy,
)
from predictions.services import ModelUnavailable, model_version_activate
from predictions.services.predicting import PredictionInputError


class ModelActivationInline(admin.TabularInline):
    """A version's activations, latest first: read-only history (written by `model_version_activate`)."""

    model = ModelActivation
    fields = readonly_fields = ["activated_at", "reason", "activated_by", "note"]
    ordering = ["-activated_at", "-id"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("activated_by")


@admin.register(ModelVersion)
class ModelVersionAdmin(ViewOnlyAdmin):
    list_display = [
        "label",
        "is_active",
        "train_from_season",
        "train_until_season",
        "rows",
        "training_seconds",
        "created_at",
        "last_activated",
        "artifact",
    ]
    list_filter = ["is_active", ("artifact_pruned_at", admin.EmptyFieldListFilter)]
    actions = ["activate_version", "retrain_models"]
    inlines = [ModelActivationInline]

    def get_queryset(self, request):
        # the latest activation from the log, in the list's one query (no per-row lookup)
        return super().get_queryset(request).annotate(last_activated_at=Max("activations__activated_at"))

    @admin.display(description="last activated", ordering="last_activated_at")
    def last_activated(self, obj: ModelVersion):
        return obj.last_activated_at

    @admin.display(description="artifact", ordering="artifact_pruned_at")
    def artifact(self, obj: ModelVersion) -> str:
        if obj.artifact_pruned_at is not None:
            return f"pruned {obj.artifact_pruned_at:%Y-%m-%d}"
        return "on disk" if Path(obj.artifact_path).exists() else "missing"

    @admin.action(description="Activate this model version (roll back / forward)", permissions=["operate"])
    def activate_version(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = queryset.get()
        if version.is_active:  # nothing changes: no "now active", no refresh of the upcoming races
            self.message_user(
                request,
                f"Model version {version.label} is already the active model; nothing to do.",
                messages.INFO,
            )
            return
        # Activating a version registered before the active one goes back to it: a roll-back.
        active = ModelVersion.objects.filter(is_active=True).first()
        rollback = active is not None and (version.created_at, version.pk) < (active.created_at, active.pk)
        try:
            model_version_activate(
                version=version,
                reason=ActivationReason.ADMIN_ROLLBACK if rollback else ActivationReason.ADMIN_ACTIVATE,
                activated_by_id=request.user.pk,
            )
        except ArtifactError as exc:  # the artifact is missing or corrupt; anything else is a 500
            self.message_user(request, f"Not activated: {exc}", messages.ERROR)
            return
        self.message_user(
            request, f"Model version {version.label} is now the active model.", messages.SUCCESS
        )
        _refresh_upcoming(self, request, reason="model_activated")

    @admin.action(
        description="Retrain models on the latest data (and activate; as a job)", permissions=["operate"]
    )
    def retrain_models(self, request, queryset):
        # A job, not the web request: training takes 3-15 s, more under load, and gunicorn ends a
        # request at 30 s. The job activates the new version and refreshes the upcoming races.
        # With the click's time: a second click while the worker is busy with the first finds the
        # version that one trained after it was queued, and records itself as skipped.
        from django.utils import timezone

        from f1site.celery import task_publish
        from ingestion.admin.pipeline import enqueue_report
        from predictions.tasks import model_retrain

        queued_at = timezone.now().isoformat()
        # the clicking user travels with the job: its activation is logged as theirs
        args = [queued_at, request.user.pk]
        send = [("model_retrain", lambda: task_publish(name=model_retrain.name, args=args))]
        if enqueue_report(self, request, send):
            self.message_user(
                request,
                "A model_retrain job that succeeds activates its version and refreshes the upcoming "
                "races' predictions with it (Job runs: model_retrain, then predictions_refresh). "
                "Another click before it has finished trains nothing more: that job is recorded as skipped.",
                messages.INFO,
            )


def _refresh_upcoming(model_admin: admin.ModelAdmin, request, *, reason: str) -> None:
    # The upcoming races' current sets were made by the previous model: refresh them now (one job
    # per race under the pipeline's per-race lock) instead of at the daily job's catch-up.
    from predictions.services.refresh import upcoming_predictions_refresh_enqueue

    refresh = upcoming_predictions_refresh_enqueue(reason=reason)
    if refresh.queued and refresh.ran_here:  # embedded mode: done in this request, as retrain says
        model_admin.message_user(
            request,
            f"Ran here (embedded mode, no worker): the refresh of {', '.join(refresh.queued)} with it; "
            "the job runs show the outcome",
            messages.SUCCESS,
        )
    elif refresh.queued:
        model_admin.message_user(
            request,
            f"Refreshing the predictions of {', '.join(refresh.queued)} with it (queued for the worker; "
            "each refresh shows in Job runs as predictions_refresh once a worker starts it).",
            messages.SUCCESS,
        )
    if refresh.not_queued:
        model_admin.message_user(
            request,
            f"NOT queued: the refresh of {', '.join(refresh.not_queued)}: {refresh.error} "
            "The daily job's catch-up refreshes them; or regenerate them from Predictions.",
            messages.ERROR,
        )


@admin.register(ModelActivation)
class ModelActivationAdmin(ViewOnlyAdmin):
    """The activation log across versions: who made which version active, when and why."""

    list_display = ["activated_at", "version", "reason", "activated_by", "note"]
    list_filter = ["reason"]
    list_select_related = ["version", "activated_by"]
    date_hierarchy = "activated_at"
    search_fields = ["version__label", "note"]


@admin.register(Prediction)
class PredictionAdmin(ViewOnlyAdmin):
    list_display = [
        "race",
        "stage",
        "predicted_position",
        "driver",
        "team",
        "win_probability",
        "podium_probability",
        "points_probability",
        "dnf_probability",
        "low_confidence",
        "backfilled",
        "model_version",
        "created_at",
        "clock",  # set: computed at that past clock, kept in the history, never current
    ]
    list_filter = ["stage", "backfilled", "low_confidence", "race__season"]
    list_select_related = ["race", "driver", "team", "model_version"]
    search_fields = ["race__slug", "driver__ref", "driver__family_name"]
    actions = ["regenerate_predictions"]

    @admin.action(
        description="Regenerate predictions for the selected rows' races (new records when changed)",
        permissions=["operate"],
    )
    def regenerate_predictions(self, request, queryset):
        # Through the API's regeneration service (inline), not prediction_generate directly: each
        # race's run is a JobRun like the API's and the admin resync's (queued → running →
        # succeeded/failed, heartbeat, counts), in Job runs, under the same once-per-window guard.
        from predictions.services.regeneration import regeneration_start

        races = {p.race for p in queryset.select_related("race")}
        done, unchanged, recent = [], [], []
        for race in sorted(races, key=lambda r: r.date):
            try:
                result = regeneration_start(race=race, stage=None, background=False)
            # A failed JobRun, except a race refused before any run is created (run already, off
            # the calendar upstream: race_live_prediction_check; no stage here, so never a stage not
            # available yet); the message says why either way.
            except (PredictionInputError, ModelUnavailable) as exc:
                self.message_user(request, f"{race.slug}: {exc}", messages.ERROR)
                continue
            link = _job_run_link(result.run)
            if result.duplicate:
                recent.append(format_html("{} ({}, {})", race.slug, link, result.job["status"]))
            else:
                (unchanged if result.stored_nothing else done).append(format_html("{} ({})", race.slug, link))
        if done:
            self.message_user(
                request, format_html("Regenerated predictions for {}.", _joined(done)), messages.SUCCESS
            )
        if unchanged:
            self.message_user(
                request,
                format_html(
                    "Unchanged (same model version and inputs; current predictions kept): {}.",
                    _joined(unchanged),
                ),
                messages.INFO,
            )
        if recent:
            self.message_user(
                request,
                format_html(
                    "Not regenerated again: the same stages were regenerated (or are being) within "
                    "the last {} s (API_REGENERATE_WINDOW); that job stands: {}.",
                    settings.API_REGENERATE_WINDOW,
                    _joined(recent),
                ),
                messages.WARNING,
            )


def _job_run_link(run) -> str:
    """The regeneration's JobRun in admin, or what stands for it (predictions stored by a refresh)."""
    if run is None:
        return "stored by a pipeline refresh"
    return format_html(
        '<a href="{}">job run {}</a>', reverse("admin:ingestion_jobrun_change", args=[run.pk]), run.pk
    )


def _joined(parts: list[str]) -> str:
    return format_html_join(", ", "{}", ((part,) for part in parts))


@admin.register(RaceAccuracy)
class RaceAccuracyAdmin(ViewOnlyAdmin):
    list_display = [
        "race",
        "stage",
        "mae",
        "spearman",
        "winner_hit",
        "podium_overlap",
        "points_accuracy",
        "backfilled",
        "scored_at",
    ]
    list_filter = ["stage", "backfilled", "race__season"]
    list_select_related = ["race"]
    search_fields = ["race__slug", "race__name"]


@admin.register(BacktestRun)
class BacktestRunAdmin(ViewOnlyAdmin):
    list_display = ["id", "stage", "seasons", "status", "races", "duration_seconds", "created_at"]
    list_filter = ["stage", "status"]
