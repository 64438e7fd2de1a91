from __future__ import annotations

from django.db import models


class PredictionStage(models.TextChoices):
    PRE_QUALIFYING = "pre", "Before qualifying"
    POST_QUALIFYING = "post", "After qualifying"


class PredictionQuerySet(models.QuerySet):
    def current_candidates(self) -> PredictionQuerySet:
        """Rows of sets that may be a race's current one: computed with what was known when they
        were made (`clock` null). A set computed at a past clock (`predict --as-of`) describes that
        moment, not now — it stays in the history, never current, never scored."""
        return self.filter(clock__isnull=True)


class Prediction(models.Model):
    """One driver's predicted outcome in one race, from one prediction set (`batch`).

    Rows are never overwritten: regenerating makes a new batch; "current" is the latest batch per
    race and stage among the sets not computed at a past clock (`current_candidates`).
    Regenerating with unchanged inputs stores nothing: the latest batch is kept (same model
    version and `inputs_fingerprint`; see services.predicting).
    """

    batch = models.UUIDField(db_index=True, help_text="All rows of one prediction set share it")
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="predictions")
    driver = models.ForeignKey("ingestion.Driver", on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("ingestion.Team", on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=4, choices=PredictionStage.choices)
    predicted_position = models.PositiveSmallIntegerField(help_text="Rank within the race, 1 = winner")
    expected_position = models.FloatField(help_text="Expected finishing position from the ranking model")
    win_probability = models.FloatField()
    podium_probability = models.FloatField()
    points_probability = models.FloatField()
    dnf_probability = models.FloatField()
    confidence = models.FloatField(help_text="0..1; P(finishing within one place of the predicted position)")
    low_confidence = models.BooleanField(default=False)
    explanation = models.JSONField(
        default=list, blank=True, help_text="Top feature contributions: [{feature, value, contribution}]"
    )
    model_version = models.ForeignKey(
        "predictions.ModelVersion", on_delete=models.PROTECT, related_name="predictions"
    )
    as_of = models.DateTimeField(help_text="Information cut-off the features were computed at")
    clock = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The past clock the set was computed at (only what was known then; `as_of` is when "
        "it was made): such a set is never the current one nor scored. Null: computed with what was "
        "known when it was made",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    backfilled = models.BooleanField(
        default=False, help_text="Made after the fact by a model trained only on earlier races"
    )
    inputs_fingerprint = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="sha256 of the set's canonicalised model inputs (feature rows incl. grid and weather "
        "forecast); empty for sets stored before it existed",
    )

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["race_id", "stage", "-created_at", "predicted_position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "driver"], name="prediction_unique_batch_driver"),
        ]
        indexes = [
            models.Index(fields=["race", "stage", "-created_at"], name="prediction_race_stage_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.race_id} {self.stage} P{self.predicted_position} {self.driver_id}"
