from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from ingestion.services.race_ids import RACE_ID_MAX_LENGTH

# session -> the Race field holding its start (UTC); read by the forecast's session times and the
# prediction clock's cut of a weekend
SESSION_START_FIELDS = {
    "fp1": "fp1_start",
    "fp2": "fp2_start",
    "fp3": "fp3_start",
    "sprint_qualifying": "sprint_qualifying_start",
    "sprint": "sprint_start",
    "qualifying": "qualifying_start",
    "race": "start",
}


ROUND_ERROR = "Round must be 1 or more: round 1 is the season's first race."
SLUG_EMPTY_ERROR = "A race needs its id (slug): an empty one cannot be linked or looked up."


class RaceQuerySet(models.QuerySet):
    def on_calendar(self) -> RaceQuerySet:
        """Races on their season's calendar: every race but those upstream no longer lists
        (`removed_upstream_at`, kept for their data and parked at round 100+). The one definition
        every list of a season's races, "upcoming" / "awaiting results" and every scheduled job use;
        a race's own page and the data behind it (results, standings, features) use all races."""
        return self.filter(removed_upstream_at__isnull=True)

    def removed_upstream(self) -> RaceQuerySet:
        return self.filter(removed_upstream_at__isnull=False)


class Race(models.Model):
    """One Grand Prix weekend. `slug` (e.g. `2025_bahrain`) is the stable public id.

    Session start times are UTC datetimes; null when unknown (e.g. pre-2021 practice times).
    """

    slug = models.SlugField(
        max_length=RACE_ID_MAX_LENGTH,
        unique=True,
        help_text=(
            "The race's public id (e.g. 2025_bahrain): given when the race is added, as the Jolpica sync "
            "gives one (the season and country, or the race name when the season has two races in that "
            "country), and never changed."
        ),
    )
    season = models.ForeignKey("ingestion.Season", on_delete=models.PROTECT, related_name="races")
    # Round 1 is a season's first race; 0 (which the unsigned column allowed) is no round at all:
    # the validator gives staff a field error in admin, the constraint guards every other writer.
    round = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1, message=ROUND_ERROR)],
        help_text="1 for the season's first race",
    )
    name = models.CharField(max_length=120)
    circuit = models.ForeignKey("ingestion.Circuit", on_delete=models.PROTECT, related_name="races")
    date = models.DateField()
    start = models.DateTimeField(
        null=True, blank=True, help_text="Race start (UTC); null when only the date is known"
    )
    fp1_start = models.DateTimeField(null=True, blank=True)
    fp2_start = models.DateTimeField(null=True, blank=True)
    fp3_start = models.DateTimeField(null=True, blank=True)
    qualifying_start = models.DateTimeField(null=True, blank=True)
    sprint_qualifying_start = models.DateTimeField(null=True, blank=True)
    sprint_start = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=300, blank=True)
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    openf1_meeting_key = models.PositiveIntegerField(null=True, blank=True, unique=True)
    removed_upstream_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "Set by the Jolpica sync when this race left its season's calendar upstream (e.g. cancelled) "
            "but had results or predictions to keep; its round is then parked at 100+. Delete the race "
            "if it was cancelled."
        ),
    )

    objects = RaceQuerySet.as_manager()

    class Meta:
        ordering = ["season_id", "round"]
        constraints = [
            models.UniqueConstraint(fields=["season", "round"], name="race_unique_season_round"),
            models.CheckConstraint(
                condition=models.Q(round__gte=1), name="race_round_gte_1", violation_error_message=ROUND_ERROR
            ),
        ]
        indexes = [models.Index(fields=["date"], name="race_date_idx")]

    def __str__(self) -> str:
        return f"{self.season_id} {self.name}"

    def save(self, *args, **kwargs) -> None:
        """Refuses to write an empty id: the Race admin saved one (its id field is read-only and
        nothing built it), and every page linking the race answered 500 (admin review). Not a
        database CheckConstraint: PostgreSQL checks one on the proposed row of `INSERT … ON CONFLICT`
        before it finds the conflict, and the dump load and the Jolpica sync upsert stored races
        without their id (never rewritten), so it refused every re-load."""
        update_fields = kwargs.get("update_fields")
        if not self.slug and (update_fields is None or "slug" in update_fields):
            raise ValueError(f"{SLUG_EMPTY_ERROR} ({self.season_id} round {self.round} {self.name})")
        super().save(*args, **kwargs)

    @property
    def on_calendar(self) -> bool:
        return self.removed_upstream_at is None
