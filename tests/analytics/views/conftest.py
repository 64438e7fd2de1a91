"""Fixtures shared by the page tests: `predicted_2026_7` (tests/analytics/views/test_pages.py),
both stages for 2026 round 7 in grid order, made 06-12 09:00 and 06-13 16:00, the post set scored
on 06-15 06:00 (MAE 3.25) — the race page's clock tests (test_race_as_of.py) read it too."""

from tests.analytics.views.test_pages import predicted_2026_7  # noqa: F401 - fixture
