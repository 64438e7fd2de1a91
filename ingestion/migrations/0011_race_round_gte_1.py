"""A race's round is 1 or more: named CheckConstraint `race_round_gte_1` and a field validator.

The unsigned column took round 0, and the Race admin saved it (a staff typo the pages then listed as
"Round 0"). Upstream never numbers a race 0 (the Ergast dump's rounds are 1-24; Jolpica's too), and
the dump loader and the Jolpica sync now refuse one clearly before writing. A database that already
holds a round-0 race stops here with the races named, for staff to renumber or delete: no round is
guessed for them.
"""

import django.core.validators
from django.core.management.base import CommandError
from django.db import migrations, models

ROUND_ERROR = "Round must be 1 or more: round 1 is the season's first race."


def races_round_0_refuse(apps, schema_editor):
    race = apps.get_model("ingestion", "Race")
    bad = list(race.objects.filter(round__lt=1).order_by("season_id", "slug").values_list("slug", "name"))
    if bad:
        named = ", ".join(f"{slug} ({name})" for slug, name in bad)
        raise CommandError(
            f"ingestion 0011: {len(bad)} race(s) with round 0: {named}. Give each its round in admin "
            "(Races) or delete it, then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0010_links_http_only"),
    ]

    operations = [
        migrations.RunPython(races_round_0_refuse, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="race",
            name="round",
            field=models.PositiveSmallIntegerField(
                help_text="1 for the season's first race",
                validators=[django.core.validators.MinValueValidator(1, message=ROUND_ERROR)],
            ),
        ),
        migrations.AddConstraint(
            model_name="race",
            constraint=models.CheckConstraint(
                condition=models.Q(("round__gte", 1)),
                name="race_round_gte_1",
                violation_error_message=ROUND_ERROR,
            ),
        ),
    ]
