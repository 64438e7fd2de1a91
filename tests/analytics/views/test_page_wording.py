"""QA on the real dump: empty states, singular/plural, season-scoped links, number formatting,
the what-if grid's strict slot parsing and sprint results on race pages."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from analytics import views
from ingestion.models import Race

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


# --- what-if grid slots ------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["+{n}", "{n}_", "0{n}", " {n} ", "{arabic}"])
def test_what_if_grid_slot_accepts_only_the_canonical_integer(client, monkeypatch, spelling):
    """QA: `+22`, `2_2`, ` 22 ` and `٢٢` were read as 22 by int(): each spelling ran the model, spent
    the 'expensive' budget and was cached as another page. Now the usual "must be a number"."""
    import re

    race = Race.objects.get(slug="2026_barcelona_catalunya")
    url = reverse("analytics:what_if", args=[race.slug])
    html = client.get(url).content.decode()
    slots = {ref: int(v) for ref, v in re.findall(r'name="grid_([A-Za-z0-9_]+)"[^>]*value="(\d+)"', html)}
    last_ref, last = max(slots.items(), key=lambda kv: kv[1])
    arabic = "".join(chr(0x0660 + int(d)) for d in str(last))
    odd = spelling.format(n=last, arabic=arabic)
    if spelling == "{n}_":  # an underscore inside the number: 2_2
        odd = f"{str(last)[0]}_{str(last)[1:]}" if last >= 10 else f"0_{last}"
    assert int(odd) == last  # int() reads it as the slot
    charged = []
    monkeypatch.setattr(views, "_what_if_throttled", lambda request: charged.append(1))
    query = {f"grid_{ref}": str(slot) for ref, slot in slots.items()}
    query[f"grid_{last_ref}"] = odd
    response = client.get(url, query)
    assert response.status_code == 422
    assert "grid slot must be a number (got " in response.content.decode()
    assert charged == []


def _grid_query(client, url) -> dict[str, str]:
    import re

    html = client.get(url).content.decode()
    slots = re.findall(r'name="grid_([A-Za-z0-9_]+)"[^>]*value="(\d+)"', html)
    assert len(slots) >= 20  # the race's whole field, pre-filled
    return {f"grid_{ref}": slot for ref, slot in slots}


@pytest.mark.parametrize(
    "slot", ["-3", "-0", "99999999999999999999", "9" * 5000], ids=["-3", "-0", "20 digits", "5000 digits"]
)
def test_what_if_grid_slot_out_of_range_is_told_the_range_not_called_not_a_number(client, monkeypatch, slot):
    """QA: the HTMX what-if form with `grid_hamilton=-3` or `=99999999999999999999` said "grid slot
    must be a number (got '-3')": they are numbers, out of range, and get the range as 0 and N+1 do
    (5,000 digits too, which int() refuses); nothing runs the model or charges the budget."""
    url = reverse("analytics:what_if", args=["2026_barcelona_catalunya"])
    query = _grid_query(client, url)
    charged = []
    monkeypatch.setattr(views, "_what_if_throttled", lambda request: charged.append(1))
    field = next(iter(query))
    query[field] = slot
    response = client.get(url, query, HTTP_HX_REQUEST="true")  # the form's swap
    page = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert f"grid slot must be between 1 and {len(query)}." in page
    assert "must be a number" not in page
    assert client.get(url, query).status_code == 422  # the plain form post, as before
    for edge in ("0", str(len(query) + 1)):  # the same words as the slots just outside the range
        query[field] = edge
        assert f"grid slot must be between 1 and {len(query)}." in client.get(url, query).content.decode()
    assert charged == []


def test_what_if_grid_slot_given_twice_is_an_error_not_the_last_value(client, monkeypatch):
    """QA: `grid_hamilton=3&grid_hamilton=5` silently used 5 (the last value): now the form names the
    driver and the grid is not run."""
    url = reverse("analytics:what_if", args=["2026_barcelona_catalunya"])
    query = _grid_query(client, url)
    charged = []
    monkeypatch.setattr(views, "_what_if_throttled", lambda request: charged.append(1))
    ref = next(iter(query))[len("grid_") :]
    response = client.get(f"{url}?grid_{ref}=1&" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert response.status_code == 422
    assert "grid slot is given 2 times; give it once." in response.content.decode()
    assert charged == []


def test_what_if_grid_name_of_no_entrant_is_an_error_not_another_cached_copy(client, monkeypatch):
    """A valid grid plus `grid_nobody=1` ran the model and was cached under its own key (every
    `grid_…` name is in the page-cache key): one more model run and entry per junk name. Now the
    form names it and the grid is not run (an answer with errors is never cached)."""
    url = reverse("analytics:what_if", args=["2026_barcelona_catalunya"])
    query = _grid_query(client, url)
    charged = []
    monkeypatch.setattr(views, "_what_if_throttled", lambda request: charged.append(1))
    response = client.get(url, {**query, "grid_nobody": "1", "grid_x": "2"})
    assert response.status_code == 422
    assert (
        "Not a driver entered in this race: &#x27;nobody&#x27;, &#x27;x&#x27;." in response.content.decode()
    )
    assert charged == []


def test_what_if_without_a_loadable_model_is_503_not_a_form_error(client):
    """QA: with no model to load the page answered 422 "No trained model is available yet" (as if
    the grid were wrong; and versions may be registered whose files are gone). The grid is fine: a
    503 like the API's model_unavailable, never cached; an htmx swap gets the message with a 200."""
    from predictions.models import ModelVersion

    assert not ModelVersion.objects.exists()  # this module trains none
    url = reverse("analytics:what_if", args=["2026_barcelona_catalunya"])
    query = _grid_query(client, url)
    response = client.get(url, query)
    assert response.status_code == 503
    assert "no-store" in response["Cache-Control"]
    assert "No prediction model can be loaded right now" in response.content.decode()
    swap = client.get(url, query, HTTP_HX_REQUEST="true")
    assert swap.status_code == 200 and "No prediction model can be loaded right now" in swap.content.decode()


