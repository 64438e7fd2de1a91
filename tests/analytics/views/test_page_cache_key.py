"""The fans' page cache (`analytics.views._page_cache`) and the page render throttle (`PAGE_THROTTLE`).

QA security (finding 3): the page cache was keyed on the raw path + query, so every junk parameter
(`?utm=1`, `?utm=2`, ...) was a full render and a new 12-28 KB Redis entry kept up to an hour, with
no rate limit on pages. Now the key holds only the parameters a page reads (canonical order), and a
client's renders (cache misses) are limited per window; cached pages stay free.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from ingestion.models import Race

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
RESTORE = {**HTMX, "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}

# The page throttle counts in fixed one-minute windows: stop the clock mid-window so a slow run
# never crosses a boundary (a fresh budget) between its requests.
MID_WINDOW = pytest.mark.time_machine(datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC), tick=False)


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _rendered(response) -> bool:
    """The view rendered a template for this answer (a page-cache hit renders nothing)."""
    return bool(response.templates)


def _page_keys() -> int | None:
    """How many page entries the cache holds (django-redis only; None on the in-process cache)."""
    return len(cache.keys("f1:page:*")) if hasattr(cache, "keys") else None


def test_junk_parameters_share_the_cache_entry_of_the_page(client):
    url = reverse("analytics:standings")
    first = client.get(url, {"season": "2025"})
    assert first.status_code == 200 and _rendered(first)
    keys = _page_keys()
    for query in ("season=2025&utm=1", "utm=2&season=2025", "season=2025&fbclid=x&utm_source=y&utm=3"):
        again = client.get(f"{url}?{query}")
        assert again.status_code == 200, query
        assert not _rendered(again), query  # served from the one cached entry
        assert again.content == first.content
    assert _page_keys() == keys


def test_parameter_order_does_not_split_the_cache(client):
    url = reverse("analytics:standings")
    first = client.get(f"{url}?season=2021&round=5")
    again = client.get(f"{url}?round=5&utm=1&season=2021")
    assert first.status_code == again.status_code == 200
    assert _rendered(first) and not _rendered(again)
    assert again.content == first.content


def test_a_parameter_the_page_reads_still_separates_entries(client):
    url = reverse("analytics:standings")
    seasons = {}
    for season in ("2025", "2021"):
        response = client.get(url, {"season": season, "utm": "1"})
        assert response.status_code == 200 and _rendered(response), season
        seasons[season] = response.content
    assert seasons["2025"] != seasons["2021"]
    rounds = client.get(url, {"season": "2021", "round": "5"})
    assert _rendered(rounds) and 'data-round="5"' in rounds.content.decode()
    # each from its own entry
    assert client.get(url, {"season": "2021"}).content == seasons["2021"]
    assert 'data-round="5"' in client.get(url, {"round": "5", "season": "2021"}).content.decode()
    calendar = reverse("analytics:calendar")
    assert "2021" in client.get(calendar, {"season": "2021"}).content.decode()
    assert _rendered(client.get(calendar, {"season": "2020", "ref": "x"}))


def test_a_repeated_parameter_the_page_reads_is_rendered_not_cached(client):
    """`?season=1&season=2&...&season=2025` is the 2025 page (the last value wins): each such prefix
    would be one more copy. No link repeats a parameter; such a URL is rendered and not kept."""
    url = reverse("analytics:standings")
    keys = _page_keys()
    for prefix in ("1990", "1991"):
        response = client.get(f"{url}?season={prefix}&season=2025")
        assert response.status_code == 200 and _rendered(response)
    assert _page_keys() == keys


def test_htmx_requests_still_get_their_own_variant_with_junk_parameters(client):
    url = reverse("analytics:standings")
    for junk in ("1", "2"):
        page = client.get(url, {"season": "2021", "utm": junk})
        swap = client.get(url, {"season": "2021", "utm": junk}, **HTMX)
        restore = client.get(url, {"season": "2021", "utm": junk}, **RESTORE)
        assert "<html" in page.content.decode()
        assert "<html" not in swap.content.decode() and 'id="standings-panel"' in swap.content.decode()
        assert "<html" in restore.content.decode()
        assert (_rendered(page), _rendered(swap), _rendered(restore)) == ((junk == "1",) * 3)
    # the swap's HX-Push-Url (a round the season lacks) is kept with its entry, junk or not
    first = client.get(url, {"season": "2026", "round": "8"}, **HTMX)
    again = client.get(url, {"round": "8", "season": "2026", "utm": "z"}, **HTMX)
    assert _rendered(first) and not _rendered(again)
    assert first["HX-Push-Url"] == again["HX-Push-Url"] == f"{url}?season=2026&round=7"
    assert client.get(url, {"season": "2026", "round": "8", "utm": "z"}).status_code == 404  # plain


def test_every_cached_page_ignores_junk(client):
    race = Race.objects.get(season_id=2026, round=7)
    pages = [
        (reverse("analytics:home"), {}),
        (reverse("analytics:home"), {"as_of": "2026-06-20"}),
        (reverse("analytics:calendar"), {"season": "2025"}),
        (reverse("analytics:race", args=[race.slug]), {}),
        (reverse("analytics:driver", args=["max_verstappen"]), {"season": "2025"}),
        (reverse("analytics:team", args=["mclaren"]), {"season": "2025"}),
        (reverse("analytics:model"), {}),
        (reverse("analytics:championship"), {"season": "2025"}),
        (reverse("analytics:what_if", args=[race.slug]), {}),
    ]
    for url, params in pages:
        first = client.get(url, params)
        assert first.status_code == 200 and _rendered(first), url
        junk = client.get(url, {**params, "utm_source": "newsletter", "page": "9"})
        assert junk.status_code == 200 and not _rendered(junk), url


def test_the_what_if_grid_is_part_of_the_key(client):
    """The what-if reads `grid_<ref>` for every entrant: grids are kept apart (a grid's answer is
    never served for another), an answer with errors is not kept (any junk `grid_…` name makes
    one), and a parameter outside `grid_…` is ignored."""
    race = Race.objects.get(slug="2026_barcelona_catalunya")
    url = reverse("analytics:what_if", args=[race.slug])
    refs = re.findall(r'name="grid_([a-z0-9_]+)"', client.get(url).content.decode())
    keys = _page_keys()
    for junk in ("grid_nobody", "grid_x1"):
        errors = client.get(url, {junk: "1"}, **HTMX)  # every entrant's slot missing: a 200 for htmx
        assert errors.status_code == 200 and "grid slot is missing" in errors.content.decode()
    assert _page_keys() == keys
    broken = {f"grid_{ref}": str(slot) for slot, ref in enumerate(refs, start=1)}
    broken[f"grid_{refs[0]}"] = "2"  # two drivers in slot 2: an error, no model run
    one = client.get(url, {**broken, "utm": "1"}, **HTMX)
    assert "is given to more than one driver" in one.content.decode()
    assert _rendered(client.get(url, {**broken, "utm": "2"}, **HTMX))  # not kept: rendered again


@MID_WINDOW
def test_page_renders_are_throttled_per_client_and_cached_pages_are_free(client, settings):
    settings.PAGE_THROTTLE = "3/min"
    url = reverse("analytics:standings")
    for season in ("2025", "2024", "2023"):  # three renders: the budget
        assert client.get(url, {"season": season}).status_code == 200
    for _ in range(5):  # cached: free, whatever the budget
        hit = client.get(url, {"season": "2025", "utm": "again"})
        assert hit.status_code == 200 and not _rendered(hit)
    refused = client.get(url, {"season": "2022"})  # the fourth render
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "no-store" in refused["Cache-Control"]
    body = refused.content.decode()
    assert "Too many requests" in body and 'class="site-header"' in body  # the site's error page
    assert client.get(url, {"season": "2022"}).status_code == 429  # the refusal was not cached
    # another client has its own budget
    other = client.get(url, {"season": "2022"}, REMOTE_ADDR="198.51.100.7")
    assert other.status_code == 200
    # an htmx swap over the budget is refused too (htmx swaps nothing), and the partial not cached
    assert client.get(url, {"season": "2021"}, **HTMX).status_code == 429


@MID_WINDOW
def test_the_page_throttle_counts_logged_in_renders_and_uncached_pages(client, settings, django_user_model):
    settings.PAGE_THROTTLE = "2/min"
    user = django_user_model.objects.create_user("fan", password="pw")
    client.force_login(user)
    url = reverse("analytics:model")
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]  # never cached for users


def test_a_race_id_in_any_case_shares_the_page_of_the_canonical_id(client):
    """`/races/2025_BAHRAIN/` is the page of `2025_bahrain` (the URL converter canonicalises it); each
    of the id's 2^n spellings was a render and an entry of its own."""
    race = Race.objects.get(season_id=2026, round=7)
    first = client.get(reverse("analytics:race", args=[race.slug]))
    assert first.status_code == 200 and _rendered(first)
    for spelling in (race.slug.upper(), race.slug.capitalize()):
        again = client.get(f"/races/{spelling}/?utm=1")
        assert again.status_code == 200 and not _rendered(again), spelling
        assert again.content == first.content
    other = client.get(reverse("analytics:race", args=[Race.objects.get(season_id=2026, round=6).slug]))
    assert _rendered(other) and other.content != first.content
