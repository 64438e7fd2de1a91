"""The ingestion jobs, syncs and Celery tasks (ingestion/services/, ingestion/tasks.py): every test here
gets fast HTTP settings and a clean OpenF1 breaker/rate budget (tests/ingestion/helpers.py)."""

from tests.ingestion.helpers import clean_breakers, fast_http  # noqa: F401 - autouse fixtures
