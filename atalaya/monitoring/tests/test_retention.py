"""Rollups (idempotent, late samples re-rolled), retention in batches, bytes per device-day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from atalaya.monitoring import retention
from atalaya.monitoring.models import MetricRollup, MetricSample, VolumeRollup, VolumeSample
from atalaya.monitoring.tests.engine_helpers import GB, make_device, make_volume

NOW = datetime(2025, 6, 2, 12, 5, tzinfo=UTC)
NOW_T = int(NOW.timestamp())
BUCKET = NOW_T // 900 * 900 - 900  # the last completed bucket


@pytest.mark.django_db
def test_rollup_is_idempotent_and_picks_up_late_samples(world):
    device = make_device(world.site_a, "pc")
    volume = make_volume(device, "/")
    MetricSample.objects.bulk_create(
        MetricSample(device=device, t=BUCKET + 60 * i, cpu_pct=10.0 * i, mem_pct=50, load1=None)
        for i in range(10)
    )
    VolumeSample.objects.bulk_create(
        VolumeSample(volume=volume, t=BUCKET + 60 * i, free_bytes=(50 - i) * GB, used_pct=50 + i)
        for i in range(10)
    )
    retention.rollup(now=NOW)
    retention.rollup(now=NOW)  # again: same rows
    row = MetricRollup.objects.get(device=device)
    # Keyed by the bucket's number, percentages in hundredths, free space in MiB.
    assert row.bucket == BUCKET // 900 and row.samples == 10
    assert row.cpu_avg_x100 == 4500 and row.cpu_max_x100 == 9000 and row.load1_avg is None
    assert row.mem_avg_x100 == 5000
    vol = VolumeRollup.objects.get(volume=volume)
    assert vol.free_min_mib == 41 * 1024 and vol.free_avg_mib == int(45.5 * 1024)
    assert vol.used_pct_max_x100 == 5900
    # A spooled replay adds the bucket's missing minutes later: the re-run counts them.
    MetricSample.objects.bulk_create(
        MetricSample(device=device, t=BUCKET + 600 + 60 * i, cpu_pct=100) for i in range(5)
    )
    retention.rollup(now=NOW + timedelta(minutes=5))
    row = MetricRollup.objects.get(device=device)
    assert row.samples == 15 and row.cpu_max_x100 == 10000
    assert MetricRollup.objects.count() == 1
    # Any older span can be re-rolled explicitly.
    report = retention.rollup(start=BUCKET - 3600, end=BUCKET + 900)
    assert report.metric_rollups >= 1 and MetricRollup.objects.count() == 1


@pytest.mark.django_db
def test_retention_deletes_only_what_is_too_old(world, settings):
    settings.METRICS_RAW_HOURS = 48
    settings.METRICS_ROLLUP_DAYS = 90
    device = make_device(world.site_a, "pc")
    volume = make_volume(device, "/")
    old_raw, fresh_raw = NOW_T - 49 * 3600, NOW_T - 47 * 3600
    MetricSample.objects.bulk_create(
        [MetricSample(device=device, t=old_raw), MetricSample(device=device, t=fresh_raw)]
    )
    VolumeSample.objects.bulk_create(
        [
            VolumeSample(volume=volume, t=old_raw, free_bytes=1, used_pct=1),
            VolumeSample(volume=volume, t=fresh_raw, free_bytes=1, used_pct=1),
        ]
    )
    old_rollup, fresh_rollup = (NOW_T - 91 * 86400) // 900, (NOW_T - 89 * 86400) // 900
    MetricRollup.objects.bulk_create(
        [
            MetricRollup(device=device, bucket=old_rollup, samples=1),
            MetricRollup(device=device, bucket=fresh_rollup, samples=1),
        ]
    )
    VolumeRollup.objects.bulk_create(
        [
            VolumeRollup(
                volume=volume,
                bucket=b,
                samples=1,
                free_avg_mib=1,
                free_min_mib=1,
                used_pct_max_x100=1,
            )
            for b in (old_rollup, fresh_rollup)
        ]
    )
    report = retention.apply_retention(now=NOW)
    assert report.raw_deleted == 2 and report.rollups_deleted == 2
    assert list(MetricSample.objects.values_list("t", flat=True)) == [fresh_raw]
    assert list(VolumeRollup.objects.values_list("bucket", flat=True)) == [fresh_rollup]
    assert retention.apply_retention(now=NOW).raw_deleted == 0


@pytest.mark.django_db
def test_storage_per_device_day_measures_the_tables(world):
    devices = [make_device(world.site_a, f"pc{i}") for i in range(3)]
    volumes = [make_volume(d, "/") for d in devices]
    start = NOW_T - 86400
    MetricSample.objects.bulk_create(
        MetricSample(device=d, t=start + 60 * i, cpu_pct=1, mem_pct=2, swap_pct=0, load1=0.1)
        for d in devices
        for i in range(1440)
    )
    VolumeSample.objects.bulk_create(
        VolumeSample(volume=v, t=start + 60 * i, free_bytes=GB, used_pct=5)
        for v in volumes
        for i in range(1440)
    )
    retention.rollup(start=start, end=NOW_T // 900 * 900)
    figures = retention.storage_per_device_day()
    assert figures["raw_bytes_per_device_day"] > 1440 * 8  # at least the numbers themselves
    assert figures["rollup_bytes_per_device_day"] > 0
    assert figures["bytes_per_device_day"] > figures["rollup_bytes_per_device_day"]
    if connection.vendor == "sqlite":
        # PostgreSQL's relation sizes in a test database also hold the dead rows that
        # earlier tests' rolled-back transactions left (no VACUUM runs between tests),
        # so only SQLite's live pages can be compared here; benchmarks/history_bytes.py
        # measures both databases on a fresh one.
        assert figures["rollup_bytes_per_device_day"] < figures["raw_bytes_per_device_day"]
    # A day of rollups covers a day: 96 buckets of 15 minutes a device.
    assert figures["tables"]["monitoring_metricrollup"]["rows"] == 3 * 96


@pytest.mark.django_db
def test_rollup_values_survive_the_small_columns(world):
    """Extremes fit: 100 % in a smallint of hundredths, a 100 TiB volume in whole MiB,
    a large load average in a real."""
    device = make_device(world.site_a, "pc")
    volume = make_volume(device, "/", total_gb=100 * 1024, free_gb=100 * 1024)
    MetricSample.objects.create(
        device=device, t=BUCKET, cpu_pct=100.0, mem_pct=0.01, swap_pct=99.99, load1=1234.5
    )
    VolumeSample.objects.create(volume=volume, t=BUCKET, free_bytes=100 * 1024 * GB, used_pct=100)
    retention.rollup(now=NOW)
    row = MetricRollup.objects.get(device=device)
    assert (row.cpu_max_x100, row.mem_avg_x100, row.swap_max_x100) == (10000, 1, 9999)
    assert row.load1_avg == pytest.approx(1234.5)
    vol = VolumeRollup.objects.get(volume=volume)
    assert vol.free_avg_mib == 100 * 1024 * 1024 and vol.used_pct_max_x100 == 10000


@pytest.mark.django_db
def test_rollup_tables_have_the_compact_layout():
    """The layout that keeps a device-day under 50 KB (migrations 0006 and 0007)."""
    from django.db import connection

    expected = {
        "monitoring_metricrollup": {
            "device_id": "integer",
            "bucket": "integer",
            "cpu_avg_x100": "smallint",
            "load1_avg": "real",
        },
        "monitoring_volumerollup": {
            "volume_id": "integer",
            "bucket": "integer",
            "used_pct_max_x100": "smallint",
            "free_avg_mib": "integer",
        },
    }
    with connection.cursor() as cursor:
        for table, columns in expected.items():
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_name = %s",
                    [table],
                )
                types = dict(cursor.fetchall())
                assert {c: types[c] for c in columns} == columns
            else:
                cursor.execute("SELECT sql FROM sqlite_schema WHERE name = %s", [table])
                sql = cursor.fetchone()[0]
                assert sql.endswith("WITHOUT ROWID")
                # SQLite stores integers by value: its key columns stay declared bigint.
                owners = ("device_id", "volume_id")
                assert all(f'"{c}" {t}' in sql for c, t in columns.items() if c not in owners)
