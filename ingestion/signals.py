"""Signals the ingestion app sends.

`races_changed(sender, race_ids=[...], vacated_round_ids=[...])` — sent after the database commit of a sync (Jolpica API or
dump) with the public ids (`2021_abu_dhabi`) of races whose results, qualifying, sprint, pit stops
or standings were created, updated or deleted — also by an admin correction of one row and by a forecast
sync (the races whose forecast was stored) and an observed-weather sync. Receivers: the API cache (f1site.cache) and the dashboard page cache
(analytics). `vacated_round_ids` (`2019_22` forms) are the rounds a race left when upstream (or admin)
renumbered the calendar, or a deleted race's round: caches keyed by them named another race (or none now). Receivers must be cheap or hand off to Celery; an exception in one is logged, not raised.
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

races_changed = Signal()


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
