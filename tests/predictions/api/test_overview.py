"""GET /api/v1/predictions/overview and predictions/upcoming?as_of= against the real dump.

Prediction sets are stored with factories at fixed times (no model needed). Expected race lists come
from the home page itself and expected finishes from the dump's results.csv, read with plain
Python: never from the code under test.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from ingestion.models import Race, RaceResult
from predictions.models import Prediction, RaceAccuracy
from tests.conftest import in_season
from tests.drf_support import clean_cache, csv_race, csv_rows  # noqa: F401 - clean_cache: autouse fixture
from tests.factories import ModelVersionFactory, PredictionFactory, RaceAccuracyFactory

pytestmark = pytest.mark.django_db

OVERVIEW = "/api/v1/predictions/overview"
UPCOMING = "/api/v1/predictions/upcoming"


def _predict(race: Race, entrants: list[RaceResult], *, stage: str, made: datetime | None = None,
             backfilled: bool = False) -> uuid.UUID:  # fmt: skip
    """A stored set for `race`: entrants predicted in the order given, made now or at `made`."""
    version = ModelVersionFactory()
    batch = uuid.uuid4()
    for i, entry in enumerate(entrants, start=1):
        PredictionFactory(
            batch=batch, race=race, driver=entry.driver, team=entry.team, stage=stage,
            predicted_position=i, win_probability=round(0.5 / i, 4), backfilled=backfilled,
            model_version=version,
        )  # fmt: skip
    if made is not None:
        Prediction.objects.filter(batch=batch).update(created_at=made, as_of=made)
    return batch


def _entrants(season: int, rnd: int, order: str = "grid") -> list[RaceResult]:
    return list(
        RaceResult.objects.filter(race__season_id=season, race__round=rnd, shared_car_index=0)
        .select_related("driver", "team")
        .order_by(order, "id")
    )


@pytest.fixture
def stored_sets(ergast_data):
    """2026 round 7 (Barcelona, 14 Jun, qualifying 13 Jun 14:00): a pre set (12 Jun), a post set
    (13 Jun 16:00) scored on 15 Jun, and a newer post set made now, after the race (never shown
    for a completed race). Round 6: a backfilled post set, unscored. Round 8: a pre set (19 Jun)."""
    r7 = Race.objects.get(season_id=2026, round=7)
    grid7 = _entrants(2026, 7)
    pre7 = _predict(r7, grid7, stage="pre", made=datetime(2026, 6, 12, 9, tzinfo=UTC))
    post7 = _predict(r7, grid7, stage="post", made=datetime(2026, 6, 13, 16, tzinfo=UTC))
    record = RaceAccuracyFactory(race=r7, stage="post", batch=post7, mae=3.25, winner_hit=False)
    RaceAccuracy.objects.filter(pk=record.pk).update(scored_at=datetime(2026, 6, 15, 6, tzinfo=UTC))
    after7 = _predict(r7, list(reversed(grid7)), stage="post")
    r6 = Race.objects.get(season_id=2026, round=6)
    backfill6 = _predict(r6, _entrants(2026, 6), stage="post", backfilled=True)
    r8 = Race.objects.get(season_id=2026, round=8)
    pre8 = _predict(r8, _entrants(2026, 7, "position_order"), stage="pre",
                    made=datetime(2026, 6, 19, 9, tzinfo=UTC))  # fmt: skip
    return {"pre7": pre7, "post7": post7, "after7": after7, "backfill6": backfill6, "pre8": pre8}


def _page_lists(client, query: dict) -> dict[str, list[str]]:
    """Race ids in the home page's three lists (upcoming cards, past cards, awaiting links)."""
    response = client.get(reverse("analytics:home"), query)
    assert response.status_code == 200
    html = response.content.decode()
    awaiting = html.split('id="awaiting-h"')[1].split("</section>")[0] if 'id="awaiting-h"' in html else ""
    return {
        "upcoming": re.findall(r'class="card race-card upcoming" data-race="([^"]+)"', html),
        "recent": re.findall(r'class="card race-card past" data-race="([^"]+)"', html),
        # the links of a page as of a clock carry it (`?as_of=`)
        "awaiting_results": re.findall(r'href="/races/([^/"]+)/(?:\?as_of=[^"]+)?"', awaiting),
    }


