"""Remote actions, the script library and device changes: every write of them, audited.

An action is signed when it is queued and never again: the envelope stored is the
exact text the agent verifies (agent/PROTOCOL.md, "Actions"), re-sent unchanged on
each check-in until the agent reports a result or the action expires. Only users who
``can_run_remote_actions`` queue or cancel actions; only administrators approve or
retire scripts, and a script's body is frozen from its approval on (its SHA-256 is
always computed here, never taken from the client).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import AuditEvent, Site, User
from atalaya.core.services import record_audit
from atalaya.monitoring import signing
from atalaya.monitoring.agent_config import bump_config_version
from atalaya.monitoring.models import (
    ACTION_WAITING,
    ActionKind,
    ActionStatus,
    Device,
    Interpreter,
    RemoteAction,
    Script,
)

PROTOCOL_VERSION = 1
MIN_EXPIRY = timedelta(minutes=5)
MAX_EXPIRY = timedelta(days=30)
DEFAULT_EXPIRY = timedelta(hours=24)
MAX_ARGUMENTS = 20
MAX_ARGUMENT_CHARS = 1000
SCRIPT_NAME_MAX = 120
SCRIPT_BODY_MAX = 64 * 1024
SCRIPT_TIMEOUT_RANGE = (1, 24 * 3600)
CHECKIN_INTERVAL_RANGE = (30, 3600)
# Expired actions handled per statement, so one sweep never holds a long lock.
EXPIRE_BATCH = 1000


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _require_operator(actor: User | None) -> User:
    if actor is None or not actor.can_run_remote_actions:
        raise PermissionDenied(_("You may not run remote actions on devices."))
    return actor


def _require_admin(actor: User | None) -> User:
    if actor is None or not actor.is_admin:
        raise PermissionDenied(_("Only administrators may do this."))
    return actor


def _require_writer(actor: User | None) -> User:
    if actor is None or not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not change monitoring settings."))
    return actor


def script_sha256(body: str) -> str:
    """The SHA-256 of a script body as the agent checks it: over its UTF-8 bytes."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def clean_arguments(arguments: Iterable[Any]) -> list[str]:
    """The action's arguments as a bounded list of bounded strings, or a ValidationError."""
    if isinstance(arguments, str | bytes):
        raise ValidationError({"arguments": [_("Give the arguments as a list of strings.")]})
    values = list(arguments)
    if len(values) > MAX_ARGUMENTS:
        raise ValidationError(
            {"arguments": [_("At most %(n)d arguments are allowed.") % {"n": MAX_ARGUMENTS}]}
        )
    for n, value in enumerate(values, 1):
        if not isinstance(value, str):
            raise ValidationError({"arguments": [_("Argument %(n)d is not a string.") % {"n": n}]})
        if len(value) > MAX_ARGUMENT_CHARS:
            raise ValidationError(
                {
                    "arguments": [
                        _("Argument %(n)d is longer than %(max)d characters.")
                        % {"n": n, "max": MAX_ARGUMENT_CHARS}
                    ]
                }
            )
        if "\x00" in value:
            # No operating system passes NUL in a command-line argument.
            raise ValidationError(
                {"arguments": [_("Argument %(n)d contains a NUL character.") % {"n": n}]}
            )
    return values


def _action_audit(action: RemoteAction) -> dict[str, Any]:
    return {
        "device": str(action.device.public_id),
        "kind": action.kind,
        "script": action.script.name if action.script is not None else None,
        "arguments": action.arguments,
        "status": action.status,
        "expires_at": action.expires_at.isoformat(),
    }


def action_payload(
    *,
    action_id: uuid.UUID,
    device: Device,
    kind: str,
    script: Script | None,
    arguments: Sequence[str],
    nonce: str,
    issued_at: int,
    expires_at: int,
) -> dict[str, Any]:
    """The action as agent/PROTOCOL.md defines it, before it is signed."""
    return {
        "v": PROTOCOL_VERSION,
        "id": str(action_id),
        "device_id": str(device.public_id),
        "kind": kind,
        "script": (
            {
                "name": script.name,
                "interpreter": script.interpreter,
                "body": script.body,
                "sha256": script.sha256,
                "timeout_s": script.timeout_s,
            }
            if script is not None
            else None
        ),
        "args": list(arguments),
        "nonce": nonce,
        "issued_at": issued_at,
        "expires_at": expires_at,
    }


