"""Timing of the check evaluator (``evaluate.evaluate_since``) over a fleet at steady state.

Seeds a scratch database (``ATALAYA_DATABASE_URL``, else a temporary SQLite file) with
``--devices`` devices spread over 40 clients (two sites each), three volumes each, the
``latest`` snapshot a real agent leaves (services, processes, SMART, users, volumes,
metrics), 20 minutes of raw samples at 60 s, a nightly backup heartbeat each,
client checks for a service, a process and a named backup job, and a few device
overrides. About 2 % of the devices fail something (sustained CPU, a stopped service,
a full disk, a failed backup), as a fleet does.

The first run creates the check states (and the failing devices' alerts and tickets);
then each "minute" moves every device's check-in and its newest raw sample 60 s on and
times ``evaluate_since`` over the devices seen since the previous run, as the
per-minute task does. The figure is the median of ``--minutes`` such runs.

    .venv/bin/python benchmarks/evaluate_timing.py --devices 100000
    ATALAYA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/evaluate_timing \\
        .venv/bin/python benchmarks/evaluate_timing.py --devices 100000
    .venv/bin/python benchmarks/evaluate_timing.py --reuse --profile  # cProfile of one run
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

END = 1_760_000_400  # the first timed run's "now" (epoch s), a bucket boundary
WINDOW = 20  # minutes of raw samples before END
GB = 1024**3
MOUNTS = ("/", "/data", "/var")
TOTALS = (100 * GB, 500 * GB, 50 * GB)


def log(message: str) -> None:
    print(message, flush=True)


def _latest(rng: random.Random, t: int, *, service: str, cpu: float) -> dict[str, Any]:
    """What the ingest stores in ``Device.latest``: the agent's state block and metrics."""
    return {
        "t": t,
        "received_at": t,
        "uptime_s": 86400 * rng.randint(1, 30),
        "boot_time": t - 86400 * 3,
        "reboot_pending": rng.random() < 0.05,
        "users": ["ana"] if rng.random() < 0.7 else [],
        "volumes": [
            {
                "mount": m,
                "device": f"/dev/sd{'abc'[k]}1",
                "fstype": "ext4",
                "total": TOTALS[k],
                "used": TOTALS[k] // 2,
                "free": TOTALS[k] // 2,
                "read_only": False,
            }
            for k, m in enumerate(MOUNTS)
        ],
        "services": {"sshd": service, "cron": "running"},
        "processes": {"nginx": 2, "backupd": 1},
        "smart": [{"device": "/dev/sda", "healthy": True, "model": "WD", "temperature_c": 34}],
        "missing": [],
        # The newest raw sample, as the check-in keeps it.
        "metrics": {"t": t, "cpu_pct": cpu, "mem_pct": 41.0, "swap_pct": 0.0, "load1": 0.3},
    }


