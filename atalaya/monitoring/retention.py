"""Metric history: 15-minute rollups of the raw samples, retention, and what it costs on disk.

Rollups are computed from the raw samples with one ``INSERT … SELECT … GROUP BY``
per chunk of devices (volumes) and bucket range, upserting on the rollup's key: a
re-run recomputes the same buckets from the same raw rows, so running twice, or
re-running after a spooled replay added late samples to a recent bucket, is safe.
Each run rolls the last ``LOOKBACK_BUCKETS`` completed buckets, which picks up the
samples that arrive late within that time; ``rollup(start=…, end=…)`` re-rolls any
older span (raw samples are kept ``METRICS_RAW_HOURS``).

Statements are driven by the primary keys ((device, t) and (volume, t)): a chunk of
device ids plus a time range is an index range per device, so the work is
proportional to the rows rolled or deleted, never to the whole table. Deletes go in
bounded batches (a chunk of ids per statement, each in its own transaction, taking
turns with the agent API's writers: monitoring/write_turn.py) so that SQLite's single
writer is never held for long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from atalaya.monitoring.models import (
    Device,
    MetricRollup,
    MetricSample,
    Volume,
    VolumeRollup,
    VolumeSample,
)
from atalaya.monitoring.write_turn import write_turn

BUCKET_S = 900
MIB = 1024 * 1024
LOOKBACK_BUCKETS = 2
# Ids per statement: small enough that each transaction holds SQLite's write turn
# for tens of milliseconds, so check-ins are stored between two chunks.
ID_CHUNK = 250


@dataclass
class RetentionReport:
    metric_rollups: int = 0
    volume_rollups: int = 0
    raw_deleted: int = 0
    rollups_deleted: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _chunks(model: type[Device] | type[Volume]) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(
            model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:ID_CHUNK]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _pct(expr: str) -> str:
    # Hundredths of a percent in a smallint (see MetricRollup).
    return f"CAST(ROUND({expr} * 100) AS SMALLINT)"


def _metric_sql(n: int) -> str:
    src, dst = _q(MetricSample._meta.db_table), _q(MetricRollup._meta.db_table)
    marks = ", ".join(["%s"] * n)
    return (
        f"INSERT INTO {dst} (device_id, bucket, samples, cpu_avg_x100, cpu_max_x100,"  # noqa: S608
        " mem_avg_x100, mem_max_x100, swap_max_x100, load1_avg)"
        f" SELECT device_id, t / {BUCKET_S}, COUNT(*), {_pct('AVG(cpu_pct)')},"
        f" {_pct('MAX(cpu_pct)')}, {_pct('AVG(mem_pct)')}, {_pct('MAX(mem_pct)')},"
        f" {_pct('MAX(swap_pct)')}, AVG(load1)"
        f" FROM {src} WHERE device_id IN ({marks}) AND t >= %s AND t < %s"
        f" GROUP BY device_id, t / {BUCKET_S}"
        " ON CONFLICT (device_id, bucket) DO UPDATE SET samples = excluded.samples,"
        " cpu_avg_x100 = excluded.cpu_avg_x100, cpu_max_x100 = excluded.cpu_max_x100,"
        " mem_avg_x100 = excluded.mem_avg_x100, mem_max_x100 = excluded.mem_max_x100,"
        " swap_max_x100 = excluded.swap_max_x100, load1_avg = excluded.load1_avg"
    )


def _volume_sql(n: int) -> str:
    src, dst = _q(VolumeSample._meta.db_table), _q(VolumeRollup._meta.db_table)
    marks = ", ".join(["%s"] * n)
    # Free space in whole MiB: the average rounded, the minimum rounded down.
    return (
        f"INSERT INTO {dst} (volume_id, bucket, samples, used_pct_max_x100, free_avg_mib,"  # noqa: S608
        " free_min_mib)"
        f" SELECT volume_id, t / {BUCKET_S}, COUNT(*), {_pct('MAX(used_pct)')},"
        f" CAST(ROUND(AVG(free_bytes) / {MIB}.0) AS INTEGER),"
        f" CAST(MIN(free_bytes) / {MIB} AS INTEGER)"
        f" FROM {src} WHERE volume_id IN ({marks}) AND t >= %s AND t < %s"
        f" GROUP BY volume_id, t / {BUCKET_S}"
        " ON CONFLICT (volume_id, bucket) DO UPDATE SET samples = excluded.samples,"
        " used_pct_max_x100 = excluded.used_pct_max_x100,"
        " free_avg_mib = excluded.free_avg_mib, free_min_mib = excluded.free_min_mib"
    )


def rollup(
    *, now: datetime | None = None, start: int | None = None, end: int | None = None
) -> RetentionReport:
    """Roll the raw samples of completed 15-minute buckets into rollups (idempotent).

    By default the last ``LOOKBACK_BUCKETS`` completed buckets; ``start``/``end``
    (epoch seconds) re-roll any span still in the raw tables.
    """
    started = time.monotonic()
    now = now or timezone.now()
    report = RetentionReport()
    end = end if end is not None else (int(now.timestamp()) // BUCKET_S) * BUCKET_S
    start = start if start is not None else end - LOOKBACK_BUCKETS * BUCKET_S
    start = (start // BUCKET_S) * BUCKET_S
    for model, sql_of in ((Device, _metric_sql), (Volume, _volume_sql)):
        for ids in _chunks(model):
            with write_turn(), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql_of(len(ids)), [*ids, start, end])
                rows = max(cursor.rowcount, 0)
            if model is Device:
                report.metric_rollups += rows
            else:
                report.volume_rollups += rows
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _delete_older(
    model: type[Any], owner: type[Device] | type[Volume], column: str, key: str, cutoff: int
) -> int:
    table = _q(model._meta.db_table)
    deleted = 0
    for ids in _chunks(owner):
        marks = ", ".join(["%s"] * len(ids))
        with write_turn(), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE {key} IN ({marks}) AND {column} < %s",  # noqa: S608
                [*ids, cutoff],
            )
            deleted += max(cursor.rowcount, 0)
    return deleted


def apply_retention(*, now: datetime | None = None) -> RetentionReport:
    """Delete raw samples older than METRICS_RAW_HOURS and rollups older than
    METRICS_ROLLUP_DAYS, in bounded batches (a chunk of devices or volumes each)."""
    started = time.monotonic()
    now = now or timezone.now()
    now_t = int(now.timestamp())
    raw_cut = now_t - settings.METRICS_RAW_HOURS * 3600
    rollup_cut = now_t - settings.METRICS_ROLLUP_DAYS * 86400
    report = RetentionReport()
    report.raw_deleted += _delete_older(MetricSample, Device, "t", "device_id", raw_cut)
    report.raw_deleted += _delete_older(VolumeSample, Volume, "t", "volume_id", raw_cut)
    # Rollups are keyed by the bucket's number: those starting before the cut go.
    bucket_cut = -(-rollup_cut // BUCKET_S)
    report.rollups_deleted += _delete_older(MetricRollup, Device, "bucket", "device_id", bucket_cut)
    report.rollups_deleted += _delete_older(VolumeRollup, Volume, "bucket", "volume_id", bucket_cut)
    report.seconds = round(time.monotonic() - started, 3)
    return report


HISTORY_TABLES = (MetricSample, VolumeSample, MetricRollup, VolumeRollup)


def _table_bytes() -> dict[str, int]:
    """Bytes on disk of each history table with its indexes."""
    names = [m._meta.db_table for m in HISTORY_TABLES]
    out: dict[str, int] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name in names:
                cursor.execute("SELECT pg_total_relation_size(%s::regclass)", [name])
                out[name] = int(cursor.fetchone()[0])
        else:
            # dbstat lists every b-tree (tables and indexes) with its pages' sizes.
            cursor.execute(
                "SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s"
                " JOIN sqlite_schema m ON m.name = s.name GROUP BY m.tbl_name"
            )
            sizes = dict(cursor.fetchall())
            out = {name: int(sizes.get(name, 0)) for name in names}
    return out


def _device_days(
    model: type[Any], owner_key: str, time_key: str, step: int, unit: int = 1
) -> tuple[int, float]:
    """(rows, device-days they cover): per owner, the span of its rows (``time_key`` in
    units of ``unit`` seconds, rows ``step`` units apart)."""
    table = _q(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(span), 0) FROM (SELECT {owner_key},"  # noqa: S608
            f" COUNT(*) AS n, (MAX({time_key}) - MIN({time_key}) + {step}) * {unit} AS span"
            f" FROM {table} GROUP BY {owner_key}) AS per_owner",
        )
        owners, seconds = cursor.fetchone()
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
        rows = int(cursor.fetchone()[0])
    return rows, float(seconds or 0) / 86400


def storage_per_device_day(*, sample_interval_s: int = 60) -> dict[str, Any]:
    """Average stored bytes of metric history per device per day, measured on this database.

    For each history table: its bytes on disk (SQLite ``dbstat``, PostgreSQL
    ``pg_total_relation_size``, indexes included) divided by the device-days (or
    volume-days, counted towards their device) its rows cover. The steady-state figure
    weighs them by retention: raw for METRICS_RAW_HOURS, rollups for METRICS_ROLLUP_DAYS,
    averaged over the rollup retention — what a device costs per day of history kept.
    """
    sizes = _table_bytes()
    devices = Device.objects.count() or 1
    per_day: dict[str, float] = {}
    detail: dict[str, Any] = {}
    for model, owner, t, step, unit in (
        (MetricSample, "device_id", "t", sample_interval_s, 1),
        (VolumeSample, "volume_id", "t", sample_interval_s, 1),
        (MetricRollup, "device_id", "bucket", 1, BUCKET_S),
        (VolumeRollup, "volume_id", "bucket", 1, BUCKET_S),
    ):
        name = model._meta.db_table
        rows, owner_days = _device_days(model, owner, t, step, unit)
        if not rows or owner_days <= 0:
            per_day[name] = 0.0
            continue
        if owner == "volume_id":
            # Volume-days count towards their device: average volumes per device.
            volumes = max(1, Volume.objects.count())
            owner_days = owner_days * devices / volumes
        per_day[name] = sizes[name] / owner_days
        detail[name] = {"bytes": sizes[name], "rows": rows, "bytes_per_row": sizes[name] / rows}
    raw_day = per_day[MetricSample._meta.db_table] + per_day[VolumeSample._meta.db_table]
    rollup_day = per_day[MetricRollup._meta.db_table] + per_day[VolumeRollup._meta.db_table]
    raw_days = settings.METRICS_RAW_HOURS / 24
    rollup_days = settings.METRICS_ROLLUP_DAYS
    steady = (raw_day * raw_days + rollup_day * rollup_days) / rollup_days
    return {
        "vendor": connection.vendor,
        "raw_bytes_per_device_day": round(raw_day),
        "rollup_bytes_per_device_day": round(rollup_day),
        "bytes_per_device_day": round(steady),
        "tables": detail,
    }
