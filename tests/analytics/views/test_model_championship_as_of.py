"""The model and championship pages as of a clock (`?as_of=`), and the menu carrying the clock to them.

QA: at a clock the menu's Championship and Model were marked "(today)": the model page named the
version active now (trained since, on races after the clock) and backtests run since, and the
championship simulated today's season with today's model. Real data: 2025 round 10, the Canadian
Grand Prix (2025-06-15, start 18:00 UTC); an hour before it rounds 1-9 had run.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.analytics.views.test_pages import _csv, _race_row
from tests.model_fixtures import (
    AFTER_CANADA_RESULTS,
    BEFORE_CANADA,
    EARLIER_REGISTERED,
    LATER_REGISTERED,
    backtest_run_at,
    module_trained_model,
    version_activated_at,
    version_registered_at,
    versions_around_a_clock,
)

pytestmark = pytest.mark.django_db


# A small model trained only on 2023-2024, so it is an honest model for a 2025 clock.
trained_model = module_trained_model(from_season=2023, until_season=2024, frames_since=2021)


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _notice(html: str) -> str:
    return html.split('<p class="notice">')[1].split("</p>")[0]


def _nav(html: str) -> str:
    return html.split('<header class="site-header">')[1].split("</header>")[0]


# --- the model page -------------------------------------------------------------------------


def test_the_model_page_as_of_a_clock_shows_the_version_serving_then(client, django_assert_max_num_queries):
    """Two versions registered either side of the clock: the page at the clock names the earlier
    (registered before it, trained on 2023-2024), never the later (active now, trained through
    2025); the backtests are those finished by then. No artifact is loaded (these have none)."""
    from tests.factories import ModelVersionFactory

    earlier = version_registered_at(
        ModelVersionFactory(
            train_from_season=2023, train_until_season=2024, trained_until_date=date(2024, 12, 8)
        ),
        EARLIER_REGISTERED,
    )
    later = version_registered_at(ModelVersionFactory(is_active=True), LATER_REGISTERED)
    backtest_run_at(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC), mae=3.111)
    # started before the clock, finished after it: no results then
    backtest_run_at(datetime(2025, 6, 15, 16, tzinfo=UTC), datetime(2025, 6, 15, 19, tzinfo=UTC), mae=3.222)
    backtest_run_at(datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 8, 1, 1, tzinfo=UTC), mae=3.333)
    url = reverse("analytics:model")
    with django_assert_max_num_queries(3):  # the versions at the clock, the backtests (2)
        response = client.get(url, {"as_of": BEFORE_CANADA})
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        f"Model serving then <strong>{earlier.label}</strong> (registered 10 January 2025, 00:00 UTC)" in html
    )
    assert "trained on 2023–2024" in html
    assert later.label not in html and "Active model" not in html
    assert "cannot be loaded right now" not in html  # whether a file loaded then is not known
    assert "3.111" in html and "3.222" not in html and "3.333" not in html
    assert "This catalogue describes today's code" in html and 'id="feature-catalogue"' in html
    notice = _notice(html)
    assert "Showing the model page as of 15 June 2025, 17:00 UTC" in notice
    assert f'<a href="{url}">Back to today</a>' in notice
    # today: the active version and the latest backtest, no clock anywhere
    today = client.get(url).content.decode()
    assert f"Active model <strong>{later.label}</strong>" in today and "3.333" in today
    assert "as_of" not in today and "describes today's code" not in today


def test_the_model_page_skips_a_version_pruned_before_the_clock(client):
    """A version whose files were pruned before the clock was not serving then; one pruned since
    was, and the page says its files are gone now."""
    from tests.factories import ModelVersionFactory

    earlier = version_registered_at(
        ModelVersionFactory(trained_until_date=date(2024, 12, 8)), EARLIER_REGISTERED
    )
    newer = version_registered_at(
        ModelVersionFactory(trained_until_date=date(2024, 12, 8)),
        datetime(2025, 2, 1, tzinfo=UTC),
        artifact_pruned_at=datetime(2025, 5, 1, tzinfo=UTC),
    )
    url = reverse("analytics:model")
    html = client.get(url, {"as_of": BEFORE_CANADA}).content.decode()
    assert f"<strong>{earlier.label}</strong>" in html and newer.label not in html
    version_registered_at(
        newer, datetime(2025, 2, 1, tzinfo=UTC), artifact_pruned_at=datetime(2025, 9, 1, tzinfo=UTC)
    )
    cache.clear()
    html = client.get(url, {"as_of": BEFORE_CANADA}).content.decode()
    assert f"<strong>{newer.label}</strong>" in html and earlier.label not in html
    assert "Its files have been pruned since (1 September 2025)" in html


def test_the_model_page_before_any_version_says_so(client):
    from tests.factories import ModelVersionFactory

    version_registered_at(ModelVersionFactory(is_active=True), EARLIER_REGISTERED)
    backtest_run_at(datetime(2025, 3, 1, tzinfo=UTC), None, mae=3.111)
    html = client.get(reverse("analytics:model"), {"as_of": "2024-06-01"}).content.decode()
    assert "No prediction model had been trained by 1 June 2024, 00:00 UTC" in html
    assert "No backtest had been run by then." in html and "3.111" not in html
    assert "No trained model is active yet." not in html


@pytest.mark.parametrize("name", ["model", "championship"])
@pytest.mark.parametrize("bad", ["", "x", "2025-13-01", "9999-12-31", ["2025-06-01", "2025-06-02"]])
def test_junk_clocks_are_404s_as_on_the_home_page(client, name, bad):
    assert client.get(reverse(f"analytics:{name}"), {"as_of": bad}).status_code == 404


def test_the_menu_carries_the_clock_to_the_championship_and_model_pages(client):
    html = client.get(reverse("analytics:model"), {"as_of": BEFORE_CANADA}).content.decode()
    nav = _nav(html)
    clock = f"as_of={BEFORE_CANADA}"
    assert f'<a href="/championship/?{clock}">Championship</a>' in nav
    assert f'<a href="/model/?{clock}">Model</a>' in nav
    assert "(today)" not in nav
    assert all(h.endswith(clock) for h in re.findall(r'href="([^"]+)"', nav))


# --- the championship page ------------------------------------------------------------------


def _points_after(year: int, rnd: int, driver_ref: str) -> float:
    """The drivers' standings points after a round, straight from the dump's CSV files."""
    race_id = _race_row(year, rnd)["raceId"]
    driver_id = next(d["driverId"] for d in _csv("drivers") if d["driverRef"] == driver_ref)
    row = next(r for r in _csv("driver_standings") if r["raceId"] == race_id and r["driverId"] == driver_id)
    return float(row["points"])


def _title_rows(html: str) -> list[str]:
    table = html.split('id="title-probabilities"')[1].split("</table>")[0]
    return table.split("<tbody>")[1].split("</tr>")[:-1]


def _points_now(html: str, driver_ref: str) -> str:
    row = next(r for r in _title_rows(html) if f"/drivers/{driver_ref}/" in r)
    return re.findall(r'<td class="num">([^<]*)</td>', row)[0]


@pytest.mark.slow
def test_the_championship_as_of_a_clock_simulates_from_then(
    client, trained_model, tmp_path, django_assert_max_num_queries
):
    """An hour before the 2025 Canadian GP: the standings after round 9 (Verstappen 137 points, read
    from the dump's CSV), Canada onwards simulated with the model registered before the clock, not
    the one active now; today the 2025 season is over (final standings, nothing simulated)."""
    earlier, later = versions_around_a_clock(
        trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED
    )
    verstappen = _points_after(2025, 9, "max_verstappen")
    assert verstappen == 137
    left = sum(r["year"] == "2025" and int(r["round"]) >= 10 for r in _csv("races"))
    url = reverse("analytics:championship")
    with django_assert_max_num_queries(26):  # the calendar, standings, versions, entrants, frames
        response = client.get(url, {"season": 2025, "as_of": BEFORE_CANADA})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>2025 title chances</h1>" in html and "final standings" not in html
    assert _points_now(html, "max_verstappen") == "137"
    assert f"over the {left} races without results known by then" in html
    assert f"(model {earlier.label}, the one serving then)" in html and later.label not in html
    assert "after the latest round whose results were known by 2025-06-15 17:00 UTC" in html
    rows = _title_rows(html)
    probabilities = [float(x) for x in re.findall(r"<output>(?:&lt;|&gt;)?([\d.]+)%</output>", "".join(rows))]
    assert len(probabilities) == len(rows) > 10
    assert sum(probabilities) == pytest.approx(100, abs=0.5 * len(rows) / 10 + 0.5)
    notice = _notice(html)
    assert "Showing the championship as of 15 June 2025, 17:00 UTC" in notice
    assert '<a href="/championship/?season=2025">Back to today</a>' in notice
    clock = f"as_of={BEFORE_CANADA}"
    hrefs = re.findall(r'href="([^"]+)"', html.split('id="title-probabilities"')[1].split("</table>")[0])
    assert hrefs and all(h.endswith(f"season=2025&amp;{clock}") for h in hrefs)
    # the simulation's own entry, per clock (the API's family): its remaining rounds start at Canada
    (key,) = cache.keys("f1:championship:*")
    assert key.endswith(f":2025:{earlier.label}:at:{BEFORE_CANADA}")
    body = cache.get(key)[0].decode()
    assert f'"remaining_races":["{_race_slug(2025, 10)}"' in body
    with django_assert_max_num_queries(2):  # a page-cache hit
        assert client.get(url, {"season": 2025, "as_of": BEFORE_CANADA}).content.decode() == html
    # today: the season is over, its final standings; no clock, no model named
    today = client.get(url, {"season": 2025}).content.decode()
    assert "<h1>2025 final standings</h1>" in today and "title chances" not in today
    assert earlier.label not in today and "as_of" not in today


@pytest.mark.slow
def test_the_championship_as_of_a_clock_simulates_a_round_run_without_results_stored(
    client, trained_model, tmp_path
):
    """Review: a round run by the clock whose results are still not stored (upstream late; the dump's
    2026 rounds after its cut-off) was neither counted nor simulated at a clock, while the page
    without one simulates it. Canada 2025's results removed (this test's transaction only), a clock
    after its results would have been known: it is simulated with every later round, and the
    standings are still those after round 9 (Verstappen 137, from the dump's CSV)."""
    from ingestion.models import RaceResult

    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    RaceResult.objects.filter(race__season_id=2025, race__round=10).delete()
    left = sum(r["year"] == "2025" and int(r["round"]) >= 10 for r in _csv("races"))
    html = client.get(
        reverse("analytics:championship"), {"season": 2025, "as_of": AFTER_CANADA_RESULTS}
    ).content.decode()
    assert f"over the {left} races without results known by then" in html
    assert _points_now(html, "max_verstappen") == f"{_points_after(2025, 9, 'max_verstappen'):g}" == "137"
    (key,) = cache.keys("f1:championship:*")
    assert (
        f'"remaining_races":["{_race_slug(2025, 10)}","{_race_slug(2025, 11)}"' in cache.get(key)[0].decode()
    )


@pytest.mark.slow
def test_a_round_without_results_before_the_latest_completed_one_is_not_drawn_again(
    client, trained_model, tmp_path
):
    """Review: Canada 2025's results missing (rejected, a failed sync) while rounds 11-12 have theirs:
    at 10 July 2025 the simulation drew Canada again on top of the standings after round 12, which
    already hold its points (Verstappen's 18 twice), and built the next race's field at Canada's
    start. Canada is decided now: rounds 13 onwards are simulated from the standings after round 12
    (the dump's CSV)."""
    from ingestion.models import RaceResult

    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    RaceResult.objects.filter(race__season_id=2025, race__round=10).delete()
    left = sum(r["year"] == "2025" and int(r["round"]) >= 13 for r in _csv("races"))
    html = client.get(
        reverse("analytics:championship"), {"season": 2025, "as_of": "2025-07-10"}
    ).content.decode()
    assert f"over the {left} races without results known by then" in html
    assert _points_now(html, "max_verstappen") == f"{_points_after(2025, 12, 'max_verstappen'):g}"
    (key,) = cache.keys("f1:championship:*")
    assert f'"remaining_races":["{_race_slug(2025, 13)}",' in cache.get(key)[0].decode()


def _race_slug(year: int, rnd: int) -> str:
    from ingestion.models import Race

    return Race.objects.get(season_id=year, round=rnd).slug


@pytest.mark.slow
def test_the_championship_is_cached_per_clock(client, trained_model, tmp_path):
    """Two clocks either side of the Canadian GP's start: two simulations, each its own entry (after
    the start, Canada's points count and Austria onwards is simulated); asking again computes
    nothing new."""
    earlier, _ = versions_around_a_clock(
        trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED
    )
    url = reverse("analytics:championship")
    before = client.get(url, {"season": 2025, "as_of": BEFORE_CANADA}).content.decode()
    after = client.get(url, {"season": 2025, "as_of": AFTER_CANADA_RESULTS}).content.decode()
    assert _points_now(before, "max_verstappen") == "137"
    assert _points_now(after, "max_verstappen") == f"{_points_after(2025, 10, 'max_verstappen'):g}"
    keys = sorted(cache.keys("f1:championship:*"))
    assert [k.rsplit(":at:", 1)[1] for k in keys] == sorted([BEFORE_CANADA, AFTER_CANADA_RESULTS])
    assert all(f":2025:{earlier.label}:at:" in k for k in keys)
    cache.delete_many(cache.keys("f1:page:*"))  # the pages again, from the simulations' entries
    again = client.get(url, {"season": 2025, "as_of": AFTER_CANADA_RESULTS}).content.decode()
    assert _title_rows(again) == _title_rows(after)  # (the chart's element ids count renders)
    assert sorted(cache.keys("f1:championship:*")) == keys


@pytest.mark.slow
def test_the_championship_as_of_a_clock_without_a_model_or_a_race_left_says_so(
    client, trained_model, tmp_path
):
    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    url = reverse("analytics:championship")
    # 2024 in September: rounds left, but no model registered before January 2025
    response = client.get(url, {"season": 2024, "as_of": "2024-09-01"})
    assert response.status_code == 200
    html = response.content.decode()
    notice = html.split('id="no-model-then">')[1].split("</p>")[0]
    assert notice == (
        "No championship simulation for 2024 as of then: no prediction model had been trained by "
        "2024-09-01 00:00 UTC."
    )
    assert "no prediction model can be loaded" not in html
    # 2025 at New Year's Eve: no race left, the final standings as they stood then
    decided = client.get(url, {"season": 2025, "as_of": "2025-12-31"}).content.decode()
    assert "<h1>2025 final standings</h1>" in decided
    assert "Showing the championship as of 31 December 2025, 00:00 UTC" in decided
    # a season not started by the clock is not listed then
    assert client.get(url, {"season": 2025, "as_of": "2025-03-01"}).status_code == 404


def _expected_points(html: str) -> dict[str, str]:
    return {
        re.search(r'href="/drivers/([a-z0-9_]+)/', row).group(1): re.findall(
            r'<td class="num">([^<]*)</td>', row
        )[1]
        for row in _title_rows(html)
    }


@pytest.mark.slow
def test_the_championship_as_of_a_clock_builds_its_inputs_from_what_was_known_then(
    client, trained_model, tmp_path
):
    """The Wednesday before the Canadian GP and an hour before its start: the same standings, rounds
    and model, but by Sunday practice and qualifying had run — the simulations differ only by the
    inputs known at each clock (features and field cut there: `race_features_build(clock=)`)."""
    versions_around_a_clock(trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED)
    url = reverse("analytics:championship")
    wednesday = client.get(url, {"season": 2025, "as_of": "2025-06-11"}).content.decode()
    sunday = client.get(url, {"season": 2025, "as_of": BEFORE_CANADA}).content.decode()
    assert _points_now(wednesday, "max_verstappen") == _points_now(sunday, "max_verstappen") == "137"
    left = re.search(r"over the (\d+) races without results known by then", wednesday).group(1)
    assert left == re.search(r"over the (\d+) races without results known by then", sunday).group(1)
    assert _expected_points(wednesday) != _expected_points(sunday)


# --- the model page and the what-if agree (uses the module's trained model: after the tests that
# make a factory version active, since the trained one stays active for the rest of the module) -----


def test_the_model_page_names_the_version_a_what_if_runs_when_it_is_not_the_one_serving(
    client, trained_model, tmp_path, django_assert_max_num_queries
):
    """The page names the version serving then; a what-if as of then (`model_bundle_at`) skips one
    trained on older feature definitions and ran another, unannounced. Both now read
    `model_serving_at`, and the page says which version the what-if runs, and why, when they differ."""
    from predictions.services.training import model_bundle_at
    from tests.factories import ModelVersionFactory

    earlier, _ = versions_around_a_clock(
        trained_model, tmp_path, earlier_at=EARLIER_REGISTERED, later_at=LATER_REGISTERED
    )
    clock = datetime(2025, 6, 15, 17, tzinfo=UTC)
    url = reverse("analytics:model")
    html = client.get(url, {"as_of": BEFORE_CANADA}).content.decode()
    assert f"Model serving then <strong>{earlier.label}</strong>" in html and 'id="what-if-model"' not in html
    assert model_bundle_at(clock=clock)[0] == earlier  # they agree

    # activated after `earlier`, before the clock, with models of an older feature format
    moment = datetime(2025, 3, 1, tzinfo=UTC)
    old = version_activated_at(
        version_registered_at(ModelVersionFactory(label="v-old-format", params={}), moment), moment
    )
    cache.clear()
    with django_assert_max_num_queries(3):  # the versions at the clock (the log a subquery), the backtests
        html = client.get(url, {"as_of": BEFORE_CANADA}).content.decode()
    assert f"Model serving then <strong>{old.label}</strong>" in html
    line = html.split('id="what-if-model">')[1].split("</p>")[0]
    assert f"runs model <strong>{earlier.label}</strong> instead" in line
    assert "v-old-format was trained on older feature definitions than this code&#x27;s" in line
    assert model_bundle_at(clock=clock)[0] == earlier  # the one the page names for it
