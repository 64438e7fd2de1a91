"""The API client fixtures of tests/api (a DRF client, staff and fan users with JWTs), shared here."""

from tests.api.conftest import api, fan_user, staff_api, staff_user  # noqa: F401 - fixtures
