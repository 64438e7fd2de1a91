"""The dashboards' formatting filters (analytics/templatetags/analytics_tags.py)."""

from __future__ import annotations

import pytest

from analytics.templatetags.analytics_tags import places_vs_teammate


@pytest.mark.parametrize(
    ("value", "teammate", "words"),
    [
        (2.5, "team-mate", "2.5 places ahead of team-mate"),
        (-8.0, "team-mate", "8.0 places behind team-mate"),
        (1.0, "team-mate", "1.0 place ahead of team-mate"),
        (-1.04, "team-mate", "1.0 place behind team-mate"),
        (0.0, "team-mate", "level with team-mate"),
        (-0.04, "team-mate", "level with team-mate"),  # shows as 0.0: neither ahead nor behind
        (-1.4, "", "1.4 places behind"),
        (0.333, "", "0.3 places ahead"),
        (0, "", "level"),
        (None, "team-mate", "—"),
    ],
)
def test_places_vs_teammate_says_ahead_behind_or_level(value, teammate, words):
    """Review defect 6: the wet-weather card said "Beat team-mate by −8.0 places" for a driver who
    finished 8 places behind."""
    assert places_vs_teammate(value, teammate) == words
