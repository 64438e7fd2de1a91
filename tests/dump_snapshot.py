"""A copy of the loaded Ergast dump inside the test database, to put it back after a flush.

A transactional test (transaction=True, live_server, a real Celery worker) ends with Django's flush,
which empties every table, and the next database test needs the dump again (tests/conftest.py).
Loading it from the CSV files costs 4-9 s each time (parsing, staging, the loader's checks) and a
run has a few dozen transactional tests; copying the loaded rows back from a schema of their own
(`INSERT … SELECT`, foreign-key triggers off for the copy) costs a fraction of that and gives the
same rows, ids included. The loader's own cache invalidation is repeated (every race changed), so a
page or API answer cached by the transactional test cannot outlive the flush.

PostgreSQL only, and it needs a role that may set `session_replication_role` (a superuser, as the
local and CI `postgres` role): on any failure the caller falls back to loading the CSV files.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

SCHEMA = "pitwall_dump_snapshot"


def snapshot_tables(connection) -> list[tuple[str, list[str]]]:
    """(table, columns) of every ingestion model's table: the tables the dump load fills."""
    from django.apps import apps

    tables = []
    for model in apps.get_app_config("ingestion").get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            columns = [f.column for f in model._meta.concrete_fields]
            tables.append((model._meta.db_table, columns))
    return tables


def snapshot_take(connection, *, schema: str = SCHEMA) -> bool:
    """Copy the ingestion tables as they are now (the dump just loaded) into SCHEMA; False if not
    possible here (not PostgreSQL, or a role that may not create a schema): re-loads then read the
    CSV files, as before."""
    from django.db import transaction

    if connection.vendor != "postgresql":
        return False
    qn = connection.ops.quote_name
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            cursor.execute(f"CREATE SCHEMA {schema}")
            for table, _ in snapshot_tables(connection):
                cursor.execute(f"CREATE TABLE {schema}.{qn(table)} AS TABLE {qn(table)}")
    except Exception as exc:
        logger.warning("no dump snapshot (%r): re-loads read the CSV files", exc)
        return False
    return True


def snapshot_restore(connection, *, schema: str = SCHEMA) -> bool:
    """Put the snapshot back into the (flushed) ingestion tables, in one transaction; False, with
    nothing written, if there is no snapshot or a table is not empty (the caller then loads the CSV
    files, which reconcile whatever is there)."""
    from django.core.management.color import no_style
    from django.db import transaction

    from ingestion.models import Race
    from ingestion.signals import races_changed_send

    if connection.vendor != "postgresql":
        return False
    qn = connection.ops.quote_name
    tables = snapshot_tables(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema])
        if not cursor.fetchone()[0]:
            return False
        for table, _ in tables:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {qn(table)})")  # noqa: S608
            if cursor.fetchone()[0]:
                return False
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # the copy is the rows the loader wrote, already consistent: no order of tables needed
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table, columns in tables:
                names = ", ".join(qn(c) for c in columns)
                cursor.execute(
                    f"INSERT INTO {qn(table)} ({names}) SELECT {names} FROM {schema}.{qn(table)}"  # noqa: S608
                )
            from django.apps import apps

            models = list(apps.get_app_config("ingestion").get_models(include_auto_created=True))
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)
    except Exception as exc:  # a role that may not switch triggers off, a changed table
        logger.warning("dump snapshot not restored (%r): loading the CSV files instead", exc)
        return False
    # as the loader does after a load into an empty database: every race changed
    races_changed_send(sender=snapshot_restore, race_ids=list(Race.objects.values_list("slug", flat=True)))
    return True
