from django.db import models


class Team(models.Model):
    """A constructor."""

    ref = models.SlugField(max_length=64, unique=True, help_text="Ergast constructorRef, e.g. red_bull")
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    name = models.CharField(max_length=100)
    nationality = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
