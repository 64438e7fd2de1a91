"""Live timing: the latest position / gap / interval / lap per driver, and race-control messages.

One row per (session, driver) is overwritten on each poll — the race page shows "now", not history.
Snapshots of sessions that ended more than LIVE_SNAPSHOT_RETENTION_DAYS ago are pruned weekly.
"""

from django.db import models


class LiveDriverSnapshot(models.Model):
    session = models.ForeignKey(
        "ingestion.OpenF1Session", on_delete=models.CASCADE, related_name="live_snapshots"
    )
    driver_number = models.PositiveSmallIntegerField()
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    gap_to_leader = models.CharField(max_length=16, blank=True, help_text="Seconds, or '+1 LAP'")
    interval = models.CharField(max_length=16, blank=True)
    lap_number = models.PositiveSmallIntegerField(null=True, blank=True)
    last_lap_seconds = models.FloatField(null=True, blank=True)
    sample_at = models.DateTimeField(null=True, blank=True, help_text="Newest source timestamp used")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session_id", "position", "driver_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "driver_number"], name="live_snapshot_unique_session_driver"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} #{self.driver_number} P{self.position}"


class RaceControlMessage(models.Model):
    session = models.ForeignKey(
        "ingestion.OpenF1Session", on_delete=models.CASCADE, related_name="race_control_messages"
    )
    date = models.DateTimeField()
    category = models.CharField(max_length=32, blank=True)
    flag = models.CharField(max_length=32, blank=True)
    scope = models.CharField(max_length=32, blank=True)
    lap_number = models.PositiveSmallIntegerField(null=True, blank=True)
    driver_number = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["session_id", "-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "date", "message"], name="race_control_unique_session_date_message"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%H:%M:%S} {self.message[:60]}"
