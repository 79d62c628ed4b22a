"""Disk-full forecasts: a least-squares line through each volume's free space.

Modelled on Prometheus node-exporter's ``NodeFilesystemSpaceFillingUp`` rules
(``predict_linear`` over the recent free space, alerting only when the volume is
also below a free-space level): the fit here runs over the 15-minute rollups'
``free_avg_mib`` of the last ``window`` (default 24 h, at least ``MIN_SPAN`` = 6 h of
history), and the line's zero is ``forecast_full_at``. No forecast is stored when the
history is shorter than 6 h, free space is not shrinking, or the fit is poor
(r² < 0.8: a volume whose usage swings with temporary files is not "filling up").
The alert itself (disk_forecast check in evaluate.py) fires only when the forecast
says full within the horizon (72 h warning, 24 h critical) *and* free space is below
15 % / 10 %.

Speed: all volumes are fitted with one aggregate query (COUNT, SUM(t), SUM(y),
SUM(t·t), SUM(t·y), SUM(y·y) GROUP BY volume) — the sums are all the normal
equations need — and written back in bulk (executemany on SQLite, UPDATE … FROM
unnest() on PostgreSQL). x counts 15-minute steps from the window's start and y is
whole MiB, integer arithmetic throughout (SQLite's cheapest, and no overflow).

Other growth forecasts: memory is not forecast. Memory use is dominated by caches
and process lifetimes; it does not grow linearly towards a limit the way a disk
fills, and a line through it would raise false alarms (the sustained-memory check is
the sound signal). Swap and load likewise. Disk free space is the one metric here
where a linear trend means something.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from atalaya.monitoring.models import Volume, VolumeRollup
from atalaya.monitoring.write_turn import write_turn

DEFAULT_WINDOW = timedelta(hours=24)
MIN_SPAN = timedelta(hours=6)
MIN_POINTS = 6
MIN_R2 = 0.8
# Beyond this the line says nothing useful ("full in 40 years").
MAX_HORIZON = timedelta(days=3650)
MIB = 1024.0**2
BUCKET_S = 900
STEPS_PER_HOUR = 3600 / BUCKET_S
WRITE_BATCH = 20_000
# About 10-20 ms of SQLite's write lock per batch.
SQLITE_WRITE_BATCH = 2_000
PARALLEL = 2


@dataclass(frozen=True)
class Fit:
    """One volume's line: free MiB = intercept + slope · 15-minute steps since the start."""

    n: int
    slope: float
    intercept: float
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
    return Fit(n=n, slope=slope, intercept=intercept, r2=r2, span_h=span_h)


def full_at(line: Fit, start: datetime, last: datetime) -> datetime | None:
    """Where the line reaches zero free space, if it is shrinking and fits well."""
    if line.slope >= 0 or line.r2 is None or line.r2 < MIN_R2:
        return None
    steps = -line.intercept / line.slope
    moment = start + timedelta(seconds=steps * BUCKET_S)
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


def _x() -> tuple[str, str]:
    # Rollups are keyed by the bucket's number and hold whole MiB (models.VolumeRollup).
    x = "(r.bucket - %(origin)s)"
    y = "r.free_avg_mib"
    return x, y


