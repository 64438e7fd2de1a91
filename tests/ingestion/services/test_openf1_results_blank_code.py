"""A driver stored with a blank code is placed by his number this season and his family name (review
3, defect 3): the season fallback demanded the stored code equal OpenF1's acronym, and Jolpica's sync
stores a missing code as "". Over HTTP from the mirror.
"""

from __future__ import annotations

import pytest

from ingestion.models import (
    Driver,
    PracticeResult,
    Race,
    SessionType,
)
from ingestion.services.openf1_results import openf1_session_results_ingest
from tests.ingestion.services.test_openf1_results_teams import (
    _as_after_this_session,
    _dump_rows,
    _session,
    _stored,
)

pytestmark = pytest.mark.django_db


def test_a_driver_stored_without_a_code_is_placed_by_his_number_and_family_name(season_2026):
    """Lindblad has #41 in 2026's earlier rows; Jolpica stores a missing code as ""."""
    japan = Race.objects.get(season_id=2026, slug="2026_japan")
    fp2 = _session(japan, SessionType.FP2)
    _as_after_this_session(fp2)
    expected = _dump_rows("practice.csv", race=japan, session="FP2")
    assert expected[41][1] == "lindblad"
    Driver.objects.filter(ref="lindblad").update(code="")

    result = openf1_session_results_ingest(session=fp2)

    assert result["unmatched_numbers"] == [] and "incomplete" not in result
    assert _stored(PracticeResult, race=japan, session="FP2") == expected
