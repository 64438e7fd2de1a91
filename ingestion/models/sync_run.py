from django.db import models


class SyncSource(models.TextChoices):
    JOLPICA = "jolpica", "Jolpica-F1 API"
    ERGAST_DUMP = "ergast_dump", "Ergast CSV dump"
    OPENF1 = "openf1", "OpenF1 API"
    WEATHER = "weather", "Weather API"


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Succeeded with rejected races"
    FAILED = "failed", "Failed"
    INTERRUPTED = "interrupted", "Interrupted"


class SyncRun(models.Model):
    """One ingestion run. `counts` = {table: {created, updated, unchanged}}; `cursor` lets a killed run resume;
    `heartbeat_at` lets the stale-run sweep close an OpenF1 / weather run whose process died
    (`ingestion.services.sync_runs.sync_runs_stale_close`)."""

    source = models.CharField(max_length=16, choices=SyncSource.choices)
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    requests_made = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    cursor = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of the process running an OpenF1 or weather sync (written every "
        "LIVENESS_HEARTBEAT_SECONDS while it runs); a running one silent for LIVENESS_MAX_SILENCE_SECONDS "
        "is closed as interrupted. Empty for Jolpica and dump runs (their lock / load decide)",
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["source", "status", "-started_at"], name="sync_run_source_status_idx")
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.started_at:%Y-%m-%d %H:%M} {self.status}"
