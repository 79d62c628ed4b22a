"""Server-side SVG charts: pure functions from numbers and labels to an SVG string.

The same markup is inlined in HTML pages and, later, in WeasyPrint PDF reports, so it
uses no JavaScript, no external files and no CSS classes for its looks: colours, fonts
and sizes are presentation attributes, which both browsers and WeasyPrint honour. All
text (titles, labels, legend entries) is XML-escaped here and characters that XML
cannot carry are dropped, so callers may pass user-entered names as they are. Every
chart is an ``<svg role="img">`` labelled by its own ``<title>`` and ``<desc>``; pages
should still show the numbers in a table for screen readers and for copying.

The functions return :class:`Svg`, a ``str`` that Django templates print without
escaping it again (it has ``__html__``), so no ``|safe`` is ever needed.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Okabe–Ito and Tableau-like hues that stay apart for colour-blind readers and in greyscale print.
PALETTE: tuple[str, ...] = (
    "#0b5fad",
    "#e66100",
    "#1a9850",
    "#b42318",
    "#7a4fbf",
    "#8c564b",
    "#d6328a",
    "#5b6575",
    "#b5a300",
    "#00a3b4",
)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
TEXT_COLOUR = "#1d2430"
MUTED_COLOUR = "#5b6575"
GRID_COLOUR = "#dde1e7"
FONT_SIZE = 12
# A rough average glyph width at FONT_SIZE; SVG cannot measure text, so layout estimates.
CHAR_WIDTH = 6.6
LEGEND_MAX_CHARS = 32

# Characters XML 1.0 forbids even when escaped; they would make the document ill-formed.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class Svg(str):
    """SVG markup whose text is already escaped; Django templates render it as is."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a name for the legend and one value per x label."""

    name: str
    values: Sequence[float]
    colour: str | None = None


