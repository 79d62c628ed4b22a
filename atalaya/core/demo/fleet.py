"""The demo fleet: the demo's devices check in every minute as if their agents ran.

Without it a freshly loaded demo goes dark: no agent reports for the demo's devices,
so two minutes after ``make run`` the sweep marks all of them offline and fills the
alert list and the ticket queue. ``simulate_checkins`` builds, for each device the
demo loader marked (``inventory["demo"]``, see ``demo/monitoring.py``), the check-in
its agent would send, continuing the profile the loader wrote: CPU and memory around
the device's level, the filling disk at the same rate (its forecast stays true), the
other disks flat, uptime, users and SMART as they were. They are stored by
``ingest_checkins``, the agent API's own path, so everything downstream (sweep,
checks, forecasts, charts) sees what real agents would have caused. The device meant
to stay offline stays silent, and real agents enrolled alongside are never touched:
they do not carry the marker. Actions a technician queues on a demo device are
reported done at the next check-in (the output says nothing ran).
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from atalaya.core.demo.monitoring import DEMO_KEY, GIB
from atalaya.monitoring.agent_api.ingest import ingest_checkins
from atalaya.monitoring.agent_api.wire import Checkin, Result, Sample, StateVolume
from atalaya.monitoring.agent_config import AGENT_TARGET_KINDS, agent_config
from atalaya.monitoring.models import (
    ActionKind,
    ActionStatus,
    Check,
    Device,
    RemoteAction,
    Volume,
)

AGENT_VERSION = "0.1.0"
# As the loader's history: busier in working hours (UTC), a filling disk that jumps
# about as backups land, the others breathing a little.
WORK_FACTOR, NIGHT_FACTOR = 1.8, 0.6
FILLING_JITTER_BYTES = 0.2 * GIB
WAVE_BYTES = 0.05 * GIB
FLAT_NOISE_BYTES = 0.01 * GIB
SIMULATED_OUTPUT = "Demo device: no agent runs here, so nothing ran; this result is simulated.\n"


def demo_devices() -> list[Device]:
    """The demo's active devices that report (the one meant to stay offline left out)."""
    found = Device.objects.active().filter(inventory__has_key=DEMO_KEY).order_by("pk")
    return [d for d in found if not (d.inventory.get(DEMO_KEY) or {}).get("offline")]


def _free_at(volume: Volume, profile: dict[str, Any], t: int, rng: random.Random) -> int:
    """Free bytes of a volume at ``t``: the loader's line from its anchor, plus noise."""
    anchor = profile.get("volumes", {}).get(volume.mountpoint)
    if anchor is None:
        # A volume the loader did not write (added since): flat at its stored value.
        base, rate, since = float(volume.free_bytes), 0.0, t
    else:
        base, rate, since = float(anchor["free"]), float(anchor["rate"]), int(anchor["t"])
    free = base + rate * (t - since)
    if rate < 0:
        free += rng.uniform(-1, 1) * FILLING_JITTER_BYTES
    else:
        free += math.sin(t / 20000) * WAVE_BYTES + rng.gauss(0, 1) * FLAT_NOISE_BYTES
    return int(min(max(free, 0.0), float(volume.total_bytes)))


def _results(actions: list[RemoteAction], now_s: int) -> tuple[list[Result], bool]:
    """Results of the actions the previous check-in delivered; whether one was a reboot."""
    results = []
    rebooted = False
    for action in actions:
        rebooted = rebooted or action.kind == ActionKind.REBOOT
        results.append(
            Result(
                action_id=str(action.public_id),
                nonce=action.nonce,
                status=ActionStatus.SUCCEEDED,
                exit_code=0,
                output="" if action.kind == ActionKind.REBOOT else SIMULATED_OUTPUT,
                duration_ms=1200,
                finished_at=now_s - 5,
                reason="",
            )
        )
    return results, rebooted


