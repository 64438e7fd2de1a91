"""The ingestion jobs, syncs and Celery tasks (ingestion/services/, ingestion/tasks.py): every test here
gets fast HTTP settings and a clean OpenF1 breaker/rate budget (tests/ingestion/helpers.py)."""

import pytest

from tests.ingestion.helpers import clean_breakers, fast_http  # noqa: F401 - autouse fixtures


@pytest.fixture
def season_2025(mirror, ergast_data):
    """The 2025 OpenF1 sessions mapped to the dump's races, from the in-process mirror."""
    from ingestion.services.openf1_sessions import openf1_sessions_sync

    openf1_sessions_sync(seasons=[2025])


@pytest.fixture
def season_2026(mirror, ergast_data):
    """The 2026 OpenF1 sessions mapped to the dump's races, from the in-process mirror."""
    from ingestion.services.openf1_sessions import openf1_sessions_sync

    openf1_sessions_sync(seasons=[2026])
