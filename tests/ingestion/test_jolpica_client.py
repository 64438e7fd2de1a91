"""JolpicaClient against the mirror: paging, stitching races cut across pages, validation errors."""

from __future__ import annotations

import csv
import math
from collections import Counter

import pytest

from ingestion.clients.http import SourcePayloadError
from ingestion.clients.jolpica import JolpicaClient
from tests.conftest import ERGAST_DUMP_DIR


def _csv(name):
    with (ERGAST_DUMP_DIR / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def qualifying_2021() -> Counter:
    races = {r["raceId"]: int(r["round"]) for r in _csv("races.csv") if r["year"] == "2021"}
    return Counter(races[q["raceId"]] for q in _csv("qualifying.csv") if q["raceId"] in races)


def test_season_wide_paging_stitches_races_cut_across_pages(mirror, qualifying_2021):
    client = JolpicaClient()
    blocks = client.qualifying(2021)
    total = sum(qualifying_2021.values())
    assert total % 100 != 0 and qualifying_2021[5] == 19  # a 19-car race shifts later races across pages
    assert {rnd: len(b.items) for (_, rnd), b in blocks.items()} == dict(qualifying_2021)
    assert all(b.error is None and b.race.raceName for b in blocks.values())
    assert client.requests_made == math.ceil(total / 100) == client.pages_fetched
    urls = mirror.requests()["urls"]
    assert all("limit=100" in u for u in urls) and len(urls) == client.requests_made


def test_per_round_endpoints_and_empty_answers(mirror):
    client = JolpicaClient()
    pit = client.pitstops(2021, 1)
    assert pit.items and {p.stop for p in pit.items} >= {"1"}
    standings = client.driver_standings(2021, 1)
    assert standings.items[0].Driver.driverId and standings.items[0].points
    future = client.results(2026, 23)  # a race without results yet: no blocks, one request
    assert future == {}
    assert client.requests_made == 3


def test_calendar_carries_session_times(mirror):
    races = JolpicaClient().races(2024)
    sprint_weekend = next(r for r in races if r.Sprint)
    assert sprint_weekend.SprintQualifying is not None and sprint_weekend.SecondPractice is None


def test_a_payload_without_mrdata_is_a_payload_error_naming_the_url(mirror):
    client = JolpicaClient(base_url=mirror.url)
    with pytest.raises(SourcePayloadError) as info:
        client.fetch_all("health", "results")  # JSON, but not Ergast's MRData envelope
    assert "unexpected results payload: missing 'MRData'" in str(info.value)
    assert info.value.url == f"{mirror.url}/health?limit=100&offset=0"


def test_total_and_pages_for(mirror):
    client = JolpicaClient()
    assert client.total("2021/results.json") == 440
    assert [client.pages_for(n) for n in (0, 1, 100, 101, 440)] == [1, 1, 1, 2, 5]
