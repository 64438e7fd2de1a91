"""HTTP details of the dashboard pages: plain-text <title>, HEAD answered, `Vary: HX-Request` on the
pages that answer HTMX requests with a partial, and the model page's per-stage feature counts."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db


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
