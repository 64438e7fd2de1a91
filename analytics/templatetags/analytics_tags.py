"""Small formatting filters for the dashboards."""

from __future__ import annotations

from django import template

from analytics.charts import probability_percent

register = template.Library()


@register.filter
def pct(value, digits: int = 0) -> str:
    """0.4567 -> '45.7' (with digits=1); empty for missing values."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value) * 100:.{int(digits)}f}"
    except (TypeError, ValueError):
        return ""


@register.filter
def prob_pct(value, digits: int = 1) -> str:
    """A probability as a percentage without the sign: '45.7', and '<0.1' / '>99.9' for a chance
    that is not 0 or 1 but rounds to it (`charts.probability_percent`)."""
    return probability_percent(value, digits)


@register.filter
def seconds(ms) -> str:
    """Milliseconds -> '22.7 s'."""
    if ms is None or ms == "":
        return "—"
    return f"{float(ms) / 1000:.1f} s"


@register.filter
def signed(value, digits: int = 2) -> str:
    """+0.25 / −0.25 (a real minus sign); '—' for missing values."""
    if value is None or value == "":
        return "—"
    v = float(value)
    text = f"{abs(v):.{int(digits)}f}"
    return f"+{text}" if v > 0 else (f"−{text}" if v < 0 else text)


@register.filter
def get(mapping, key):
    """dict lookup with a variable key."""
    if isinstance(mapping, dict):
        return mapping.get(key, mapping.get(str(key)))
    return None


@register.filter
def prediction_unavailable(race) -> str:
    """Why the race cannot be predicted (what-if included), or '' when it can."""
    from predictions.selectors import race_prediction_unavailable

    return race_prediction_unavailable(race=race) or ""


@register.filter
def points(value) -> str:
    """Championship points as stored: whole numbers bare (25), fractions to two decimals at most
    (25.14, 4.5). `floatformat:"-1"` cut the 1950s shared-drive points 25.14 to 25.1."""
    if value is None or value == "":
        return ""
    try:
        text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    except (TypeError, ValueError):
        return ""
    return "0" if text == "-0" else text
