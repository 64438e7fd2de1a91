from django.conf import settings
from django.db import models


class ActivationReason(models.TextChoices):
    """Which path made a version the active one (every caller of `model_version_activate`)."""

    TRAIN_MODELS = "train_models", "manage.py train_models"
    ADMIN_ACTIVATE = "admin_activate", "Admin: activate (a version registered after the active one)"
    ADMIN_ROLLBACK = "admin_rollback", "Admin: roll back (to a version registered before the active one)"
    ADMIN_RETRAIN = "admin_retrain", "Admin: retrain (the model_retrain job)"
    POST_RACE_RETRAIN = "post_race_retrain", "Post-race retrain (the results step or the daily catch-up)"
    BACKFILLED = "backfilled", "Recorded before the log (migration 0008, from the version's activated_at)"


class ModelActivation(models.Model):
    """One activation of a model version: the registry's audit trail, and the record of which
    version was serving at any past clock (`model_versions_at`: the one activated last strictly
    before it). Written only by `model_version_activate`, in its transaction; never edited.

    `version` is PROTECTed, as predictions' is: the registry never deletes a version (the admin has
    no delete, pruning keeps the row), and a deletion that would silently erase the history of what
    served is refused instead. `activated_by` likewise: deactivate a staff account, don't delete it.
    A job queued by an account deleted before the job activates (the admin's retrain) logs nobody,
    its note naming the id ("requested by deleted user #<id>"), instead of failing at commit."""

    version = models.ForeignKey(
        "predictions.ModelVersion", on_delete=models.PROTECT, related_name="activations"
    )
    activated_at = models.DateTimeField()
    reason = models.CharField(max_length=32, choices=ActivationReason.choices)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff user who asked for it (admin actions); empty for automated paths",
    )
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-activated_at", "-id"]
        indexes = [models.Index(fields=["activated_at"], name="model_activation_at_idx")]

    def __str__(self) -> str:
        return (
            f"{self.version.label} activated {self.activated_at:%Y-%m-%d %H:%M} ({self.get_reason_display()})"
        )
