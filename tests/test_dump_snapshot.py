"""The suite's own re-load of the Ergast dump after a flush (tests/dump_snapshot.py) must give back
exactly the rows the CSV load wrote: every ingestion table, row for row, and sequences past them."""

import pytest


def _fingerprints(connection, tables) -> dict[str, tuple[int, str]]:
    qn = connection.ops.quote_name
    found = {}
    with connection.cursor() as cursor:
        for table, _ in tables:
            cursor.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {qn(table)} t"  # noqa: S608
            )
            found[table] = cursor.fetchone()
    return found


TEST_SCHEMA = "pitwall_dump_snapshot_test"


@pytest.mark.django_db(transaction=True)
def test_a_flushed_database_gets_back_the_same_rows(ergast_data):
    from django.db import connection

    from ingestion.models import Circuit, Race, RaceResult
    from tests.dump_snapshot import snapshot_restore, snapshot_tables, snapshot_take

    if connection.vendor != "postgresql":
        pytest.skip("the snapshot is PostgreSQL's")
    tables = snapshot_tables(connection)
    before = _fingerprints(connection, tables)
    # a schema of its own: the session's snapshot (taken after its own CSV load) stays as it is
    assert snapshot_take(connection, schema=TEST_SCHEMA)
    results_table = RaceResult._meta.db_table
    assert before[results_table][0] > 25_000  # the whole dump is there to compare
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(qn(t) for t, _ in tables)} CASCADE")
    assert not Race.objects.exists()

    assert snapshot_restore(connection, schema=TEST_SCHEMA)

    assert _fingerprints(connection, tables) == before
    # a new row gets a fresh id: the sequences were moved past the copied ones
    highest = Circuit.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert Circuit.objects.create(ref="snapshot_test", name="Test").pk > highest
    # and a second restore onto rows that are there writes nothing
    assert not snapshot_restore(connection, schema=TEST_SCHEMA)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {TEST_SCHEMA} CASCADE")
