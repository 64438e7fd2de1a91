"""The API client fixtures of tests/drf_support.py (a DRF client, staff and fan users with JWTs; not
`clean_cache`, which each module that has it imports), shared here, and a committed staff client and
future race for the modules that commit (a real worker or broker is involved)."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from tests.drf_support import api, fan_user, staff_api, staff_user  # noqa: F401 - fixtures


@contextmanager
def committed_staff_client():
    """A DRF client with a staff operator's JWT (`operator_permissions()`), created outside any test
    transaction (other processes see it); afterwards the user and every regeneration JobRun are
    deleted."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from ingestion.models import JobRun
    from tests.drf_support import operator_permissions, token_for

    username = f"steward-{uuid.uuid4().hex[:6]}"
    user = get_user_model().objects.create_user(
        username=username, password="correct-horse-battery-staple", is_staff=True
    )
    user.user_permissions.add(*operator_permissions())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(client, username)}")
    try:
        yield client
    finally:
        JobRun.objects.filter(job__startswith="predictions_regenerate:").delete()
        user.delete()


@contextmanager
def future_race():
    """A race of next season by the real clock (tests.factories.RaceFactory: March of that year), so
    not run and not started on any date: it can always get a new live prediction
    (`race_not_run_check`), whatever today is and in a worker process time_machine does not reach.
    It has no entry information of its own, so the engine takes the field of the latest race with
    results (`race_entries`). Created in the test's transaction, or committed with `committing_db`;
    afterwards the race (its predictions with it), its circuit and, when created here, its season are
    deleted."""
    from django.utils import timezone

    from ingestion.models import Season
    from tests.factories import RaceFactory

    year = timezone.now().year + 1
    season_existed = Season.objects.filter(year=year).exists()
    race = RaceFactory(season__year=year)
    try:
        yield race
    finally:
        circuit = race.circuit
        race.delete()
        circuit.delete()
        if not season_existed:
            Season.objects.filter(year=year, races__isnull=True).delete()
