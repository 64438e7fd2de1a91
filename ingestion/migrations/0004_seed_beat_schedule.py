"""Seed the pipeline's beat schedule (UTC crontabs) into django-celery-beat.

Idempotent: a job's row is found by PeriodicTask.name or its task path (a row staff renamed) and
existing rows are never modified, so running migrations again (every deploy) neither duplicates
rows nor undoes a staff edit made in admin.
"""

from django.db import migrations


def seed(apps, schema_editor):
    from ingestion.services.jobs import beat_schedule_seed

    beat_schedule_seed(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0003_pipeline_jobs_openf1_live"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
