"""The model page as of a clock (`?as_of=`).

QA: at a clock the menu's Model was marked "(today)": the model page named the version active now
(trained since, on races after the clock) and backtests run since. Real data: 2025 round 10, the Canadian
Grand Prix (2025-06-15, start 18:00 UTC); an hour before it rounds 1-9 had run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db

BEFORE_CANADA = "2025-06-15T17:00"
AFTER_CANADA_START = "2025-06-15T18:30"
EARLIER_REGISTERED = datetime(2025, 1, 10, tzinfo=UTC)  # after the 2024 season it is trained on
LATER_REGISTERED = datetime(2025, 7, 1, tzinfo=UTC)  # after the clock: active now


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


def _notice(html: str) -> str:
    return html.split('<p class="notice">')[1].split("</p>")[0]


def _nav(html: str) -> str:
    return html.split('<header class="site-header">')[1].split("</header>")[0]


# --- the model page -------------------------------------------------------------------------


def _registered(version, when: datetime, **fields):
    from predictions.models import ModelVersion

    ModelVersion.objects.filter(pk=version.pk).update(created_at=when, **fields)
    return ModelVersion.objects.get(pk=version.pk)


def _backtest(created: datetime, finished: datetime | None, mae: float):
    from predictions.models import BacktestRun

    run = BacktestRun.objects.create(
        status="succeeded",
        stage="post",
        seasons=[2022, 2023, 2024, 2025],
        races=90,
        finished_at=finished,
        results={"overall": {"model": {"races": 90, "mae": mae}, "grid": {"races": 90, "mae": 9.99}}},
    )
    BacktestRun.objects.filter(pk=run.pk).update(created_at=created)
    return run


def test_the_model_page_as_of_a_clock_shows_the_version_serving_then(client, django_assert_max_num_queries):
    """Two versions registered either side of the clock: the page at the clock names the earlier
    (registered before it, trained on 2023-2024), never the later (active now, trained through
    2025); the backtests are those finished by then. No artifact is loaded (these have none)."""
    from tests.factories import ModelVersionFactory

    earlier = _registered(
        ModelVersionFactory(
            train_from_season=2023, train_until_season=2024, trained_until_date=date(2024, 12, 8)
        ),
        EARLIER_REGISTERED,
    )
    later = _registered(ModelVersionFactory(is_active=True), LATER_REGISTERED)
    _backtest(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC), mae=3.111)
    # started before the clock, finished after it: no results then
    _backtest(datetime(2025, 6, 15, 16, tzinfo=UTC), datetime(2025, 6, 15, 19, tzinfo=UTC), mae=3.222)
    _backtest(datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 8, 1, 1, tzinfo=UTC), mae=3.333)
    url = reverse("analytics:model")
    with django_assert_max_num_queries(3):  # the versions at the clock, the backtests (2)
        response = client.get(url, {"as_of": BEFORE_CANADA})
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        f"Model serving then <strong>{earlier.label}</strong> (registered 10 January 2025, 00:00 UTC)" in html
    )
    assert "trained on 2023–2024" in html
    assert later.label not in html and "Active model" not in html
    assert "cannot be loaded right now" not in html  # whether a file loaded then is not known
    assert "3.111" in html and "3.222" not in html and "3.333" not in html
    assert "This catalogue describes today's code" in html and 'id="feature-catalogue"' in html
    notice = _notice(html)
    assert "Showing the model page as of 15 June 2025, 17:00 UTC" in notice
    assert f'<a href="{url}">Back to today</a>' in notice
    # today: the active version and the latest backtest, no clock anywhere
    today = client.get(url).content.decode()
    assert f"Active model <strong>{later.label}</strong>" in today and "3.333" in today
    assert "as_of" not in today and "describes today's code" not in today


def test_the_model_page_skips_a_version_pruned_before_the_clock(client):
    """A version whose files were pruned before the clock was not serving then; one pruned since
    was, and the page says its files are gone now."""
    from tests.factories import ModelVersionFactory

    earlier = _registered(ModelVersionFactory(trained_until_date=date(2024, 12, 8)), EARLIER_REGISTERED)
    newer = _registered(
        ModelVersionFactory(trained_until_date=date(2024, 12, 8)),
        datetime(2025, 2, 1, tzinfo=UTC),
        artifact_pruned_at=datetime(2025, 5, 1, tzinfo=UTC),
    )
    url = reverse("analytics:model")
    html = client.get(url, {"as_of": BEFORE_CANADA}).content.decode()
    assert f"<strong>{earlier.label}</strong>" in html and newer.label not in html
    _registered(newer, datetime(2025, 2, 1, tzinfo=UTC), artifact_pruned_at=datetime(2025, 9, 1, tzinfo=UTC))
    cache.clear()
    html = client.get(url, {"as_of": BEFORE_CANADA}).content.decode()
    assert f"<strong>{newer.label}</strong>" in html and earlier.label not in html
    assert "Its files have been pruned since (1 September 2025)" in html


def test_the_model_page_before_any_version_says_so(client):
    from tests.factories import ModelVersionFactory

    _registered(ModelVersionFactory(is_active=True), EARLIER_REGISTERED)
    _backtest(datetime(2025, 3, 1, tzinfo=UTC), None, mae=3.111)
    html = client.get(reverse("analytics:model"), {"as_of": "2024-06-01"}).content.decode()
    assert "No prediction model had been trained by 1 June 2024, 00:00 UTC" in html
    assert "No backtest had been run by then." in html and "3.111" not in html
    assert "No trained model is active yet." not in html


@pytest.mark.parametrize("bad", ["", "x", "2025-13-01", "9999-12-31", ["2025-06-01", "2025-06-02"]])
def test_junk_clocks_are_404s_as_on_the_home_page(client, bad):
    assert client.get(reverse("analytics:model"), {"as_of": bad}).status_code == 404