@transaction.atomic
def queue_action(
    *,
    actor: User,
    device: Device,
    kind: str,
    script: Script | None = None,
    arguments: Iterable[Any] = (),
    expires_in: timedelta = DEFAULT_EXPIRY,
    now: datetime | None = None,
    scan: dict[str, Any] | None = None,
) -> RemoteAction:
    """Queue a reboot, an approved script or a network scan for ``device``, signed.

    The payload (id, device, kind, script with body and SHA-256, arguments, a fresh
    nonce, issue and expiry time as epoch seconds) is signed once with the server's
    Ed25519 key and stored as sent; the device is marked so its next check-in fetches
    it, even when that check-in comes days later. Needs ``can_run_remote_actions``;
    a scan (``scan`` = targets, ports, timeout_ms) only needs a technician (the
    scheduler queues it as the person who set up the site's schedule).
    """
    actor = _require_writer(actor) if kind == ActionKind.SCAN else _require_operator(actor)
    now = now or timezone.now()
    if device.retired_at is not None:
        raise ValidationError({"device": [_("This device is retired.")]})
    if kind not in ActionKind.values:
        raise ValidationError(
            {
                "kind": [
                    _("Unknown action %(kind)r; use one of: %(choices)s")
                    % {"kind": kind, "choices": ", ".join(ActionKind.values)}
                ]
            }
        )
    if not isinstance(expires_in, timedelta) or not MIN_EXPIRY <= expires_in <= MAX_EXPIRY:
        raise ValidationError(
            {"expires_in": [_("An action must expire between 5 minutes and 30 days from now.")]}
        )
    values = clean_arguments(arguments)
    if kind == ActionKind.SCAN:
        if script is not None or values or not isinstance(scan, dict):
            raise ValidationError({"scan": [_("A scan takes its targets and ports, no script.")]})
    elif kind == ActionKind.REBOOT:
        if script is not None:
            raise ValidationError({"script": [_("A reboot runs no script.")]})
        if values:
            raise ValidationError({"arguments": [_("A reboot takes no arguments.")]})
    else:
        if script is None:
            raise ValidationError({"script": [_("Choose a script from the approved library.")]})
        # Read again under lock: approval or retirement may have changed since the form.
        script = Script.objects.select_for_update().get(pk=script.pk)
        if not script.is_approved:
            raise ValidationError({"script": [_("This script is not approved.")]})
        if script.sha256 != script_sha256(script.body):
            raise ValidationError({"script": [_("This script's body does not match its hash.")]})
    issued_at = _epoch(now)
    expires_at = issued_at + int(expires_in.total_seconds())
    action_id = uuid.uuid4()
    nonce = secrets.token_hex(16)
    payload = action_payload(
        action_id=action_id,
        device=device,
        kind=kind,
        script=script,
        arguments=values,
        nonce=nonce,
        issued_at=issued_at,
        expires_at=expires_at,
    )
    if kind == ActionKind.SCAN:
        payload["scan"] = scan
    envelope, signature = signing.sign(payload)
    action = RemoteAction.objects.create(
        public_id=action_id,
        client_id=device.client_id,
        device=device,
        kind=kind,
        script=script,
        arguments=values,
        nonce=nonce,
        envelope=envelope,
        signature=signature,
        status=ActionStatus.QUEUED,
        created_by=actor,
        created_at=now,
        # The stored expiry is the signed one, to the second.
        expires_at=_from_epoch(expires_at),
    )
    # After the insert: a sweep clearing the flag concurrently sees this action.
    Device.objects.filter(pk=device.pk).update(has_pending_actions=True)
    device.has_pending_actions = True
    record_audit(actor, action, "action.queued", client=device.client, after=_action_audit(action))
    return action


