from ingestion.models.cache_invalidation import CacheInvalidation
from ingestion.models.circuit import Circuit, CircuitType
from ingestion.models.driver import Driver
from ingestion.models.job_run import JobRun, JobStatus
from ingestion.models.live import LiveDriverSnapshot, RaceControlMessage
from ingestion.models.openf1 import OpenF1Session, SessionType
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
    "CacheInvalidation",
    "Circuit",
    "CircuitType",
    "Driver",
    "DriverStanding",
    "JobRun",
    "JobStatus",
    "LiveDriverSnapshot",
    "OpenF1Session",
    "PitStop",
    "PositionText",
    "PracticeResult",
    "PracticeSession",
    "QualifyingResult",
    "Race",
    "RaceControlMessage",
    "RaceResult",
    "RaceWeather",
    "Season",
    "SessionType",
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
