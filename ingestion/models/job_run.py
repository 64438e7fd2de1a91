"""One execution of a scheduled/background job (Celery task), as shown in admin and /api/v1/jobs/status."""

from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (already running or nothing to do)"
    INTERRUPTED = "interrupted", "Interrupted (worker died)"


class JobRun(models.Model):
    job = models.CharField(max_length=64, help_text="Job name, e.g. daily_results_sync")
    task_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid that ran it")
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of the process running it (written every LIVENESS_HEARTBEAT_SECONDS "
        "while it runs); a running run silent for LIVENESS_MAX_SILENCE_SECONDS is closed as interrupted",
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["job", "-started_at"], name="job_run_job_started_idx"),
            # the stale-run sweep (ingestion.services.stale_runs) reads only the running rows, often
            models.Index(
                fields=["started_at"], condition=models.Q(status="running"), name="job_run_running_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M:%S} {self.status}"
