"""Charts as server-rendered SVG: no JavaScript, no CDN, readable without CSS.

Each chart is a self-contained ``<svg role="img">`` with a ``<title>`` and ``<desc>`` for screen
readers, presentation attributes for its colours (so it renders the same in any admin theme,
text follows the page's ``currentColor``) and a ``<title>`` on every point or bar, shown as a
tooltip on hover. Geometry is plain arithmetic on a fixed ``viewBox``; the SVG scales to its
container's width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

#: Series colours readable on light and dark admin themes (≥ 3:1 against both).
READS_COLOR = "#1f8fa0"
CLICKS_COLOR = "#d9631e"
BAR_COLOR = "#1f8fa0"


@dataclass(frozen=True)
class Series:
    key: str  # a short slug, used in class names and ``data-series``
    label: str
    values: Sequence[int]
    color: str
    dashed: bool = False  # a second cue besides colour, for colour-blind readers


@dataclass(frozen=True)
class Box:
    """The plot area inside the chart's viewBox."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        return self.top + self.plot_height


LINE_BOX = Box(width=720, height=280, left=56, right=16, top=40, bottom=44)


def nice_ticks(maximum: float, count: int = 4) -> list[int]:
    """Round, evenly spaced integer ticks from 0 that reach at least ``maximum``: 0, 5, 10, …"""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    step = max(1, math.ceil(step))
    top = step * math.ceil(maximum / step)
    return list(range(0, top + 1, step))


def _num(value: float) -> str:
    """A coordinate, short: 12.0 → "12", 12.345 → "12.3"."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _svg_open(box: Box, *, chart_id: str, title: str, desc: str, classname: str) -> SafeString:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" id="{id}" viewBox="0 0 {w} {h}" '
        'width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="{id}-title {id}-desc" '
        'font-family="inherit" font-size="12" style="max-width: {w}px; height: auto; display: block;">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>',
        cls=classname,
        id=chart_id,
        w=box.width,
        h=box.height,
        title=title,
        desc=desc,
    )


@dataclass(frozen=True)
class LineScale:
    """Where a line chart draws: ``buckets`` equal columns across the plot, values up to ``y_max``."""

    box: Box
    buckets: int
    y_max: int

    def x(self, i: float) -> float:
        return self.box.left + i * (self.box.plot_width / self.buckets)

    def y(self, value: float) -> float:
        return self.box.baseline - value / self.y_max * self.box.plot_height


def _y_grid(scale: LineScale, ticks: list[int]) -> list[SafeString]:
    """A horizontal line per y tick, its value at the left."""
    box = scale.box
    return [
        format_html(
            '<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="currentColor" stroke-opacity="{o}"/>'
            '<text x="{tx}" y="{ty}" text-anchor="end" fill="currentColor">{label}</text>',
            x1=box.left,
            x2=_num(box.width - box.right),
            y=_num(scale.y(tick)),
            o="0.5" if tick == 0 else "0.12",
            tx=box.left - 8,
            ty=_num(scale.y(tick) + 4),
            label=f"{tick:,}",
        )
        for tick in ticks
    ]


def _x_axis(
    scale: LineScale, every: int, tick_label: Callable[[int], str], axis_label: str
) -> list[SafeString]:
    """A tick on every ``every``-th bucket boundary, labelled; the axis label under them."""
    box = scale.box
    parts = [
        format_html(
            '<line x1="{x}" x2="{x}" y1="{y1}" y2="{y2}" stroke="currentColor" stroke-opacity="0.5"/>'
            '<text x="{x}" y="{ty}" text-anchor="middle" fill="currentColor">{label}</text>',
            x=_num(scale.x(boundary)),
            y1=_num(box.baseline),
            y2=_num(box.baseline + 5),
            ty=_num(box.baseline + 18),
            label=tick_label(boundary),
        )
        for boundary in range(0, scale.buckets + 1, every)
    ]
    if axis_label:
        parts.append(
            format_html(
                '<text x="{x}" y="{y}" text-anchor="middle" fill="currentColor" fill-opacity="0.75">{label}</text>',
                x=_num(box.left + box.plot_width / 2),
                y=box.height - 6,
                label=axis_label,
            )
        )
    return parts


def _legend(series: Sequence[Series], box: Box) -> list[SafeString]:
    """Each series' line style and label, side by side above the plot."""
    legend_x = box.left
    parts = []
    for s in series:
        parts.append(
            format_html(
                '<g data-legend="{key}"><line x1="{x1}" x2="{x2}" y1="14" y2="14" stroke="{color}" '
                'stroke-width="3"{dash}/><text x="{tx}" y="18" fill="currentColor">{label}</text></g>',
                key=s.key,
                x1=legend_x,
                x2=legend_x + 22,
                color=s.color,
                dash=mark_safe(' stroke-dasharray="6 3"') if s.dashed else "",
                tx=legend_x + 28,
                label=s.label,
            )
        )
        legend_x += 28 + 8 * len(str(s.label)) + 24
    return parts