def _api_lists(body: dict) -> dict[str, list[str]]:
    return {
        name: [item["race"]["id"] for item in body[name]]
        for name in ("upcoming", "recent", "awaiting_results")
    }


def _finish_by_ref(year: int, rnd: int) -> dict[str, int]:
    """results.csv: driverRef -> positionOrder of the race."""
    race_id = csv_race(year, rnd)["raceId"]
    refs = {d["driverId"]: d["driverRef"] for d in csv_rows("drivers")}
    return {
        refs[r["driverId"]]: int(r["positionOrder"]) for r in csv_rows("results") if r["raceId"] == race_id
    }


# --- the lists: the page and the endpoint agree ----------------------------------------------------
@pytest.mark.parametrize(
    "as_of",
    [
        None,
        "2026-06-20",
        "2026-11-26",
        "2025-03-01",
        # after the calendar's last race (Abu Dhabi, 2026-12-06): a clock in the past only then
        pytest.param("2026-12-20", marks=pytest.mark.time_machine(datetime(2026, 12, 21, 12, tzinfo=UTC))),
    ],
)
def test_the_page_and_the_endpoint_list_the_same_races(client, api, stored_sets, as_of):
    query = {} if as_of is None else {"as_of": as_of}
    response = api.get(OVERVIEW, query)
    assert response.status_code == 200, response.content
    body = response.json()
    assert _api_lists(body) == _page_lists(client, query)
    assert {i["race"]["status"] for i in body["upcoming"]} <= {"scheduled"}
    assert {i["race"]["status"] for i in body["recent"]} <= {"completed"}
    assert {i["race"]["status"] for i in body["awaiting_results"]} <= {"awaiting_results"}


def test_overview_as_of_lists_by_that_clock(api, stored_sets):
    body = api.get(OVERVIEW, {"as_of": "2026-06-20"}).json()
    rounds = {name: [Race.objects.get(slug=s).round for s in ids] for name, ids in _api_lists(body).items()}
    # races.csv: after 2026-06-20 come rounds 8 (06-28), 9, 10; the last three before it 7, 6, 5
    assert rounds == {"upcoming": [8, 9, 10], "recent": [7, 6, 5], "awaiting_results": []}
    assert body["as_of"] == "2026-06-20T00:00:00Z"  # a date: 00:00 UTC (f1site.clock)
    zoned = api.get(OVERVIEW, {"as_of": "2026-06-20T14:00+02:00"}).json()
    assert zoned["as_of"] == "2026-06-20T12:00:00Z" and _api_lists(zoned) == _api_lists(body)
    # after the data's last result (2026 round 7) and before Qatar: rounds 8-21 await results
    body = api.get(OVERVIEW, {"as_of": "2026-11-26"}).json()
    assert [Race.objects.get(slug=s).round for s in _api_lists(body)["awaiting_results"]] == list(
        range(8, 22)
    )
    assert _api_lists(body)["upcoming"] == ["2026_qatar", "2026_uae"]