def escape(text: object) -> str:
    """Text made safe for XML content and attribute values (quotes included)."""
    value = _XML_INVALID.sub("", str(text))
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def _num(value: float) -> str:
    """A coordinate with at most one decimal, so the markup stays short and stable."""
    rounded = round(float(value), 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def default_format(value: float) -> str:
    """Integers without decimals, other numbers with at most two significant decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least ``maximum`` (steps of 1, 2, 2.5 or 5 × 10ⁿ)."""
    if not math.isfinite(maximum) or maximum <= 1e-12:
        # Nothing (or float dust) to show: a 0–1 axis.
        maximum = 1.0
    raw = maximum / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if maximum >= 1 and step < 1:
        step = 1.0
    top = math.ceil(maximum / step - 1e-9) * step
    # Twelve significant digits drop float noise (0.30000000000000004) at any magnitude.
    return [float(f"{i * step:.12g}") for i in range(int(round(top / step)) + 1)]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chart_id(chart_id: str | None, *parts: object) -> str:
    if chart_id:
        return re.sub(r"[^A-Za-z0-9_-]", "-", chart_id)
    # Deterministic, so the same chart renders byte-identically (tests, PDF caching).
    digest = hashlib.sha1("\x1f".join(map(str, parts)).encode(), usedforsecurity=False)
    return "chart-" + digest.hexdigest()[:10]


def _open_svg(cid: str, width: int, height: int, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'font-family="{escape(FONT)}" font-size="{FONT_SIZE}" fill="{TEXT_COLOUR}">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description or title)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _legend(
    series: Sequence[Series], colours: Sequence[str], *, left: float, top: float, width: float
) -> tuple[list[str], float]:
    """Legend entries laid out in rows; returns the markup and the height it takes."""
    parts: list[str] = ['<g class="legend">']
    x, y, row_height = left, top, FONT_SIZE + 8
    for item, colour in zip(series, colours, strict=True):
        label = _truncate(item.name, LEGEND_MAX_CHARS)
        entry_width = 18 + len(label) * CHAR_WIDTH + 16
        if x > left and x + entry_width > left + width:
            x, y = left, y + row_height
        parts.append(
            f"<g><title>{escape(item.name)}</title>"
            f'<rect x="{_num(x)}" y="{_num(y + 2)}" width="12" height="12" rx="2" '
            f'fill="{escape(colour)}"/>'
            f'<text x="{_num(x + 17)}" y="{_num(y + 12)}">{escape(label)}</text></g>'
        )
        x += entry_width
    parts.append("</g>")
    return parts, (y - top) + row_height if series else 0.0


def line_chart(
    series: Sequence[Series],
    x_labels: Sequence[str],
    *,
    title: str,
    description: str = "",
    width: int = 760,
    height: int = 320,
    y_label: str = "",
    empty_text: str = "No data",
    value_format: Callable[[float], str] = default_format,
    chart_id: str | None = None,
) -> Svg:
    """A line chart of several series over shared x labels (days, weeks…), with a legend.

    ``height`` is the plot's own height; the legend adds rows below it as needed. Every
    series must have one value per x label. Only every n-th x label is printed when
    they would overlap; points get markers when there are few enough to tell apart.
    """
    for item in series:
        if len(item.values) != len(x_labels):
            raise ValueError(
                f"series {item.name!r} has {len(item.values)} values for {len(x_labels)} labels"
            )
    cid = _chart_id(chart_id, "line", title, *x_labels, *(s.name for s in series))
    colours = [s.colour or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    maximum = max((float(v) for s in series for v in s.values), default=0.0)
    ticks = nice_ticks(maximum)
    tick_width = max(len(value_format(t)) for t in ticks) * CHAR_WIDTH
    left = 14 + tick_width + (FONT_SIZE + 6 if y_label else 0)
    longest = max((len(label) for label in x_labels), default=0) * CHAR_WIDTH + 10
    # Room for half of the last x label, which is centred on the right edge of the plot.
    right, top, plot_bottom = max(16.0, longest / 2), 14.0, float(height) - 34
    plot_width, plot_height = width - left - right, plot_bottom - top
    legend, legend_height = _legend(series, colours, left=left, top=height + 4, width=plot_width)
    total_height = int(math.ceil(height + legend_height + (8 if series else 0)))

    parts = _open_svg(cid, width, total_height, title, description)
    n = len(x_labels)

    def x_at(i: int) -> float:
        return left + (plot_width / 2 if n == 1 else plot_width * i / (n - 1))

    def y_at(value: float) -> float:
        return plot_bottom - plot_height * float(value) / ticks[-1]

    parts.append('<g class="grid">')
    for tick in ticks:
        y = y_at(tick)
        parts.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + plot_width)}" y2="{_num(y)}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
            f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" text-anchor="end" fill="{MUTED_COLOUR}">'
            f"{escape(value_format(tick))}</text>"
        )
    parts.append("</g>")
    if y_label:
        middle = top + plot_height / 2
        parts.append(
            f'<text x="{FONT_SIZE}" y="{_num(middle)}" text-anchor="middle" fill="{MUTED_COLOUR}" '
            f'transform="rotate(-90 {FONT_SIZE} {_num(middle)})">{escape(y_label)}</text>'
        )
    if n:
        step = max(1, math.ceil(n / max(1, int(plot_width // longest))))
        parts.append(f'<g class="x-axis" fill="{MUTED_COLOUR}" text-anchor="middle">')
        # Label from the last point backwards so the most recent day is always named.
        for i in range(n - 1, -1, -step):
            if i != n - 1 and x_at(i) - len(x_labels[i]) * CHAR_WIDTH / 2 < 0:
                break  # would run off the left edge
            parts.append(
                f'<text x="{_num(x_at(i))}" y="{_num(plot_bottom + 18)}">'
                f"{escape(x_labels[i])}</text>"
            )
        parts.append("</g>")
    parts.append(
        f'<line x1="{_num(left)}" y1="{_num(plot_bottom)}" x2="{_num(left + plot_width)}" '
        f'y2="{_num(plot_bottom)}" stroke="{MUTED_COLOUR}" stroke-width="1"/>'
    )
    if not series or n == 0:
        parts.append(
            f'<text x="{_num(left + plot_width / 2)}" y="{_num(top + plot_height / 2)}" '
            f'text-anchor="middle" fill="{MUTED_COLOUR}">{escape(empty_text)}</text>'
        )
    markers = n <= 40
    for item, colour in zip(series, colours, strict=True):
        points = " ".join(f"{_num(x_at(i))},{_num(y_at(v))}" for i, v in enumerate(item.values))
        parts.append(f'<g class="series"><title>{escape(item.name)}</title>')
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{escape(colour)}" stroke-width="2" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
        )
        if markers:
            for i, v in enumerate(item.values):
                parts.append(
                    f'<circle cx="{_num(x_at(i))}" cy="{_num(y_at(v))}" r="2.5" '
                    f'fill="{escape(colour)}"><title>{escape(item.name)}, {escape(x_labels[i])}: '
                    f"{escape(value_format(v))}</title>"
                    "</circle>"
                )
        parts.append("</g>")
    parts.extend(legend)
    parts.append("</svg>")
    return Svg("".join(parts))


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    description: str = "",
    width: int = 760,
    bar_height: int = 20,
    colour: str = PALETTE[0],
    colours: Sequence[str] | None = None,
    empty_text: str = "No data",
    value_format: Callable[[float], str] = default_format,
    chart_id: str | None = None,
) -> Svg:
    """A horizontal bar chart: one labelled bar per value, the value printed at its end.

    Horizontal bars leave room for long labels (client, category, technician names).
    The height follows from the number of bars; ``colours`` may give each bar its own.
    """
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} values")
    if colours is not None and len(colours) != len(values):
        raise ValueError(f"{len(colours)} colours for {len(values)} values")
    cid = _chart_id(chart_id, "bar", title, *labels)
    shown = [_truncate(str(label), 40) for label in labels]
    label_width = min(max((len(s) for s in shown), default=0) * CHAR_WIDTH + 12, width * 0.45)
    maximum = max((float(v) for v in values), default=0.0)
    value_width = max((len(value_format(v)) for v in values), default=1) * CHAR_WIDTH + 10
    left, top, gap = label_width, 8.0, 6
    plot_width = width - left - value_width - 8
    height = int(top * 2 + max(len(values), 1) * (bar_height + gap))
    scale = plot_width / maximum if maximum > 0 else 0.0

    parts = _open_svg(cid, width, height, title, description)
    if not values:
        parts.append(
            f'<text x="{_num(width / 2)}" y="{_num(height / 2 + 4)}" text-anchor="middle" '
            f'fill="{MUTED_COLOUR}">{escape(empty_text)}</text>'
        )
    for i, (label, short, value) in enumerate(zip(labels, shown, values, strict=True)):
        y = top + i * (bar_height + gap)
        baseline = y + bar_height / 2 + 4
        length = max(float(value), 0.0) * scale
        fill = colours[i] if colours is not None else colour
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {escape(value_format(value))}</title>'
            f'<text x="{_num(left - 8)}" y="{_num(baseline)}" text-anchor="end">'
            f"{escape(short)}</text>"
            f'<rect x="{_num(left)}" y="{_num(y)}" width="{_num(length)}" height="{bar_height}" '
            f'rx="2" fill="{escape(fill)}"/>'
            f'<text x="{_num(left + length + 6)}" y="{_num(baseline)}" fill="{MUTED_COLOUR}">'
            f"{escape(value_format(value))}</text></g>"
        )
    parts.append(
        f'<line x1="{_num(left)}" y1="{_num(top - 2)}" x2="{_num(left)}" '
        f'y2="{_num(height - top + 2)}" '
        f'stroke="{MUTED_COLOUR}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return Svg("".join(parts))
