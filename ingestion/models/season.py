from django.db import models


class Season(models.Model):
    year = models.PositiveSmallIntegerField(primary_key=True)
    url = models.URLField(max_length=300, blank=True)

    class Meta:
        ordering = ["-year"]

    def __str__(self) -> str:
        return str(self.year)
