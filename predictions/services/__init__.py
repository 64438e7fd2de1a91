"""Write-side services of the prediction engine (see the README section "Prediction engine")."""

from predictions.services.backtest import backtest_run
from predictions.services.championship import (
    SeasonWithoutRaces,
    championship_cache_key,
    championship_simulate,
)
from predictions.services.post_race import (
    post_race_follow_up,
    races_results_process,
)
from predictions.services.predicting import (
    prediction_generate,
    prediction_what_if,
    predictions_backfill,
)
from predictions.services.pruning import model_artifacts_prune
from predictions.services.training import (
    ModelUnavailable,
    NoModelAtClock,
    model_train,
    model_version_activate,
)

__all__ = [
    "ModelUnavailable",
    "NoModelAtClock",
    "SeasonWithoutRaces",
    "backtest_run",
    "championship_cache_key",
    "championship_simulate",
    "model_artifacts_prune",
    "model_train",
    "model_version_activate",
    "post_race_follow_up",
    "prediction_generate",
    "prediction_what_if",
    "predictions_backfill",
    "races_results_process",
]