def _sums_sql(*, exact: bool, by_ids: int = 0) -> str:
    """The normal equations' sums per volume (volume ids in a range, or a list).

    Driven from the volume table so each volume's buckets are one primary-key range
    (the older days of history are never read). x is whole 15-minute steps from the
    window's start and y whole MiB: integer arithmetic is SQLite's cheapest, and the
    sums stay far below 2⁶³ (a 100 TiB volume is 10⁸ MiB; 10¹⁶ · 96 squared steps).

    The cheap form leaves out Σx and Σx²: for a series without gaps (COUNT equals the
    buckets between MIN and MAX) they follow from the first step and the count, so only
    the volumes with gaps need the ``exact`` form.
    """
    volumes = connection.ops.quote_name(Volume._meta.db_table)
    rollups = connection.ops.quote_name(VolumeRollup._meta.db_table)
    x, y = _x()
    columns = f"SUM({y}), SUM({x} * {y}), SUM({y} * {y}), MIN(r.bucket), MAX(r.bucket)"
    if exact:
        columns += f", SUM({x}), SUM({x} * {x})"
    where = (
        f"v.id IN ({', '.join(f'%(id{k})s' for k in range(by_ids))})"
        if by_ids
        else "v.id >= %(lo)s AND v.id < %(hi)s"
    )
    sql = (
        f"SELECT v.id, COUNT(*), {columns}"  # noqa: S608
        f" FROM {volumes} v JOIN {rollups} r ON r.volume_id = v.id"
        " AND r.bucket >= %(since)s AND r.bucket <= %(now)s"
        f" WHERE {where} GROUP BY v.id"
    )
    return sql


def _series_sums(n: int, first_step: int) -> tuple[int, int]:
    """Σx and Σx² of the steps first_step … first_step + n - 1."""
    sx = n * first_step + n * (n - 1) // 2
    sxx = n * first_step * first_step + first_step * n * (n - 1) + (n - 1) * n * (2 * n - 1) // 6
    return sx, sxx


