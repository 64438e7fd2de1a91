"""HTTP details of the dashboard pages: plain-text <title>, HEAD answered, `Vary: HX-Request` on the
pages that answer HTMX requests with a partial, and the model page's per-stage feature counts."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from ingestion.models import Race
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


class _TitleParser(HTMLParser):
    """Collects the text of <title> in <head> and any tag that starts inside it."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.in_head = False
        self.text = ""
        self.tags_inside: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self.in_head = True
        elif tag == "title" and self.in_head:
            self.depth += 1
        elif self.depth:
            self.tags_inside.append(tag)

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False
        elif tag == "title" and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text += data


def _title(html: str) -> _TitleParser:
    parser = _TitleParser()
    parser.feed(html)
    parser.close()
    return parser


def test_home_title_is_plain_text_while_races_await_results(client):
    response = client.get(reverse("analytics:home"))
    html = response.content.decode()
    assert 'id="awaiting-h"' in html  # today a dozen races of the dump await results
    title = _title(html)
    assert title.tags_inside == []
    assert " ".join(title.text.split()) == "Next races and recent calls · Pitwall"
    assert html.count('id="awaiting-h"') == 1  # the section is in the page body, once


def _read_only_urls() -> list[str]:
    race = Race.objects.get(season_id=2026, round=7)
    return [
        reverse("analytics:home"),
        reverse("analytics:calendar"),
        reverse("analytics:race", args=[race.slug]),
        reverse("analytics:what_if", args=[race.slug]),
        reverse("analytics:driver", args=["hamilton"]),
        reverse("analytics:team", args=["ferrari"]),
        reverse("analytics:standings"),
        reverse("analytics:model"),
        reverse("analytics:championship") + "?season=2024",  # a running season needs a model: 503 here
    ]


def test_read_only_pages_answer_head_like_get(client):
    for url in _read_only_urls():
        get = client.get(url)
        head = client.head(url)
        assert (url, get.status_code, head.status_code) == (url, 200, 200)
        assert head["Content-Type"] == get["Content-Type"]
        assert head.content == b""
        assert client.post(url).status_code == 405  # still read-only
        # ... with CSRF checks on, as a browser meets them: 405, not the CSRF middleware's 403
        assert Client(enforce_csrf_checks=True).post(url).status_code == 405


def test_head_of_the_freshness_page_for_staff(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.head(reverse("analytics:freshness")).status_code == 200


def _vary(response) -> set[str]:
    return {v.strip().lower() for v in response.get("Vary", "").split(",") if v.strip()}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_htmx_pages_vary_on_hx_request_cached_or_not(client, htmx):
    headers = HTMX if htmx else {}
    for params in ({}, {"season": "2025"}):
        first = client.get(reverse("analytics:standings"), params, **headers)
        again = client.get(reverse("analytics:standings"), params, **headers)  # from the page cache
        for response in (first, again):
            assert response.status_code == 200
            assert "hx-request" in _vary(response)
        assert again.content == first.content
    race = Race.objects.get(season_id=2026, round=7)
    response = client.get(reverse("analytics:what_if", args=[race.slug]), **headers)
    assert "hx-request" in _vary(response)


def test_model_page_shows_the_feature_count_of_each_stage(client):
    ModelVersionFactory(
        is_active=True,
        rows=3192,
        features={"pre": [f"pre_{i}" for i in range(57)], "post": [f"post_{i}" for i in range(65)]},
    )
    html = client.get(reverse("analytics:model")).content.decode()
    text = " ".join(html.split())
    assert "(3192 rows; 57 features before qualifying, 65 features after qualifying)" in text
    assert "2 features" not in text


def test_a_missing_page_is_the_sites_404_page_naming_what_is_missing(client, ergast_data):
    """QA: dashboard 404s were Django's bare "Not Found" page (no layout, no way back)."""
    missing = client.get("/races/2099_nowhere/")
    assert missing.status_code == 404
    body = missing.content.decode()
    assert 'class="site-header"' in body and "No race with id" in body
    unknown = client.get("/no/such/page/")
    assert (
        unknown.status_code == 404
        and "There is no page at <code>/no/such/page/</code>" in unknown.content.decode()
    )
    assert client.get("/api/v1/nope").json()["error"]["code"] == "not_found"  # the API keeps its JSON
