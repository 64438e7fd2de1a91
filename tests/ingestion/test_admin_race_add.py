"""A race added in the admin gets its public id the way the Jolpica sync builds one (admin review).

The id field is read-only, and nothing generated it: Admin -> Races -> Add saved `slug=""`, after
which `/` and `/races/` answered 500 (NoReverseMatch for the race with args ('',)), the API listed a
race with id "", a second add answered 500 (IntegrityError on the empty id) and, once `predict
--upcoming` had stored predictions for it, the admin could not delete it. Now the add builds the id
from the season's calendar (`race_ids.race_slugs`, then `+ _<circuit ref>` when taken, as the sync
does for a race added upstream), a taken id or (season, round) is a form error, `Race.save()`
refuses an empty id, and migration 0012 gives a race stored without one its id.
"""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.urls import reverse
from rest_framework.test import APIClient

from ingestion.models import Circuit, Race
from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/ingestion/race/add/"


def _add_form(**changes) -> dict:
    """The add page's POST body for a 2026 round 24 at Yas Marina (the review's race), every session
    start left empty but the race's (split date / time widgets)."""
    data = {
        "season": "2026",
        "round": "24",
        "name": "Abu Dhabi Grand Prix",
        "circuit": str(Circuit.objects.get(ref="yas_marina").pk),
        "date": "2026-12-13",
        "start_0": "2026-12-13",
        "start_1": "13:00:00",
        "url": "",
        "ergast_id": "",
        "openf1_meeting_key": "",
    }
    for name in ("fp1", "fp2", "fp3", "sprint_qualifying", "sprint", "qualifying"):
        data[f"{name}_start_0"] = data[f"{name}_start_1"] = ""
    data.update({k: str(v) for k, v in changes.items()})
    return data