def _aggregate(origin: int, since_t: int, now_t: int) -> list[tuple[Any, ...]]:
    """Every volume's (id, n, Σx, Σy, Σx², Σxy, Σy², first, last).

    SQLite runs one query per core on its own connection (the module releases the GIL
    while SQLite steps), then the exact query for the few volumes whose series has gaps.
    """
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(Volume._meta.db_table)
        cursor.execute(f"SELECT MIN(id), MAX(id) FROM {table}")  # noqa: S608
        lo, hi = cursor.fetchone()
    if lo is None:
        return []
    # In bucket numbers: the buckets starting within [since_t, now_t].
    bounds = {
        "origin": origin // BUCKET_S,
        "since": -(-since_t // BUCKET_S),
        "now": now_t // BUCKET_S,
    }
    parts = (
        PARALLEL
        if (
            connection.vendor == "sqlite"
            and _is_file_db()
            and not connection.in_atomic_block
            and hi - lo > 50_000
        )
        else 1
    )
    step = (hi - lo) // parts + 1
    ranges = [(lo + i * step, min(hi + 1, lo + (i + 1) * step)) for i in range(parts)]
    cheap = _sums_sql(exact=False)

    def run(span: tuple[int, int]) -> list[tuple[Any, ...]]:
        from django.db import connections

        try:
            with connection.cursor() as cursor:
                cursor.execute(cheap, {**bounds, "lo": span[0], "hi": span[1]})
                return cursor.fetchall()
        finally:
            if parts > 1:
                connections.close_all()

    if parts == 1:
        partial = run(ranges[0])
    else:
        with ThreadPoolExecutor(max_workers=parts) as pool:
            partial = [row for chunk in pool.map(run, ranges) for row in chunk]
    out: list[tuple[Any, ...]] = []
    gapped: list[int] = []
    origin_b = bounds["origin"]
    for volume_id, n, sy, sxy, syy, first, last in partial:
        if n != last - first + 1:
            gapped.append(volume_id)
            continue
        sx, sxx = _series_sums(int(n), first - origin_b)
        out.append((volume_id, n, sx, sy, sxx, sxy, syy, first * BUCKET_S, last * BUCKET_S))
    with connection.cursor() as cursor:
        for i in range(0, len(gapped), 500):
            ids = gapped[i : i + 500]
            ids_by_name = {f"id{k}": volume_id for k, volume_id in enumerate(ids)}
            cursor.execute(_sums_sql(exact=True, by_ids=len(ids)), {**bounds, **ids_by_name})
            for volume_id, n, sy, sxy, syy, first, last, sx, sxx in cursor.fetchall():
                out.append((volume_id, n, sx, sy, sxx, sxy, syy, first * BUCKET_S, last * BUCKET_S))
    return out


def _is_file_db() -> bool:
    name = str(connection.settings_dict.get("NAME") or "")
    return bool(name) and ":memory:" not in name and "mode=memory" not in name


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
            sql = (
                f"UPDATE {table} SET forecast_full_at = %s, forecast_slope = %s,"  # noqa: S608
                " forecast_r2 = %s, forecast_computed_at = %s WHERE id = %s"
            )
            # In batches, each its own transaction taking turns with the check-in
            # writers: 300,000 updates at once would hold SQLite's lock for seconds.
            for i in range(0, len(rows), SQLITE_WRITE_BATCH):
                batch = rows[i : i + SQLITE_WRITE_BATCH]
                with write_turn(), transaction.atomic():
                    cursor.executemany(
                        sql,
                        [(adapt(r[1]) if r[1] else None, r[2], r[3], stamp, r[0]) for r in batch],
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
    # x counts whole buckets from a bucket boundary, so integer division is exact.
    origin = since_t // BUCKET_S * BUCKET_S
    start = datetime.fromtimestamp(origin, tz=UTC)
    if connection.vendor == "postgresql":
        _recompute_in_postgresql(now, origin, since_t, now_t, report)
        report.seconds = round(time.monotonic() - started, 3)
        return report
    groups = _aggregate(origin, since_t, now_t)
    report.query_s = round(time.monotonic() - started, 3)
    mark = time.monotonic()
    rows: list[tuple[int, datetime | None, float | None, float | None]] = []
    min_span_h = MIN_SPAN.total_seconds() / 3600
    for volume_id, n, sx, sy, sxx, sxy, syy, first, last in groups:
        # Buckets are stamped at their start; the last one covers 15 more minutes.
        span_h = (last - first) / 3600.0 + 0.25
        line = (
            fit(int(n), float(sx), float(sy), float(sxx), float(sxy), float(syy), span_h)
            if n >= MIN_POINTS
            else None
        )
        if line is None or span_h < min_span_h:
            rows.append((volume_id, None, None, None))
            continue
        last_at = datetime.fromtimestamp(last, tz=UTC)
        when = full_at(line, start, last_at)
        slope = line.slope * STEPS_PER_HOUR * MIB
        r2 = None if line.r2 is None or math.isnan(line.r2) else round(line.r2, 4)
        rows.append((volume_id, when, round(slope, 1), r2))
        report.forecasts += when is not None
    report.volumes = len(rows)
    report.fit_s = round(time.monotonic() - mark, 3)
    mark = time.monotonic()
    # Each volume's row stands alone: the writes go in batches of their own (see
    # _write) rather than one transaction that would hold SQLite's lock throughout.
    _write(rows, now)
    with write_turn(), transaction.atomic():
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


def _recompute_in_postgresql(
    now: datetime, origin: int, since_t: int, now_t: int, report: ForecastReport
) -> None:
    """The same fit as one UPDATE … FROM (aggregate) inside PostgreSQL.

    ``regr_slope``, ``regr_intercept`` and ``regr_r2`` are PostgreSQL's least-squares
    aggregates over the very sums above (COUNT, Σx, Σy, Σx², Σxy, Σy²); aggregates with
    the same inputs share one transition state, so each row is accumulated once, and
    the parallel workers each aggregate a part of the table. Values are rounded (slope
    to 1 KiB/h, r² to 0.001, the full time to the minute) and only rows whose forecast
    changed are written, which spares most of the 300,000 row versions a run would
    otherwise leave behind.
    """
    started = time.monotonic()
    volumes = connection.ops.quote_name(Volume._meta.db_table)
    rollups = connection.ops.quote_name(VolumeRollup._meta.db_table)
    min_span_s = int(MIN_SPAN.total_seconds())
    horizon_s = int(MAX_HORIZON.total_seconds())
    sound = f"n >= {MIN_POINTS} AND t1 - t0 + {BUCKET_S} >= {min_span_s}"
    zero_t = f"{origin} + (-a / b) * {BUCKET_S}"
    fits = (
        "SELECT volume_id, regr_count(y, x) AS n, regr_slope(y, x) AS b,"  # noqa: S608
        " regr_intercept(y, x) AS a, regr_r2(y, x) AS r2,"
        f" MIN(bucket)::bigint * {BUCKET_S} AS t0, MAX(bucket)::bigint * {BUCKET_S} AS t1"
        f" FROM (SELECT volume_id, bucket, (bucket - {origin // BUCKET_S})::float8 AS x,"
        f" free_avg_mib::float8 AS y FROM {rollups}"
        " WHERE bucket >= %(since)s AND bucket <= %(now)s) AS points GROUP BY volume_id"
    )
    forecasts = (
        f"SELECT volume_id,"  # noqa: S608
        f" CASE WHEN {sound} THEN round((b * {STEPS_PER_HOUR} * {MIB})::numeric, -3)::float8"
        " END AS slope,"
        f" CASE WHEN {sound} THEN round(r2::numeric, 3)::float8 END AS r2,"
        f" CASE WHEN {sound} AND b < 0 AND r2 >= {MIN_R2} AND {zero_t} - t1 <= {horizon_s}"
        f" THEN date_trunc('minute', to_timestamp(GREATEST(t1::float8, {zero_t})))"
        " END AS full_at"
        f" FROM ({fits}) AS fits"
    )
    params: dict[str, Any] = {
        "since": -(-since_t // BUCKET_S),
        "now": now_t // BUCKET_S,
        "stamp": now,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # The hash aggregate of 300,000 groups wants ~30 MB per worker, not 4 MB.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # A statement that writes never runs in parallel in PostgreSQL; CREATE TABLE AS
        # does. So the fits land in a temporary table first, then two plain UPDATEs.
        cursor.execute(
            f"CREATE TEMPORARY TABLE forecast_fits ON COMMIT DROP AS {forecasts}", params
        )
        report.query_s = round(time.monotonic() - started, 3)
        mark = time.monotonic()
        cursor.execute(
            f"UPDATE {volumes} AS v SET forecast_full_at = f.full_at,"  # noqa: S608
            " forecast_slope = f.slope, forecast_r2 = f.r2, forecast_computed_at = %(stamp)s"
            " FROM forecast_fits AS f WHERE v.id = f.volume_id"
            " AND (v.forecast_full_at IS DISTINCT FROM f.full_at"
            " OR v.forecast_slope IS DISTINCT FROM f.slope"
            " OR v.forecast_r2 IS DISTINCT FROM f.r2 OR v.forecast_computed_at IS NULL)",
            params,
        )
        report.volumes = max(cursor.rowcount, 0)
        cursor.execute(
            f"UPDATE {volumes} AS v SET forecast_full_at = NULL, forecast_slope = NULL,"  # noqa: S608
            " forecast_r2 = NULL, forecast_computed_at = %(stamp)s"
            " WHERE (v.forecast_slope IS NOT NULL OR v.forecast_full_at IS NOT NULL"
            " OR v.forecast_r2 IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM forecast_fits AS f WHERE f.volume_id = v.id)",
            params,
        )
        report.cleared = max(cursor.rowcount, 0)
        report.write_s = round(time.monotonic() - mark, 3)
        cursor.execute(f"SELECT COUNT(*) FROM {volumes} WHERE forecast_full_at IS NOT NULL")  # noqa: S608
        report.forecasts = int(cursor.fetchone()[0])
        cursor.execute("DROP TABLE forecast_fits")


def days_until_full(volume: Volume, now: datetime | None = None) -> float | None:
    """ "Full in about N days" for the device page: None when there is no forecast."""
    if volume.forecast_full_at is None:
        return None
    now = now or timezone.now()
    return max(0.0, (volume.forecast_full_at - now).total_seconds() / 86400)
