from django.db import models

from predictions.models.prediction import PredictionStage


class BacktestStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BacktestRun(models.Model):
    """A rolling-origin backtest: per-season and overall metrics for the model, baselines and ablation."""

    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=BacktestStatus.choices, default=BacktestStatus.RUNNING)
    seasons = models.JSONField(default=list)
    stage = models.CharField(max_length=4, choices=PredictionStage.choices)
    races = models.PositiveIntegerField(default=0)
    retrain_every = models.PositiveSmallIntegerField(
        default=0, help_text="Races between retrains (0 = per season)"
    )
    params = models.JSONField(default=dict, blank=True)
    results = models.JSONField(
        default=dict,
        blank=True,
        help_text="{overall: {...}, seasons: {...}, calibration: {...}, floors: {...}}",
    )
    duration_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Backtest {self.stage} {self.seasons} ({self.status})"
