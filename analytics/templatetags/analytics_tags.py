"""Small formatting filters for the dashboards."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from analytics.charts import probability_percent
from f1site.clock import clock_to_text
from ingestion.models.results import NON_START_POSITION_TEXTS, NON_STARTS

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
def places_vs_teammate(value, teammate: str = "") -> str:
    """A mean finishing-order gain over the team-mate (positive = ahead) in words: "2.5 places ahead
    of team-mate", "8.0 places behind team-mate", "level with team-mate" (`teammate` the word to
    name; empty: "2.5 places ahead", "8.0 places behind", "level"); '—' for a missing value. One
    decimal, as the other cards; "1.0 place". A "beat by −8.0" said the opposite of what it meant."""
    if value is None or value == "":
        return "—"
    shown = f"{abs(float(value)):.1f}"
    if float(shown) == 0:
        return f"level with {teammate}" if teammate else "level"
    unit = "place" if shown == "1.0" else "places"
    side = "ahead of" if float(value) > 0 else "behind"
    if not teammate:
        side = side.removesuffix(" of")
    return f"{shown} {unit} {side}{f' {teammate}' if teammate else ''}"


@register.filter
def get(mapping, key):
    """dict lookup with a variable key."""
    if isinstance(mapping, dict):
        return mapping.get(key, mapping.get(str(key)))
    return None


@register.filter
def clock_query(as_of, joiner: str = "?") -> str:
    """`?as_of=<clock>` (or `&as_of=…` after another parameter: `joiner`) for a link from a page
    shown as of a clock to another page that honours it; '' without a clock (today's pages link
    to today's). One spelling per clock (`clock_to_text`), so the links share a page-cache entry."""
    if not as_of:
        return ""

    return f"{joiner}as_of={clock_to_text(clock=as_of)}"


@register.filter
def clock_text(as_of) -> str:
    """The clock as its links spell it (`clock_to_text`), for a form's hidden `as_of` field."""
    if not as_of:
        return ""

    return clock_to_text(clock=as_of)


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


@register.filter
def grid(result) -> str:
    """A Grand Prix or sprint result's grid cell, the same in every table (race, sprint, driver's
    and team's results): the slot, or for grid 0 "PL" (a pit-lane start) when the car took the start
    and "—" when it never did — a non-start status (did not qualify, withdrew, excluded:
    `ingestion.models.results.NON_STARTS`) or the sheet's W / F, the rule `common.started` counts
    starts by. The driver and team tables showed a bare "0" (Alonso, 2026 Barcelona, from the pit
    lane), and the race table "PL" for a car excluded before the start (Modena, 1988 Monaco)."""
    slot = getattr(result, "grid", None)
    if slot is None:
        return "—"
    if slot != 0:
        return str(slot)
    status = getattr(getattr(result, "status", None), "status", None)
    if getattr(result, "position_text", None) in NON_START_POSITION_TEXTS or status in NON_STARTS:
        return "—"
    return mark_safe('<abbr title="Started from the pit lane">PL</abbr>')  # a constant: nothing to escape
