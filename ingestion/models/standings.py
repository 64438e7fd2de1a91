"""Championship standings after each round (the round is the race they follow)."""

from decimal import Decimal

from django.db import models

from ingestion.models.results import loaded_or_id


def standing_text(standing, entity: str) -> str:
    """`2024 Bahrain Grand Prix — Max Verstappen: P1, 26 pts` (`entity`: "driver" or "team"), with no
    query (`loaded_or_id`: ids where the race or the entity is not loaded). A standing without a
    position is "DSQ" when the championship excluded him (1997 Schumacher, position text "D"), else
    "unranked"; points without trailing zeros (202.5, 26)."""
    if standing.position:
        place = f"P{standing.position}"
    else:
        place = "DSQ" if standing.position_text == "D" else "unranked"
    # Decimal as loaded; an int or float as set in code before a save (str: 26.5 stays 26.5)
    points = f"{Decimal(str(standing.points)).normalize():f}" if standing.points is not None else "?"
    return f"{loaded_or_id(standing, 'race')} — {loaded_or_id(standing, entity)}: {place}, {points} pts"


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
        return standing_text(self, "driver")


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
        return standing_text(self, "team")