def refresh_pending_flags(device_ids: Iterable[int]) -> None:
    """Clear ``has_pending_actions`` on those devices that have no waiting action left."""
    ids = list(set(device_ids))
    if not ids:
        return
    waiting = RemoteAction.objects.filter(device_id=OuterRef("pk"), status__in=ACTION_WAITING)
    Device.objects.filter(pk__in=ids, has_pending_actions=True).exclude(Exists(waiting)).update(
        has_pending_actions=False
    )


@transaction.atomic
def cancel_action(
    *, actor: User, action: RemoteAction, now: datetime | None = None
) -> RemoteAction:
    """Cancel a queued or sent action: it is not offered to the agent again.

    An action already handed to the agent may still run if the agent got it before
    the cancellation; its result is recorded all the same.
    """
    actor = _require_operator(actor)
    now = now or timezone.now()
    # Compare-and-set: the agent's result may land at the same moment.
    changed = RemoteAction.objects.filter(pk=action.pk, status__in=ACTION_WAITING).update(
        status=ActionStatus.CANCELLED, finished_at=now
    )
    if not changed:
        action.refresh_from_db()
        raise ValidationError(
            {
                "status": [
                    _("This action is already %(status)s; it cannot be cancelled.")
                    % {"status": action.get_status_display().lower()}
                ]
            }
        )
    before = action.status
    action.status, action.finished_at = ActionStatus.CANCELLED, now
    refresh_pending_flags([action.device_id])
    record_audit(
        actor,
        action,
        "action.cancelled",
        client=action.device.client,
        before={"status": before},
        after={"status": action.status},
    )
    return action


