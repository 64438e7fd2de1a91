"""Server-side SVG charts: no JavaScript, no CDN, readable by screen readers.

Each chart is an inline `<svg role="img">` with a `<title>` and a `<desc>` summarising it; the page
shows the same numbers in a table next to it (the accessible text alternative). Colours come from
CSS classes (`series-0` ..) so the stylesheet controls the palette.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_ids = count(1)

WIDTH = 860
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 16, 16, 36
# A line chart's axis title and legend sit in rows above the plot, never inside it: there a line at
# the top (a driver P1 all season, a season-best first race) ran over the title "Position" and the
# legend, and the title over the top tick. Row r's text baseline is HEADER_BASELINE + r * HEADER_ROW;
# the plot starts HEADER_GAP below the last one (room for the text's descent, a point's radius and
# the top tick label's ascent).
HEADER_BASELINE, HEADER_ROW, HEADER_GAP = 14, 16, 12
LEGEND_PER_ROW, LEGEND_ITEM_W = 4, 140


def _text_width(text: str, size: float = 11.0) -> float:
    """A generous width for `text` at `size` px (0.62 em a glyph), to keep other labels clear of it."""
    return 0.62 * size * len(text)


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]


def _frame(*, title: str, desc: str, height: int, body: list[str], kind: str) -> SafeString:
    n = next(_ids)
    return mark_safe(  # noqa: S308 - every interpolated text is escaped above
        f'<svg class="chart chart-{kind}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="chart-t{n} chart-d{n}" preserveAspectRatio="xMidYMid meet" '
        f'data-chart="{kind}">'
        f'<title id="chart-t{n}">{escape(title)}</title><desc id="chart-d{n}">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 5:
            return float(step * ((value // step) + 1)) if value % step else float(value)
    return float(value)


def line_chart(
    *,
    series: list[Series],
    x_labels: list[str],
    title: str,
    desc: str,
    y_label: str = "",
    invert_y: bool = False,
    y_min: float | None = None,
    y_max: float | None = None,
    height: int = 280,
    with_table: bool = False,
) -> SafeString:
    """Lines over shared x positions; None values break the line. `invert_y` puts 1 at the top.
    `with_table`: the chart's values follow it as a table (`line_chart_table`), for a chart whose
    page has no other table of them (the figures are then readable as text, not only as a picture)."""
    values = [v for s in series for v in s.values if v is not None]
    lo = y_min if y_min is not None else min(values, default=0.0)
    hi = y_max if y_max is not None else _nice_max(max(values, default=1.0))
    if hi == lo:
        hi = lo + 1
    legend_rows = -(-len(series) // LEGEND_PER_ROW) if len(series) > 1 else 0
    header_rows = max(1 if y_label else 0, legend_rows)
    top = HEADER_BASELINE + (header_rows - 1) * HEADER_ROW + HEADER_GAP if header_rows else PAD_TOP
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = height - top - PAD_BOTTOM
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return PAD_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        share = (v - lo) / (hi - lo)
        return top + (plot_h * share if invert_y else plot_h * (1 - share))

    body = [
        f'<g class="axis"><line x1="{PAD_LEFT}" y1="{top + plot_h}" x2="{WIDTH - PAD_RIGHT}" y2="{top + plot_h}"/>'
    ]
    if invert_y:  # positions: whole-number ticks only
        step_v = max(1, -(-int(hi - lo) // 4))
        ticks = [float(v) for v in range(int(lo), int(hi) + 1, step_v)]
    else:
        ticks = [lo + (hi - lo) * k / 4 for k in range(5)]
    for v in ticks:
        body.append(
            f'<line class="grid" x1="{PAD_LEFT}" y1="{y(v):.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y(v):.1f}"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>'
        )
    step = max(1, n // 12)
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == n - 1:
            body.append(
                f'<text x="{x(i):.1f}" y="{height - PAD_BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
            )
    if y_label:
        body.append(f'<text class="axis-label" x="4" y="{HEADER_BASELINE}">{escape(y_label)}</text>')
    body.append("</g>")
    for idx, s in enumerate(series):
        segments, current = [], []
        for i, v in enumerate(s.values):
            if v is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(f"{x(i):.1f},{y(v):.1f}")
        if current:
            segments.append(current)
        body.append(f'<g class="series series-{idx % 8}"><title>{escape(s.label)}</title>')
        for seg in segments:
            body.append(f'<polyline fill="none" points="{" ".join(seg)}"/>')
            for pt in seg:
                px, py = pt.split(",")
                body.append(f'<circle cx="{px}" cy="{py}" r="3"/>')
        body.append("</g>")
    if legend_rows:  # right of the axis title, in the header rows
        left = max(PAD_LEFT + 8, 4 + _text_width(y_label) + 16) if y_label else PAD_LEFT + 8
        for idx, s in enumerate(series):
            lx = left + (idx % LEGEND_PER_ROW) * LEGEND_ITEM_W
            ly = HEADER_BASELINE + (idx // LEGEND_PER_ROW) * HEADER_ROW
            body.append(
                f'<g class="legend series series-{idx % 8}"><rect x="{lx:g}" y="{ly - 9}" width="10" height="10"/>'
                f'<text x="{lx + 14:g}" y="{ly}">{escape(s.label)}</text></g>'
            )
    svg = _frame(title=title, desc=desc, height=height, body=body, kind="line")
    if not with_table:
        return svg
    return svg + line_chart_table(series=series, x_labels=x_labels, title=title)  # both safe


def line_chart_table(
    *, series: list[Series], x_labels: list[str], title: str, x_name: str = "Round"
) -> SafeString:
    """A line chart's values as a table in a closed <details>: one row per x label (its column
    headed `x_name`, for screen readers), one column per series, "—" where a series has no value.
    The scroll box is a focusable group named after the chart, as the pages' other tables."""

    def cell(v) -> str:
        return "—" if v is None else f"{round(float(v), 2):g}"

    head = "".join(f'<th class="num" scope="col">{escape(s.label)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f'<td class="num">{cell(s.values[i] if i < len(s.values) else None)}</td>' for s in series)
        + "</tr>"
        for i, label in enumerate(x_labels)
    )
    return mark_safe(  # noqa: S308 - labels escaped, values formatted numbers
        '<details class="sr-table"><summary>Chart data as a table</summary>'
        f'<div class="table-wrap" role="group" tabindex="0" aria-label="{escape(title)} (table)"><table>'
        f'<thead><tr><th scope="col"><span class="visually-hidden">{escape(x_name)}</span></th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
    )