def _dots(
    s: Series, points: list[tuple[float, float]], point_label: Callable[[int], str]
) -> list[SafeString]:
    """A dot on each non-zero point, its tooltip the bucket's label and value."""
    return [
        format_html(
            '<circle cx="{}" cy="{}" r="3" fill="{}" data-bucket="{}" data-value="{}">'
            "<title>{}: {} {}</title></circle>",
            _num(px),
            _num(py),
            s.color,
            i,
            value,
            point_label(i),
            f"{value:,}",
            str(s.label).lower(),
        )
        for i, ((px, py), value) in enumerate(zip(points, s.values, strict=True))
        if value
    ]


def _line_series(s: Series, scale: LineScale, point_label: Callable[[int], str]) -> list[SafeString]:
    """One series: the area under it, its line through each bucket's centre, its dots."""
    baseline = _num(scale.box.baseline)
    points = [(scale.x(i + 0.5), scale.y(v)) for i, v in enumerate(s.values)]
    line = " ".join(f"{_num(px)},{_num(py)}" for px, py in points)
    area = (
        f"M{_num(points[0][0])},{baseline} "
        + " ".join(f"L{_num(px)},{_num(py)}" for px, py in points)
        + f" L{_num(points[-1][0])},{baseline} Z"
    )
    return [
        format_html('<g class="onesend-chart__series" data-series="{}">', s.key),
        format_html('<path d="{}" fill="{}" fill-opacity="0.14" stroke="none"/>', area, s.color),
        format_html(
            '<polyline points="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"{}/>',
            line,
            s.color,
            mark_safe(' stroke-dasharray="6 3"') if s.dashed else "",
        ),
        *_dots(s, points, point_label),
        mark_safe("</g>"),
    ]


#: The widths an hourly chart's axis takes (hours), the shortest holding the data first.
HOUR_SPANS = (6, 12, 24, 48, 72)


