"""Championship standings after each round (the round is the race they follow)."""

from django.db import models


class DriverStanding(models.Model):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="driver_standings")
    driver = models.ForeignKey("ingestion.Driver", on_delete=models.PROTECT, related_name="+")
    points = models.DecimalField(max_digits=6, decimal_places=2)
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    position_text = models.CharField(max_length=4, blank=True)
    wins = models.PositiveSmallIntegerField(default=0)
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["race_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["race", "driver"], name="driver_standing_unique_race_driver"),
        ]

    def __str__(self) -> str:
        return f"{self.race_id} {self.position} {self.driver_id}"


class TeamStanding(models.Model):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="team_standings")
    team = models.ForeignKey("ingestion.Team", on_delete=models.PROTECT, related_name="+")
    points = models.DecimalField(max_digits=6, decimal_places=2)
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    position_text = models.CharField(max_length=4, blank=True)
    wins = models.PositiveSmallIntegerField(default=0)
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["race_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["race", "team"], name="team_standing_unique_race_team"),
        ]

    def __str__(self) -> str:
        return f"{self.race_id} {self.position} {self.team_id}"
