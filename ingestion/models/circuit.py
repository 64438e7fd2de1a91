from django.db import models


class CircuitType(models.TextChoices):
    PERMANENT = "permanent", "Permanent"
    STREET = "street", "Street"
    UNKNOWN = "unknown", "Unknown"


class Circuit(models.Model):
    ref = models.SlugField(max_length=64, unique=True, help_text="Ergast circuitRef, e.g. albert_park")
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    name = models.CharField(max_length=200)
    locality = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    altitude = models.IntegerField(null=True, blank=True)
    url = models.URLField(max_length=300, blank=True)
    circuit_type = models.CharField(max_length=16, choices=CircuitType.choices, default=CircuitType.UNKNOWN)
    length_km = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
