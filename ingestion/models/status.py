from django.db import models


class Status(models.Model):
    """A finishing status ("Finished", "+1 Lap", "Engine", ...). Ergast's statusId is kept."""

    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    status = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["status"]
        verbose_name_plural = "statuses"

    def __str__(self) -> str:
        return self.status
