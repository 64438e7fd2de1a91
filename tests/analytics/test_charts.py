"""Server-side SVG charts: accessible, escaped, and drawing what they are given."""

from __future__ import annotations

import itertools
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


# --- labels and lines apart ------------------------------------------------------------------------
# Text boxes from the stylesheet's sizes (chart text 11px, legend 12px) with generous glyph metrics:
# a glyph is at most 0.62 em wide on average, rises 0.75 em above the baseline and drops 0.22 em.
_FONT = {"legend": 12.0, "": 11.0}


def _boxes(svg: str) -> tuple[list[tuple], list[tuple]]:
    """(label boxes, data marks) of a line chart: every text (axis, ticks, round labels, legend)
    and legend swatch as a box (x0, y0, x1, y1, what); every point as a box and every line segment
    as (x0, y0, x1, y1, half stroke width)."""
    import xml.etree.ElementTree as ET

    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(svg.replace("<svg ", f'<svg xmlns="{ns[1:-1]}" ', 1))  # noqa: S314 - our own markup
    labels, marks = [], []

    def walk(node, legend: bool, series: bool):
        cls = node.get("class", "")
        legend = legend or "legend" in cls.split()
        series = series or ("series" in cls.split() and not legend)
        tag = node.tag.removeprefix(ns)
        if tag == "text":
            size = _FONT["legend" if legend else ""]
            text = "".join(node.itertext())
            width = 0.62 * size * len(text)
            x, y = float(node.get("x")), float(node.get("y"))
            x0 = {"end": x - width, "middle": x - width / 2}.get(node.get("text-anchor"), x)
            labels.append((x0, y - 0.75 * size, x0 + width, y + 0.22 * size, text))
        elif tag == "rect" and legend:
            x, y, w, h = (float(node.get(k)) for k in ("x", "y", "width", "height"))
            labels.append((x, y, x + w, y + h, "legend swatch"))
        elif tag == "circle" and series:
            cx, cy, r = float(node.get("cx")), float(node.get("cy")), float(node.get("r")) + 0.5
            marks.append(("point", cx - r, cy - r, cx + r, cy + r))
        elif tag == "polyline" and series:
            pts = [tuple(map(float, p.split(","))) for p in node.get("points").split()]
            marks.extend(("line", *a, *b) for a, b in itertools.pairwise(pts))
        for child in node:
            walk(child, legend, series)

    walk(root, False, False)
    return labels, marks


def _touches(mark, box) -> bool:
    x0, y0, x1, y1 = box[:4]
    if mark[0] == "point":
        return not (mark[3] < x0 or mark[1] > x1 or mark[4] < y0 or mark[2] > y1)
    _, ax, ay, bx, by = mark
    half = 1.1  # the line's stroke (2.2) either side of its path
    steps = max(1, int(max(abs(bx - ax), abs(by - ay))))
    for i in range(steps + 1):
        px, py = ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps
        if x0 - half <= px <= x1 + half and y0 - half <= py <= y1 + half:
            return True
    return False


def _collisions(svg: str) -> list[str]:
    labels, marks = _boxes(svg)
    hits = [f"{m[0]} over {box[4]!r}" for box in labels for m in marks if _touches(m, box)]
    for i, a in enumerate(labels):  # labels over one another (the axis title over the top tick)
        for b in labels[i + 1 :]:
            if not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]):
                hits.append(f"{a[4]!r} over {b[4]!r}")
    return sorted(set(hits))


@pytest.mark.parametrize(
    "case",
    [
        # QA: a driver P1 after every round (Verstappen 2023) had his line drawn over "Position"
        {"series": [charts.Series("Championship position", [1.0] * 22)], "invert_y": True, "y_min": 1,
         "y_label": "Position"},
        {"series": [charts.Series("Constructors' position", [1.0, 1.0, 2.0, 1.0, 3.0] + [1.0] * 19)],
         "invert_y": True, "y_min": 1, "y_label": "Position"},
        # a first race that is the season's best, under a two-series legend
        {"series": [charts.Series("Points", [25.0, 18, 12, 10, 15, 8, 4, 25, 6, 1]),
                    charts.Series("3-race average", [25.0, 21.5, 18.3, 13.3, 12.3, 11, 9, 12.3, 11.7, 10.7])],
         "y_min": 0, "y_label": "Points"},
        # eight series: two legend rows, the leader's line to the top-right corner
        {"series": [charts.Series(f"Driver {i}", [25.0 * r * (1 - i / 10) for r in range(1, 23)]) for i in range(8)],
         "y_min": 0, "y_label": "Points"},
        {"series": [charts.Series("Gap to fastest car (%)", [3.0, 0.0, 1.0, 2.5])], "y_min": 0,
         "y_label": "A much longer axis title"},
    ],
    ids=["always-p1", "mostly-p1", "legend", "eight-series", "long-title"],
)  # fmt: skip
def test_lines_and_points_never_cross_a_label(case):
    n = len(case["series"][0].values)
    svg = charts.line_chart(x_labels=[f"R{i}" for i in range(1, n + 1)], title="t", desc="d", **case)
    assert _collisions(svg) == []