def probability_percent(value, digits: int = 1) -> str:
    """A probability (0–1) as the percentage text a page shows, without the % sign: 0.4567 ->
    "45.7". A chance that is not zero but rounds to 0 at `digits` reads "<0.1", one short of
    certainty that rounds to 100 reads ">99.9": a fan never reads 0 % for a driver who can still
    win. Empty for a missing value. Pages only; the API keeps the float."""
    if value is None or value == "":
        return ""
    try:
        p = float(value)
    except (TypeError, ValueError):
        return ""
    digits = int(digits)
    smallest = 10.0**-digits / 100  # 0.001 at one decimal: 0.1 %
    if 0 < p < smallest:
        return f"<{smallest * 100:.{digits}f}"
    if 1 - smallest < p < 1:
        return f">{100 - smallest * 100:.{digits}f}"
    return f"{p * 100:.{digits}f}"


def bar_chart(
    *,
    items: list[tuple[str, float]],
    title: str,
    desc: str,
    unit: str = "",
    highlight: str | None = None,
    value_labels: list[str] | None = None,
) -> SafeString:
    """Horizontal bars, one per (label, value); values >= 0. `highlight` marks one label;
    `value_labels` (one per item) replace the printed values, e.g. "<0.1" for a tiny probability."""
    row_h = 22
    height = PAD_TOP + PAD_BOTTOM // 2 + row_h * max(len(items), 1)
    label_w = 150
    top = max((v for _, v in items), default=1.0) or 1.0
    plot_w = WIDTH - label_w - PAD_RIGHT - 70
    shown = value_labels if value_labels is not None else [f"{value:g}" for _, value in items]
    body = []
    for i, (label, value) in enumerate(items):
        y = PAD_TOP + i * row_h
        w = max(plot_w * value / top, 1)
        cls = "bar highlight" if label == highlight else "bar"
        body.append(
            f'<g class="{cls}"><text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" rx="3"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{escape(shown[i])}{escape(unit)}</text></g>'
        )
    return _frame(title=title, desc=desc, height=height, body=body, kind="bar")


def scatter_chart(
    *,
    points: list[tuple[float, float, str]],
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    max_value: float | None = None,
    diagonal: bool = True,
    connect: bool = False,
    height: int = 360,
) -> SafeString:
    """Points (x, y, label) on equal axes from 0 (or 1) to `max_value`, with the y = x line.

    Used for predicted-vs-actual finishing positions and, with `connect`, reliability diagrams.
    """
    top = max_value or max([max(p[0], p[1]) for p in points], default=1.0)
    size = min(WIDTH, height) - PAD_TOP - PAD_BOTTOM
    left = PAD_LEFT + 10

    def sx(v: float) -> float:
        return left + size * v / top

    def sy(v: float) -> float:
        return PAD_TOP + size * (1 - v / top)

    body = [
        f'<g class="axis"><rect class="plot" x="{left}" y="{PAD_TOP}" width="{size}" height="{size}" fill="none"/>'
    ]
    ticks = [top * k / 4 for k in range(5)]
    if top > 4:  # positions: whole numbers only
        step = -(-int(top) // 4)
        top = float(step * 4)
        ticks = [float(step * k) for k in range(5)]
    for v in ticks:
        body.append(
            f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>'
            f'<text x="{sx(v):.1f}" y="{PAD_TOP + size + 16}" text-anchor="middle">{v:g}</text>'
        )
    body.append(
        f'<text class="axis-label" x="{left + size / 2:.1f}" y="{PAD_TOP + size + 32}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="axis-label" x="{left + size + 10:.1f}" y="{PAD_TOP + 12}">{escape(y_label)}</text></g>'
    )
    if diagonal:
        body.append(
            f'<line class="diagonal" x1="{sx(0)}" y1="{sy(0)}" x2="{sx(top):.1f}" y2="{sy(top):.1f}"/>'
        )
    if connect and len(points) > 1:
        pts = " ".join(f"{sx(px):.1f},{sy(py):.1f}" for px, py, _ in points)
        body.append(f'<polyline class="series series-0" fill="none" points="{pts}"/>')
    for px, py, label in points:
        body.append(
            f'<circle class="point series-0" cx="{sx(px):.1f}" cy="{sy(py):.1f}" r="5"><title>{escape(label)}</title></circle>'
        )
    return _frame(title=title, desc=desc, height=PAD_TOP + size + PAD_BOTTOM + 4, body=body, kind="scatter")
