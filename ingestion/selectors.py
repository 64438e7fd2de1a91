"""Read-side queries over the F1 data that other apps share."""

from __future__ import annotations

from django.http import Http404

from ingestion.models import Race
from ingestion.services.race_ids import parse_race_id, race_id_canonical


class MalformedRaceId(ValueError):
    """The id is not of the form `<season>_<name>` or `<season>_<round>` (-> HTTP 400)."""


def race_get(*, race_id: str) -> Race:
    """Resolve `2025_bahrain` or `2025_4`, in any case (`2025_BAHRAIN`), to a Race. MalformedRaceId
    (400) or Http404 (unknown)."""
    race_id = race_id_canonical(race_id or "")
    try:
        season, round_number, slug = parse_race_id(race_id)
    except ValueError as exc:
        raise MalformedRaceId(str(exc)) from None
    qs = Race.objects.select_related("circuit", "season")
    race = qs.filter(slug=slug).first() if slug else qs.filter(season_id=season, round=round_number).first()
    if race is None:
        raise Http404(f"No race with id {race_id!r}")
    return race
