"""Rows the monitoring engine's tests share: devices as the check-in leaves them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from atalaya.core.models import Site
from atalaya.monitoring.models import Device, DeviceStatus, Volume

GB = 1024**3


def make_device(
    site: Site,
    name: str = "pc",
    *,
    last_seen_at: datetime | None = None,
    status: str = DeviceStatus.PENDING,
    parent: Device | None = None,
    latest: dict[str, Any] | None = None,
    interval: int = 60,
) -> Device:
    """A device of the site's client as the ingest would have stored it."""
    raw = Device.generate_token()
    return Device.objects.create(
        client=site.client,
        site=site,
        parent=parent,
        hostname=name,
        token_hash=hashlib.sha256(raw.encode()).hexdigest() + secrets.token_hex(0),
        token_hint=raw[-6:],
        last_seen_at=last_seen_at,
        status=status,
        latest=latest or {},
        checkin_interval_s=interval,
    )


def make_volume(
    device: Device, mount: str = "/", *, total_gb: float = 100, free_gb: float = 50
) -> Volume:
    total, free = int(total_gb * GB), int(free_gb * GB)
    return Volume.objects.create(
        device=device, mountpoint=mount, total_bytes=total, free_bytes=free, used_bytes=total - free
    )
