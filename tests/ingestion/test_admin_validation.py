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

from ingestion.models import Circuit, Driver, QualifyingResult, Race, RaceResult, Season, SprintResult, Team

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


# --- two results at one position ---------------------------------------------------------------


def _result(model, race, position: int):
    field = "position" if model is QualifyingResult else "position_order"
    return model.objects.select_related("driver", "team").get(race=race, **{field: position})


def _errors(response) -> dict:
    assert response.status_code == 200, "the form again, not a redirect or a 500"
    return {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


def test_race_result_admin_refuses_a_second_car_at_a_taken_position(
    ergast_data, admin_client, django_assert_max_num_queries
):
    """QA: the admin saved Hamilton as P1 of 2021 Abu Dhabi beside Verstappen: two winners."""
    race = Race.objects.get(slug="2021_uae")
    hamilton, verstappen = _result(RaceResult, race, 2), _result(RaceResult, race, 1)
    assert (hamilton.driver.ref, verstappen.driver.ref) == ("hamilton", "max_verstappen")
    url = _url(RaceResult, "change", hamilton.pk)
    data = _change_form_data(admin_client, RaceResult, hamilton.pk, position=1, position_text="1")
    # 20 before the check (session, user, the row and its choices, the model's FK and unique checks,
    # the form again); the check is one query for both fields, whatever the race's size
    with django_assert_max_num_queries(21):
        response = admin_client.post(url, data)
    (message,) = _errors(response)["position"]
    assert message.startswith(
        "Position 1: Lewis Hamilton (#44, Mercedes) cannot share it with Max Verstappen (#33, Red Bull), "
        "who already holds it in this race."
    )
    assert "same car number and team, in 1964 or earlier" in message  # the shared-drive rule, said
    assert "move one to a free position first" in message
    # the position order too: a different shared car index let the database take a second P1
    data = _change_form_data(admin_client, RaceResult, hamilton.pk, position_order=1, shared_car_index=1)
    errors = _errors(admin_client.post(url, data))
    assert list(errors) == ["position_order"]  # not the constraint's generic message as well
    assert errors["position_order"][0].startswith(
        "Position order 1: Lewis Hamilton (#44, Mercedes) cannot share it with Max Verstappen"
    )
    hamilton.refresh_from_db()
    assert (hamilton.position, hamilton.position_order, hamilton.manually_corrected) == (2, 2, False)
    # a free position is fine: a swap goes through one
    moved = admin_client.post(url, _change_form_data(admin_client, RaceResult, hamilton.pk, position=30))
    assert moved.status_code == 302


def test_same_car_in_a_modern_season_is_not_a_shared_drive(ergast_data, admin_client):
    """Same car number and team is a shared drive only in the seasons that had them (1950-1964)."""
    race = Race.objects.get(slug="2021_uae")
    perez = RaceResult.objects.get(race=race, driver__ref="perez")
    verstappen = _result(RaceResult, race, 1)
    data = _change_form_data(
        admin_client, RaceResult, perez.pk, number=33, team=verstappen.team_id, position=1, position_text="1",
        position_order=1, shared_car_index=1,
    )  # fmt: skip
    errors = _errors(admin_client.post(_url(RaceResult, "change", perez.pk), data))
    assert sorted(errors) == ["position", "position_order"]
    assert "cannot share it with Max Verstappen (#33, Red Bull)" in errors["position"][0]


def test_every_shared_position_of_the_record_is_a_shared_drive_by_the_admins_rule(ergast_data):
    """The rule comes from the data: every race position or position order the dump gives to more
    than one driver is one car (same number and team) in 1950-1964, so staff can still edit them."""
    from collections import defaultdict

    from ingestion.services.validation import shared_drive

    # classified positions: 70 groups up to 1961; position orders also count the unclassified (1964
    # United States GP: Spence and Clark retired the #2 Lotus)
    for field, groups_expected, last_season in (("position", 70, 1961), ("position_order", 105, 1964)):
        groups = defaultdict(list)
        rows = RaceResult.objects.filter(**{f"{field}__isnull": False}).values_list(
            "race_id", "race__season_id", field, "number", "team_id"
        )
        for race_id, season, value, number, team_id in rows:
            groups[(race_id, season, value)].append((number, team_id))
        shared = {key: cars for key, cars in groups.items() if len(cars) > 1}
        assert len(shared) == groups_expected, field
        assert [key for key, cars in shared.items() if not shared_drive(season=key[1], cars=cars)] == []
        assert max(season for _, season, _ in shared) == last_season
    assert not shared_drive(season=1957, cars=[(20, 1), (20, 2)])  # another team's car
    assert not shared_drive(season=1957, cars=[(0, 1), (0, 1)])  # car numbers unknown
    assert not shared_drive(season=1965, cars=[(20, 1), (20, 1)])


def test_the_records_shared_drives_stay_editable_and_take_a_co_driver(ergast_data, admin_client):
    """results.csv has 70 positions held by two to five drivers, all 1950-1961 and each one car (same
    number and team): 1957 British GP P1 is Brooks and Moss in the #20 Vanwall. Editing such a row
    saves; another driver joins the car with the next shared car index, not the same one."""
    race = Race.objects.get(season_id=1957, name="British Grand Prix")
    winners = list(
        RaceResult.objects.filter(race=race, position=1).select_related("driver").order_by("shared_car_index")
    )
    assert [(r.driver.ref, r.number, r.team.ref) for r in winners] == [
        ("brooks", 20, "vanwall"),
        ("moss", 20, "vanwall"),
    ]
    moss = winners[1]
    saved = admin_client.post(
        _url(RaceResult, "change", moss.pk),
        _change_form_data(admin_client, RaceResult, moss.pk, points="4.5"),
    )
    assert saved.status_code == 302
    moss.refresh_from_db()
    assert moss.manually_corrected and str(moss.points) == "4.50"

    third = RaceResult.objects.select_related("driver").get(race=race, position_order=3)
    url = _url(RaceResult, "change", third.pk)
    car = {"number": 20, "team": moss.team_id, "position": 1, "position_text": "1", "position_order": 1}
    clash = _errors(
        admin_client.post(
            url, _change_form_data(admin_client, RaceResult, third.pk, **car, shared_car_index=1)
        )
    )
    assert list(clash) == ["shared_car_index"]
    assert clash["shared_car_index"] == [
        "Shared car index 1 at position order 1 is Stirling Moss's (the same car): co-drivers of one car "
        "take 0, 1, 2, …; give this one 2."
    ]
    joined = admin_client.post(
        url, _change_form_data(admin_client, RaceResult, third.pk, **car, shared_car_index=2)
    )
    assert joined.status_code == 302
    assert RaceResult.objects.filter(race=race, position=1).count() == 3


def test_sprint_result_admin_refuses_a_taken_position(ergast_data, admin_client):
    race = Race.objects.get(season_id=2021, round=10)  # the first sprint (British GP)
    second, first = _result(SprintResult, race, 2), _result(SprintResult, race, 1)
    data = _change_form_data(admin_client, SprintResult, second.pk, position=1, position_text="1")
    (message,) = _errors(admin_client.post(_url(SprintResult, "change", second.pk), data))["position"]
    assert message.startswith(
        f"Position 1: {second.driver} (#{second.number}, {second.team}) cannot share it with "
        f"{first.driver} (#{first.number}, {first.team}), who already holds it in this sprint."
    )
    assert "shared drive" not in message  # no sprint ever had one


def test_qualifying_admin_names_position_and_drivers_not_the_constraint(ergast_data, admin_client):
    """The database's `qualifying_result_unique_position` refused it already, as "Qualifying result
    with this Race and Position already exists.": which drivers, and what to do, were left out.
    (The dump's own 2025 Singapore qualifying has P12 and P13 twice: the loader rejects that race's
    qualifying, see the SyncRun; staff may enter it here, one driver per position.)"""
    race = Race.objects.get(slug="2021_uae")
    second, pole = _result(QualifyingResult, race, 2), _result(QualifyingResult, race, 1)
    data = _change_form_data(admin_client, QualifyingResult, second.pk, position=1)
    errors = _errors(admin_client.post(_url(QualifyingResult, "change", second.pk), data))
    assert errors == {
        "position": [
            f"Position 1: {second.driver} (#{second.number}, {second.team}) cannot share it with "
            f"{pole.driver} (#{pole.number}, {pole.team}), who already holds it in this qualifying. "
            "To swap two drivers, move one to a free position first."
        ]
    }
    assert not QualifyingResult.objects.filter(race__slug="2025_singapore").exists()


# --- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [Season, Circuit, Driver, Team, Race])
def test_a_link_typed_without_a_scheme_is_saved_as_https(ergast_data, admin_client, model, recwarn):
    """Django 5.2's admin URL field guesses http:// for a scheme-less link (and warns that 6.0 will
    guess https://); the links these admins hold are served by the API as https pages."""
    obj = model.objects.order_by("pk").first()
    response = admin_client.post(
        _url(model, "change", obj.pk),
        _change_form_data(admin_client, model, obj.pk, url="en.wikipedia.org/wiki/Test_page"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    obj.refresh_from_db()
    assert obj.url == "https://en.wikipedia.org/wiki/Test_page"
    assert not [w for w in recwarn if "assume_scheme" in str(w.message)]
