"""Metric charts of the device page: time series over real time, with gaps and a forecast.

core.charts draws series over shared labels; metrics need a time axis instead (samples
arrive irregularly, a device that was off leaves a gap) and the disk chart a dashed
forecast line that runs past now to the day the disk is full. The markup follows
core.charts: inline SVG with presentation attributes, escaped text, a title and desc.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from atalaya.core.charts import (
    GRID_COLOUR,
    MUTED_COLOUR,
    PALETTE,
    Svg,
    _chart_id,
    _num,
    _open_svg,
    default_format,
    escape,
    nice_ticks,
)

# At most this many points per line: a 30-day chart of 15-minute rollups is 2,880.
MAX_POINTS = 600


@dataclass(frozen=True)
class TimeSeries:
    """One line: (epoch second, value) points, oldest first; ``None`` values are gaps."""

    name: str
    points: Sequence[tuple[int, float | None]]
    colour: str | None = None
    dashed: bool = False
    # A drawn line (a forecast) rather than measurements: never broken at gaps.
    is_projection: bool = False


def thin(
    points: Sequence[tuple[int, float | None]], limit: int = MAX_POINTS
) -> list[tuple[int, float | None]]:
    """Average consecutive points down to ``limit``, keeping gaps as gaps."""
    if len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / limit)
    out: list[tuple[int, float | None]] = []
    for i in range(0, len(points), size):
        chunk = points[i : i + size]
        values = [v for _t, v in chunk if v is not None]
        out.append((chunk[len(chunk) // 2][0], sum(values) / len(values) if values else None))
    return out


def _segments(
    points: Sequence[tuple[int, float | None]], gap_s: int
) -> list[list[tuple[int, float]]]:
    """Runs of points without gaps: a missing value or a long silence breaks the line."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    last_t: int | None = None
    for t, v in points:
        if v is None or (last_t is not None and gap_s and t - last_t > gap_s):
            if current:
                runs.append(current)
            current = []
        if v is not None:
            current.append((t, float(v)))
        last_t = t
    if current:
        runs.append(current)
    return runs


def time_chart(
    series: Sequence[TimeSeries],
    *,
    start: int,
    end: int,
    title: str,
    description: str = "",
    tz: tzinfo = UTC,
    width: int = 760,
    height: int = 240,
    y_max: float | None = None,
    gap_s: int = 0,
    value_format: Callable[[float], str] = default_format,
    empty_text: str = "No data",
    now: int | None = None,
    chart_id: str | None = None,
) -> Svg:
    """Lines over real time from ``start`` to ``end`` (epoch seconds), labelled in ``tz``.

    ``y_max`` fixes the scale (100 for percentages); otherwise it follows the data.
    ``gap_s`` breaks a line where two points are further apart than that. ``now`` draws
    a vertical marker (where history ends and a forecast begins).
    """
    end = max(end, start + 1)
    cid = _chart_id(chart_id, "time", title, start, end, *(s.name for s in series))
    values = [v for s in series for _t, v in s.points if v is not None and start <= _t <= end]
    maximum = y_max if y_max is not None else max(values, default=0.0)
    ticks = nice_ticks(maximum)
    tick_width = max(len(value_format(t)) for t in ticks) * 6.6
    left, right, top, bottom = 14 + tick_width, 16.0, 12.0, float(height) - 40
    plot_width, plot_height = width - left - right, bottom - top
    legend_y = height - 10

    def x_at(t: float) -> float:
        return left + plot_width * (t - start) / (end - start)

    def y_at(v: float) -> float:
        return bottom - plot_height * min(max(v, 0.0), ticks[-1]) / ticks[-1]

    parts = _open_svg(cid, width, height, title, description)
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
    # Time labels: about six, at round hours or days depending on the span.
    span = end - start
    steps = (3600, 2 * 3600, 4 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
    step = next((s for s in steps if span / s <= 8), 14 * 86400)
    fmt = "%H:%M" if step < 86400 else "%d %b"
    first = start - start % step + step
    parts.append(f'<g class="x-axis" fill="{MUTED_COLOUR}" text-anchor="middle">')
    for t in range(first, end, step):
        x = x_at(t)
        label = datetime.fromtimestamp(t, tz=UTC).astimezone(tz).strftime(fmt)
        parts.append(
            f'<line x1="{_num(x)}" y1="{_num(bottom)}" x2="{_num(x)}" y2="{_num(bottom + 4)}" '
            f'stroke="{MUTED_COLOUR}"/><text x="{_num(x)}" y="{_num(bottom + 17)}">'
            f"{escape(label)}</text>"
        )
    parts.append("</g>")
    parts.append(
        f'<line x1="{_num(left)}" y1="{_num(bottom)}" x2="{_num(left + plot_width)}" '
        f'y2="{_num(bottom)}" stroke="{MUTED_COLOUR}" stroke-width="1"/>'
    )
    if now is not None and start < now < end:
        parts.append(
            f'<line x1="{_num(x_at(now))}" y1="{_num(top)}" x2="{_num(x_at(now))}" '
            f'y2="{_num(bottom)}" stroke="{MUTED_COLOUR}" stroke-width="1" '
            'stroke-dasharray="2 3"/>'
        )
    if not values:
        parts.append(
            f'<text x="{_num(left + plot_width / 2)}" y="{_num(top + plot_height / 2)}" '
            f'text-anchor="middle" fill="{MUTED_COLOUR}">{escape(empty_text)}</text>'
        )
    x = left
    for i, item in enumerate(series):
        colour = item.colour or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 4"' if item.dashed else ""
        parts.append(f'<g class="series"><title>{escape(item.name)}</title>')
        inside = [(t, v) for t, v in item.points if start <= t <= end]
        for run in _segments(thin(inside), 0 if item.is_projection else gap_s):
            if len(run) == 1:
                t, v = run[0]
                parts.append(
                    f'<circle cx="{_num(x_at(t))}" cy="{_num(y_at(v))}" r="2" '
                    f'fill="{escape(colour)}"/>'
                )
                continue
            points = " ".join(f"{_num(x_at(t))},{_num(y_at(v))}" for t, v in run)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{escape(colour)}" '
                f'stroke-width="1.6" stroke-linejoin="round"{dash}/>'
            )
        parts.append("</g>")
        label = item.name[:40]
        parts.append(
            f'<g><rect x="{_num(x)}" y="{_num(legend_y - 10)}" width="12" height="4" '
            f'fill="{escape(colour)}"/><text x="{_num(x + 17)}" y="{_num(legend_y)}">'
            f"{escape(label)}</text></g>"
        )
        x += 17 + len(label) * 6.6 + 18
    parts.append("</svg>")
    return Svg("".join(parts))
