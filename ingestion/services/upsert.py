"""Set-based upserts keyed to a model's natural-key UniqueConstraint, with honest change counts.

One query reads the existing rows in scope, rows are diffed in Python (so a re-run reports zero
created/updated), and new + changed rows go to the database in one
`bulk_create(update_conflicts=True)` per batch. Rows a human corrected in admin
(`manually_corrected=True`) are never overwritten by an upstream value; the difference is returned
so the sync run can record it.

With `replace=True` the rows are the complete upstream set for `scope` (e.g. one race's results):
stored rows in scope whose natural key is not among them are deleted first (one DELETE), so a
changed natural-key field (a corrected car number) replaces its row instead of colliding with it,
and rows dropped upstream disappear. Rows corrected in admin are kept and reported as well.

A bulk write sends no model signals: the race, driver and team an updated row held before, when the
update changes one of them (a result moved to another team upstream), are sent as
`ingestion.signals.race_rows_overwritten` after the write, still inside the caller's transaction, so
the cache clears the old team's analytics at its commit (the rows a `replace` deletes are a queryset
delete, which sends post_delete row by row). No extra query: the existing rows are read anyway.
Likewise the drivers, teams and circuits an upsert creates or updates (a changed code or name) are
sent as `ingestion.signals.entity_rows_written`, so the cache clears what an admin save of them
clears, at the caller's commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import models

from ingestion.signals import (
    ENTITY_MODEL_LABELS,
    RaceRowRefs,
    entity_rows_written_send,
    race_rows_overwritten_send,
)

_REF_COLUMNS = ("race_id", "driver_id", "team_id")


def race_row_ref_columns(model: type[models.Model]) -> tuple[str, ...]:
    """The columns of `_REF_COLUMNS` the model has, when it is a race row of a driver or a team (a
    result, qualifying, standing, pit stop); () for any other model (a race, a driver, the weather)."""
    names = {f.attname for f in model._meta.concrete_fields}
    present = tuple(c for c in _REF_COLUMNS if c in names)
    return present if "race_id" in present and len(present) > 1 else ()


def race_row_refs(record: dict) -> RaceRowRefs:
    """A race row's RaceRowRefs from a dict of its columns (attnames)."""
    return RaceRowRefs(record["race_id"], record.get("driver_id"), record.get("team_id"))


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_manual: list[dict] = field(default_factory=list)
    deleted: int = 0  # rows no longer upstream (upsert_rows(replace=True))

    def add(self, other: UpsertCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.kept_manual.extend(other.kept_manual)

    def as_dict(self) -> dict:
        out = {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}
        if self.deleted:
            out["deleted"] = self.deleted
        if self.kept_manual:
            out["kept_manual"] = len(self.kept_manual)
        return out


def _normaliser(model: type[models.Model], name: str):
    # get_field() resolves attnames too ("race_id" -> the FK); stripping "_id" broke "ergast_id".
    f = model._meta.get_field(name)
    if f.is_relation:
        return lambda v: v
    return lambda v: None if v is None else f.to_python(v)


def upsert_rows(
    *,
    model: type[models.Model],
    rows: Sequence[dict],
    key_fields: Sequence[str],
    scope: dict | None = None,
    batch_size: int = 2000,
    replace: bool = False,
) -> UpsertCounts:
    """Insert or update `rows` (dicts of attnames, e.g. `race_id`) keyed on `key_fields`.

    `scope` narrows the read of existing rows (e.g. `{"race_id__in": [...]}`); without it the
    first key field's values are used. Every row must carry the same set of fields.
    `replace=True` (needs `scope`; `rows` must not be empty): `rows` are everything that belongs in
    `scope`, stored rows in scope with another natural key are deleted (manual corrections kept).
    Call it inside a transaction: the delete and the upsert must commit together.
    """
    counts = UpsertCounts()
    if replace and (scope is None or not rows):
        raise ValueError("upsert_rows(replace=True) needs a scope and at least one row")
    if not rows:
        return counts
    fields = list(rows[0].keys())
    value_fields = [f for f in fields if f not in key_fields]
    norm = {f: _normaliser(model, f) for f in fields}
    protect = "manually_corrected" in {f.name for f in model._meta.get_fields()}
    # a race row's race / driver / team an update may change (not a key field): see the module doc
    moved_by = [c for c in race_row_ref_columns(model) if c in value_fields]
    overwritten: list[RaceRowRefs] = []

    def key_of(row: dict) -> tuple:
        return tuple(norm[f](row[f]) for f in key_fields)

    if scope is None:
        scope = {f"{key_fields[0]}__in": {row[key_fields[0]] for row in rows}}
    wanted = value_fields + (["manually_corrected"] if protect and "manually_corrected" not in fields else [])
    existing = {
        tuple(norm[f](rec[f]) for f in key_fields): rec
        for rec in model.objects.filter(**scope).values("pk", *key_fields, *wanted)
    }

    to_write: list[models.Model] = []
    updated_pks: list[int] = []  # of the rows updated (entity_rows_written)
    seen: set[tuple] = set()
    for row in rows:
        key = key_of(row)
        if key in seen:
            raise ValueError(
                f"{model.__name__}: duplicate natural key {dict(zip(key_fields, key, strict=True))} in one batch"
            )
        seen.add(key)
        current = existing.get(key)
        if current is None:
            counts.created += 1
            to_write.append(model(**row))
            continue
        changed = {f: row[f] for f in value_fields if norm[f](row[f]) != norm[f](current[f])}
        if not changed:
            counts.unchanged += 1
        elif protect and current.get("manually_corrected") and not row.get("manually_corrected"):
            counts.unchanged += 1
            counts.kept_manual.append(
                {
                    "model": model.__name__,
                    "pk": current["pk"],
                    "key": [str(k) for k in key],
                    "upstream": {k: str(v) for k, v in changed.items()},
                }
            )
        else:
            counts.updated += 1
            to_write.append(model(**row))
            updated_pks.append(current["pk"])
            if any(c in changed for c in moved_by):
                overwritten.append(race_row_refs(current))

    if replace:
        doomed = []
        for key, rec in existing.items():
            if key in seen:
                continue
            if protect and rec.get("manually_corrected"):
                counts.kept_manual.append(
                    {
                        "model": model.__name__,
                        "pk": rec["pk"],
                        "key": [str(k) for k in key],
                        "upstream": {"row": "no longer upstream"},
                    }
                )
            else:
                doomed.append(rec["pk"])
        if doomed:  # before the upsert: a replaced natural key must not collide with its old row
            _, per_model = model.objects.filter(pk__in=doomed).delete()
            counts.deleted = per_model.get(model._meta.label, 0)

    if to_write:
        model.objects.bulk_create(
            to_write,
            batch_size=batch_size,
            update_conflicts=bool(value_fields),
            ignore_conflicts=not value_fields,
            unique_fields=list(key_fields) if value_fields else None,
            update_fields=value_fields or None,
        )
    race_rows_overwritten_send(sender=model, refs=overwritten)
    if to_write and model._meta.label in ENTITY_MODEL_LABELS:
        entity_rows_written_send(
            sender=model, model=model, pks=[*updated_pks, *_written_pks(model, to_write)]
        )
    return counts


def _written_pks(model: type[models.Model], written: Sequence[models.Model]) -> list[int]:
    """The pks of the rows bulk_create wrote: set on the objects where the backend returns them
    (PostgreSQL, SQLite 3.35+); otherwise read back by their natural key `ref` (one query)."""
    pks = [obj.pk for obj in written]
    if None not in pks:
        return pks
    refs = [obj.ref for obj in written if obj.pk is None]  # the entity models' natural key
    return [pk for pk in pks if pk is not None] + list(
        model.objects.filter(ref__in=refs).values_list("pk", flat=True)
    )
