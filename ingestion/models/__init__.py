from ingestion.models.circuit import Circuit, CircuitType
from ingestion.models.driver import Driver
from ingestion.models.race import Race
from ingestion.models.results import (
    PitStop,
    PositionText,
    PracticeResult,
    PracticeSession,
    QualifyingResult,
    RaceResult,
    SprintResult,
)
from ingestion.models.season import Season
from ingestion.models.standings import DriverStanding, TeamStanding
from ingestion.models.status import Status
from ingestion.models.sync_run import SyncRun, SyncSource, SyncStatus
from ingestion.models.team import Team
from ingestion.models.weather import RaceWeather, WeatherForecast, WeatherSource

__all__ = [
    "Circuit",
    "CircuitType",
    "Driver",
    "DriverStanding",
    "PitStop",
    "PositionText",
    "PracticeResult",
    "PracticeSession",
    "QualifyingResult",
    "Race",
    "RaceResult",
    "RaceWeather",
    "Season",
    "SprintResult",
    "Status",
    "SyncRun",
    "SyncSource",
    "SyncStatus",
    "Team",
    "TeamStanding",
    "WeatherForecast",
    "WeatherSource",
]
