"""Quick measure of metric history's bytes per device per day (retention.storage_per_device_day).

Seeds a scratch database with ``--devices`` devices of three volumes each, ``--hours``
of raw samples at 60 s (as the check-in stores them) and their 15-minute rollups made
by ``retention.rollup``, then prints what each history table costs on disk.

    .venv/bin/python benchmarks/history_bytes.py --devices 500 --hours 24
    ATALAYA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/history_bytes \\
        .venv/bin/python benchmarks/history_bytes.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument(
        "--per-bucket",
        action="store_true",
        help="roll up one 15-minute bucket at a time, as the periodic task does (the rollup"
        " indexes then fill as in production, not as one sorted bulk load)",
    )
    args = parser.parse_args()
    if "ATALAYA_DATABASE_URL" not in os.environ:
        path = Path(tempfile.gettempdir()) / "atalaya-history-bytes.sqlite3"
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        os.environ["ATALAYA_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from atalaya.core.models import Client, Site
    from atalaya.monitoring import retention
    from atalaya.monitoring.models import Device, MetricSample, Volume, VolumeSample

    call_command("migrate", verbosity=0)
    client = Client.objects.create(name=f"History bytes {os.getpid()}")
    site = Site.objects.create(client=client, name="HQ")
    end = 1_760_000_400
    start = end - args.hours * 3600
    for i in range(args.devices):
        with transaction.atomic():
            device = Device.objects.create(
                client=client,
                site=site,
                hostname=f"pc{i}",
                token_hash=f"{os.getpid()}-{i}",
                token_hint="x",
            )
            volumes = [
                Volume.objects.create(device=device, mountpoint=m, total_bytes=10**12)
                for m in ("/", "/data", "/var")
            ]
            MetricSample.objects.bulk_create(
                MetricSample(
                    device=device,
                    t=t,
                    cpu_pct=(t % 97) / 1.3,
                    mem_pct=40 + t % 7,
                    swap_pct=0.0,
                    load1=(t % 13) / 10,
                )
                for t in range(start, end, 60)
            )
            VolumeSample.objects.bulk_create(
                VolumeSample(
                    volume=v,
                    t=t,
                    free_bytes=5 * 10**11 - (t - start) * 1000 - k,
                    used_pct=50 + (t - start) / 10**6,
                )
                for k, v in enumerate(volumes)
                for t in range(start, end, 60)
            )
    if args.per_bucket:
        for bucket in range(start, end, retention.BUCKET_S):
            retention.rollup(start=bucket, end=bucket + retention.BUCKET_S)
    else:
        retention.rollup(start=start, end=end)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    figures = retention.storage_per_device_day()
    print(json.dumps(figures, indent=1))
    print(f"RESULT metric_bytes_per_device_day={figures['bytes_per_device_day']} bytes")


if __name__ == "__main__":
    main()
