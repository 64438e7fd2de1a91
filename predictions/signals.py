"""`predictions_changed` fires (after commit) whenever new predictions are stored.

Receivers get `race_ids` (database ids of the races whose current predictions changed), e.g. to
invalidate cached API responses.
"""

from django.dispatch import Signal

predictions_changed = Signal()
