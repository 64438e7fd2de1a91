"""PostgreSQL fast path for bulk upserts: COPY into a staging table, then one INSERT ... ON CONFLICT.

Same contract and counts as `ingestion.services.upsert.upsert_rows` (created / updated / unchanged,
`kept_manual` for rows staff corrected in admin, ValueError on a duplicate natural key), but the rows
travel as one COPY stream and the diff runs inside PostgreSQL, which is what makes a whole
1950-2026 dump load in seconds instead of building ~110,000 model instances. The update only
touches rows whose values differ (`IS DISTINCT FROM`), so a re-load writes nothing and the
RETURNING clause tells inserted rows (`xmax = 0`) from updated ones. Runs inside the caller's
transaction; deferred constraints (position order) are checked at its commit.

`replace_by=("race_id",)`: the rows are the complete set for each race they name — stored rows of
those races whose natural key is not staged are deleted first (one DELETE; rows staff corrected
are kept and reported), as `upsert_rows(replace=True)` does for one race. `("race_id", "session")`
replaces per race and practice session (a session the rows do not carry is left alone).

No model signals either: the race, driver and team of the rows the DELETE removes (RETURNING) and of
the rows the upsert moves to another team (one SELECT before it, only when a team / driver column is
among the updated ones) are sent as `ingestion.signals.race_rows_overwritten` after the write, inside
the caller's transaction, so the cache clears the old team's and driver's analytics at its commit.
The drivers, teams and circuits it creates or updates (their pks, in the same RETURNING) are sent as
`ingestion.signals.entity_rows_written`, so the cache clears what an admin save of them clears.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models

from ingestion.services.upsert import UpsertCounts, race_row_ref_columns
from ingestion.signals import RaceRowRefs, entity_rows_written_send, race_rows_overwritten_send


def copy_upsert_rows(
    *,
    model: type[models.Model],
    rows: Sequence[dict],
    key_fields: Sequence[str],
    changed_of: str = "pk",
    replace_by: Sequence[str] = (),
) -> tuple[UpsertCounts, set]:
    """Upsert `rows` (dicts of attnames, all with the same keys) on the unique `key_fields`.

    Returns the counts and the set of `changed_of` values (e.g. "race_id") of created, updated and
    (with `replace_by`) deleted rows.
    """
    counts = UpsertCounts()
    if not rows:
        return counts, set()
    fields = list(rows[0])
    keys = [tuple(row[f] for f in key_fields) for row in rows]
    if len(set(keys)) != len(keys):
        seen, dup = set(), None
        for key in keys:
            if key in seen:
                dup = key
                break
            seen.add(key)
        raise ValueError(
            f"{model.__name__}: duplicate natural key {dict(zip(key_fields, dup, strict=True))} in one batch"
        )

    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    stage = qn(f"_stage_{model._meta.db_table}")
    # Columns the rows do not carry get their model default on insert and are never updated
    # (e.g. manually_corrected=False): Django defaults live in Python, not in the table.
    insert_only = {
        f.attname: f.get_default()
        for f in model._meta.concrete_fields
        if f.attname not in fields and not (f.primary_key and isinstance(f, models.AutoField))
    }
    all_fields = fields + list(insert_only)
    columns = {f: model._meta.get_field(f).column for f in all_fields}
    cols = ", ".join(qn(columns[f]) for f in all_fields)
    value_cols = [qn(columns[f]) for f in fields if f not in key_fields]
    key_cols = [qn(columns[f]) for f in key_fields]
    changed_column = (model._meta.pk if changed_of == "pk" else model._meta.get_field(changed_of)).column
    protect = "manually_corrected" not in fields and any(
        f.name == "manually_corrected" for f in model._meta.concrete_fields
    )
    ref_names = race_row_ref_columns(model)  # () unless a race row of a driver / team
    ref_cols = [qn(model._meta.get_field(f).column) for f in ref_names]
    moved_cols = [qn(columns[f]) for f in ref_names if f in fields and f not in key_fields]
    overwritten: list[RaceRowRefs] = []

    def refs_of(values: Sequence) -> RaceRowRefs:
        named = dict(zip(ref_names, values, strict=True))
        return RaceRowRefs(named["race_id"], named.get("driver_id"), named.get("team_id"))

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(f"CREATE TEMP TABLE {stage} AS SELECT {cols} FROM {table} WITH NO DATA")  # noqa: S608 - identifiers from model meta
        with cursor.cursor.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            defaults = list(insert_only.values())
            for row in rows:
                copy.write_row([row[f] for f in fields] + defaults)

        def differs(left: str, right: str) -> str:
            if not value_cols:
                return "FALSE"
            return (
                f"({', '.join(f'{left}.{c}' for c in value_cols)}) IS DISTINCT FROM "
                f"({', '.join(f'{right}.{c}' for c in value_cols)})"
                if len(value_cols) > 1
                else f"{left}.{value_cols[0]} IS DISTINCT FROM {right}.{value_cols[0]}"
            )

        join = " AND ".join(f"t.{c} = s.{c}" for c in key_cols)
        deleted: list = []
        if replace_by:
            by = ", ".join(qn(model._meta.get_field(f).column) for f in replace_by)
            by_t = ", ".join(f"t.{qn(model._meta.get_field(f).column)}" for f in replace_by)
            stale = (
                f"({by_t}) IN (SELECT DISTINCT {by} FROM {stage}) "  # noqa: S608 - identifiers from model meta
                f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE {join})"
            )
            if protect:
                cursor.execute(
                    f"SELECT t.{qn(model._meta.pk.column)}, {', '.join(f't.{c}' for c in key_cols)} "  # noqa: S608
                    f"FROM {table} t WHERE {stale} AND t.manually_corrected"
                )
                for record in cursor.fetchall():
                    counts.kept_manual.append(
                        {
                            "model": model.__name__,
                            "pk": record[0],
                            "key": [str(k) for k in record[1:]],
                            "upstream": {"row": "no longer upstream"},
                        }
                    )
                stale += " AND NOT t.manually_corrected"
            returning = ", ".join([f"t.{qn(changed_column)}", *(f"t.{c}" for c in ref_cols)])
            cursor.execute(f"DELETE FROM {table} t WHERE {stale} RETURNING {returning}")  # noqa: S608
            gone = cursor.fetchall()
            deleted = [record[0] for record in gone]
            overwritten += [refs_of(record[1:]) for record in gone if ref_cols]
        if protect:
            # Rows a human corrected: keep them, report what upstream says instead.
            select = ", ".join(f"t.{c}, s.{c}" for c in value_cols)
            cursor.execute(
                f"SELECT t.{qn(model._meta.pk.column)}, {', '.join(f's.{c}' for c in key_cols)}, {select} "  # noqa: S608
                f"FROM {stage} s JOIN {table} t ON {join} WHERE t.manually_corrected AND {differs('t', 's')}"
            )
            value_names = [f for f in fields if f not in key_fields]
            for record in cursor.fetchall():
                pk, key, pairs = record[0], record[1 : 1 + len(key_cols)], record[1 + len(key_cols) :]
                upstream = {
                    name: str(pairs[2 * i + 1])
                    for i, name in enumerate(value_names)
                    if pairs[2 * i] != pairs[2 * i + 1]
                }
                counts.kept_manual.append(
                    {"model": model.__name__, "pk": pk, "key": [str(k) for k in key], "upstream": upstream}
                )

        if moved_cols:
            # what the upsert below moves to another team (driver): the old one, read before it
            moved = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in moved_cols)
            cursor.execute(
                f"SELECT {', '.join(f't.{c}' for c in ref_cols)} FROM {stage} s JOIN {table} t ON {join} "  # noqa: S608
                f"WHERE ({moved})" + (" AND NOT t.manually_corrected" if protect else "")
            )
            overwritten += [refs_of(record) for record in cursor.fetchall()]
        if value_cols:
            where = differs("t", "EXCLUDED")
            if protect:
                where += " AND NOT t.manually_corrected"
            conflict = f"DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in value_cols)} WHERE {where}"
        else:
            conflict = "DO NOTHING"
        cursor.execute(
            f"INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {stage} "  # noqa: S608
            f"ON CONFLICT ({', '.join(key_cols)}) {conflict} "
            f"RETURNING (xmax = 0), t.{qn(changed_column)}, t.{qn(model._meta.pk.column)}"
        )
        outcomes = cursor.fetchall()
        cursor.execute(f"DROP TABLE {stage}")

    race_rows_overwritten_send(sender=model, refs=overwritten)
    entity_rows_written_send(sender=model, model=model, pks=[pk for *_, pk in outcomes])
    counts.created = sum(1 for inserted, *_ in outcomes if inserted)
    counts.updated = len(outcomes) - counts.created
    counts.unchanged = len(rows) - len(outcomes)
    counts.deleted = len(deleted)
    return counts, {value for _, value, _ in outcomes} | set(deleted)
