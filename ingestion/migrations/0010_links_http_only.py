"""Blank every stored link that is not http(s).

Ingestion now keeps only http(s) links (`ingestion.clients.jolpica_schemas.web_url`, for the sync and
the dump loader): a `javascript:` link in the data was stored and served by the public API for the
frontend's <a href> (security QA). This clears any stored before that, which would otherwise stay
until a resync rewrote its row. The real data's links are all http(s) Wikipedia pages: normally
nothing changes. Nothing to undo on the way back.
"""

from django.db import migrations
from django.db.models import Q

MODELS = ("Season", "Circuit", "Race", "Driver", "Team")


def links_not_http_blank(apps, schema_editor):
    for name in MODELS:
        model = apps.get_model("ingestion", name)
        model.objects.exclude(url="").exclude(
            Q(url__istartswith="http://") | Q(url__istartswith="https://")
        ).update(url="")


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0009_cache_invalidation"),
    ]

    operations = [migrations.RunPython(links_not_http_blank, migrations.RunPython.noop)]