def _form_errors(response) -> dict:
    assert response.status_code == 200, "the form again, not a redirect or a 500"
    return {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


def _circuit(ref: str) -> str:
    return str(Circuit.objects.get(ref=ref).pk)


def test_a_race_added_in_admin_gets_its_id_and_the_site_keeps_working(ergast_data, admin_client, client):
    """The review's race. 2026 already has an Abu Dhabi Grand Prix at Yas Marina (`2026_uae`, round
    23): two races in one country take the race name, and two with the same name add the circuit ref
    (README, race ids), so the new one is `2026_abu_dhabi_yas_marina`; the stored race keeps its id."""
    assert not Race.objects.filter(slug="").exists()
    response = admin_client.post(ADD_URL, _add_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    race = Race.objects.get(season_id=2026, round=24)
    assert race.slug == "2026_abu_dhabi_yas_marina"
    assert Race.objects.get(season_id=2026, round=23).slug == "2026_uae"
    change_page = admin_client.get(reverse("admin:ingestion_race_change", args=[race.pk]))
    assert "2026_abu_dhabi_yas_marina" in change_page.content.decode()  # the id it was given

    assert client.get("/").status_code == 200
    calendar = client.get("/races/?season=2026")
    assert calendar.status_code == 200
    assert "/races/2026_abu_dhabi_yas_marina/" in calendar.content.decode()
    assert client.get("/races/2026_abu_dhabi_yas_marina/").status_code == 200
    api = APIClient()
    listed = api.get("/api/v1/races?season=2026&limit=100").json()["results"]
    assert [r["id"] for r in listed if r["round"] == 24] == ["2026_abu_dhabi_yas_marina"]
    assert api.get("/api/v1/races/2026_abu_dhabi_yas_marina").json()["round"] == 24


def test_a_race_in_a_new_country_takes_the_country_then_the_sync_s_fallback(ergast_data, admin_client):
    """One race in Portugal takes the country (`2026_portugal`). A second one's name, "Portugal Grand
    Prix", gives the same id, which the first holds (stored ids never change): it takes the id + its
    circuit ref, the sync's fallback for a race added upstream. A second add no longer answers 500."""
    first = _add_form(name="Portuguese Grand Prix", circuit=_circuit("portimao"))
    assert admin_client.post(ADD_URL, first).status_code == 302
    assert Race.objects.get(season_id=2026, round=24).slug == "2026_portugal"
    second = _add_form(
        round=25,
        name="Portugal Grand Prix",
        circuit=_circuit("estoril"),
        date="2026-12-20",
        start_0="2026-12-20",
    )
    response = admin_client.post(ADD_URL, second)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Race.objects.get(season_id=2026, round=25).slug == "2026_portugal_estoril"
    assert Race.objects.get(season_id=2026, round=24).slug == "2026_portugal"


def test_a_taken_id_is_a_form_error_not_a_500(ergast_data, admin_client):
    """When the id and its circuit-ref fallback are both taken (here by races stored under those ids),
    the form says which race holds it; nothing is saved."""
    other = Race.objects.get(slug="2026_qatar")
    for rnd, slug in ((30, "2026_yas_island"), (31, "2026_yas_island_yas_marina")):
        Race.objects.create(
            slug=slug,
            season_id=2026,
            round=rnd,
            name=f"Test race {rnd}",
            circuit=other.circuit,
            date=other.date,
        )
    count = Race.objects.count()
    errors = _form_errors(admin_client.post(ADD_URL, _add_form(name="Yas Island Grand Prix")))
    assert list(errors) == ["name"]
    (message,) = errors["name"]
    assert message.startswith(
        f"This race would take the id 2026_yas_island, which names 2026 Test race 30 (round 30, {other.date})"
    )
    assert "2026_yas_island_yas_marina is taken too" in message
    assert Race.objects.count() == count


def test_a_name_that_gives_no_race_id_is_a_form_error(ergast_data, admin_client):
    """A second UAE race takes its name: a name of digits would give `2026_24`, a round id naming
    whichever race holds round 24."""
    errors = _form_errors(admin_client.post(ADD_URL, _add_form(name="24 Grand Prix")))
    assert errors["name"][0].startswith(
        "This race's name and circuit give the id '2026_24', which is not a race id"
    )
    assert not Race.objects.filter(season_id=2026, round=24).exists()


def test_a_taken_season_and_round_is_a_form_error_not_a_500(ergast_data, admin_client):
    count = Race.objects.count()
    errors = _form_errors(admin_client.post(ADD_URL, _add_form(round=23)))
    assert errors == {"__all__": ["Race with this Season and Round already exists."]}
    assert Race.objects.count() == count
    # and twice the same add: the first saves, the second is refused by the form (was a 500)
    assert admin_client.post(ADD_URL, _add_form()).status_code == 302
    errors = _form_errors(admin_client.post(ADD_URL, _add_form()))
    assert errors == {"__all__": ["Race with this Season and Round already exists."]}
    assert Race.objects.count() == count + 1


def test_editing_a_race_keeps_its_id(ergast_data, admin_client):
    """Ids are stored at first insert and never rewritten: renaming a race in admin keeps it."""
    from tests.ingestion.test_admin_validation import _change_form_data

    race = Race.objects.get(slug="2021_uae")
    url = reverse("admin:ingestion_race_change", args=[race.pk])
    response = admin_client.post(url, _change_form_data(admin_client, Race, race.pk, name="Yas Grand Prix"))
    assert response.status_code == 302
    race.refresh_from_db()
    assert (race.slug, race.name) == ("2021_uae", "Yas Grand Prix")


# --- no other path stores an empty id, and a race stored without one gets it ----------------------


def test_saving_a_race_without_an_id_is_refused(ergast_data):
    race = Race.objects.get(slug="2021_uae")
    race.slug = ""
    with pytest.raises(
        ValueError, match=r"A race needs its id \(slug\).*\(2021 round 22 Abu Dhabi Grand Prix\)"
    ):
        race.save()
    race.save(update_fields=["name"])  # a save that does not write the id is not refused
    assert Race.objects.filter(slug="2021_uae").exists()


def _stored_without_an_id(**fields) -> Race:
    """The review's race as the admin saved it before: 2026 round 24 at Yas Marina, id ""."""
    yas = Circuit.objects.get(ref="yas_marina")
    values = {"season_id": 2026, "round": 24, "name": "Abu Dhabi Grand Prix", "date": date(2026, 12, 13)}
    race = Race.objects.create(slug="2026_x", circuit=yas, **{**values, **fields})
    Race.objects.filter(pk=race.pk).update(slug="")  # what the admin's save wrote
    return race


def test_the_migration_gives_a_race_stored_without_an_id_the_id_the_admin_now_gives(ergast_data):
    migration = importlib.import_module("ingestion.migrations.0012_races_without_id")
    before = dict(Race.objects.values_list("pk", "slug"))
    migration.races_without_id_assign(apps, None)  # the real data: every race has its id, kept
    assert dict(Race.objects.values_list("pk", "slug")) == before
    race = _stored_without_an_id()
    migration.races_without_id_assign(apps, None)
    race.refresh_from_db()
    assert race.slug == "2026_abu_dhabi_yas_marina"  # as test_a_race_added_in_admin_… gets it
    assert Race.objects.get(season_id=2026, round=23).slug == "2026_uae"


def test_the_migration_gives_a_race_whose_ids_are_taken_one_no_rule_gives(ergast_data, capsys):
    """Diff review: it stopped the deploy asking staff to rename the race or the one holding its id,
    which they cannot do (the id is read-only; saving a race without one is refused). It now gives
    `<season>_race_<pk>` and says so."""
    migration = importlib.import_module("ingestion.migrations.0012_races_without_id")
    other = Race.objects.get(slug="2026_qatar")
    for rnd, slug in ((30, "2026_yas_island"), (31, "2026_yas_island_yas_marina")):
        Race.objects.create(
            slug=slug, season_id=2026, round=rnd, name=f"Test {rnd}", circuit=other.circuit, date=other.date
        )
    race = _stored_without_an_id(name="Yas Island Grand Prix")
    migration.races_without_id_assign(apps, None)
    race.refresh_from_db()
    assert race.slug == f"2026_race_{race.pk}"
    said = capsys.readouterr().out
    assert f"2026 round 24 Yas Island Grand Prix (pk {race.pk}), gets 2026_race_{race.pk}" in said
    assert "2026_yas_island and 2026_yas_island_yas_marina are taken" in said
    assert APIClient().get(f"/api/v1/races/2026_race_{race.pk}").status_code == 200  # a usable id
