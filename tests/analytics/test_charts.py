"""Server-side SVG charts: accessible, escaped, and drawing what they are given."""

from __future__ import annotations

import re

import pytest
from django.utils.safestring import SafeString

from analytics import charts


def test_line_chart_is_an_accessible_svg_and_breaks_on_missing_values():
    svg = charts.line_chart(
        series=[charts.Series("Points <b>", [25, None, 18, 15])],
        x_labels=["R1", "R2", "R3", "R4"],
        title="Form & points",
        desc="Points per round",
    )
    assert svg.startswith("<svg") and 'role="img"' in svg
    t, d = re.search(r'aria-labelledby="(chart-t\d+) (chart-d\d+)"', svg).groups()
    assert f'<title id="{t}">Form &amp; points</title>' in svg and f'<desc id="{d}">' in svg
    assert "<b>" not in svg and "Points &lt;b&gt;" in svg  # labels are escaped
    # the gap at R2 splits the line in two: one point alone, then two joined
    assert [len(p.split()) for p in re.findall(r'<polyline fill="none" points="([^"]+)"', svg)] == [1, 2]


def test_position_axes_use_whole_numbers():
    svg = charts.line_chart(
        series=[charts.Series("P", [1, 4, 7])],
        x_labels=["a", "b", "c"],
        title="t",
        desc="d",
        invert_y=True,
        y_min=1,
    )
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert ticks and all(float(t).is_integer() for t in ticks)
    scatter = charts.scatter_chart(
        points=[(1, 19, "x"), (5, 2, "y")], title="t", desc="d", x_label="p", y_label="a"
    )
    assert all(float(t).is_integer() for t in re.findall(r">([\d.]+)</text>", scatter))


def test_bar_chart_scales_to_the_largest_value_and_highlights_one():
    svg = charts.bar_chart(items=[("A", 2.0), ("B", 1.0)], title="t", desc="d", unit="%", highlight="B")
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert svg.count('class="bar highlight"') == 1 and "1%" in svg


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0004, "<0.1"),  # QA: Leclerc's 2026 title chance read "0.0%"
        (0.00099, "<0.1"),
        (0.001, "0.1"),
        (0.0, "0.0"),  # no chance at all is still 0
        (0.4567, "45.7"),
        (0.999, "99.9"),
        (0.9996, ">99.9"),  # not "100.0" for a title not yet won
        (1.0, "100.0"),
        (None, ""),
    ],
)
def test_probability_percent_never_rounds_a_chance_to_0_or_100(p, text):
    assert charts.probability_percent(p) == text


def test_bar_chart_prints_the_value_labels_it_is_given():
    svg = charts.bar_chart(
        items=[("Norris", 99.96), ("Leclerc", 0.0)],
        title="t",
        desc="d",
        unit="%",
        value_labels=[">99.9", "<0.1"],
    )
    assert ">&gt;99.9%</text>" in svg and ">&lt;0.1%</text>" in svg and ">0%</text>" not in svg


def test_a_line_chart_can_carry_its_values_as_a_table():
    """QA: the driver's form and championship-position charts and the team's development and
    position charts had no table, so their values (the 3-race average, the position after each
    round, the gap %) could not be read as text anywhere."""
    out = charts.line_chart(
        series=[charts.Series("Points", [25, None, 18.5]), charts.Series("Avg <3>", [25, 25, 21.75])],
        x_labels=["R1", "R2", "R3"],
        title="t",
        desc="d",
        with_table=True,
    )
    assert out.startswith("<svg") and out.index("</svg>") < out.index('<details class="sr-table">')
    assert isinstance(out, SafeString)
    table = out[out.index("<table>") :]
    assert '<th class="num" scope="col">Points</th><th class="num" scope="col">Avg &lt;3&gt;</th>' in table
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>(.*?)</tr>", table)
    assert [(label, re.findall(r">([^<]*)</td>", cells)) for label, cells in rows] == [
        ("R1", ["25", "25"]),
        ("R2", ["—", "25"]),
        ("R3", ["18.5", "21.75"]),
    ]
    plain = charts.line_chart(series=[charts.Series("P", [1])], x_labels=["R1"], title="t", desc="d")
    assert "<details" not in plain
