"""Signals the ingestion app sends.

`races_changed(sender, race_ids=[...], vacated_round_ids=[...])` — sent after the database commit of a sync (Jolpica API or
dump) with the public ids (`2021_abu_dhabi`) of races whose results, qualifying, sprint, pit stops
or standings were created, updated or deleted — also by an admin correction of one row and by a forecast
sync (the races whose forecast was stored) and an observed-weather sync. Receivers: the API cache (f1site.cache) and the dashboard page cache
(analytics). `vacated_round_ids` (`2019_22` forms) are the rounds a race left when upstream (or admin)
renumbered the calendar, or a deleted race's round: caches keyed by them named another race (or none now). Receivers must be cheap or hand off to Celery; an exception in one is logged, not raised.

`race_rows_overwritten(sender, refs=[RaceRowRefs, ...])` — sent INSIDE the writing transaction by a
bulk upsert (`upsert.upsert_rows`, `dump_copy.copy_upsert_rows`: the Jolpica sync, the dump load) with
the race, driver and team that rows held before the upsert changed them (a result moved to another
team upstream) or deleted them by SQL (the dump's COPY path sends no model signals). races_changed
names the race only, and the race's entities are read after the commit: a team (driver) left with no
row in that race is not among them. Receiver: the API cache (f1site.cache), which clears those
drivers' and teams' analytics on commit, with the transaction's other race rows (one callback).

`entity_rows_written(sender, kind="Driver"|"Team"|"Circuit", pks=[...])` — sent INSIDE the writing
transaction by a bulk upsert of drivers, teams or circuits (`upsert.upsert_rows`,
`dump_copy.copy_upsert_rows`: the dump load's reference tables, the Jolpica sync's drivers, teams and
calendar circuits) with the pks of the rows it created or updated (a code, a name). A bulk write sends
no model signals, so before this a load that changed only a driver's code left every cached answer
printing it stale. Receiver: the API cache (f1site.cache), which clears on commit, in the
transaction's one batch, what an admin save of those rows clears (`cache_invalidate_entities`).
"""

import logging
from collections.abc import Iterable
from typing import NamedTuple

from django.dispatch import Signal

logger = logging.getLogger(__name__)

races_changed = Signal()
race_rows_overwritten = Signal()
entity_rows_written = Signal()

# the models whose bulk writes send entity_rows_written (model labels; kind = the model's name)
ENTITY_MODEL_LABELS = frozenset({"ingestion.Driver", "ingestion.Team", "ingestion.Circuit"})


class RaceRowRefs(NamedTuple):
    """What a race row (result, qualifying, standing, pit stop…) pointed at; None for a column the
    model does not have (a driver's standing has no team, a team's standing no driver)."""

    race_id: int
    driver_id: int | None
    team_id: int | None


def race_rows_overwritten_send(*, sender, refs: Iterable[RaceRowRefs]) -> None:
    """Send race_rows_overwritten (inside the caller's transaction, after its write); a failing
    receiver is logged, never raised — the write itself stands."""
    refs = list(refs)
    if not refs:
        return
    for receiver, result in race_rows_overwritten.send_robust(sender=sender, refs=refs):
        if isinstance(result, Exception):
            logger.error(
                "race_rows_overwritten receiver failed",
                extra={"receiver": repr(receiver), "error": repr(result)},
            )


def entity_rows_written_send(*, sender, model, pks: Iterable[int]) -> None:
    """Send entity_rows_written for these rows of `model` when it is a driver, team or circuit
    (inside the caller's transaction, after its write); any other model, or no pk, sends nothing. A
    failing receiver is logged, never raised — the write itself stands."""
    pks = sorted({pk for pk in pks if pk is not None})
    if not pks or model._meta.label not in ENTITY_MODEL_LABELS:
        return
    for receiver, result in entity_rows_written.send_robust(sender=sender, kind=model.__name__, pks=pks):
        if isinstance(result, Exception):
            logger.error(
                "entity_rows_written receiver failed",
                extra={"receiver": repr(receiver), "error": repr(result)},
            )


def races_changed_send(*, sender, race_ids: list[str], vacated_round_ids: list[str] = ()) -> None:
    """Send races_changed (after the caller's commit); a failing receiver is logged, never raised."""
    if not race_ids and not vacated_round_ids:
        return
    for receiver, result in races_changed.send_robust(
        sender=sender, race_ids=list(race_ids), vacated_round_ids=list(vacated_round_ids)
    ):
        if isinstance(result, Exception):
            logger.error(
                "races_changed receiver failed", extra={"receiver": repr(receiver), "error": repr(result)}
            )
