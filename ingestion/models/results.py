"""Session results: race, sprint, qualifying and practice classifications.

RaceResult's natural key is (race, driver, number): in the 1950s two drivers could share one car
(same number and classification) and one driver could race two cars, so (race, driver) alone is
not unique in the historical record. `shared_car_index` (0 for the first driver of a car's
classification, 1.. for co-drivers) keeps "one position order per race" enforceable. Position-order
constraints are DEFERRABLE INITIALLY DEFERRED on PostgreSQL so an upstream correction that swaps
two drivers applies in one transaction without a transient violation.
"""

from django.db import models


def loaded_or_id(instance: models.Model, field: str) -> str:
    """A foreign key for `__str__` without a query: the related object when it is loaded
    (select_related, as the result admins' own pages do), else `<field> #<id>`. Reading it would
    cost one query per row wherever rows are printed in bulk — the admin's delete page of a Status
    listed 4,490 protected results with two queries each (9,000 queries, 20 s)."""
    if instance._meta.get_field(field).is_cached(instance):
        return str(getattr(instance, field))
    return f"{field} #{getattr(instance, f'{field}_id')}"


class PositionText(models.TextChoices):
    RETIRED = "R", "Retired / not classified"
    DISQUALIFIED = "D", "Disqualified"
    EXCLUDED = "E", "Excluded"
    WITHDRAWN = "W", "Withdrawn / did not start"
    FAILED_TO_QUALIFY = "F", "Failed to qualify"
    NOT_CLASSIFIED = "N", "Not classified"


# Entries that never took the start: they are not counted as race starts. By status, and by the result
# sheet's letter: "W" (withdrawn / did not start) carries the reason as its status — "Accident" in the
# warm-up, "Engine" on the formation lap, 84 such rows in the dump — and "F" failed to qualify. The
# rule belongs to the results (the API's career counts and the analytics metrics both apply it), so
# it lives here rather than in analytics, which the ingestion API must not import.
NON_STARTS = frozenset({"Did not qualify", "Did not prequalify", "107% Rule", "Withdrew", "Excluded"})
NON_START_POSITION_TEXTS = frozenset({PositionText.WITHDRAWN.value, PositionText.FAILED_TO_QUALIFY.value})


# position_text letters as F1 result sheets print them ("P10" for a classified finisher).
_SHORT_STATUS = {
    PositionText.RETIRED: "Ret",
    PositionText.DISQUALIFIED: "DSQ",
    PositionText.EXCLUDED: "EX",
    PositionText.WITHDRAWN: "WD",
    PositionText.FAILED_TO_QUALIFY: "DNQ",
    PositionText.NOT_CLASSIFIED: "NC",
}


class PracticeSession(models.TextChoices):
    FP1 = "FP1", "Practice 1"
    FP2 = "FP2", "Practice 2"
    FP3 = "FP3", "Practice 3"


