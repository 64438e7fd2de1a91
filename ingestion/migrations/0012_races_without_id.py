"""A race stored without an id (`slug=""`) is given one, by the rule the Jolpica sync uses.

The Race admin's add form saved `slug=""` (the id is read-only there and nothing built it): the
pages linking the race answered 500, the API listed a race with id "", and predictions made for it
kept the admin from deleting it. The admin now builds the id as the Jolpica sync does
(`race_calendar.race_id_new`), and `Race.save()` refuses an empty one. A race already stored
without one is given its id here (`race_ids.race_id_choose` over its season's races on the calendar):
staff cannot do it in admin (the id is read-only) and often cannot delete the race there. If neither
id the rule offers is free (or the name gives no usable id), the race gets `<season>_race_<pk>`,
which no rule gives, and the migration prints it: stopping the deploy would leave staff no way out
(the id is read-only, and the race holding the other id keeps its own). The slug's help text says
how an id is given.
"""

from django.db import migrations, models

from ingestion.services.race_ids import CalendarEntry, RaceIdUnavailable, race_id_choose


def races_without_id_assign(apps, schema_editor):
    race_model = apps.get_model("ingestion", "Race")
    for race in race_model.objects.filter(slug="").select_related("circuit").order_by("season_id", "round"):
        calendar = [
            CalendarEntry(race.season_id, rnd, name, country, ref)
            for rnd, name, country, ref in race_model.objects.filter(
                season_id=race.season_id, removed_upstream_at__isnull=True
            )
            .exclude(pk=race.pk)
            .values_list("round", "name", "circuit__country", "circuit__ref")
        ]
        entry = CalendarEntry(race.season_id, race.round, race.name, race.circuit.country, race.circuit.ref)
        try:
            slug = race_id_choose(
                entry=entry,
                calendar=calendar,
                taken=lambda race_id: race_model.objects.filter(slug=race_id).exists(),
            )
        except RaceIdUnavailable as exc:
            slug = f"{race.season_id}_race_{race.pk}"  # a pk is unique, and no rule gives `_race_<n>`
            print(
                f"\n  ingestion 0012: the race stored without an id, {race.season_id} round {race.round} "
                f"{race.name} (pk {race.pk}), gets {slug}: {exc}."
            )
        race_model.objects.filter(pk=race.pk).update(slug=slug)


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0011_race_round_gte_1"),
    ]

    operations = [
        migrations.RunPython(races_without_id_assign, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="race",
            name="slug",
            field=models.SlugField(
                help_text=(
                    "The race's public id (e.g. 2025_bahrain): given when the race is added, as the Jolpica "
                    "sync gives one (the season and country, or the race name when the season has two races "
                    "in that country), and never changed."
                ),
                max_length=80,
                unique=True,
            ),
        ),
    ]
