from django.db import models

from predictions.models.prediction import PredictionStage


class RaceAccuracy(models.Model):
    """How a stored pre-race prediction set scored against the race's actual result."""

    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="accuracy_records")
    stage = models.CharField(max_length=4, choices=PredictionStage.choices)
    batch = models.UUIDField()
    model_version = models.ForeignKey(
        "predictions.ModelVersion", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    backfilled = models.BooleanField(default=False)
    drivers = models.PositiveSmallIntegerField()
    mae = models.FloatField(
        help_text=(
            "Mean |predicted place - place in the whole result| over the scored drivers (every "
            "predicted driver with a result; retirements at the back in their classification order)"
        )
    )
    mae_finishers = models.FloatField(
        null=True,
        help_text=(
            "Same over the scored finishers: predicted order re-ranked among them, actual place "
            "among all of the race's finishers"
        ),
    )
    spearman = models.FloatField(null=True)
    winner_hit = models.BooleanField()
    podium_overlap = models.FloatField(help_text="|predicted top 3 ∩ actual top 3| / 3")
    points_accuracy = models.FloatField(help_text="Share of drivers correctly called in/out of the points")
    brier_win = models.FloatField()
    brier_podium = models.FloatField()
    brier_points = models.FloatField()
    metrics = models.JSONField(default=dict, blank=True)
    results_fingerprint = models.CharField(
        max_length=32,
        blank=True,
        help_text=(
            "sha256 (32 hex) of the result it was scored against (driver, place, retired): a "
            "correction upstream changes it and the daily job scores the race again; empty on "
            "records scored before it was kept"
        ),
    )
    scored_at = models.DateTimeField(auto_now=True, help_text="When it was last (re)scored")

    class Meta:
        ordering = ["race_id", "stage"]
        verbose_name_plural = "race accuracy records"
        constraints = [
            models.UniqueConstraint(fields=["race", "stage", "batch"], name="race_accuracy_unique_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.race_id} {self.stage} MAE {self.mae:.2f}"
