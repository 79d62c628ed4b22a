"""Quick timing of the disk-full forecast: ``recompute_forecasts`` over N volumes' history.

Seeds a scratch database (``ATALAYA_DATABASE_URL``, else a temporary SQLite file) with
``--volumes`` volumes and ``--hours`` of 15-minute free-space rollups (one in ten
filling up linearly, the rest flat or noisy), then times the recompute.

    .venv/bin/python benchmarks/forecast_timing.py --volumes 300000 --hours 24
    ATALAYA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/forecast_timing \\
        .venv/bin/python benchmarks/forecast_timing.py --volumes 300000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volumes", type=int, default=300_000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded history")
    args = parser.parse_args()
    if "ATALAYA_DATABASE_URL" not in os.environ:
        path = Path(tempfile.gettempdir()) / "atalaya-forecast-timing.sqlite3"
        if not args.reuse and path.exists():
            path.unlink()
        os.environ["ATALAYA_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from atalaya.monitoring.forecast import recompute_forecasts

    call_command("migrate", verbosity=0)
    end = 1_760_000_400
    buckets = args.hours * 4
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM monitoring_volumerollup")
        have = cur.fetchone()[0]
    if have < args.volumes * buckets:
        started = time.perf_counter()
        seed(args.volumes, buckets, end)
        print(
            f"seeded {args.volumes} volumes x {buckets} buckets in "
            f"{time.perf_counter() - started:.1f} s"
        )
    now = datetime.fromtimestamp(end, tz=UTC)
    for _ in range(2):
        started = time.perf_counter()
        report = recompute_forecasts(now=now)
        took = time.perf_counter() - started
        print(f"{connection.vendor}: {report.as_dict()} wall {took:.2f} s")
    print(f"RESULT forecast_{args.volumes}_volumes_s={took:.2f} s")


def seed(volumes: int, buckets: int, end: int) -> None:
    from django.db import connection, transaction

    from atalaya.core.models import Client, Site

    client = Client.objects.create(name="Forecast timing")
    site = Site.objects.create(client=client, name="HQ")
    pg = connection.vendor == "postgresql"
    series = (
        "generate_series(1, %s) AS g(i)"
        if pg
        else "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %s)"
        " SELECT i FROM g) AS g"
    )
    with transaction.atomic(), connection.cursor() as cur:
        devices = (volumes + 2) // 3
        cur.execute(
            "INSERT INTO monitoring_device (public_id, client_id, site_id, hostname, display_name,"
            " machine_id, token_hash, token_hint, platform, os_name, os_version, agent_version,"
            " scripts_enabled, inventory, inventory_hash, latest, checkin_interval_s,"
            " config_version, has_pending_actions, status, status_changed_at, enrolled_at,"
            " clock_skew_s)"
            f" SELECT {'gen_random_uuid()' if pg else 'lower(hex(randomblob(16)))'}, %s, %s,"
            " 'fc' || i, '', '', 'fc-' || i, 'x', 'linux', '', '', '', false, '{}', '', '{}', 60,"
            " 1, false, 'pending', %s, %s, 0"
            f" FROM {series}",
            [client.pk, site.pk, "2025-01-01 00:00:00", "2025-01-01 00:00:00", devices],
        )
        cur.execute(
            "INSERT INTO monitoring_volume (device_id, mountpoint, device_name, fstype,"
            " total_bytes, used_bytes, free_bytes, is_read_only, is_present, updated_at)"
            " SELECT d.id, m.mount, '', 'ext4', 500000000000, 250000000000, 250000000000,"
            " false, true, %s FROM monitoring_device d CROSS JOIN"
            " (SELECT '/' AS mount UNION ALL SELECT '/data' UNION ALL SELECT '/var') m"
            " WHERE d.site_id = %s",
            ["2025-01-01 00:00:00", site.pk],
        )
    start = end - buckets * 900
    noise = "(random() * 20000000)::bigint" if pg else "(abs(random()) %% 20000000)"
    big = "(random() * 50000000000)::bigint" if pg else "(abs(random()) %% 50000000000)"
    steps = (
        f"generate_series(0, {buckets - 1}) AS b(k)"
        if pg
        else "(WITH RECURSIVE b(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM b"
        f" WHERE k < {buckets - 1}) SELECT k FROM b) AS b"
    )
    free = (
        "CASE WHEN v.id %% 10 = 0"
        " THEN 150000000000 - b.k * (150000000000 / ((1 + v.id %% 20) * 96))"
        f" + {noise} WHEN v.id %% 10 < 7 THEN 250000000000 + {noise}"
        f" ELSE 200000000000 + {big} END"
    )
    with connection.cursor() as cur:
        cur.execute("SELECT MIN(id), MAX(id) FROM monitoring_volume")
        lo, hi = cur.fetchone()
        for first in range(lo, hi + 1, 20_000):
            with transaction.atomic():
                cur.execute(
                    # Rollups: the bucket's number, free space in whole MiB, hundredths of %.
                    "INSERT INTO monitoring_volumerollup (volume_id, bucket, samples,"
                    " free_avg_mib, free_min_mib, used_pct_max_x100)"
                    f" SELECT v.id, {start // 900} + b.k, 15, ({free}) / 1048576,"
                    f" ({free}) / 1048576, 5000"
                    f" FROM monitoring_volume v CROSS JOIN {steps}"
                    " WHERE v.id >= %s AND v.id < %s ORDER BY v.id, b.k",
                    [first, min(first + 20_000, hi + 1)],
                )


if __name__ == "__main__":
    main()
