"""Fixtures for the tests that request them: `edited_mirror` (tests/ingestion/helpers.py), a mirror
serving an edited copy of the dump, started once per module."""

from tests.ingestion.helpers import edited_mirror  # noqa: F401 - fixture
