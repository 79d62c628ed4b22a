"""Demo monitoring: a few devices per client, their history, a disk filling up, scripts.

Devices join through enrollment tokens (``enrollment.enroll_device``), scripts and
actions through ``monitoring.actions``, alerts through the engine's services, so the
rows are what real use writes. What an agent would have sent (inventory, state,
volumes, metric history) is written in bulk, like the ticket replay. History is kept
small so the demo loads fast: raw samples for the last 48 h and 15-minute rollups for
30 days on a handful of featured devices; the others show their current state only.
Each device's profile is kept in its inventory under ``demo``: the demo fleet
(fleet.py) continues it with a check-in a minute while ``make run`` runs.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from atalaya.core.models import Client, Site, User
from atalaya.monitoring import actions, enrollment
from atalaya.monitoring.models import (
    ActionStatus,
    Device,
    DeviceStatus,
    MetricRollup,
    MetricSample,
    RemoteAction,
    Volume,
    VolumeRollup,
    VolumeSample,
)

GIB = 2**30
RAW_HOURS = 48
RAW_STEP_S = 300
ROLLUP_DAYS = 30
BUCKET_S = 900
FEATURED = 5
# The file server whose data disk fills up: full about three days from now.
FILLING_CLIENT_INDEX = 0
FULL_IN = timedelta(days=3, hours=4)
# The inventory key that marks the demo's own devices and holds the profile the demo
# fleet (fleet.py) continues: real agents enrolled alongside never send it.
DEMO_KEY = "demo"

SCRIPTS = [
    (
        "Clear temporary files",
        "Deletes files older than N days (default 7) from the temporary folders.",
        "powershell",
        "param([int]$Days = 7)\n"
        "$limit = (Get-Date).AddDays(-$Days)\n"
        'foreach ($dir in @($env:TEMP, "$env:WINDIR\\Temp")) {\n'
        "  Get-ChildItem -Path $dir -Recurse -Force -ErrorAction SilentlyContinue |\n"
        "    Where-Object { -not $_.PSIsContainer -and $_.LastWriteTime -lt $limit } |\n"
        "    Remove-Item -Force -ErrorAction SilentlyContinue\n"
        "}\n"
        'Write-Output "Temporary files older than $Days days removed."\n',
        600,
    ),
    (
        "Restart print spooler",
        "Stops and starts the Windows print spooler: the cure for a stuck print queue.",
        "powershell",
        "Restart-Service -Name Spooler -Force\n"
        "Get-Service -Name Spooler | Format-List Name,Status\n",
        120,
    ),
    (
        "Flush DNS cache",
        "Empties the resolver cache after a DNS change (Windows, or systemd-resolved).",
        "sh",
        "#!/bin/sh\nif command -v resolvectl >/dev/null 2>&1; then\n"
        "  resolvectl flush-caches && echo 'DNS cache flushed.'\n"
        "else\n  echo 'No systemd-resolved here: nothing to flush.'\nfi\n",
        60,
    ),
]

SOFTWARE_WINDOWS = [
    ("7-Zip", "23.01"),
    ("Adobe Acrobat Reader", "24.002"),
    ("Google Chrome", "131.0"),
    ("Microsoft 365 Apps", "16.0.18129"),
    ("Microsoft Teams", "24295"),
    ("Mozilla Firefox", "133.0"),
    ("OpenVPN Connect", "3.5.1"),
    ("Sophos Endpoint Agent", "2023.2"),
    ("VLC media player", "3.0.21"),
]
SOFTWARE_LINUX = [
    ("bash", "5.2.15"),
    ("cups", "2.4.2"),
    ("nginx", "1.22.1"),
    ("openssh-server", "9.2p1"),
    ("restic", "0.14.0"),
    ("samba", "4.17.12"),
    ("smartmontools", "7.3"),
]


def _insert(model: type[Any], columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names from the model, quoted
        quote(model._meta.db_table),
        ", ".join(quote(c) for c in columns),
        ", ".join(["%s"] * len(columns)),
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _midnight_after(now: datetime, *, days: int) -> datetime:
    """A token expiry that is in the future whenever the demo loads, and the same all day
    (so two loads of one plan write the same rows, as the demo test checks)."""
    later = max(now, timezone.now()) + timedelta(days=days)
    return later.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class DeviceSpec:
    hostname: str
    role: str  # "server", "pc", "laptop"
    platform: str
    os_name: str
    os_version: str


def _specs(client_key: str, rng: random.Random) -> list[DeviceSpec]:
    short = client_key[:6]
    specs = [DeviceSpec(f"{short}-srv01", "server", "linux", "Debian GNU/Linux", "12")]
    for n in range(1, rng.randint(2, 3) + 1):
        laptop = rng.random() < 0.5
        specs.append(
            DeviceSpec(
                f"{short}-{'lt' if laptop else 'pc'}{n:02d}",
                "laptop" if laptop else "pc",
                "windows",
                "Microsoft Windows 11 Pro",
                rng.choice(["23H2", "24H2"]),
            )
        )
    return specs


def _inventory(spec: DeviceSpec, n: int, rng: random.Random) -> dict[str, Any]:
    server = spec.role == "server"
    memory = (32 if server else rng.choice([8, 16])) * GIB
    software = SOFTWARE_LINUX if server else SOFTWARE_WINDOWS
    return {
        "hostname": spec.hostname,
        "fqdn": f"{spec.hostname}.lan",
        "platform": spec.platform,
        "os_name": spec.os_name,
        "os_version": spec.os_version,
        "kernel": "6.1.0-28-amd64" if server else "10.0.22631",
        "arch": "x86_64" if server else "AMD64",
        "cpu_model": "Intel Xeon E-2324G"
        if server
        else rng.choice(["Intel Core i5-1235U", "AMD Ryzen 5 5625U", "Intel Core i7-12700"]),
        "cpu_count": 8 if server else rng.choice([8, 12]),
        "cpu_cores": 4 if server else rng.choice([4, 6]),
        "memory_total": memory,
        "swap_total": 4 * GIB,
        "network": [
            {
                "name": "eth0" if server else "Ethernet",
                "mac": f"52:54:00:{n // 256:02x}:{n % 256:02x}:{rng.randint(0, 255):02x}",
                "addresses": [{"address": f"192.168.{10 + n // 200}.{10 + n % 200}"}],
                "is_up": True,
                "speed_mbps": 1000,
            }
        ],
        "software": [{"name": name, "version": version} for name, version in software],
        "agent_version": "0.1.0",
    }


class MonitoringDemo:
    """Writes the demo fleet of the loader's clients at the plan's ``now``."""

    def __init__(
        self,
        *,
        admin: User,
        clients: list[tuple[str, Client, Site]],
        now: datetime,
        seed: int,
    ) -> None:
        self.admin = admin
        self.clients = clients
        self.now = now.replace(microsecond=0)
        self.now_s = int(self.now.timestamp())
        self.rng = random.Random(seed * 7919 + 4)
        # Filled as the fleet is written, for mark_fleet: the devices meant to stay
        # offline, and the CPU and memory levels of those with history.
        self.quiet: set[int] = set()
        self.levels: dict[int, tuple[float, float]] = {}

    def load(self) -> dict[str, int]:
        scripts = self.scripts()
        devices = self.fleet()
        featured = [d for d in devices if d.hostname.endswith("srv01")][:FEATURED]
        featured += [d for d in devices if not d.hostname.endswith("srv01")][:1]
        filling = self.volumes(devices)
        for device in featured:
            self.history(device, filling)
        self.forecasts_and_alerts(filling)
        self.actions(devices, scripts)
        # The token a technician would hand out next: usable, for one site.
        _client_key, _client, site = self.clients[1]
        enrollment.create_enrollment_token(
            actor=self.admin,
            site=site,
            name="New laptops",
            expires_at=_midnight_after(self.now, days=30),
            max_uses=5,
        )
        self.mark_fleet(devices, filling)
        return {"devices": len(devices), "featured": len(featured)}

    def scripts(self) -> dict[str, Any]:
        made = {}
        for name, description, interpreter, body, timeout_s in SCRIPTS:
            script = actions.create_script(
                actor=self.admin,
                name=name,
                description=description,
                interpreter=interpreter,
                body=body,
                timeout_s=timeout_s,
                now=self.now - timedelta(days=40),
            )
            made[name] = actions.approve_script(
                actor=self.admin, script=script, now=self.now - timedelta(days=39)
            )
        return made

    def fleet(self) -> list[Device]:
        devices: list[Device] = []
        n = 0
        for key, _client, site in self.clients:
            specs = _specs(key, self.rng)
            token, raw = enrollment.create_enrollment_token(
                actor=self.admin,
                site=site,
                name="Initial rollout",
                expires_at=_midnight_after(self.now, days=2),
                max_uses=len(specs),
            )
            for spec in specs:
                n += 1
                enrolled = self.now - timedelta(days=60 + self.rng.randint(0, 30))
                device, _device_token = enrollment.enroll_device(
                    raw_token=raw,
                    hostname=spec.hostname,
                    machine_id=hashlib.sha256(spec.hostname.encode()).hexdigest()[:32],
                    platform=spec.platform,
                    os_name=spec.os_name,
                    os_version=spec.os_version,
                    agent_version="0.1.0",
                    now=enrolled,
                )
                inventory = _inventory(spec, n, self.rng)
                # Most check in every minute; one PC per few clients went quiet hours ago.
                quiet = spec.role != "server" and self.rng.random() < 0.12
                seen = self.now - (
                    timedelta(hours=self.rng.randint(3, 30)) if quiet else timedelta(seconds=20)
                )
                Device.objects.filter(pk=device.pk).update(
                    inventory=inventory,
                    inventory_hash=hashlib.sha256(repr(sorted(inventory)).encode()).hexdigest(),
                    inventory_at=self.now - timedelta(hours=self.rng.randint(1, 6)),
                    latest={
                        "t": int(seen.timestamp()),
                        "uptime_s": self.rng.randint(3600, 40 * 86400),
                        "reboot_pending": False,
                        "users": [] if spec.role == "server" else [f"user{n}"],
                        "smart": [{"device": "/dev/sda", "healthy": True, "temperature_c": 34}]
                        if spec.role == "server"
                        else None,
                        "missing": ["load1"] if spec.platform == "windows" else [],
                    },
                    last_seen_at=seen,
                    # The sweep turns the quiet ones offline (and raises their alerts).
                    status=DeviceStatus.ONLINE,
                    status_changed_at=enrolled,
                    scripts_enabled=True,
                )
                device.refresh_from_db()
                if quiet:
                    self.quiet.add(device.pk)
                devices.append(device)
        return devices

    def volumes(self, devices: list[Device]) -> Volume:
        """Every device's volumes; returns the one that is filling up."""
        rows = []
        for device in devices:
            server = device.hostname.endswith("srv01")
            layout = [("/", 40), ("/srv", 500)] if server else [("C:\\", 256)]
            for mount, size in layout:
                used_pct = self.rng.uniform(25, 70)
                total = size * GIB
                used = int(total * used_pct / 100)
                rows.append(
                    Volume(
                        device=device,
                        mountpoint=mount,
                        device_name="/dev/sda1" if mount == "/" else "/dev/sdb1" if server else "",
                        fstype="ext4" if server else "NTFS",
                        total_bytes=total,
                        used_bytes=used,
                        free_bytes=total - used,
                        updated_at=device.last_seen_at or self.now,
                    )
                )
        Volume.objects.bulk_create(rows)
        servers = [d for d in devices if d.hostname.endswith("srv01")]
        filling = Volume.objects.get(device=servers[FILLING_CLIENT_INDEX], mountpoint="/srv")
        # 6 % free now, shrinking steadily: zero in about three days.
        free = int(filling.total_bytes * 0.06)
        Volume.objects.filter(pk=filling.pk).update(
            free_bytes=free, used_bytes=filling.total_bytes - free
        )
        filling.refresh_from_db()
        return filling

    def _free_at(self, volume: Volume, t: int, filling: Volume) -> float:
        if volume.pk == filling.pk:
            rate = volume.free_bytes / FULL_IN.total_seconds()
            # Backups land at night; the growth is steady enough for a sound fit.
            return volume.free_bytes + rate * (self.now_s - t) + self.rng.uniform(-1, 1) * 0.2 * GIB
        # The rest hover around their level, a little fuller in the past (old files cleaned).
        return volume.free_bytes - (self.now_s - t) * 2000 + math.sin(t / 20000) * 0.05 * GIB

    def history(self, device: Device, filling: Volume) -> None:
        """48 h of raw samples and 30 days of 15-minute rollups of one device.

        Written by plain executemany: tens of thousands of narrow rows, which model
        instances would take seconds to build and save.
        """
        rng = self.rng
        base_cpu = rng.uniform(5, 25)
        base_mem = rng.uniform(35, 65)
        self.levels[device.pk] = (base_cpu, base_mem)
        linux = device.platform == "linux"
        volumes = list(Volume.objects.filter(device=device))
        samples, volume_samples = [], []
        for t in range(self.now_s - RAW_HOURS * 3600, self.now_s, RAW_STEP_S):
            hour = (t // 3600) % 24
            work = 1.8 if 7 <= hour <= 18 else 0.6
            cpu = min(100.0, max(0.5, base_cpu * work + rng.gauss(0, 4)))
            samples.append(
                (
                    device.pk,
                    t,
                    round(cpu, 1),
                    round(min(99.0, base_mem + rng.gauss(0, 3)), 1),
                    round(max(0.0, rng.gauss(2, 1)), 1),
                    round(cpu / 25, 2) if linux else None,
                )
            )
            for volume in volumes:
                free = self._free_at(volume, t, filling)
                used_pct = round(100 * (1 - free / volume.total_bytes), 2)
                volume_samples.append((volume.pk, t, int(free), used_pct))
        _insert(
            MetricSample, ["device_id", "t", "cpu_pct", "mem_pct", "swap_pct", "load1"], samples
        )
        _insert(VolumeSample, ["volume_id", "t", "free_bytes", "used_pct"], volume_samples)
        rollups, volume_rollups = [], []
        last_bucket = self.now_s - self.now_s % BUCKET_S
        for bucket in range(last_bucket - ROLLUP_DAYS * 86400, last_bucket, BUCKET_S):
            hour = (bucket // 3600) % 24
            work = 1.8 if 7 <= hour <= 18 else 0.6
            cpu = min(100.0, max(0.5, base_cpu * work + rng.gauss(0, 2)))
            # Rollups: the bucket's number, hundredths of a percent, whole MiB.
            rollups.append(
                (
                    device.pk,
                    bucket // BUCKET_S,
                    15,
                    round(cpu * 100),
                    round(min(100.0, cpu * 1.8 + 5) * 100),
                    round((base_mem + rng.gauss(0, 2)) * 100),
                    round(min(99.0, base_mem + 8) * 100),
                    200,
                    round(cpu / 25, 2) if linux else None,
                )
            )
            for volume in volumes:
                free = self._free_at(volume, bucket + BUCKET_S // 2, filling)
                used_pct = round(100 * (1 - free / volume.total_bytes), 2)
                volume_rollups.append(
                    (
                        volume.pk,
                        bucket // BUCKET_S,
                        15,
                        round(used_pct * 100),
                        round(free / 2**20),
                        int((free - 0.1 * GIB) // 2**20),
                    )
                )
        _insert(
            MetricRollup,
            [
                "device_id",
                "bucket",
                "samples",
                "cpu_avg_x100",
                "cpu_max_x100",
                "mem_avg_x100",
                "mem_max_x100",
                "swap_max_x100",
                "load1_avg",
            ],
            rollups,
        )
        _insert(
            VolumeRollup,
            [
                "volume_id",
                "bucket",
                "samples",
                "used_pct_max_x100",
                "free_avg_mib",
                "free_min_mib",
            ],
            volume_rollups,
        )

    def forecasts_and_alerts(self, filling: Volume) -> None:
        """The engine's forecast over the history, its disk alert (with ticket), the sweep."""
        from atalaya.monitoring import alerts, forecast, status

        forecast.recompute_forecasts(now=self.now)
        filling.refresh_from_db()
        if filling.forecast_full_at is not None:
            days = (filling.forecast_full_at - self.now).total_seconds() / 86400
            free_pct = 100 * filling.free_bytes / filling.total_bytes
            alerts.raise_or_update(
                device=filling.device,
                kind="disk_forecast",
                target=filling.mountpoint,
                severity="warning",
                message=(
                    f"{filling.mountpoint} on {filling.device.hostname} will be full in about "
                    f"{round(days)} days ({free_pct:.0f} % free)"
                ),
                value=round(days, 2),
                now=self.now,
            )
        # Statuses, offline alerts and their tickets, as the periodic sweep makes them.
        status.sweep(now=self.now)

    def mark_fleet(self, devices: list[Device], filling: Volume) -> None:
        """Each device's profile under ``inventory["demo"]``, for the demo fleet to continue.

        The profile is the CPU and memory level, whether the device is meant to stay
        offline, and each volume's free space now with its change per second (the
        filling disk keeps its rate, so its forecast stays true). Levels of devices
        without history come from their own generator, so the demo's other random
        choices stay what they were. When the demo is loaded for the present (``make
        run``) rather than for a fixed moment (the tests' plans), the devices that are
        online were last seen as the load ends: the first sweep after it must not find
        them two intervals late before the fleet's first check-in.
        """
        fresh = timezone.now().replace(microsecond=0)
        present = timedelta(0) <= fresh - self.now <= timedelta(minutes=10)
        fresh_s = int(fresh.timestamp())
        volumes: dict[int, dict[str, dict[str, Any]]] = {}
        for volume in Volume.objects.filter(device__in=devices):
            rate = -volume.free_bytes / FULL_IN.total_seconds() if volume.pk == filling.pk else 0
            volumes.setdefault(volume.device_id, {})[volume.mountpoint] = {
                "t": self.now_s,
                "free": volume.free_bytes,
                "rate": round(rate, 3),
            }
        for device in devices:
            own = random.Random(device.hostname)
            cpu, mem = self.levels.get(device.pk) or (own.uniform(5, 25), own.uniform(35, 65))
            offline = device.pk in self.quiet
            profile = {
                "cpu": round(cpu, 2),
                "mem": round(mem, 2),
                "offline": offline,
                "volumes": volumes.get(device.pk, {}),
            }
            changes: dict[str, Any] = {"inventory": {**device.inventory, DEMO_KEY: profile}}
            if present and not offline:
                latest = dict(device.latest)
                ahead = fresh_s - int(latest.get("t") or fresh_s)
                latest["t"] = fresh_s
                latest["uptime_s"] = int(latest.get("uptime_s") or 0) + max(0, ahead)
                changes.update(last_seen_at=fresh, latest=latest)
            Device.objects.filter(pk=device.pk).update(**changes)

    def actions(self, devices: list[Device], scripts: dict[str, Any]) -> None:
        """A finished script run, a refused one, and a reboot waiting for an offline PC."""
        pcs = [d for d in devices if not d.hostname.endswith("srv01")]
        done = actions.queue_action(
            actor=self.admin,
            device=pcs[0],
            kind="run_script",
            script=scripts["Clear temporary files"],
            arguments=["14"],
            now=self.now - timedelta(days=2, hours=3),
        )
        RemoteAction.objects.filter(pk=done.pk).update(
            status=ActionStatus.SUCCEEDED,
            sent_at=done.created_at + timedelta(seconds=40),
            finished_at=done.created_at + timedelta(seconds=52),
            exit_code=0,
            duration_ms=11_840,
            output="Temporary files older than 14 days removed.\n",
        )
        spooler = actions.queue_action(
            actor=self.admin,
            device=pcs[1],
            kind="run_script",
            script=scripts["Restart print spooler"],
            now=self.now - timedelta(hours=5),
        )
        RemoteAction.objects.filter(pk=spooler.pk).update(
            status=ActionStatus.SUCCEEDED,
            sent_at=spooler.created_at + timedelta(seconds=25),
            finished_at=spooler.created_at + timedelta(seconds=31),
            exit_code=0,
            duration_ms=4_210,
            output="Name   : Spooler\nStatus : Running\n",
        )
        quiet_since = self.now - timedelta(hours=1)
        offline = next((d for d in pcs if (d.last_seen_at or self.now) < quiet_since), pcs[-1])
        actions.queue_action(
            actor=self.admin,
            device=offline,
            kind="reboot",
            expires_in=timedelta(days=3),
            now=self.now - timedelta(hours=1),
        )
        actions.refresh_pending_flags(d.pk for d in devices)


def load_monitoring(loader: Any, seed: int) -> dict[str, int]:
    """The demo fleet for the loader's clients (each client's first site)."""
    clients = [
        (
            plan.spec.key,
            loader.clients[plan.spec.key],
            loader.sites[plan.spec.key, plan.spec.sites[0][0]],
        )
        for plan in loader.plan.clients
    ]
    started = time.monotonic()
    demo = MonitoringDemo(
        admin=loader.users["admin"], clients=clients, now=loader.plan.now, seed=seed
    )
    result = demo.load()
    loader.progress(f"{result['devices']} monitored devices in {time.monotonic() - started:.1f} s")
    return result