def seed(n: int) -> None:
    """The fleet, its checks, history and latest state (see the module's note)."""
    from django.db import connection, transaction

    from atalaya.core.models import Client, Site
    from atalaya.monitoring.models import (
        Check,
        CheckKind,
        Device,
        JobHeartbeat,
        MetricSample,
        Volume,
    )

    rng = random.Random(11)
    started = time.perf_counter()
    sites: list[Site] = []
    with transaction.atomic():
        for c in range(40):
            client = Client.objects.create(name=f"Evaluate timing {c}")
            for s in range(2):
                sites.append(Site.objects.create(client=client, name=f"Site {s}"))
            Check.objects.create(client=client, kind=CheckKind.SERVICE, target="sshd")
            Check.objects.create(
                client=client, kind=CheckKind.PROCESS, target="nginx", params={"min_count": 1}
            )
            Check.objects.create(
                client=client, kind=CheckKind.BACKUP, target="nightly", params={}, fail_after=1
            )
            if c % 4 == 0:
                Check.objects.create(
                    client=client, kind=CheckKind.DISK, params={"warning_used_pct": 85.0}
                )
    enrolled = datetime.fromtimestamp(END - 86400 * 60, tz=UTC)
    batch = 5000
    for lo in range(0, n, batch):
        rows = []
        for i in range(lo, min(n, lo + batch)):
            site = sites[i % len(sites)]
            seen = END - 60 + rng.randint(2, 59)
            rows.append(
                Device(
                    client_id=site.client_id,
                    site_id=site.pk,
                    hostname=f"ev{i:06d}",
                    machine_id=f"evaluate-{i:06d}",
                    token_hash=f"evaluate-{i:06d}",
                    token_hint="x",
                    platform="linux",
                    status="online",
                    enrolled_at=enrolled,
                    last_seen_at=datetime.fromtimestamp(seen, tz=UTC),
                    latest=_latest(
                        rng,
                        seen,
                        service="stopped" if i % 200 == 7 else "running",
                        cpu=99.0 if i % 100 == 3 else 5 + (i * 7 + (WINDOW - 1) * 13) % 40,
                    ),
                )
            )
        with transaction.atomic():
            Device.objects.bulk_create(rows, batch_size=1000)
    ids = list(
        Device.objects.filter(machine_id__startswith="evaluate-")
        .order_by("id")
        .values_list("id", flat=True)
    )
    log(f"{len(ids)} devices seeded in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    for lo in range(0, len(ids), batch):
        volumes = []
        for i, d in enumerate(ids[lo : lo + batch], start=lo):
            for k, m in enumerate(MOUNTS):
                total = TOTALS[k]
                free = total // 50 if (i % 200 == 11 and k == 0) else total // (2 + (i + k) % 4)
                volumes.append(
                    Volume(
                        device_id=d,
                        mountpoint=m,
                        device_name=f"/dev/sd{'abc'[k]}1",
                        fstype="ext4",
                        total_bytes=total,
                        used_bytes=total - free,
                        free_bytes=free,
                    )
                )
        with transaction.atomic():
            Volume.objects.bulk_create(volumes, batch_size=1000)
    log(f"{3 * len(ids)} volumes seeded in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    table = connection.ops.quote_name(MetricSample._meta.db_table)
    insert = (
        f"INSERT INTO {table} (device_id, t, cpu_pct, mem_pct, swap_pct, load1)"  # noqa: S608
        " VALUES (%s, %s, %s, %s, %s, %s)"
    )
    for lo in range(0, len(ids), batch):
        samples = []
        for i, d in enumerate(ids[lo : lo + batch], start=lo):
            offset = i % 60
            hot = i % 100 == 3
            for m in range(WINDOW):
                t = END - 60 * (WINDOW - m) + offset
                cpu = 99.0 if hot else 5 + (i * 7 + m * 13) % 40
                samples.append((d, t, cpu, 30 + (i + m) % 30, 0.0, 0.3))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, samples)
    log(f"{WINDOW * len(ids)} raw samples seeded in {time.perf_counter() - started:.1f} s")
    beats = [
        JobHeartbeat(
            device_id=d,
            name="nightly",
            t=END - 3600 * 5,
            is_ok=(i % 50 != 5),
            message="" if i % 50 != 5 else "disk full",
        )
        for i, d in enumerate(ids)
    ]
    JobHeartbeat.objects.bulk_create(beats, batch_size=2000)
    # A few device overrides, as technicians leave them.
    devices = Device.objects.filter(pk__in=ids[::997]).only("id", "client_id")
    Check.objects.bulk_create(
        Check(
            client_id=d.client_id,
            device_id=d.pk,
            kind=CheckKind.CPU,
            params={"pct": 90.0, "window_min": 10},
        )
        for d in devices
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def next_minute(minute: int) -> None:
    """Every device checks in once more: last seen, the newest sample's t in ``latest``
    and one raw sample, 60 s on."""
    from django.db import connection, transaction

    from atalaya.monitoring.models import Device, MetricSample

    shift = 60 * minute
    devices = connection.ops.quote_name(Device._meta.db_table)
    samples = connection.ops.quote_name(MetricSample._meta.db_table)
    interval = "interval '60 seconds'" if connection.vendor == "postgresql" else None
    with transaction.atomic(), connection.cursor() as cursor:
        if interval:
            cursor.execute(
                f"UPDATE {devices} SET last_seen_at = last_seen_at + {interval},"  # noqa: S608
                " latest = jsonb_set(latest, '{metrics,t}',"
                " to_jsonb((latest->'metrics'->>'t')::bigint + 60))"
                " WHERE machine_id LIKE %s",
                ["evaluate-%"],
            )
        else:
            cursor.execute(
                f"UPDATE {devices} SET last_seen_at ="  # noqa: S608
                " strftime('%%Y-%%m-%%d %%H:%%M:%%S', last_seen_at, '+60 seconds'),"
                " latest = json_set(latest, '$.metrics.t',"
                " json_extract(latest, '$.metrics.t') + 60)"
                " WHERE machine_id LIKE %s",
                ["evaluate-%"],
            )
        # The newest sample of each device, 60 s later, same values (steady state).
        cursor.execute(
            f"INSERT INTO {samples} (device_id, t, cpu_pct, mem_pct, swap_pct, load1)"  # noqa: S608
            f" SELECT device_id, t + 60, cpu_pct, mem_pct, swap_pct, load1 FROM {samples} s"
            f" WHERE t >= %s AND t < %s",
            [END - 60 + shift - 60, END + shift - 60],
        )


def run(since: datetime | None, now_t: int, profile: bool) -> tuple[float, Any]:
    from django.db import connection, reset_queries

    from atalaya.monitoring import evaluate

    now = datetime.fromtimestamp(now_t, tz=UTC)
    reset_queries()
    profiler = cProfile.Profile() if profile else None
    cpu0 = time.process_time()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    report = evaluate.evaluate_since(since, now=now)
    if profiler is not None:
        profiler.disable()
    took = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    log(
        f"{connection.vendor}: {json.dumps(report.as_dict())} wall {took:.2f} s,"
        f" evaluator process CPU {cpu:.2f} s"
    )
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(35)
        log(out.getvalue())
    return took, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=3, help="timed steady-state runs")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded fleet")
    parser.add_argument("--profile", action="store_true", help="cProfile the last timed run")
    args = parser.parse_args()
    if "ATALAYA_DATABASE_URL" not in os.environ:
        path = Path(tempfile.gettempdir()) / "atalaya-evaluate-timing.sqlite3"
        if not args.reuse:
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
        os.environ["ATALAYA_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    os.environ.setdefault("ATALAYA_JOBS_IMMEDIATE", "0")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from atalaya.monitoring.models import CheckState, Device, MetricSample

    call_command("migrate", verbosity=0)
    fleet = Device.objects.filter(machine_id__startswith="evaluate-")
    if args.reuse and fleet.count() == args.devices:
        log(f"reusing {args.devices} devices")
    else:
        if fleet.exists():
            raise SystemExit("a different fleet is seeded: run without --reuse on a fresh database")
        seed(args.devices)
    # Where the fleet stands: the newest check-in gives the minute we are at.
    newest = fleet.order_by("-last_seen_at").values_list("last_seen_at", flat=True).first()
    assert newest is not None
    minute = (int(newest.timestamp()) - END + 60) // 60
    if not CheckState.objects.exists():
        started = time.perf_counter()
        run(None, END + 60 * minute + 1, profile=False)
        log(f"first run (states, alerts and tickets created) {time.perf_counter() - started:.1f} s")
    times = []
    for k in range(args.minutes):
        minute += 1
        next_minute(minute)
        since = datetime.fromtimestamp(END + 60 * (minute - 1), tz=UTC) - timedelta(seconds=60)
        took, _report = run(
            since, END + 60 * minute + 1, profile=args.profile and k == args.minutes - 1
        )
        times.append(took)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {MetricSample._meta.db_table}")  # noqa: S608
        log(f"raw samples now {cursor.fetchone()[0]}")
    median = statistics.median(times)
    per = f"{args.devices // 1000}k" if args.devices % 1000 == 0 else str(args.devices)
    print(f"RESULT evaluate_{per}_devices_s={median:.2f} s")


if __name__ == "__main__":
    main()
