from django.db import models


class ModelVersion(models.Model):
    """One trained set of models (position, points, DNF + ranking calibration) and its artifact.

    Exactly one version is active at a time; activating an older one is the roll-back. Each
    activation is logged (`ModelActivation`, `activations`: when, why, by whom). Old inactive
    versions' artifacts are pruned (`model_artifacts_prune`); the row stays, marked, for the record.
    """

    label = models.CharField(max_length=64, unique=True, help_text="e.g. v20261126-1112-2018-2025")
    created_at = models.DateTimeField(auto_now_add=True)
    train_from_season = models.PositiveSmallIntegerField()
    train_until_season = models.PositiveSmallIntegerField()
    trained_until_date = models.DateField(help_text="Date of the last race in the training window")
    rows = models.PositiveIntegerField()
    features = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    data_fingerprint = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500)
    is_active = models.BooleanField(default=False)
    training_seconds = models.FloatField(null=True, blank=True)
    artifact_pruned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When prune_models deleted the artifact file; a pruned version is never loaded, "
        "activated or used as a fallback",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="model_version_one_active"
            ),
        ]

    def __str__(self) -> str:
        state = " (active)" if self.is_active else " (pruned)" if self.artifact_pruned_at else ""
        return f"{self.label}{state}"