def hour_span(hours: int) -> tuple[int, int]:
    """The axis of an hourly chart holding ``hours`` buckets: (its width in hours, hours between
    ticks). It follows the data's age, so a campaign sent an hour ago is drawn over its first
    6 hours, not as one dot at the left edge of 72."""
    width = next((span for span in HOUR_SPANS if span >= hours), max(hours, HOUR_SPANS[-1]))
    return width, max(1, width // 6)


def line_chart(
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    desc: str,
    x_tick_every: int,
    x_tick_label: Callable[[int], str],
    point_label: Callable[[int], str],
    x_axis_label: str = "",
    buckets: int | None = None,
    box: Box = LINE_BOX,
) -> SafeString:
    """Lines with a light area under each, over ``n`` equal buckets (all series the same length).

    The x axis spans ``buckets`` buckets (default: the longest series); a shorter series (a
    window still in progress) stops where its data does. Bucket ``i`` is drawn at its centre; x ticks mark bucket boundaries every ``x_tick_every``
    buckets, labelled by ``x_tick_label(boundary)``; each non-zero point gets a dot whose tooltip
    starts with ``point_label(i)``.
    """
    n = buckets or max((len(s.values) for s in series), default=0)
    if n == 0 or any(len(s.values) > n for s in series):
        raise ValueError("a line chart needs at least one bucket, and no series longer than the axis")
    ticks = nice_ticks(max((max(s.values, default=0) for s in series), default=0))
    scale = LineScale(box, n, ticks[-1])
    parts = [
        _svg_open(
            box, chart_id=chart_id, title=title, desc=desc, classname="onesend-chart onesend-chart--line"
        ),
        '<g class="onesend-chart__grid" aria-hidden="true">',
        *_y_grid(scale, ticks),
        *_x_axis(scale, x_tick_every, x_tick_label, x_axis_label),
        "</g>",
        '<g class="onesend-chart__legend">',
        *_legend(series, box),
        "</g>",
    ]
    for s in series:
        if s.values:
            parts.extend(_line_series(s, scale, point_label))
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_chart(
    bars: Sequence[tuple[str, int]],
    *,
    chart_id: str,
    title: str,
    desc: str,
    color: str = BAR_COLOR,
    width: int = 640,
    label_width: int = 180,
    row_height: int = 30,
) -> SafeString:
    """Horizontal bars, one row per ``(label, value)``, value written at the end of each bar."""
    box = Box(
        width=width, height=max(1, len(bars)) * row_height + 16, left=label_width, right=64, top=8, bottom=8
    )
    largest = max((v for _, v in bars), default=0) or 1
    parts = [
        _svg_open(
            box, chart_id=chart_id, title=title, desc=desc, classname="onesend-chart onesend-chart--bars"
        )
    ]
    for i, (label, value) in enumerate(bars):
        top = box.top + i * row_height
        bar_width = value / largest * box.plot_width
        shown = label if len(label) <= 26 else label[:25] + "…"
        parts.append(
            format_html(
                '<g data-bar="{i}"><text x="{lx}" y="{ty}" text-anchor="end" fill="currentColor">{shown}</text>'
                '<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="2" fill="{color}" data-value="{value}">'
                "<title>{label}: {pretty}</title></rect>"
                '<text x="{vx}" y="{ty}" fill="currentColor">{pretty}</text></g>',
                i=i,
                lx=box.left - 10,
                ty=_num(top + row_height / 2 + 4),
                shown=shown,
                x=box.left,
                y=_num(top + 4),
                bw=_num(max(bar_width, 1 if value else 0)),
                bh=row_height - 8,
                color=color,
                value=value,
                label=label,
                pretty=f"{value:,}",
                vx=_num(box.left + bar_width + 6),
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def column_sparkline(
    columns: Sequence[tuple[str, int]],
    *,
    chart_id: str,
    title: str,
    desc: str,
    unit: str,
    color: str = BAR_COLOR,
    width: int = 360,
    height: int = 72,
) -> SafeString:
    """A small column chart (e.g. one column per day), its maximum written at the top left."""
    box = Box(width=width, height=height, left=2, right=2, top=16, bottom=4)
    largest = max((v for _, v in columns), default=0)
    step = box.plot_width / max(1, len(columns))
    parts = [
        _svg_open(
            box, chart_id=chart_id, title=title, desc=desc, classname="onesend-chart onesend-chart--sparkline"
        ),
        format_html(
            '<text x="{}" y="11" font-size="11" fill="currentColor" fill-opacity="0.75" aria-hidden="true">'
            "{}</text>",
            box.left,
            f"max {largest:,}",
        ),
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-opacity="0.4" aria-hidden="true"/>',
            box.left,
            box.width - box.right,
            _num(box.baseline + 0.5),
            _num(box.baseline + 0.5),
        ),
    ]
    for i, (label, value) in enumerate(columns):
        bar_height = value / largest * box.plot_height if largest else 0
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-value="{}"><title>{}: {} {}</title></rect>',
                _num(box.left + i * step + 1),
                _num(box.baseline - bar_height),
                _num(max(step - 2, 1)),
                _num(bar_height),
                color,
                value,
                label,
                f"{value:,}",
                unit,
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
