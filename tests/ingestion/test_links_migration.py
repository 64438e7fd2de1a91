"""ingestion/migrations/0010: stored links that are not http(s) are blanked; http(s) links stay."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from ingestion.clients.jolpica_schemas import web_url
from ingestion.models import Circuit, Driver, Race, Season, Team

pytestmark = pytest.mark.django_db

migration = importlib.import_module("ingestion.migrations.0010_links_http_only")


def test_script_links_stored_before_the_filter_are_blanked_web_links_kept(ergast_data):
    hamilton = Driver.objects.get(ref="hamilton")
    kept = hamilton.url
    assert kept.startswith("http")
    Driver.objects.filter(ref="max_verstappen").update(url="javascript:alert(document.cookie)")
    Team.objects.filter(ref="mclaren").update(url=" JAVASCRIPT:alert(1)")
    Race.objects.filter(slug="2024_bahrain").update(url="data:text/html,x")
    Circuit.objects.filter(ref="monza").update(url="HTTPS://it.wikipedia.org/wiki/Monza")
    Season.objects.filter(year=2024).update(url="ftp://example.org")

    migration.links_not_http_blank(apps, None)

    assert Driver.objects.get(ref="max_verstappen").url == ""
    assert Team.objects.get(ref="mclaren").url == ""
    assert Race.objects.get(slug="2024_bahrain").url == ""
    assert Season.objects.get(year=2024).url == ""
    assert Circuit.objects.get(ref="monza").url == "HTTPS://it.wikipedia.org/wiki/Monza"
    assert Driver.objects.get(ref="hamilton").url == kept
    # the migration keeps exactly what ingestion keeps today
    for model in (Season, Circuit, Race, Driver, Team):
        assert all(web_url(url) == url for url in model.objects.values_list("url", flat=True))
