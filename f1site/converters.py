"""URL path converters. `<race_id:...>` hands views the canonical (lower-case) race id.

Every route taking a race id, API and pages, uses it, so a view, its cache key and the cache
invalidation (which knows only the stored id) all see `2026_qatar` whatever case was typed: a
view normalising the id itself would have to do it before each key it builds, and one that forgot
would cache `2026_QATAR` under a key no invalidation clears. Validation stays in the views
(`race_get`, `race_cache_key`: malformed -> 400 in the API, 404 on the pages).
"""

from __future__ import annotations

from django.urls import register_converter
from django.urls.converters import StringConverter

from ingestion.services.race_ids import race_id_canonical


class RaceIdConverter(StringConverter):
    def to_python(self, value: str) -> str:
        return race_id_canonical(value)


# Imported by every urls module with a race id route; a module runs once, so this registers once
# (Django warns on a second registration of a name).
register_converter(RaceIdConverter, "race_id")
