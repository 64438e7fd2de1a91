"""OpenF1 sessions mapped to our races (by date and circuit), with live-polling bookkeeping."""

from django.db import models

from ingestion.models.results import loaded_or_id


class SessionType(models.TextChoices):
    FP1 = "fp1", "Practice 1"
    FP2 = "fp2", "Practice 2"
    FP3 = "fp3", "Practice 3"
    SPRINT_QUALIFYING = "sprint_qualifying", "Sprint qualifying / shootout"
    SPRINT = "sprint", "Sprint"
    QUALIFYING = "qualifying", "Qualifying"
    RACE = "race", "Race"


class OpenF1Session(models.Model):
    session_key = models.PositiveIntegerField(unique=True)
    meeting_key = models.PositiveIntegerField()
    race = models.ForeignKey("ingestion.Race", on_delete=models.CASCADE, related_name="openf1_sessions")
    session_type = models.CharField(max_length=24, choices=SessionType.choices)
    session_name = models.CharField(max_length=64)
    date_start = models.DateTimeField()
    date_end = models.DateTimeField()
    results_ingested_at = models.DateTimeField(null=True, blank=True)
    results_attempted_at = models.DateTimeField(null=True, blank=True)
    live_polled_at = models.DateTimeField(null=True, blank=True, help_text="Last live poll attempt")
    live_ok_at = models.DateTimeField(null=True, blank=True, help_text="Last successful live poll")
    live_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["date_start"]
        constraints = [
            models.UniqueConstraint(fields=["race", "session_type"], name="openf1_session_unique_race_type"),
        ]
        indexes = [models.Index(fields=["date_start", "date_end"], name="openf1_session_window_idx")]

    def __str__(self) -> str:
        return f"{loaded_or_id(self, 'race')} — {self.session_name} (OpenF1 {self.session_key})"