# --- predicted vs actual, accuracy, labels ---------------------------------------------------------
def test_recent_races_show_the_scored_set_against_the_stored_results(api, stored_sets):
    """Today (after the data's last result, 2026 round 7) the last three are rounds 7, 6, 5."""
    body = api.get(OVERVIEW).json()
    recent = {item["race"]["round"]: item for item in body["recent"] if item["race"]["season"] == 2026}
    assert sorted(recent) == [5, 6, 7]

    # round 7: the scored post set (13 Jun 16:00), not the newer one made after the race
    r7 = recent[7]
    assert [s["stage"] for s in r7["stages"]] == ["pre", "post"]
    post = r7["stages"][1]
    assert post["created_at"] == "2026-06-13T16:00:00Z"
    assert (post["backfilled"], post["made_after_race"], post["label"]) == (False, False, "pre_race")
    stored = dict(
        Prediction.objects.filter(batch=stored_sets["post7"]).values_list("driver__ref", "predicted_position")
    )
    assert {row["driver"]["id"]: row["predicted_position"] for row in post["predictions"]} == stored
    finish = _finish_by_ref(2026, 7)
    assert {row["driver"]["id"]: row["actual_position"] for row in post["predictions"]} == {
        ref: finish.get(ref) for ref in stored
    }
    assert [r["driver"]["id"] for r in r7["results"]] == sorted(finish, key=finish.get)
    (accuracy,) = r7["accuracy"]  # the pre set was never scored
    assert (accuracy["stage"], accuracy["mae"], accuracy["winner_hit"]) == ("post", 3.25, False)

    # round 6: the backfilled set (made now, after the race), labelled so; nothing scored
    (backfill,) = recent[6]["stages"]
    assert (backfill["stage"], backfill["backfilled"], backfill["label"]) == ("post", True, "backfilled")
    finish6 = _finish_by_ref(2026, 6)
    assert {row["driver"]["id"]: row["actual_position"] for row in backfill["predictions"]} == {
        ref: finish6.get(ref) for ref in (row["driver"]["id"] for row in backfill["predictions"])
    }
    assert all(row["actual_position"] is not None for row in backfill["predictions"])
    assert recent[6]["accuracy"] == [] and recent[5]["stages"] == [] and recent[5]["accuracy"] == []

    # as of 20 Jun the backfill (made now) did not exist yet; round 7 shows the same scored set
    body = api.get(OVERVIEW, {"as_of": "2026-06-20"}).json()
    recent = {item["race"]["round"]: item for item in body["recent"]}
    assert recent[6]["stages"] == [] and recent[7]["stages"][1]["created_at"] == "2026-06-13T16:00:00Z"


def test_the_accuracy_is_the_accuracy_endpoints_record(api, stored_sets):
    """Today (after the data's last result) round 7 is among the last three: its accuracy in the
    overview is the record `predictions/accuracy/{id}` serves (race_accuracy_get)."""
    body = api.get(OVERVIEW).json()
    (r7,) = [item for item in body["recent"] if item["race"]["id"] == "2026_barcelona_catalunya"]
    assert r7["accuracy"] == api.get("/api/v1/predictions/accuracy/2026_barcelona_catalunya").json()["stages"]


def test_a_past_clock_shows_only_what_was_made_by_then(api, stored_sets):
    """As of 13 Jun (before qualifying at 14:00) round 7 is upcoming with its 12 Jun pre set only:
    neither the after-qualifying set nor the set made now."""
    body = api.get(OVERVIEW, {"as_of": "2026-06-13"}).json()
    r7 = next(item for item in body["upcoming"] if item["race"]["round"] == 7)
    (pre,) = r7["stages"]
    assert pre["stage"] == "pre" and pre["created_at"] == "2026-06-12T09:00:00Z"
    assert set(pre) == {"stage", "model_version", "created_at", "as_of", "clock", "backfilled", "predictions"}
    assert pre["clock"] is None  # a set computed at a past clock is never shown


