"""What the agent API tests share: enrolled devices and check-in bodies like the agent's."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import connection, connections
from django.utils import timezone

from atalaya.monitoring.enrollment import create_enrollment_token, enroll_device
from atalaya.monitoring.models import Device

GB = 1024**3


def enrolled(
    world: Any, *, site: Any = None, name: str = "pc", uses: int = 1
) -> tuple[Device, str]:
    """A device enrolled through the real service; its raw token."""
    _token, raw = create_enrollment_token(
        actor=world.tech,
        site=site or world.site_a,
        name=f"for {name}",
        expires_at=timezone.now() + timedelta(days=1),
        max_uses=uses,
    )
    return enroll_device(
        raw_token=raw,
        hostname=name,
        machine_id=f"machine-{name}",
        platform="linux",
        os_name="Debian GNU/Linux",
        os_version="12",
        agent_version="0.1.0",
    )


def sample(t: int, *, cpu: float | None = 12.5, free: int = 50 * GB) -> dict[str, Any]:
    return {
        "t": t,
        "n": 1,
        "cpu_pct": cpu,
        "mem_pct": 40.0,
        "swap_pct": 0.0,
        "load1": 0.3,
        "volumes": [
            {"mount": "/", "free": free, "used_pct": 50.0},
            {"mount": "/home", "free": 200 * GB, "used_pct": 20.0},
            {"mount": "/boot", "free": GB // 2, "used_pct": 30.0},
        ],
    }


def state(t: int, *, mounts: tuple[str, ...] = ("/", "/home", "/boot")) -> dict[str, Any]:
    return {
        "t": t,
        "uptime_s": 86400,
        "boot_time": t - 86400,
        "reboot_pending": False,
        "users": ["ana"],
        "volumes": [
            {
                "mount": mount,
                "device": f"/dev/sda{i + 1}",
                "fstype": "ext4",
                "total": 100 * GB,
                "used": 50 * GB,
                "free": 50 * GB,
                "read_only": False,
            }
            for i, mount in enumerate(mounts)
        ],
        "services": {"cups": "running"},
        "processes": {"backupd": 1},
        "smart": None,
        "missing": [],
    }


def checkin_body(
    now: int | None = None,
    *,
    samples: list[dict[str, Any]] | None = None,
    with_state: bool = True,
    config_version: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A realistic check-in: one sample with three volumes, a state block, no inventory."""
    now = int(time.time()) if now is None else now
    body: dict[str, Any] = {
        "agent_version": "0.1.0",
        "sent_at": now,
        "config_version": config_version,
        "scripts_enabled": False,
        "samples": [sample(now - 1)] if samples is None else samples,
    }
    if with_state:
        body["state"] = state(now)
    body.update(extra)
    return body


@contextmanager
def threads_use_a_file_database(tmp_path: Path) -> Iterator[None]:
    """On SQLite, point new (per-thread) connections at a file copy of the test database.

    The in-memory test database uses SQLite's shared cache, whose table locks fail at
    once instead of waiting; production runs on a file in WAL mode, so that is what
    other threads (a server, racing enrollments) must use. PostgreSQL threads use the
    test database itself. The test's own connection is switched too, so it reads
    what the threads wrote.
    """
    if connection.vendor != "sqlite":
        yield
        return
    original = connections.settings["default"]
    path = tmp_path / "agent-api.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    # Closing the in-memory connection would drop the test database: keep it aside.
    memory = connection.connection
    connection.connection = None
    connections.settings["default"] = {**original, "NAME": str(path)}
    connection.settings_dict = connections.settings["default"]
    try:
        yield
    finally:
        connection.close()
        connections.settings["default"] = original
        connection.settings_dict = original
        connection.connection = memory
