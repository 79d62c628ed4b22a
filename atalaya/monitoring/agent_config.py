"""What a device's agent is told to collect: its interval and the services and processes to watch.

The configuration follows from the checks in force on the device (the client's
defaults, overridden per device). Whenever a check of a kind that changes it is
saved, ``bump_config_version`` marks the affected devices, and their next check-in
answer carries the new configuration (agent/PROTOCOL.md).
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q

from atalaya.core.models import Client
from atalaya.monitoring.models import Check, CheckKind, Device

# Check kinds whose targets the agent must be told to collect.
AGENT_TARGET_KINDS = {CheckKind.SERVICE: "services", CheckKind.PROCESS: "processes"}


def agent_config(device: Device) -> dict[str, Any]:
    """The configuration of agent/PROTOCOL.md for ``device``, as of now."""
    in_force: dict[tuple[str, str], bool] = {}
    rows = (
        Check.objects.filter(client_id=device.client_id, kind__in=list(AGENT_TARGET_KINDS))
        .filter(Q(device__isnull=True) | Q(device_id=device.pk))
        # Client defaults first, so a device's override of the same target wins.
        .order_by(F("device_id").asc(nulls_first=True))
        .values_list("kind", "target", "is_enabled")
    )
    for kind, target, is_enabled in rows:
        in_force[(kind, target)] = is_enabled
    config: dict[str, Any] = {
        "version": device.config_version,
        "checkin_interval_s": device.checkin_interval_s,
        "services": [],
        "processes": [],
    }
    for (kind, target), is_enabled in sorted(in_force.items()):
        if is_enabled and target:
            config[AGENT_TARGET_KINDS[CheckKind(kind)]].append(target)
    return config


def bump_config_version(*, client: Client, device: Device | None = None) -> int:
    """Mark the client's devices (or one) so their next check-in gets a new configuration."""
    devices = Device.objects.filter(client=client)
    if device is not None:
        devices = devices.filter(pk=device.pk)
    return devices.update(config_version=F("config_version") + 1)