def _checkin(
    device: Device,
    volumes: list[Volume],
    actions: list[RemoteAction],
    watched: bool,
    now_s: int,
) -> Checkin:
    """The check-in the device's agent would send at ``now_s``."""
    profile = device.inventory.get(DEMO_KEY) or {}
    latest = device.latest if isinstance(device.latest, dict) else {}
    # The same draw for the same device and second: a retried run stores the same values.
    rng = random.Random(f"{device.hostname}@{now_s}")
    hour = (now_s // 3600) % 24
    work = WORK_FACTOR if 7 <= hour <= 18 else NIGHT_FACTOR
    cpu = min(100.0, max(0.5, float(profile.get("cpu", 10)) * work + rng.gauss(0, 4)))
    mem = min(99.0, max(1.0, float(profile.get("mem", 45)) + rng.gauss(0, 3)))
    linux = device.platform == "linux"
    state_volumes, sample_volumes = [], []
    for volume in volumes:
        free = _free_at(volume, profile, now_s, rng)
        used = volume.total_bytes - free
        used_pct = round(100 * used / volume.total_bytes, 2) if volume.total_bytes else 0.0
        sample_volumes.append((volume.mountpoint, free, used_pct))
        state_volumes.append(
            StateVolume(
                volume.mountpoint,
                volume.device_name,
                volume.fstype,
                volume.total_bytes,
                used,
                free,
                volume.is_read_only,
            )
        )
    results, rebooted = _results(actions, now_s)
    if rebooted:
        boot = now_s - 40
    elif latest.get("boot_time"):
        boot = int(latest["boot_time"])
    elif latest.get("t") is not None and latest.get("uptime_s") is not None:
        boot = int(latest["t"]) - int(latest["uptime_s"])
    else:
        boot = now_s - 86400
    services: dict[str, str] = {}
    processes: dict[str, int] = {}
    if watched:
        config = agent_config(device)
        services = {name: "running" for name in config["services"]}
        processes = {name: 1 for name in config["processes"]}
    state = {
        "t": now_s,
        "uptime_s": max(0, now_s - boot),
        "boot_time": boot,
        "reboot_pending": False if rebooted else bool(latest.get("reboot_pending")),
        "users": list(latest.get("users") or []),
        "services": services,
        "processes": processes,
        "smart": latest.get("smart"),
        "missing": list(latest.get("missing") or []),
    }
    sample = Sample(
        t=now_s,
        n=1,
        cpu_pct=round(cpu, 1),
        mem_pct=round(mem, 1),
        swap_pct=round(max(0.0, rng.gauss(2, 1)), 1),
        load1=round(cpu / 25, 2) if linux else None,
        volumes=sample_volumes,
    )
    return Checkin(
        token_hash=device.token_hash,
        sent_at=now_s,
        agent_version=device.agent_version or AGENT_VERSION,
        config_version=device.config_version,
        scripts_enabled=device.scripts_enabled,
        samples=[sample],
        state=state,
        state_volumes=state_volumes,
        inventory_hash=None,
        inventory=None,
        jobs=[],
        results=results,
        weight=2,
    )


def simulate_checkins(now: datetime | None = None) -> int:
    """One check-in for every reporting demo device, stored like an agent's; how many.

    Reads the devices, their volumes, the actions delivered to them and whether any
    check asks their agents for services or processes (four queries), then stores the
    whole fleet's check-ins in one ``ingest_checkins`` batch. Does nothing (one query)
    where no demo is loaded.
    """
    now = now or timezone.now()
    now_s = int(now.timestamp())
    devices = demo_devices()
    if not devices:
        return 0
    ids = [d.pk for d in devices]
    volumes: dict[int, list[Volume]] = {}
    for volume in Volume.objects.filter(device_id__in=ids, is_present=True).order_by("pk"):
        volumes.setdefault(volume.device_id, []).append(volume)
    delivered: dict[int, list[RemoteAction]] = {}
    for action in RemoteAction.objects.filter(
        device_id__in=ids, status=ActionStatus.SENT, expires_at__gt=now
    ).order_by("created_at", "pk"):
        delivered.setdefault(action.device_id, []).append(action)
    # Checks that tell agents which services and processes to report: rare, so each
    # device's configuration is read only when its client has some.
    watched = set(
        Check.objects.filter(
            Q(device__isnull=True) | Q(device_id__in=ids),
            client_id__in={d.client_id for d in devices},
            kind__in=list(AGENT_TARGET_KINDS),
        ).values_list("client_id", flat=True)
    )
    checkins = [
        _checkin(
            device,
            volumes.get(device.pk, []),
            delivered.get(device.pk, []),
            device.client_id in watched,
            now_s,
        )
        for device in devices
    ]
    outcomes = ingest_checkins(checkins, now_s=now.timestamp())
    return sum(outcome.status == 200 for outcome in outcomes)
