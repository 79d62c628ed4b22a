"""Remote actions and the script library: signing, permission, bounds, expiry, audit."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from atalaya.core.models import AuditEvent
from atalaya.monitoring import actions, signing
from atalaya.monitoring.models import ActionStatus, Device, RemoteAction, Script
from atalaya.monitoring.tests.helpers_ui import approved_script, make_device


@pytest.fixture(autouse=True)
def signing_key(settings: Any, tmp_path: Any) -> None:
    settings.AGENT_SIGNING_KEY_FILE = tmp_path / "agent-signing.key"


@pytest.fixture
def device(world: Any) -> Device:
    return make_device(world.client_a, world.site_a, "pc-ana")


def public_key() -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(signing.public_key_b64()))


def test_queued_script_is_signed_over_the_exact_envelope(world: Any, device: Device) -> None:
    script = approved_script(world.admin, body="rm -rf /tmp/atalaya-demo/*\n")
    now = timezone.now().replace(microsecond=0)
    action = actions.queue_action(
        actor=world.admin,
        device=device,
        kind="run_script",
        script=script,
        arguments=["--days", "7"],
        expires_in=timedelta(hours=2),
        now=now,
    )
    # The agent verifies the stored bytes as they are, before parsing anything.
    public_key().verify(base64.b64decode(action.signature), action.envelope.encode())
    with pytest.raises(InvalidSignature):
        public_key().verify(base64.b64decode(action.signature), action.envelope.encode() + b" ")
    payload = json.loads(action.envelope)
    assert action.envelope == signing.canonical_json(payload)
    assert payload == {
        "v": 1,
        "id": str(action.public_id),
        "device_id": str(device.public_id),
        "kind": "run_script",
        "script": {
            "name": "Flush DNS cache",
            "interpreter": "sh",
            "body": "rm -rf /tmp/atalaya-demo/*\n",
            "sha256": actions.script_sha256("rm -rf /tmp/atalaya-demo/*\n"),
            "timeout_s": 300,
        },
        "args": ["--days", "7"],
        "nonce": action.nonce,
        "issued_at": int(now.timestamp()),
        "expires_at": int(now.timestamp()) + 7200,
    }
    assert len(action.nonce) == 32 and int(action.nonce, 16) >= 0
    assert action.expires_at == now + timedelta(hours=2)
    assert action.status == ActionStatus.QUEUED
    device.refresh_from_db()
    assert device.has_pending_actions
    audit = AuditEvent.objects.get(action="action.queued")
    assert audit.client_id == world.client_a.pk and audit.actor_id == world.admin.pk
    assert audit.after["arguments"] == ["--days", "7"]


def test_reboot_has_no_script_and_a_fresh_nonce(world: Any, device: Device) -> None:
    one = actions.queue_action(actor=world.admin, device=device, kind="reboot")
    two = actions.queue_action(actor=world.admin, device=device, kind="reboot")
    first = json.loads(one.envelope)
    assert first["script"] is None and first["args"] == [] and first["kind"] == "reboot"
    assert one.nonce != two.nonce
    public_key().verify(base64.b64decode(two.signature), two.envelope.encode())


def test_only_remote_operators_may_queue_or_cancel(world: Any, device: Device) -> None:
    for user in (world.tech, world.readonly, world.billing, world.portal_a):
        with pytest.raises(PermissionDenied):
            actions.queue_action(actor=user, device=device, kind="reboot")
    assert not RemoteAction.objects.exists()
    world.tech.is_remote_operator = True
    world.tech.save(update_fields=["is_remote_operator"])
    action = actions.queue_action(actor=world.tech, device=device, kind="reboot")
    with pytest.raises(PermissionDenied):
        actions.cancel_action(actor=world.readonly, action=action)
    actions.cancel_action(actor=world.tech, action=action)
    action.refresh_from_db()
    assert action.status == ActionStatus.CANCELLED and action.finished_at is not None
    device.refresh_from_db()
    assert not device.has_pending_actions
    assert AuditEvent.objects.filter(action="action.cancelled").count() == 1
    with pytest.raises(ValidationError, match="already cancelled"):
        actions.cancel_action(actor=world.tech, action=action)


def test_unapproved_or_retired_scripts_are_refused(world: Any, device: Device) -> None:
    draft = actions.create_script(actor=world.tech, name="Draft", interpreter="sh", body="id\n")
    with pytest.raises(ValidationError, match="not approved"):
        actions.queue_action(actor=world.admin, device=device, kind="run_script", script=draft)
    script = approved_script(world.admin)
    actions.retire_script(actor=world.admin, script=script)
    with pytest.raises(ValidationError, match="not approved"):
        actions.queue_action(actor=world.admin, device=device, kind="run_script", script=script)
    with pytest.raises(ValidationError, match="approved library"):
        actions.queue_action(actor=world.admin, device=device, kind="run_script")
    assert not RemoteAction.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"expires_in": timedelta(minutes=4)}, "expires_in"),
        ({"expires_in": timedelta(days=31)}, "expires_in"),
        ({"arguments": ["x"] * 21}, "arguments"),
        ({"arguments": ["x" * 1001]}, "arguments"),
        ({"arguments": [3]}, "arguments"),
        ({"arguments": "--all"}, "arguments"),
        ({"arguments": ["a\x00b"]}, "arguments"),
        ({"kind": "format_disk"}, "kind"),
    ],
)
def test_bounds_are_enforced(
    world: Any, device: Device, kwargs: dict[str, Any], field: str
) -> None:
    script = approved_script(world.admin)
    call: dict[str, Any] = {"kind": "run_script", "script": script, **kwargs}
    with pytest.raises(ValidationError) as info:
        actions.queue_action(actor=world.admin, device=device, **call)
    assert field in info.value.message_dict
    assert not RemoteAction.objects.exists()


def test_reboot_takes_no_script_or_arguments(world: Any, device: Device) -> None:
    script = approved_script(world.admin)
    with pytest.raises(ValidationError, match="no script"):
        actions.queue_action(actor=world.admin, device=device, kind="reboot", script=script)
    with pytest.raises(ValidationError, match="no arguments"):
        actions.queue_action(actor=world.admin, device=device, kind="reboot", arguments=["-f"])


def test_retired_device_gets_no_actions(world: Any, device: Device) -> None:
    waiting = actions.queue_action(actor=world.admin, device=device, kind="reboot")
    old_hash = device.token_hash
    actions.retire_device(actor=world.tech, device=device)
    device.refresh_from_db()
    assert device.retired_at is not None and device.token_hash != old_hash
    assert not device.has_pending_actions
    waiting.refresh_from_db()
    assert waiting.status == ActionStatus.CANCELLED
    with pytest.raises(ValidationError, match="retired"):
        actions.queue_action(actor=world.admin, device=device, kind="reboot")
    with pytest.raises(PermissionDenied):
        actions.retire_device(actor=world.readonly, device=device)


def test_expiry_job_expires_audits_and_clears_the_mark(world: Any, device: Device) -> None:
    from atalaya.monitoring.tasks_actions import expire_remote_actions

    other = make_device(world.client_a, world.site_a, "pc-luis")
    now = timezone.now()
    short = actions.queue_action(
        actor=world.admin, device=device, kind="reboot", expires_in=timedelta(minutes=5), now=now
    )
    sent = actions.queue_action(
        actor=world.admin, device=other, kind="reboot", expires_in=timedelta(minutes=5), now=now
    )
    RemoteAction.objects.filter(pk=sent.pk).update(status=ActionStatus.SENT, sent_at=now)
    long = actions.queue_action(
        actor=world.admin, device=other, kind="reboot", expires_in=timedelta(days=1), now=now
    )
    assert actions.expire_actions(now + timedelta(minutes=4)) == 0
    assert actions.expire_actions(now + timedelta(minutes=6)) == 2
    assert actions.expire_actions(now + timedelta(minutes=7)) == 0
    statuses = dict(RemoteAction.objects.values_list("pk", "status"))
    assert statuses == {
        short.pk: ActionStatus.EXPIRED,
        sent.pk: ActionStatus.EXPIRED,
        long.pk: ActionStatus.QUEUED,
    }
    expired = AuditEvent.objects.filter(action="action.expired")
    assert sorted(expired.values_list("object_id", flat=True)) == sorted(
        [str(short.public_id), str(sent.public_id)]
    )
    assert all(e.before["status"] in ("queued", "sent") for e in expired)
    marks = dict(Device.objects.values_list("hostname", "has_pending_actions"))
    assert marks == {"pc-ana": False, "pc-luis": True}
    # A lost mark is put back by the sweep; the periodic task runs the same sweep.
    Device.objects.filter(pk=other.pk).update(has_pending_actions=False)
    RemoteAction.objects.filter(pk=long.pk).update(expires_at=now - timedelta(seconds=1))
    assert expire_remote_actions.call_local() == 1
    assert not Device.objects.filter(has_pending_actions=True).exists()


def test_sweep_repairs_a_lost_pending_mark(world: Any, device: Device) -> None:
    actions.queue_action(actor=world.admin, device=device, kind="reboot")
    Device.objects.filter(pk=device.pk).update(has_pending_actions=False)
    actions.expire_actions()
    device.refresh_from_db()
    assert device.has_pending_actions


def test_script_library_approval_freezes_the_hash(world: Any) -> None:
    with pytest.raises(PermissionDenied):
        actions.create_script(actor=world.readonly, name="x", interpreter="sh", body="id")
    script = actions.create_script(
        actor=world.tech, name="Restart print spooler", interpreter="powershell", body="Restart"
    )
    assert script.sha256 == actions.script_sha256("Restart") and not script.is_approved
    with pytest.raises(PermissionDenied):
        actions.approve_script(actor=world.tech, script=script)
    # Someone wrote to the row behind the service's back: approval hashes what is there.
    Script.objects.filter(pk=script.pk).update(body="Restart-Service Spooler", sha256="0" * 64)
    script.refresh_from_db()
    actions.approve_script(actor=world.admin, script=script)
    script.refresh_from_db()
    assert script.is_approved and script.approved_by == world.admin
    assert script.sha256 == actions.script_sha256("Restart-Service Spooler")
    with pytest.raises(ValidationError, match="already approved"):
        actions.approve_script(actor=world.admin, script=script)
    with pytest.raises(ValidationError, match="already exists"):
        actions.create_script(
            actor=world.tech, name="restart PRINT spooler", interpreter="sh", body="x"
        )
    for kwargs, field in (
        ({"interpreter": "cmd"}, "interpreter"),
        ({"body": " "}, "body"),
        ({"body": "x" * (64 * 1024 + 1)}, "body"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"name": ""}, "name"),
    ):
        call = {"name": "Other", "interpreter": "sh", "body": "id", **kwargs}
        with pytest.raises(ValidationError) as info:
            actions.create_script(actor=world.tech, **call)
        assert field in info.value.message_dict
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "script.created",
        "script.approved",
    }


def test_retiring_a_script_cancels_its_waiting_actions(world: Any, device: Device) -> None:
    script = approved_script(world.admin)
    action = actions.queue_action(
        actor=world.admin, device=device, kind="run_script", script=script
    )
    with pytest.raises(PermissionDenied):
        actions.retire_script(actor=world.tech, script=script)
    assert actions.retire_script(actor=world.admin, script=script) == 1
    action.refresh_from_db()
    assert action.status == ActionStatus.CANCELLED
    device.refresh_from_db()
    assert not device.has_pending_actions


def test_update_device(world: Any, device: Device) -> None:
    router = make_device(world.client_a, world.site_a, "router")
    other_site = world.site_b
    version = device.config_version
    actions.update_device(actor=world.tech, device=device, checkin_interval_s=120)
    device.refresh_from_db()
    assert device.checkin_interval_s == 120 and device.config_version == version + 1
    actions.update_device(actor=world.tech, device=device, display_name=" Ana's PC ", parent=router)
    device.refresh_from_db()
    assert device.display_name == "Ana's PC" and device.parent == router
    assert device.config_version == version + 1
    with pytest.raises(ValidationError, match="reached through"):
        actions.update_device(actor=world.tech, device=router, parent=device)
    with pytest.raises(ValidationError, match="own parent"):
        actions.update_device(actor=world.tech, device=device, parent=device)
    with pytest.raises(ValidationError, match="site of the device"):
        actions.update_device(actor=world.tech, device=device, site=other_site)
    with pytest.raises(ValidationError, match="between"):
        actions.update_device(actor=world.tech, device=device, checkin_interval_s=5)
    with pytest.raises(PermissionDenied):
        actions.update_device(actor=world.readonly, device=device, display_name="x")
    audit = AuditEvent.objects.filter(action="device.updated").order_by("at", "id")
    assert [e.after for e in audit][0] == {"checkin_interval_s": 120}
