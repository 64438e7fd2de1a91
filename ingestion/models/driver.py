from django.db import models


class Driver(models.Model):
    ref = models.SlugField(max_length=64, unique=True, help_text="Ergast driverRef, e.g. max_verstappen")
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    code = models.CharField(max_length=3, blank=True)
    permanent_number = models.PositiveSmallIntegerField(null=True, blank=True)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(null=True, blank=True)
    nationality = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=300, blank=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        indexes = [models.Index(fields=["code"], name="driver_code_idx")]

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"
