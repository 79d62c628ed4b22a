"""Disk-full forecasts: a least-squares line through each volume's free space.

Modelled on Prometheus node-exporter's ``NodeFilesystemSpaceFillingUp`` rules
(``predict_linear`` over the recent free space, alerting only when the volume is
also below a free-space level): the fit here runs over the 15-minute rollups'
``free_avg`` of the last ``window`` (default 24 h, at least ``MIN_SPAN`` = 6 h of
history), and the line's zero is ``forecast_full_at``. No forecast is stored when the
history is shorter than 6 h, free space is not shrinking, or the fit is poor
(r² < 0.8: a volume whose usage swings with temporary files is not "filling up").
The alert itself (disk_forecast check in evaluate.py) fires only when the forecast
says full within the horizon (72 h warning, 24 h critical) *and* free space is below
15 % / 10 %.

Speed: all volumes are fitted with one aggregate query (COUNT, SUM(t), SUM(y),
SUM(t·t), SUM(t·y), SUM(y·y) GROUP BY volume) — the sums are all the normal
equations need — and written back in bulk (executemany on SQLite, UPDATE … FROM
unnest() on PostgreSQL). t is in hours from the window's start and y in GiB, so the
squares stay well inside a double's precision and SQLite's integer sums never
overflow.

Other growth forecasts: memory is not forecast. Memory use is dominated by caches
and process lifetimes; it does not grow linearly towards a limit the way a disk
fills, and a line through it would raise false alarms (the sustained-memory check is
the sound signal). Swap and load likewise. Disk free space is the one metric here
where a linear trend means something.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from atalaya.monitoring.models import Volume, VolumeRollup

DEFAULT_WINDOW = timedelta(hours=24)
MIN_SPAN = timedelta(hours=6)
MIN_POINTS = 6
MIN_R2 = 0.8
# Beyond this the line says nothing useful ("full in 40 years").
MAX_HORIZON = timedelta(days=3650)
GIB = 1024.0**3
WRITE_BATCH = 20_000


@dataclass(frozen=True)
class Fit:
    """One volume's line: free GiB = intercept + slope · hours since the window's start."""

    n: int
    slope_gib_h: float
    intercept_gib: float
    r2: float | None
    span_h: float


def fit(
    n: int, sx: float, sy: float, sxx: float, sxy: float, syy: float, span_h: float
) -> Fit | None:
    """The least-squares line from the sums, or None when x does not vary."""
    dx = n * sxx - sx * sx
    if n < 2 or dx <= 1e-12:
        return None
    slope = (n * sxy - sx * sy) / dx
    intercept = (sy - slope * sx) / n
    dy = n * syy - sy * sy
    # A flat series has no variance to explain: no r² (and no forecast, slope is ~0).
    r2 = None if dy <= 1e-12 * max(1.0, n * syy) else min(1.0, (n * sxy - sx * sy) ** 2 / (dx * dy))
    return Fit(n=n, slope_gib_h=slope, intercept_gib=intercept, r2=r2, span_h=span_h)


def full_at(line: Fit, start: datetime, last: datetime) -> datetime | None:
    """Where the line reaches zero free space, if it is shrinking and fits well."""
    if line.slope_gib_h >= 0 or line.r2 is None or line.r2 < MIN_R2:
        return None
    hours = -line.intercept_gib / line.slope_gib_h
    moment = start + timedelta(hours=hours)
    if moment - last > MAX_HORIZON:
        return None
    return max(moment, last)


@dataclass
class ForecastReport:
    volumes: int = 0
    forecasts: int = 0
    cleared: int = 0
    query_s: float = 0.0
    fit_s: float = 0.0
    write_s: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _aggregate_sql(table: str, origin: int) -> str:
    # The origin is an int we computed, inlined so x is one expression SQLite and
    # PostgreSQL can reuse; the bounds stay parameters.
    x = f"((bucket - {int(origin)}) / 3600.0)"
    y = f"(free_avg / {GIB!r})"
    return (
        f"SELECT volume_id, COUNT(*), SUM({x}), SUM({y}), SUM({x} * {x}),"  # noqa: S608
        f" SUM({x} * {y}), SUM({y} * {y}), MIN(bucket), MAX(bucket)"
        f" FROM {table} WHERE bucket >= %s AND bucket <= %s GROUP BY volume_id"
    )


def _write(
    rows: list[tuple[int, datetime | None, float | None, float | None]], now: datetime
) -> None:
    table = connection.ops.quote_name(Volume._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for i in range(0, len(rows), WRITE_BATCH):
                batch = rows[i : i + WRITE_BATCH]
                cursor.execute(
                    f"UPDATE {table} AS v SET forecast_full_at = u.full_at,"  # noqa: S608
                    " forecast_slope = u.slope, forecast_r2 = u.r2, forecast_computed_at = %s"
                    " FROM (SELECT unnest(%s::bigint[]) AS id,"
                    " unnest(%s::timestamptz[]) AS full_at, unnest(%s::float8[]) AS slope,"
                    " unnest(%s::float8[]) AS r2) AS u WHERE v.id = u.id",
                    [
                        now,
                        [r[0] for r in batch],
                        [r[1] for r in batch],
                        [r[2] for r in batch],
                        [r[3] for r in batch],
                    ],
                )
        else:
            adapt = connection.ops.adapt_datetimefield_value
            stamp = adapt(now)
            cursor.executemany(
                f"UPDATE {table} SET forecast_full_at = %s, forecast_slope = %s,"  # noqa: S608
                " forecast_r2 = %s, forecast_computed_at = %s WHERE id = %s",
                [(adapt(r[1]) if r[1] else None, r[2], r[3], stamp, r[0]) for r in rows],
            )


def recompute_forecasts(
    *, now: datetime | None = None, window: timedelta = DEFAULT_WINDOW
) -> ForecastReport:
    """Fit every volume with rollups in the window and store its forecast; clear the rest.

    ``forecast_slope`` is in bytes per hour (negative: filling up), ``forecast_r2`` the
    fit's r², ``forecast_full_at`` the line's zero when the forecast is sound.
    """
    started = time.monotonic()
    now = now or timezone.now()
    report = ForecastReport()
    now_t = int(now.timestamp())
    since_t = now_t - int(window.total_seconds())
    start = datetime.fromtimestamp(since_t, tz=UTC)
    table = connection.ops.quote_name(VolumeRollup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_aggregate_sql(table, since_t), [since_t, now_t])
        groups = cursor.fetchall()
    report.query_s = round(time.monotonic() - started, 3)
    mark = time.monotonic()
    rows: list[tuple[int, datetime | None, float | None, float | None]] = []
    min_span_h = MIN_SPAN.total_seconds() / 3600
    for volume_id, n, sx, sy, sxx, sxy, syy, first, last in groups:
        # Buckets are stamped at their start; the last one covers 15 more minutes.
        span_h = (last - first) / 3600.0 + 0.25
        line = fit(int(n), sx, sy, sxx, sxy, syy, span_h) if n >= MIN_POINTS else None
        if line is None or span_h < min_span_h:
            rows.append((volume_id, None, None, None))
            continue
        last_at = datetime.fromtimestamp(last, tz=UTC)
        when = full_at(line, start, last_at)
        slope = line.slope_gib_h * GIB
        r2 = None if line.r2 is None or math.isnan(line.r2) else round(line.r2, 4)
        rows.append((volume_id, when, round(slope, 1), r2))
        report.forecasts += when is not None
    report.volumes = len(rows)
    report.fit_s = round(time.monotonic() - mark, 3)
    mark = time.monotonic()
    with transaction.atomic():
        _write(rows, now)
        report.cleared = (
            Volume.objects.filter(forecast_computed_at__lt=now)
            .exclude(forecast_slope__isnull=True, forecast_full_at__isnull=True)
            .update(
                forecast_full_at=None,
                forecast_slope=None,
                forecast_r2=None,
                forecast_computed_at=now,
            )
        )
    report.write_s = round(time.monotonic() - mark, 3)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def days_until_full(volume: Volume, now: datetime | None = None) -> float | None:
    """ "Full in about N days" for the device page: None when there is no forecast."""
    if volume.forecast_full_at is None:
        return None
    now = now or timezone.now()
    return max(0.0, (volume.forecast_full_at - now).total_seconds() / 86400)
