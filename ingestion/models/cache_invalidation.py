"""A cache invalidation that could not reach Redis, kept in the database until it is replayed.

Written by f1site.cache when Redis is down or hung (or this process's breaker is open) at the moment
data changes — in a web request, a command or a Celery worker that may be gone long before Redis
returns — and deleted once a later invalidation, the beat tick or a web process whose breaker closed
has replayed it. Empty in normal operation: a row means stale answers until it is replayed.
"""

from django.db import models
from django.utils import timezone


class CacheInvalidation(models.Model):
    keys = models.JSONField(default=list, blank=True, help_text="Cache keys to delete (unprefixed)")
    families = models.JSONField(default=list, blank=True, help_text="List families whose generation to bump")
    patterns = models.JSONField(
        default=list, blank=True, help_text="Key patterns to delete (the dashboard pages and analytics)"
    )
    error = models.TextField(blank=True, help_text="Why Redis refused it")
    process = models.CharField(max_length=200, blank=True, help_text="host:pid that recorded it")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M:%S} {len(self.keys)} keys, {len(self.families)} families, "
            f"{len(self.patterns)} patterns"
        )
