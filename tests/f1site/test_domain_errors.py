"""Selectors say "not found" with the domain's NotFound (f1site.errors), never Django's Http404;
each edge maps it once: the API to its 404 body, the pages to the site's 404 page (DomainErrorMiddleware),
`predict --race` to a CommandError (tests/predictions/test_commands.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.selectors import driver_get, standings_get, team_get
from f1site.errors import NotFound
from ingestion.api import selectors as api_selectors
from ingestion.selectors import race_get

ROOT = Path(__file__).resolve().parents[2]
_HTTP_MODULES = ("django.http", "django.shortcuts", "rest_framework")


def _domain_modules() -> list[Path]:
    selectors = [
        ROOT / path
        for path in (
            "ingestion/selectors.py",
            "ingestion/api/selectors.py",
            "analytics/selectors.py",
            "predictions/selectors.py",
            "predictions/api/selectors.py",
            "f1site/errors.py",
        )
    ]
    services = [
        p
        for app in ("ingestion", "analytics", "predictions")
        for p in (ROOT / app / "services").rglob("*.py")
    ]
    return selectors + services


def test_selectors_and_services_do_not_import_the_http_layer():
    offenders = []
    for path in _domain_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if any(name == m or name.startswith(m + ".") for m in _HTTP_MODULES)
            ]
    assert offenders == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lookup", "what", "message"),
    [
        (lambda: race_get(race_id="2099_nowhere"), "race", "No race with id '2099_nowhere'"),
        (lambda: driver_get(ref="nobody_at_all"), "driver", "No driver 'nobody_at_all'"),
        (lambda: team_get(ref="no_such_team"), "team", "No team 'no_such_team'"),
        (lambda: standings_get(season=2099), "standings", "No standings for 2099"),
        (
            lambda: api_selectors.standings_get(season=2099, round_number=None),
            "standings",
            "No standings for season 2099",
        ),
    ],
)
def test_selectors_raise_not_found_naming_what_is_missing(lookup, what, message):
    with pytest.raises(NotFound) as caught:
        lookup()
    assert (caught.value.what, str(caught.value)) == (what, message)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/races/2099_nowhere", "No race with id '2099_nowhere'"),
        ("/api/v1/analytics/driver/nobody_at_all", "No driver with id 'nobody_at_all'"),
        ("/api/v1/analytics/team/no_such_team", "No team with id 'no_such_team'"),
    ],
)
def test_the_api_answers_not_found_with_its_404_body(path, message):
    response = APIClient().get(path)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": message, "details": {}}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "ref", "message"),
    [
        ("analytics:driver", "nobody_at_all", "No driver &#x27;nobody_at_all&#x27;"),
        ("analytics:team", "no_such_team", "No team &#x27;no_such_team&#x27;"),
        ("analytics:race", "2099_nowhere", "No race with id &#x27;2099_nowhere&#x27;"),
    ],
)
def test_a_page_turns_not_found_into_the_sites_404_page(client, name, ref, message):
    response = client.get(reverse(name, args=[ref]))
    assert response.status_code == 404
    body = response.content.decode()
    assert 'class="site-header"' in body and message in body
