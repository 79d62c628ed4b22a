"""Every write to the register of temporary fixes: record, link, renew, close.

Nothing here deletes: a renewal is a new row with its reason, closing records how the
change was undone, and every change writes an audit event. Links (tickets, devices,
findings) must belong to the fix's client: the register is per client, and a ticket
of another client named by mistake is refused, never attached.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import Client, User
from atalaya.core.services import record_audit
from atalaya.monitoring.models import Device
from atalaya.security.models import (
    Finding,
    FixKind,
    FixStatus,
    TemporaryFix,
    TemporaryFixRenewal,
    can_write_security,
    require_security_writer,
)
from atalaya.tickets.models import Ticket

# A "temporary" change meant to last longer than this is a policy, not a quick fix.
LONGEST_REVERT_BY = timedelta(days=366)
TEXT_LIMIT = 5000


def _text(field: str, value: Any, *, limit: int, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationError({field: [_("This field is required.")]})
    if len(text) > limit:
        raise ValidationError(
            {field: [_("At most %(limit)d characters, please.") % {"limit": limit}]}
        )
    return text


def _revert_by(value: Any, *, today: date, after: date | None = None) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationError({"revert_by": [_("A revert-by date is required.")]})
    if value < today:
        raise ValidationError({"revert_by": [_("The revert-by date cannot be in the past.")]})
    if after is not None and value <= after:
        raise ValidationError(
            {"revert_by": [_("A renewal needs a later date than %(date)s.") % {"date": after}]}
        )
    if value > today + LONGEST_REVERT_BY:
        raise ValidationError(
            {
                "revert_by": [
                    _("A temporary fix must be undone within a year; record a policy instead.")
                ]
            }
        )
    return value


def _owner(owner: Any) -> User:
    if not isinstance(owner, User) or not can_write_security(owner):
        raise ValidationError(
            {"owner": [_("The owner must be an active administrator or technician.")]}
        )
    return owner


def _evidence(host: Any, port: Any) -> tuple[str, int | None]:
    host_text = _text("evidence_host", host, limit=255, required=False)
    if port in (None, ""):
        if host_text:
            raise ValidationError({"evidence_port": [_("Name the port the scan should check.")]})
        return "", None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValidationError({"evidence_port": [_("A TCP port from 1 to 65535.")]})
    return host_text, port


def _same_client(client: Client, field: str, objects: Iterable[Any]) -> list[Any]:
    found = list(objects)
    for obj in found:
        if obj.client_id != client.pk:
            raise ValidationError(
                {field: [_("%(object)s belongs to another client.") % {"object": obj}]}
            )
    return found


def tickets_by_number(client: Client, numbers: Iterable[int]) -> list[Ticket]:
    """The client's tickets with these numbers; an unknown or foreign number is an error
    that names it (a ticket of another client is "not found", not "foreign")."""
    wanted = sorted({int(n) for n in numbers})
    found = {t.number: t for t in Ticket.objects.filter(client=client, number__in=wanted)}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ValidationError(
            {"tickets": [_("No ticket #%(number)s for this client.") % {"number": missing[0]}]}
        )
    return [found[n] for n in wanted]


def _snapshot(fix: TemporaryFix) -> dict[str, Any]:
    return {
        "kind": fix.kind,
        "title": fix.title,
        "owner": fix.owner.username,
        "revert_by": fix.revert_by.isoformat(),
        "status": fix.status,
    }


@transaction.atomic
def create_fix(
    *,
    actor: User | None,
    client: Client,
    title: str,
    reason: str,
    owner: User,
    revert_by: date,
    kind: str = FixKind.OTHER,
    evidence_host: str = "",
    evidence_port: int | None = None,
    tickets: Iterable[Ticket] = (),
    devices: Iterable[Device] = (),
    findings: Iterable[Finding] = (),
    now: datetime | None = None,
) -> TemporaryFix:
    """Record a quick-and-dirty change: what, why, who answers for it, and by when it
    must be undone (mandatory, not in the past, within a year)."""
    require_security_writer(actor)
    now = now or timezone.now()
    if kind not in FixKind.values:
        raise ValidationError({"kind": [_("Choose one of: %s") % ", ".join(FixKind.values)]})
    host, port = _evidence(evidence_host, evidence_port)
    fix = TemporaryFix.objects.create(
        client=client,
        kind=kind,
        title=_text("title", title, limit=300),
        reason=_text("reason", reason, limit=TEXT_LIMIT),
        owner=_owner(owner),
        created_by=actor,
        created_at=now,
        revert_by=_revert_by(revert_by, today=timezone.localdate(now)),
        evidence_host=host,
        evidence_port=port,
    )
    fix.tickets.set(_same_client(client, "tickets", tickets))
    fix.devices.set(_same_client(client, "devices", devices))
    fix.findings.set(_same_client(client, "findings", findings))
    record_audit(actor, fix, "fix.created", client=client, after=_snapshot(fix))
    return fix


@transaction.atomic
def link_fix(
    *,
    actor: User | None,
    fix: TemporaryFix,
    tickets: Iterable[Ticket] = (),
    devices: Iterable[Device] = (),
    findings: Iterable[Finding] = (),
) -> TemporaryFix:
    """Attach more tickets, devices or findings of the same client."""
    require_security_writer(actor)
    added = {
        "tickets": [t.number for t in _same_client(fix.client, "tickets", tickets)],
        "devices": [str(d.public_id) for d in _same_client(fix.client, "devices", devices)],
        "findings": [str(f.public_id) for f in _same_client(fix.client, "findings", findings)],
    }
    fix.tickets.add(*tickets)
    fix.devices.add(*devices)
    fix.findings.add(*findings)
    record_audit(actor, fix, "fix.linked", client=fix.client, after=added)
    return fix


def _lock_open(fix: TemporaryFix) -> TemporaryFix:
    locked = TemporaryFix.objects.select_for_update().select_related("owner").get(pk=fix.pk)
    if locked.status != FixStatus.OPEN:
        raise ValidationError({"status": [_("This temporary fix is already undone.")]})
    return locked


@transaction.atomic
def renew_fix(
    *,
    actor: User | None,
    fix: TemporaryFix,
    revert_by: date,
    reason: str,
    now: datetime | None = None,
) -> TemporaryFix:
    """Push the revert-by date later, which needs a new reason; the reminders start over
    for the new date (they are keyed by it) and the escalation is lifted."""
    require_security_writer(actor)
    now = now or timezone.now()
    locked = _lock_open(fix)
    old = locked.revert_by
    new = _revert_by(revert_by, today=timezone.localdate(now), after=old)
    why = _text("reason", reason, limit=TEXT_LIMIT)
    TemporaryFixRenewal.objects.create(
        fix=locked,
        old_revert_by=old,
        new_revert_by=new,
        reason=why,
        renewed_by=actor,
        renewed_at=now,
    )
    locked.revert_by, locked.escalated_at = new, None
    locked.save(update_fields=["revert_by", "escalated_at"])
    record_audit(
        actor,
        locked,
        "fix.renewed",
        client=locked.client,
        before={"revert_by": old.isoformat()},
        after={"revert_by": new.isoformat(), "reason": why},
    )
    return locked


@transaction.atomic
def close_fix(
    *, actor: User | None, fix: TemporaryFix, undo_note: str, now: datetime | None = None
) -> TemporaryFix:
    """Mark the change undone, saying how. A later scan may still prove otherwise
    (``fixes.evidence``)."""
    require_security_writer(actor)
    now = now or timezone.now()
    locked = _lock_open(fix)
    locked.status = FixStatus.CLOSED
    locked.undo_note = _text("undo_note", undo_note, limit=TEXT_LIMIT)
    locked.closed_at, locked.closed_by = now, actor
    locked.save(update_fields=["status", "undo_note", "closed_at", "closed_by"])
    record_audit(
        actor,
        locked,
        "fix.closed",
        client=locked.client,
        before={"status": FixStatus.OPEN},
        after={"status": FixStatus.CLOSED, "undo_note": locked.undo_note},
    )
    return locked
