"""QA on the real dump: empty states, singular/plural, season-scoped links, number formatting,
the what-if grid's strict slot parsing and sprint results on race pages."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from analytics import views
from ingestion.models import Race

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache(ergast_data):
    cache.clear()
    yield
    cache.clear()


# --- what-if grid slots ------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["+{n}", "{n}_", "0{n}", " {n} ", "{arabic}"])
def test_what_if_grid_slot_accepts_only_the_canonical_integer(client, monkeypatch, spelling):
    """QA: `+22`, `2_2`, ` 22 ` and `٢٢` were read as 22 by int(): each spelling ran the model, spent
    the 'expensive' budget and was cached as another page. Now the usual "must be a number"."""
    import re

    race = Race.objects.get(slug="2026_barcelona_catalunya")
    url = reverse("analytics:what_if", args=[race.slug])
    html = client.get(url).content.decode()
    slots = {ref: int(v) for ref, v in re.findall(r'name="grid_([A-Za-z0-9_]+)"[^>]*value="(\d+)"', html)}
    last_ref, last = max(slots.items(), key=lambda kv: kv[1])
    arabic = "".join(chr(0x0660 + int(d)) for d in str(last))
    odd = spelling.format(n=last, arabic=arabic)
    if spelling == "{n}_":  # an underscore inside the number: 2_2
        odd = f"{str(last)[0]}_{str(last)[1:]}" if last >= 10 else f"0_{last}"
    assert int(odd) == last  # int() reads it as the slot
    charged = []
    monkeypatch.setattr(views, "_what_if_throttled", lambda request: charged.append(1))
    query = {f"grid_{ref}": str(slot) for ref, slot in slots.items()}
    query[f"grid_{last_ref}"] = odd
    response = client.get(url, query)
    assert response.status_code == 422
    assert "grid slot must be a number (got " in response.content.decode()
    assert charged == []
