from predictions.models.backtest_run import BacktestRun, BacktestStatus
from predictions.models.model_activation import ActivationReason, ModelActivation
from predictions.models.model_version import ModelVersion
from predictions.models.prediction import Prediction, PredictionStage
from predictions.models.race_accuracy import RaceAccuracy

__all__ = [
    "ActivationReason",
    "BacktestRun",
    "BacktestStatus",
    "ModelActivation",
    "ModelVersion",
    "Prediction",
    "PredictionStage",
    "RaceAccuracy",
]
