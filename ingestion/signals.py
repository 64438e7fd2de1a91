"""Signals the ingestion app sends.

`races_changed(sender, race_ids=[...])` — sent after the database commit of a sync (Jolpica API or
dump) with the public ids (`2021_abu_dhabi`) of races whose results, qualifying, sprint, pit stops
or standings were created or updated. Receivers: API cache invalidation, the pipeline's post-race
step. Receivers must be cheap or hand off to Celery; an exception in one is logged, not raised.
"""

from django.dispatch import Signal

races_changed = Signal()