class _Classification(models.Model):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="+")
    driver = models.ForeignKey("ingestion.Driver", on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("ingestion.Team", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField(default=0, help_text="Car number (0 when unknown)")
    grid = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0 = pit-lane start")
    position = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Null unless classified")
    position_text = models.CharField(max_length=4)
    position_order = models.PositiveSmallIntegerField()
    points = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    laps = models.PositiveSmallIntegerField(default=0)
    status = models.ForeignKey("ingestion.Status", on_delete=models.PROTECT, related_name="+")
    time_text = models.CharField(max_length=32, blank=True, help_text="Winner's time or gap, e.g. +5.478")
    milliseconds = models.PositiveBigIntegerField(null=True, blank=True)
    fastest_lap = models.PositiveSmallIntegerField(null=True, blank=True)
    fastest_lap_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    fastest_lap_time = models.CharField(max_length=16, blank=True)
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    manually_corrected = models.BooleanField(
        default=False,
        help_text="Edited by staff; syncs keep this row and record the upstream value",
    )

    class Meta:
        abstract = True
        ordering = ["race_id", "position_order"]

    def __str__(self) -> str:
        place = (
            f"P{self.position_text}"
            if self.position_text.isdigit()
            else _SHORT_STATUS.get(self.position_text, self.position_text)
        )
        kind = " sprint" if self._meta.model_name == "sprintresult" else ""
        return f"{loaded_or_id(self, 'race')}{kind} — {place} {loaded_or_id(self, 'driver')}"


class RaceResult(_Classification):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="results")
    shared_car_index = models.PositiveSmallIntegerField(default=0)
    fastest_lap_speed = models.DecimalField(max_digits=7, decimal_places=3, null=True, blank=True)

    class Meta(_Classification.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["race", "driver", "number"], name="race_result_unique_race_driver_number"
            ),
            models.UniqueConstraint(
                fields=["race", "position_order", "shared_car_index"],
                name="race_result_unique_position_order",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]
        indexes = [models.Index(fields=["driver", "race"], name="race_result_driver_idx")]


class SprintResult(_Classification):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="sprint_results")

    class Meta(_Classification.Meta):
        constraints = [
            models.UniqueConstraint(fields=["race", "driver"], name="sprint_result_unique_race_driver"),
            models.UniqueConstraint(
                fields=["race", "position_order"],
                name="sprint_result_unique_position_order",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]
        indexes = [models.Index(fields=["driver", "race"], name="sprint_result_driver_idx")]


class QualifyingResult(models.Model):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="qualifying_results")
    driver = models.ForeignKey("ingestion.Driver", on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("ingestion.Team", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField(default=0)
    position = models.PositiveSmallIntegerField()
    q1 = models.CharField(max_length=16, blank=True)
    q2 = models.CharField(max_length=16, blank=True)
    q3 = models.CharField(max_length=16, blank=True)
    q1_ms = models.PositiveIntegerField(null=True, blank=True)
    q2_ms = models.PositiveIntegerField(null=True, blank=True)
    q3_ms = models.PositiveIntegerField(null=True, blank=True)
    ergast_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    manually_corrected = models.BooleanField(default=False)

    class Meta:
        ordering = ["race_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["race", "driver"], name="qualifying_result_unique_race_driver"),
            models.UniqueConstraint(
                fields=["race", "position"],
                name="qualifying_result_unique_position",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]
        indexes = [models.Index(fields=["driver", "race"], name="qualifying_driver_idx")]

    def __str__(self) -> str:
        return f"{loaded_or_id(self, 'race')} qualifying — P{self.position} {loaded_or_id(self, 'driver')}"


class PracticeResult(models.Model):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="practice_results")
    session = models.CharField(max_length=3, choices=PracticeSession.choices)
    driver = models.ForeignKey("ingestion.Driver", on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("ingestion.Team", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField(default=0)
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    time_text = models.CharField(max_length=16, blank=True)
    milliseconds = models.PositiveIntegerField(null=True, blank=True)
    laps = models.PositiveSmallIntegerField(null=True, blank=True)
    # set by a save in admin, as on the other results: the dump load and the OpenF1 ingest keep the row
    manually_corrected = models.BooleanField(default=False)

    class Meta:
        ordering = ["race_id", "session", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["race", "session", "driver"],
                name="practice_result_unique_race_session_driver",
            ),
        ]

    def __str__(self) -> str:
        place = f"P{self.position}" if self.position else "no time"
        return f"{loaded_or_id(self, 'race')} {self.session} — {place} {loaded_or_id(self, 'driver')}"


class PitStop(models.Model):
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="pit_stops")
    driver = models.ForeignKey("ingestion.Driver", on_delete=models.PROTECT, related_name="+")
    stop = models.PositiveSmallIntegerField()
    lap = models.PositiveSmallIntegerField()
    time_of_day = models.CharField(max_length=16, blank=True)
    duration_text = models.CharField(max_length=16, blank=True)
    milliseconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["race_id", "lap", "driver_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["race", "driver", "stop"], name="pit_stop_unique_race_driver_stop"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{loaded_or_id(self, 'race')} — {loaded_or_id(self, 'driver')} stop {self.stop} (lap {self.lap})"
        )
