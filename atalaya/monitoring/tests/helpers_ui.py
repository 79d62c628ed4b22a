"""Shared setup of the monitoring UI and API tests: devices, scripts, a signing key.

Devices are made directly (enrollment is the agent API's job and has its own tests);
everything else goes through the services under test.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from atalaya.core.models import Client, Site, User
from atalaya.monitoring import actions
from atalaya.monitoring.models import Device, DeviceStatus, Script


def make_device(
    client: Client,
    site: Site,
    hostname: str,
    *,
    status: str = DeviceStatus.ONLINE,
    last_seen_at: datetime | None = None,
    **fields: Any,
) -> Device:
    raw = Device.generate_token()
    return Device.objects.create(
        client=client,
        site=site,
        hostname=hostname,
        token_hash=hashlib.sha256(raw.encode()).hexdigest(),
        token_hint=raw[-6:],
        machine_id=secrets.token_hex(8),
        status=status,
        last_seen_at=last_seen_at or timezone.now(),
        **fields,
    )


def approved_script(admin: User, name: str = "Flush DNS cache", body: str = "echo ok\n") -> Script:
    script = actions.create_script(actor=admin, name=name, interpreter="sh", body=body)
    return actions.approve_script(actor=admin, script=script)


@pytest.fixture(autouse=True)
def signing_key(settings: Any, tmp_path: Any) -> None:
    """Each test signs with a key of its own, not the developer's var/ key."""
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"