@pytest.mark.parametrize("query", ["as_of=", "as_of=2026-06-20&as_of=2026-06-21", "as_of=&as_of=2026-06-20"])
def test_home_as_of_empty_or_repeated_is_a_404(client, query):
    """QA: `/?as_of=` showed today's page and a repeated as_of silently took the last value; the
    README (and the API's 400) say a malformed, empty or repeated clock is refused."""
    assert client.get(f"/?{query}").status_code == 404
    assert client.get("/?as_of=2026-06-20").status_code == 200


# --- number formatting ---------------------------------------------------------------------------


def _csv(name: str) -> list[dict]:
    import csv

    from tests.conftest import ERGAST_DUMP_DIR

    with open(ERGAST_DUMP_DIR / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_fractional_1950s_points_keep_their_two_decimals(client):
    """QA: /standings/?season=1954 showed González 25.1 and Hawthorn 24.6 (stored 25.14, 24.64):
    floatformat:"-1" cut them. Whole numbers stay whole."""
    drivers = {r["driverId"]: r["driverRef"] for r in _csv("drivers")}
    last = max((r for r in _csv("races") if r["year"] == "1954"), key=lambda r: int(r["round"]))
    final = {
        drivers[r["driverId"]]: r["points"] for r in _csv("driver_standings") if r["raceId"] == last["raceId"]
    }
    assert final["gonzalez"] == "25.14" and final["hawthorn"] == "24.64" and final["fangio"] == "42"
    html = client.get(reverse("analytics:standings"), {"season": 1954}).content.decode()
    table = html.split('id="driver-standings"')[1].split("</table>")[0]
    assert '<td class="num">25.14</td>' in table and '<td class="num">24.64</td>' in table
    assert '<td class="num">42</td>' in table and "25.1<" not in table and "42.0" not in table
    champ = client.get(reverse("analytics:championship"), {"season": 1954}).content.decode()
    assert '<td class="num">25.14</td>' in champ


def test_driver_consistency_is_rounded_like_the_mean_finish(client):
    """QA: "1.924 places σ" next to "Mean finish 6.3": both to one decimal."""
    import statistics

    race_ids = {r["raceId"] for r in _csv("races") if r["year"] == "2021"}
    positions = [
        int(r["position"])
        for r in _csv("results")
        if r["driverId"] == "830" and r["raceId"] in race_ids and r["position"] not in ("", r"\N")
    ]
    html = client.get(reverse("analytics:driver", args=["max_verstappen"]), {"season": 2021}).content.decode()
    card = html.split('data-metric="consistency"')[1].split("</div>")[0]
    assert f"{statistics.stdev(positions):.1f}<small> places σ</small>" in card
    assert f"Mean finish {statistics.mean(positions):.1f} over {len(positions)} classified finishes" in card


def test_race_header_separates_town_and_country(client):
    race = Race.objects.get(season_id=2025, name="Las Vegas Grand Prix")
    html = client.get(reverse("analytics:race", args=[race.slug])).content.decode()
    assert "Las Vegas, United States</p>" in html and "Las Vegas United States" not in html


# --- season-scoped links -------------------------------------------------------------------------


def _people_links(html: str) -> list[str]:
    import re

    return re.findall(r'href="(/(?:drivers|teams)/[^"]*)"', html)


def test_links_from_a_season_scoped_page_keep_the_season(client):
    """QA: on /teams/mclaren/?season=1988 "Senna" went to /drivers/senna/ (1994, Williams); on
    /drivers/prost/?season=1988 the team links went to McLaren's latest season; race results too."""
    team = client.get(reverse("analytics:team", args=["mclaren"]), {"season": 1988}).content.decode()
    assert f'href="{reverse("analytics:driver", args=["senna"])}?season=1988"' in team
    driver = client.get(reverse("analytics:driver", args=["prost"]), {"season": 1988}).content.decode()
    race = client.get(reverse("analytics:race", args=[Race.objects.get(season_id=1988, round=1).slug]))
    for html in (team, driver, race.content.decode()):
        links = _people_links(html.split("</h1>", 1)[1])  # the page body (not the site nav)
        assert links and all(link.endswith("?season=1988") for link in links), links
    for link in set(_people_links(team.split("</h1>", 1)[1]) + _people_links(driver.split("</h1>", 1)[1])):
        assert client.get(link).status_code == 200, link
    assert reverse("analytics:team", args=["mclaren"]) + "?season=1988" in driver


# --- empty states: entries vs starts, singular/plural --------------------------------------------


def _text(html: str, metric: str) -> str:
    import re

    card = html.split(f'data-metric="{metric}">')[1].split("</div>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card)).strip()


def test_a_team_without_a_start_says_so_instead_of_empty_percentages(client):
    """QA: /teams/lola/?season=1997 (both cars did not qualify) showed "Reliability  % mechanical
    DNFs 0 of 0 starts" and "Gap to fastest: % first half → % second half"."""
    team_id = next(r["constructorId"] for r in _csv("constructors") if r["constructorRef"] == "lola")
    race_ids = {r["raceId"] for r in _csv("races") if r["year"] == "1997"}
    lola = [r for r in _csv("results") if r["constructorId"] == team_id and r["raceId"] in race_ids]
    html = client.get(reverse("analytics:team", args=["lola"]), {"season": 1997}).content.decode()
    reliability = _text(html, "reliability")
    assert f"No race start in 1997: {len(lola)} entries, none started" in reliability
    assert "%" not in reliability and "0 of 0" not in html
    assert "No qualifying time in 1997" in _text(html, "development")
    assert " %" not in _text(html, "development") and "over 0" not in html


def test_driver_empty_states_and_singulars(client):
    """QA: /drivers/sospiri/ (one DNQ) and /drivers/markus_winkelhock/ (one retirement) showed
    "Mean finish  over 0 classified finishes" and "0 points scored in 1 races"; Sospiri's DNQ was
    counted as a race (and a race at Albert Park)."""
    sospiri = client.get(reverse("analytics:driver", args=["sospiri"])).content.decode()
    assert "No classified finish in 1997" in _text(sospiri, "consistency")
    assert "places σ" not in _text(sospiri, "consistency")
    assert _text(sospiri, "form").endswith(
        "No race start in 1997: entered 1 race without starting (did not qualify, withdrew or was excluded)"
    )
    circuits = sospiri.split('class="circuits"')[1].split("</table>")[0]
    assert '<th class="num">Starts</th>' in circuits and ">0 <span" in circuits and "of 1 entry" in circuits
    winkelhock = client.get(reverse("analytics:driver", args=["markus_winkelhock"])).content.decode()
    assert "No classified finish in 2007" in _text(winkelhock, "consistency")
    assert "0 points scored in 1 race" in _text(winkelhock, "form") and "1 races" not in winkelhock
    for html in (sospiri, winkelhock):
        assert "over 0" not in html and "Mean finish  over" not in html


def test_wet_weather_card_says_ahead_or_behind_with_singulars(client):
    """Review defect 6: /drivers/doohan/ read "Beat team-mate by −8.0 places in 1 wet races vs −1.4
    in 5 dry": "beat by" a negative number (he finished behind) and "1 wet races". His races (real
    results) are given observed weather here — the one he lost most places in wet, the rest dry."""
    from ingestion.models import RaceWeather

    doohan = next(d["driverId"] for d in _csv("drivers") if d["driverRef"] == "doohan")
    results = _csv("results")
    deltas = {}  # race -> team-mate's position order - his (positive = ahead)
    for own in (r for r in results if r["driverId"] == doohan):
        mate = next(
            r
            for r in results
            if r["raceId"] == own["raceId"]
            and r["constructorId"] == own["constructorId"]
            and r["driverId"] != doohan
        )
        deltas[own["raceId"]] = int(mate["positionOrder"]) - int(own["positionOrder"])
    wet = min(deltas, key=deltas.get)
    assert deltas[wet] < 0 and len(deltas) > 2
    races = {r["raceId"]: r for r in _csv("races")}
    for race_id in deltas:
        race = Race.objects.get(season_id=int(races[race_id]["year"]), round=int(races[race_id]["round"]))
        RaceWeather.objects.create(race=race, is_wet=race_id == wet)
    dry = [d for r, d in deltas.items() if r != wet]
    dry_mean = sum(dry) / len(dry)
    dry_words = f"{abs(dry_mean):.1f} places {'ahead' if dry_mean > 0 else 'behind'}"
    card = _text(client.get(reverse("analytics:driver", args=["doohan"])).content.decode(), "wet")
    assert (
        f"On average {abs(deltas[wet]):.1f} places behind team-mate in 1 wet race, "
        f"{dry_words} in {len(dry)} dry races"
    ) in card
    assert "Beat" not in card and "1 wet races" not in card


def test_calendar_names_every_driver_of_a_shared_winning_car(client):
    """QA: 1951 round 4 (French GP), 1956 round 1, 1957 round 5 were won by a shared car (two
    position-1 rows in results.csv); the calendar named only the first driver."""
    drivers = {r["driverId"]: r for r in _csv("drivers")}
    shared = {}
    for season, round_ in ((1951, 4), (1956, 1), (1957, 5)):
        race = next(r for r in _csv("races") if r["year"] == str(season) and r["round"] == str(round_))
        winners = [r for r in _csv("results") if r["raceId"] == race["raceId"] and r["position"] == "1"]
        assert len(winners) == 2
        shared[(season, round_)] = [
            f"{drivers[w['driverId']]['forename']} {drivers[w['driverId']]['surname']}" for w in winners
        ]
    for (season, round_), names in shared.items():
        html = client.get(reverse("analytics:calendar"), {"season": season}).content.decode()
        row = next(tr for tr in html.split("<tr")[1:] if f'<td class="num">{round_}</td>' in tr)
        for name in names:
            assert name in row, (season, round_, name)
        assert "(shared car)" in row


def test_excluded_entries_and_seasons_without_a_constructors_championship_read_plainly(client):
    """QA: Schumacher's 1997 page plotted him 26th; McLaren 2007 read as a place; Alfa Romeo 1951
    read "— latest, best P—" (no constructors' championship before 1958)."""
    html = client.get(
        reverse("analytics:driver", args=["michael_schumacher"]), {"season": 1997}
    ).content.decode()
    assert "Excluded from the 1997 championship: no championship position" in html
    mclaren = client.get(reverse("analytics:team", args=["mclaren"]), {"season": 2007}).content.decode()
    assert "Excluded<small> from the 2007 constructors' championship" in mclaren
    alfa = client.get(reverse("analytics:team", args=["alfa"]), {"season": 1951}).content.decode()
    assert "no constructors' championship before 1958" in alfa and "best P—" not in alfa


def test_race_table_reads_pit_lane_starts_and_disqualifications(client):
    """QA: 2023 USA (round 18) showed grid "0" for the pit-lane starters (Stroll, Hülkenberg,
    Magnussen, Alonso) and "+2.225" for Hamilton, disqualified; 1988 Monaco's (round 3) non-qualifiers
    grid 0."""
    import re

    html = client.get(reverse("analytics:race", args=["2023_18"])).content.decode()
    table = html.split('class="results"')[1].split("</table>")[0]
    rows = {
        re.sub(r"<[^>]+>", "", cells[1]).strip(): [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
        for cells in (tr.split("</td>") for tr in table.split("<tr>")[2:])
    }
    for name in ("Lance Stroll", "Nico Hülkenberg", "Kevin Magnussen", "Fernando Alonso"):
        assert rows[name][3] == "PL", rows[name]
    assert rows["Lewis Hamilton"][5] == "Disqualified" and rows["Lewis Hamilton"][0] == "D"
    old = client.get(reverse("analytics:race", args=["1988_3"])).content.decode()
    old_table = old.split('class="results"')[1].split("</table>")[0]
    non_qualifier = next(tr for tr in old_table.split("<tr>")[2:] if tr.startswith('<td class="num">F<'))
    assert re.sub(r"<[^>]+>", "", non_qualifier.split("</td>")[3]) == "—"  # the grid cell


def test_a_race_without_a_stored_qualifying_classification_says_so(client):
    """QA: 2025 Singapore's qualifying (positions 12 and 13 twice upstream) is rejected when loaded,
    and the page just had no qualifying section. Races before 1994 (no qualifying in the data) and
    races with one keep their page as it was."""
    singapore = client.get(reverse("analytics:race", args=["2025_singapore"])).content.decode()
    assert 'id="no-qualifying"' in singapore and "Show qualifying times" not in singapore
    monza = client.get(reverse("analytics:race", args=["2025_16"])).content.decode()
    assert 'id="no-qualifying"' not in monza and "Show qualifying times" in monza
    assert 'id="no-qualifying"' not in client.get(reverse("analytics:race", args=["1988_3"])).content.decode()


# --- audit 2026-11-28: grid cells, qualifying and weather empty states -------------------------


def _grid_cells(html: str, table_class: str, key_column: int) -> dict[str, str]:
    """{text of the `key_column` cell: text of the Grid cell} for the rows of the first table of
    `table_class`; the Grid column is found by its header."""
    import re

    table = html.split(f'class="{table_class}"')[1].split("</table>")[0]
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in table.split("</thead>")[0].split("</th>")[:-1]]
    at = headers.index("Grid")
    out = {}
    for tr in table.split("</thead>")[1].split("<tr>")[1:]:
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in tr.split("</td>")[:-1]]
        out[cells[key_column]] = cells[at]
    return out


def _result_row(season: int, round_: int, driver_ref: str) -> dict:
    race = next(r for r in _csv("races") if r["year"] == str(season) and r["round"] == str(round_))
    driver = next(r["driverId"] for r in _csv("drivers") if r["driverRef"] == driver_ref)
    return next(r for r in _csv("results") if r["raceId"] == race["raceId"] and r["driverId"] == driver)


def test_driver_and_team_results_read_a_pit_lane_start_as_the_race_table_does(client):
    """Audit: Alonso started 2026 Barcelona (round 7) from the pit lane (grid 0 in results.csv,
    retired on lap 37): the race page read "PL", his page and Aston Martin's a bare "0"."""
    row = _result_row(2026, 7, "alonso")
    assert row["grid"] == "0" and row["positionText"] == "R" and int(row["laps"]) > 0
    race = client.get(reverse("analytics:race", args=["2026_7"])).content.decode()
    assert _grid_cells(race, "results", 1)["Fernando Alonso"] == "PL"
    driver = client.get(reverse("analytics:driver", args=["alonso"]), {"season": 2026}).content.decode()
    assert _grid_cells(driver, "results", 1)["Barcelona-Catalunya Grand Prix"] == "PL"
    team = client.get(reverse("analytics:team", args=["aston_martin"]), {"season": 2026}).content.decode()
    cells = _grid_cells(team, "results", 2)  # keyed by driver: the team's Barcelona rows come last
    assert cells["Fernando Alonso"] == "PL"
    assert '<abbr title="Started from the pit lane">PL</abbr>' in driver


def test_a_car_excluded_before_the_start_has_no_grid_slot_not_a_pit_lane_start(client):
    """Audit: Modena (EuroBrun) was excluded at 1988 Monaco (round 3): grid 0, 0 laps, status
    Excluded, letter E. The race table read "PL" (only W and F counted as no start); it is "—" now,
    as on his own page, where the grid read "0"."""
    row = _result_row(1988, 3, "modena")
    assert (row["grid"], row["laps"], row["positionText"]) == ("0", "0", "E")
    race = client.get(reverse("analytics:race", args=["1988_3"])).content.decode()
    assert _grid_cells(race, "results", 1)["Stefano Modena"] == "—"
    driver = client.get(reverse("analytics:driver", args=["modena"]), {"season": 1988}).content.decode()
    cells = _grid_cells(driver, "results", 1)
    assert cells["Monaco Grand Prix"] == "—" and cells["Mexican Grand Prix"] == "—"  # excluded again
    assert cells["Brazilian Grand Prix"] == "24"
    assert "0" not in cells.values()  # his non-qualifications of 1988 (grid 0, F) read "—" too


def test_team_pace_cards_say_there_is_no_qualifying_time_instead_of_an_empty_table(client):
    """Audit: qualifying classifications start in 1994, so /teams/mclaren/?season=1988 showed
    "Car pace —" with no word why and a "Qualifying pace ranking" section that was an empty table;
    they say there is no qualifying time, as the development card does. A season with times keeps
    its ranking."""
    races_1988 = {x["raceId"] for x in _csv("races") if x["year"] == "1988"}  # read once, not per row
    assert races_1988 and not [r for r in _csv("qualifying") if r["raceId"] in races_1988]
    html = client.get(reverse("analytics:team", args=["mclaren"]), {"season": 1988}).content.decode()
    assert "No qualifying time in 1988" in _text(html, "pace")
    pace = html.split('id="pace-h"')[1].split("</section>")[0]
    assert "No qualifying times in 1988." in pace and "<table" not in pace
    later = client.get(reverse("analytics:team", args=["mclaren"]), {"season": 2025}).content.decode()
    pace = later.split('id="pace-h"')[1].split("</section>")[0]
    assert "Ranking as a table" in pace and "<td>McLaren</td>" in pace
    assert "No qualifying time" not in _text(later, "pace")


def test_driver_qualifying_gap_without_times_does_not_say_there_was_no_team_mate(client):
    """Audit: Senna's 1988 card read "No qualifying session with one team-mate in 1988": Prost was
    his team-mate; there is no qualifying time in the data before 1994."""
    html = client.get(reverse("analytics:driver", args=["senna"]), {"season": 1988}).content.decode()
    card = _text(html, "qualifying_gap")
    assert "No qualifying time to compare with a team-mate's in 1988" in card
    assert "with one team-mate" not in card


def test_race_page_of_a_race_run_without_observed_weather_does_not_promise_it(client):
    """Audit: every race before 2018 (and the six later ones the source lacks, e.g. 2026 China)
    read "No weather data yet." under Weather, as if it were still to come."""
    for race_id in ("1950_3", "2026_china"):
        html = client.get(reverse("analytics:race", args=[race_id])).content.decode()
        weather = html.split('id="weather-h"')[1].split("</section>")[0]
        assert "No weather recorded for this race." in weather, race_id
        assert "yet" not in weather, race_id
    # a race without results keeps the promise: its weather may still come (awaiting results here)
    html = client.get(reverse("analytics:race", args=["2026_austria"])).content.decode()
    assert "No weather data yet." in html.split('id="weather-h"')[1].split("</section>")[0]


def test_driver_and_team_pages_explain_their_numbers_without_citing_a_repository_path(client):
    """QA: both pages ended with "documented in docs/analytics.md", a path in the source repository
    that a fan cannot open. They now say, on the page, what every metric shares."""
    driver = client.get(reverse("analytics:driver", args=["hamilton"])).content.decode()
    team = client.get(reverse("analytics:team", args=["ferrari"])).content.decode()
    for html in (driver, team):
        assert "docs/analytics.md" not in html
        assert "<summary>About these numbers</summary>" in html
        assert "never a zero" in html and "no pit-stop data before 2011" in html
    # the whole-career metrics are the driver's: the team page does not describe what it lacks
    assert "wet-weather rating" in driver.lower() and "wet-weather rating" not in team.lower()
