"""Signals of the prediction engine, sent after commit, for cache invalidation.

`predictions_changed` fires whenever new predictions are stored or a race's predictions are scored
against its results (a new accuracy record). Receivers get `race_ids` (database ids of the races
whose current predictions or accuracy changed), e.g. to invalidate cached API responses.

`models_changed` fires when what the engine reports about itself changes: a model version is
activated (or trained without activation) or a backtest finished. Receivers get `reason`
("activated", "trained" or "backtest"). Views built on the active model (model performance,
championship odds, the /model/ and /championship/ pages) must drop their cached copies.
"""

from django.dispatch import Signal

predictions_changed = Signal()
models_changed = Signal()