# --- predictions/upcoming?as_of= -------------------------------------------------------------------
def test_upcoming_honours_as_of_and_matches_the_overview(api, stored_sets):
    response = api.get(UPCOMING, {"as_of": "2026-06-20"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["race"]["round"] for r in body["races"]] == [8, 9, 10]
    assert body["races"] == api.get(OVERVIEW, {"as_of": "2026-06-20"}).json()["upcoming"]
    (pre8,) = body["races"][0]["stages"]
    stored = dict(
        Prediction.objects.filter(batch=stored_sets["pre8"]).values_list("driver__ref", "win_probability")
    )
    assert {row["driver"]["id"]: row["win_probability"] for row in pre8["predictions"]} == stored
    assert body["races"][1]["stages"] == [] and body["as_of"].startswith("2026-06-20T")


@in_season
def test_upcoming_without_a_clock_is_the_overviews_upcoming(api, stored_sets):
    """The fast path of predictions/upcoming (fixed SQL) and the overview (the page's selectors)
    give the same items for today's clock."""
    qatar = Race.objects.get(slug="2026_qatar")
    _predict(qatar, _entrants(2026, 7, "position_order"), stage="pre")
    upcoming = api.get(UPCOMING).json()["races"]
    assert [r["race"]["id"] for r in upcoming] == ["2026_qatar", "2026_uae"]
    assert upcoming[0]["stages"] and upcoming == api.get(OVERVIEW).json()["upcoming"]


# --- errors, queries, cache ------------------------------------------------------------------------
@pytest.mark.parametrize("path", [OVERVIEW, UPCOMING])
@pytest.mark.parametrize(
    "query",
    [
        "as_of=yesterday",
        "as_of=2026-13-01",
        "as_of=",
        "as_of=2026-06-20&as_of=2026-06-21",
        "as_of=2026-06-20%00",
    ],
)
def test_an_invalid_clock_is_a_400_in_the_error_shape(api, ergast_data, path, query):
    response = api.get(f"{path}?{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["details"]) == ["as_of"]


@pytest.mark.parametrize("path", [OVERVIEW, UPCOMING])
@pytest.mark.parametrize("value", ["9999-12-31", "2026-11-27T00:10"])
@pytest.mark.time_machine(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
def test_a_clock_still_to_come_is_a_404_as_on_the_page(client, api, ergast_data, path, value):
    """A valid date still to come (beyond the 5-minute skew): no view as of then yet — the page's
    404, and the API's too (a 400 would call a well-formed value invalid)."""
    assert client.get(reverse("analytics:home"), {"as_of": value}).status_code == 404
    response = api.get(path, {"as_of": value})
    assert response.status_code == 404, response.content
    error = response.json()["error"]
    assert error["code"] == "not_found" and "is in the future" in error["message"]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "20260620", "2026-06-20", "2026-06-20T14:00"])
def test_the_endpoint_reads_the_clock_as_the_home_page_does(client, api, ergast_data, value):
    """One parser: what the page refuses (404) the endpoint refuses (400), what it takes both take."""
    page = client.get(reverse("analytics:home"), {"as_of": value}).status_code
    assert (page, api.get(OVERVIEW, {"as_of": value}).status_code) in {(200, 200), (404, 400)}


@pytest.mark.parametrize("as_of", ["2026-06-20", "2026-11-26"])  # 0 and 14 races awaiting results
def test_overview_query_count_is_fixed_and_a_warm_hit_runs_none(api, stored_sets, as_of,
                                                                django_assert_max_num_queries):  # fmt: skip
    with django_assert_max_num_queries(8):  # lists 4, sets 3, results 1
        assert api.get(OVERVIEW, {"as_of": as_of}).status_code == 200
    with django_assert_max_num_queries(0):
        assert api.get(OVERVIEW, {"as_of": as_of}).status_code == 200
    with django_assert_max_num_queries(4):  # list 1, sets 3
        assert api.get(UPCOMING, {"as_of": as_of}).status_code == 200


def test_the_cache_key_holds_the_clock_and_new_predictions_show_at_once(api, stored_sets):
    early = api.get(OVERVIEW, {"as_of": "2026-06-20"}).json()
    late = api.get(OVERVIEW, {"as_of": "2026-11-26"}).json()
    assert _api_lists(early) != _api_lists(late)  # each clock its own body
    assert api.get(OVERVIEW, {"as_of": "2026-06-20"}).json() == early  # and its own cached copy

    from predictions.signals import predictions_changed

    r9 = Race.objects.get(season_id=2026, round=9)
    batch = _predict(r9, _entrants(2026, 7, "position_order"), stage="pre",
                     made=datetime(2026, 6, 19, 10, tzinfo=UTC))  # fmt: skip
    assert api.get(OVERVIEW, {"as_of": "2026-06-20"}).json() == early  # cached
    predictions_changed.send(sender=Prediction, race_ids=[r9.pk])  # as prediction_generate does on commit
    body = api.get(OVERVIEW, {"as_of": "2026-06-20"}).json()
    (stage,) = next(i for i in body["upcoming"] if i["race"]["round"] == 9)["stages"]
    assert stage["created_at"] == "2026-06-19T10:00:00Z"
    assert len(stage["predictions"]) == Prediction.objects.filter(batch=batch).count()
