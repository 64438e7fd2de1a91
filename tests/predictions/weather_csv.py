"""Test helper: RaceWeather rows from the shared OpenF1 weather CSV (what the pipeline's
weather_observed_sync stores from the mirror), summarised with the pipeline's own rule."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from ingestion.clients.openf1 import WeatherSample
from ingestion.models import Race, RaceWeather
from ingestion.services.upsert import upsert_rows
from ingestion.services.weather_observed import weather_summarise


def _num(v: str):
    return None if v in ("", "\\N") else float(v)


def race_weather_load_csv(path: Path, *, seasons: range | None = None) -> int:
    by_meeting: dict[int, list[WeatherSample]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            key = int(row["meeting_key"])
            if seasons is not None and key // 100 not in seasons:
                continue
            by_meeting.setdefault(key, []).append(
                WeatherSample(
                    date=datetime.fromisoformat(row["date"]),
                    session_key=int(row["session_key"]),
                    meeting_key=key,
                    air_temperature=_num(row["air_temperature"]),
                    track_temperature=_num(row["track_temperature"]),
                    humidity=_num(row["humidity"]),
                    pressure=_num(row["pressure"]),
                    rainfall=_num(row["rainfall"]),
                    wind_direction=_num(row["wind_direction"]),
                    wind_speed=_num(row["wind_speed"]),
                )
            )
    races = {(r.season_id, r.round): r for r in Race.objects.filter(season_id__gte=2018)}
    rows = []
    for key, samples in by_meeting.items():
        race = races.get((key // 100, key % 100))
        if race is None:
            continue
        summary = weather_summarise(samples=samples, race_start=race.start)
        if summary:
            rows.append({"race_id": race.pk, "source": "openf1", **summary})
    upsert_rows(model=RaceWeather, rows=rows, key_fields=["race_id"])
    return len(rows)
