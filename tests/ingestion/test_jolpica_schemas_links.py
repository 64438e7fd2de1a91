"""Links in Jolpica payloads: only http(s) is kept (a `javascript:` one reached the public API)."""

import pytest

from ingestion.clients.jolpica_schemas import ConstructorItem, DriverItem, web_url


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("http://en.wikipedia.org/wiki/Lewis_Hamilton", "http://en.wikipedia.org/wiki/Lewis_Hamilton"),
        ("https://en.wikipedia.org/wiki/McLaren", "https://en.wikipedia.org/wiki/McLaren"),
        (" HTTPS://example.org/x ", "HTTPS://example.org/x"),
        ("javascript:alert(document.cookie)", ""),
        ("JaVaScRiPt:alert(1)", ""),
        ("data:text/html,<script>alert(1)</script>", ""),
        ("//evil.example/x", ""),
        ("http://a b", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_web_url_keeps_only_http_links(value, kept):
    assert web_url(value) == kept


def test_a_driver_or_team_with_a_script_link_is_parsed_without_it():
    driver = DriverItem.model_validate(
        {"driverId": "x", "givenName": "A", "familyName": "B", "url": "javascript:alert(1)"}
    )
    team = ConstructorItem.model_validate({"constructorId": "y", "name": "T", "url": "https://t.example/"})
    assert (driver.url, team.url) == ("", "https://t.example/")
