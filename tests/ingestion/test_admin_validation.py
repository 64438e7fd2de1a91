"""Staff edits the admin refuses with a form error rather than saving or answering 500: a race's round
below 1, and two results of one session at the same position (except a 1950s-style shared drive)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.forms import MultiWidget
from django.urls import reverse

from ingestion.models import Race

pytestmark = pytest.mark.django_db

ROUND_ERROR = "Round must be 1 or more: round 1 is the season&#x27;s first race."


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _change_form_data(client, model, pk, **changes) -> dict:
    """The POST body the change page's form sends unchanged (split date/time widgets as `name_0`,
    `name_1`), with `changes` applied."""
    form = client.get(_url(model, "change", pk)).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, MultiWidget):
            for i, part in enumerate(field.widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else str(part)
        else:
            data[name] = "" if value is None else str(value)
    data.update({k: str(v) for k, v in changes.items()})
    return data


# --- a race's round ---------------------------------------------------------------------------


def test_the_dumps_rounds_start_at_1(ergast_data):
    """The constraint fits the real data: no race in the dump (1950-2026) has a round below 1."""
    from tests.ingestion.helpers import csv_read

    _, races = csv_read(ergast_data / "races.csv")
    assert min(int(r["round"]) for r in races) == 1
    assert not Race.objects.filter(round__lt=1).exists()


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_race_admin_refuses_a_round_below_1_with_a_field_error(ergast_data, admin_client, bad):
    race = Race.objects.get(slug="2021_uae")
    response = admin_client.post(
        _url(Race, "change", race.pk), _change_form_data(admin_client, Race, race.pk, round=bad)
    )
    assert response.status_code == 200  # the form again, not a redirect or a 500
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["round"]
    assert errors["round"] == ["Round must be 1 or more: round 1 is the season's first race."]
    assert ROUND_ERROR in response.content.decode()
    race.refresh_from_db()
    assert race.round == 22
    # the same form with a real round saves (the helper's body is a valid form)
    moved = admin_client.post(
        _url(Race, "change", race.pk), _change_form_data(admin_client, Race, race.pk, round=23)
    )
    assert moved.status_code == 302, moved.context["adminform"].form.errors
    race.refresh_from_db()
    assert race.round == 23


def test_the_database_refuses_round_0_by_its_named_constraint(ergast_data):
    race = Race.objects.get(slug="2021_uae")
    with pytest.raises(IntegrityError, match="race_round_gte_1"), transaction.atomic():
        Race.objects.filter(pk=race.pk).update(round=0)


def test_the_migration_names_the_round_0_races_it_cannot_constrain(ergast_data):
    """A database that already holds a round-0 race (saved by the admin before) stops the migration
    with the races named, rather than with PostgreSQL's "check constraint is violated by some row"."""
    migration = importlib.import_module("ingestion.migrations.0011_race_round_gte_1")
    migration.races_round_0_refuse(apps, None)  # the real data: nothing to refuse
    constraint = next(c for c in Race._meta.constraints if c.name == "race_round_gte_1")
    with connection.schema_editor() as editor:  # as before the migration (rolled back with the test)
        editor.remove_constraint(Race, constraint)
    Race.objects.filter(slug="2021_uae").update(round=0)
    with pytest.raises(CommandError, match=r"1 race\(s\) with round 0: 2021_uae \(Abu Dhabi Grand Prix\)\."):
        migration.races_round_0_refuse(apps, None)