def expire_actions(now: datetime | None = None) -> int:
    """Mark queued or sent actions past their expiry as expired; returns how many.

    Each gets an audit event; devices with nothing left waiting lose their
    ``has_pending_actions`` mark, and (repairing any race with a concurrent sweep)
    devices with a waiting action get it back.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                RemoteAction.objects.filter(status__in=ACTION_WAITING, expires_at__lte=now)
                .order_by("expires_at", "pk")
                .values_list("pk", "public_id", "client_id", "device_id", "status")[:EXPIRE_BATCH]
            )
            if not rows:
                break
            pks = [row[0] for row in rows]
            RemoteAction.objects.filter(pk__in=pks, status__in=ACTION_WAITING).update(
                status=ActionStatus.EXPIRED, finished_at=now
            )
            done = set(
                RemoteAction.objects.filter(
                    pk__in=pks, status=ActionStatus.EXPIRED, finished_at=now
                ).values_list("pk", flat=True)
            )
            AuditEvent.objects.bulk_create(
                AuditEvent(
                    at=now,
                    actor=None,
                    client_id=client_id,
                    object_type="remoteaction",
                    object_id=str(public_id),
                    action="action.expired",
                    before={"status": status},
                    after={"status": ActionStatus.EXPIRED},
                )
                for pk, public_id, client_id, _device_id, status in rows
                if pk in done
            )
            refresh_pending_flags(row[3] for row in rows)
            total += len(done)
            if len(rows) < EXPIRE_BATCH:
                break
    waiting = RemoteAction.objects.filter(device_id=OuterRef("pk"), status__in=ACTION_WAITING)
    Device.objects.filter(Exists(waiting), has_pending_actions=False).update(
        has_pending_actions=True
    )
    return total


# --- the script library ------------------------------------------------------------------


def _clean_script_fields(
    *, name: str, interpreter: str, body: str, timeout_s: int, description: str
) -> tuple[str, str]:
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("A script needs a name.")]
    elif len(name) > SCRIPT_NAME_MAX:
        errors["name"] = [_("At most %(n)d characters.") % {"n": SCRIPT_NAME_MAX}]
    elif Script.objects.filter(name__iexact=name).exists():
        errors["name"] = [_("A script with this name already exists.")]
    if interpreter not in Interpreter.values:
        errors["interpreter"] = [
            _("Unknown interpreter; use one of: %(choices)s")
            % {"choices": ", ".join(Interpreter.values)}
        ]
    if not (body or "").strip():
        errors["body"] = [_("The script is empty.")]
    elif len(body.encode("utf-8")) > SCRIPT_BODY_MAX:
        errors["body"] = [_("A script may be at most 64 KiB.")]
    elif "\x00" in body:
        errors["body"] = [_("The script contains a NUL character.")]
    low, high = SCRIPT_TIMEOUT_RANGE
    if not isinstance(timeout_s, int) or not low <= timeout_s <= high:
        errors["timeout_s"] = [
            _("The timeout must be between %(low)d and %(high)d seconds.")
            % {"low": low, "high": high}
        ]
    if len(description or "") > 2000:
        errors["description"] = [_("At most 2000 characters.")]
    if errors:
        raise ValidationError(errors)
    return name, body


@transaction.atomic
def create_script(
    *,
    actor: User,
    name: str,
    interpreter: str,
    body: str,
    description: str = "",
    timeout_s: int = 300,
    now: datetime | None = None,
) -> Script:
    """Add a script to the library, awaiting an administrator's approval.

    Technicians and administrators may propose scripts; none runs until approved.
    """
    actor = _require_writer(actor)
    name, body = _clean_script_fields(
        name=name, interpreter=interpreter, body=body, timeout_s=timeout_s, description=description
    )
    script = Script.objects.create(
        name=name,
        description=description or "",
        interpreter=interpreter,
        body=body,
        sha256=script_sha256(body),
        timeout_s=timeout_s,
        created_by=actor,
        created_at=now or timezone.now(),
    )
    record_audit(
        actor,
        script,
        "script.created",
        after={"name": name, "interpreter": interpreter, "sha256": script.sha256},
    )
    return script


@transaction.atomic
def approve_script(*, actor: User, script: Script, now: datetime | None = None) -> Script:
    """An administrator approves a script: from now on it may run, and its body is frozen."""
    actor = _require_admin(actor)
    now = now or timezone.now()
    digest = script_sha256(script.body)
    changed = Script.objects.filter(
        pk=script.pk, approved_at__isnull=True, retired_at__isnull=True
    ).update(approved_at=now, approved_by=actor, sha256=digest)
    if not changed:
        raise ValidationError({"script": [_("This script is already approved or retired.")]})
    script.approved_at, script.approved_by, script.sha256 = now, actor, digest
    record_audit(actor, script, "script.approved", after={"sha256": digest})
    return script


@transaction.atomic
def retire_script(*, actor: User, script: Script, now: datetime | None = None) -> int:
    """Take a script out of the library; its actions still waiting are cancelled.

    Returns how many waiting actions were cancelled. A retired script stays for the
    history of the actions that ran it.
    """
    actor = _require_admin(actor)
    now = now or timezone.now()
    changed = Script.objects.filter(pk=script.pk, retired_at__isnull=True).update(retired_at=now)
    if not changed:
        raise ValidationError({"script": [_("This script is already retired.")]})
    script.retired_at = now
    waiting = list(
        RemoteAction.objects.filter(script=script, status__in=ACTION_WAITING).values_list(
            "pk", "device_id"
        )
    )
    RemoteAction.objects.filter(pk__in=[pk for pk, _d in waiting]).update(
        status=ActionStatus.CANCELLED, finished_at=now, reason="script retired"
    )
    refresh_pending_flags(d for _pk, d in waiting)
    record_audit(actor, script, "script.retired", after={"cancelled_actions": len(waiting)})
    return len(waiting)


# --- devices ------------------------------------------------------------------------------

_UNSET: Any = object()


@transaction.atomic
def update_device(
    *,
    actor: User,
    device: Device,
    display_name: str = _UNSET,
    parent: Device | None = _UNSET,
    site: Site = _UNSET,
    checkin_interval_s: int = _UNSET,
) -> Device:
    """Change a device's display name, parent (the router it is reached through), site or
    check-in interval; a new interval reaches the agent with its next check-in."""
    actor = _require_writer(actor)
    if device.retired_at is not None:
        raise ValidationError({"device": [_("This device is retired.")]})
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    fields: list[str] = []
    if display_name is not _UNSET:
        name = (display_name or "").strip()
        if len(name) > 255:
            raise ValidationError({"display_name": [_("At most 255 characters.")]})
        if name != device.display_name:
            before["display_name"], after["display_name"] = device.display_name, name
            device.display_name = name
            fields.append("display_name")
    if site is not _UNSET:
        if site is None or site.client_id != device.client_id:
            raise ValidationError({"site": [_("Choose a site of the device's client.")]})
        if site.pk != device.site_id:
            before["site"], after["site"] = str(device.site.public_id), str(site.public_id)
            device.site = site
            fields.append("site")
    if parent is not _UNSET:
        if parent is not None:
            if parent.client_id != device.client_id:
                raise ValidationError({"parent": [_("Choose a device of the same client.")]})
            if parent.pk == device.pk:
                raise ValidationError({"parent": [_("A device cannot be its own parent.")]})
            # Walk up from the new parent: reaching this device would make a loop.
            seen: set[int] = {device.pk}
            step: Device | None = parent
            while step is not None:
                if step.pk in seen:
                    raise ValidationError(
                        {"parent": [_("That parent is reached through this device.")]}
                    )
                seen.add(step.pk)
                step = Device.objects.filter(pk=step.parent_id).first() if step.parent_id else None
        new_parent = parent.pk if parent is not None else None
        if new_parent != device.parent_id:
            old = device.parent
            before["parent"] = str(old.public_id) if old is not None else None
            after["parent"] = str(parent.public_id) if parent is not None else None
            device.parent = parent
            fields.append("parent")
    bump = False
    if checkin_interval_s is not _UNSET:
        low, high = CHECKIN_INTERVAL_RANGE
        if (
            not isinstance(checkin_interval_s, int)
            or isinstance(checkin_interval_s, bool)
            or not low <= checkin_interval_s <= high
        ):
            raise ValidationError(
                {
                    "checkin_interval_s": [
                        _("The interval must be between %(low)d and %(high)d seconds.")
                        % {"low": low, "high": high}
                    ]
                }
            )
        if checkin_interval_s != device.checkin_interval_s:
            before["checkin_interval_s"] = device.checkin_interval_s
            after["checkin_interval_s"] = checkin_interval_s
            device.checkin_interval_s = checkin_interval_s
            fields.append("checkin_interval_s")
            bump = True
    if fields:
        device.save(update_fields=fields)
        if bump:
            bump_config_version(client=device.client, device=device)
            device.refresh_from_db(fields=["config_version"])
        record_audit(
            actor, device, "device.updated", client=device.client, before=before, after=after
        )
    return device


@transaction.atomic
def retire_device(*, actor: User, device: Device, now: datetime | None = None) -> Device:
    """Take a device out of monitoring: its token stops working, its waiting actions are
    cancelled, its history stays. Re-enrolling the machine makes it a device again."""
    actor = _require_writer(actor)
    now = now or timezone.now()
    changed = Device.objects.filter(pk=device.pk, retired_at__isnull=True).update(
        retired_at=now,
        # A fresh random hash: no token, old or guessed, matches a retired device.
        token_hash=secrets.token_hex(32),
        has_pending_actions=False,
    )
    if not changed:
        raise ValidationError({"device": [_("This device is already retired.")]})
    cancelled = RemoteAction.objects.filter(device=device, status__in=ACTION_WAITING).update(
        status=ActionStatus.CANCELLED, finished_at=now, reason="device retired"
    )
    device.refresh_from_db()
    record_audit(
        actor,
        device,
        "device.retired",
        client=device.client,
        after={"retired_at": now.isoformat(), "cancelled_actions": cancelled},
    )
    return device
