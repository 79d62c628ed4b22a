"""The alert lifecycle: raise or update, resolve, snooze, and the alert's ticket.

One open alert per (device, kind, target) — or per (site, kind) for a site-wide
alert — is enforced by the partial unique constraints of ``Alert``; two sweepers
racing on PostgreSQL both try the INSERT, one gets the IntegrityError and updates
the winner's row instead. Every change writes an audit event.

Tickets: an alert that is not suppressed (maintenance, parent offline, site offline)
nor snoozed opens one ticket for its client, category "monitoring", priority from
the severity. Offline alerts wait ``OFFLINE_TICKET_SETTLE`` before their ticket so
that a site going dark device by device ends as one site alert with one ticket, not
one per device (``open_due_tickets``, run by the sweep, opens the ones due). A
material change (severity, or the value by ``MATERIAL_CHANGE``) adds an internal
note; recovery adds a note and resolves the ticket only if no person touched it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.comms.webhooks.outbox import emit_event
from atalaya.core.models import Site, User
from atalaya.core.services import record_audit
from atalaya.monitoring.models import Alert, CheckKind, Device, Severity
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Category, Priority, Ticket, TicketEvent

logger = logging.getLogger(__name__)

MONITORING_CATEGORY = {"slug": "monitoring", "name": "Monitoring", "name_es": "Monitorización"}
PRIORITY_OF = {
    Severity.INFO: Priority.LOW,
    Severity.WARNING: Priority.NORMAL,
    Severity.CRITICAL: Priority.HIGH,
}
SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
# A device's offline alert waits this long for its ticket: long enough for the other
# devices of a site that lost power to miss their own check-ins (agents check in every
# 60 s), so the site-dark rule can take over first.
OFFLINE_TICKET_SETTLE = timedelta(seconds=90)
MAX_SNOOZE = timedelta(days=30)


class Suppression:
    MAINTENANCE = "maintenance"
    PARENT_OFFLINE = "parent_offline"
    SITE_OFFLINE = "site_offline"


def monitoring_category() -> Category:
    """The tickets' category for alerts, created on first use."""
    category, _created = Category.objects.get_or_create(
        slug=MONITORING_CATEGORY["slug"],
        defaults={"name": MONITORING_CATEGORY["name"], "name_es": MONITORING_CATEGORY["name_es"]},
    )
    return category


def is_material(old: float | None, new: float | None) -> bool:
    """Whether a value moved enough to tell the technicians (5 points or a fifth)."""
    if old is None or new is None:
        return old is not new
    return abs(new - old) >= max(5.0, 0.2 * abs(old))


def _snapshot(alert: Alert) -> dict[str, Any]:
    return {
        "severity": alert.severity,
        "message": alert.message,
        "value": alert.details.get("value"),
        "suppressed_reason": alert.suppressed_reason,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until else None,
        "ticket": alert.ticket.number if alert.ticket_id and alert.ticket else None,
    }


def _subject(alert: Alert) -> str:
    where = alert.device.name if alert.device_id and alert.device is not None else alert.site.name
    return f"[{where}] {alert.message}"[:250]


def _body(alert: Alert) -> str:
    lines = [alert.message, ""]
    lines.append(_("Severity: %(s)s") % {"s": Severity(alert.severity).label})
    if alert.device_id and alert.device is not None:
        lines.append(_("Device: %(d)s") % {"d": alert.device.name})
    lines.append(_("Site: %(s)s") % {"s": alert.site.name})
    lines.append(_("Opened: %(t)s UTC") % {"t": alert.opened_at.strftime("%Y-%m-%d %H:%M")})
    return "\n".join(lines)


def wants_ticket(alert: Alert, now: datetime) -> bool:
    """An open alert that should have a ticket by now (not suppressed, not snoozed)."""
    if not alert.is_open or alert.ticket_id or alert.suppressed_reason or alert.is_snoozed(now):
        return False
    return not (alert.kind == CheckKind.OFFLINE and alert.opened_at > now - OFFLINE_TICKET_SETTLE)


def ensure_ticket(alert: Alert, *, now: datetime | None = None) -> Ticket | None:
    """Open the alert's ticket if it should have one and has none; never a second one.

    The alert row is locked while its ticket is made, so two workers never both open
    one (the second sees the first's ticket after the lock).
    """
    now = now or timezone.now()
    if not wants_ticket(alert, now):
        return alert.ticket if alert.ticket_id else None
    with transaction.atomic():
        current = (
            Alert.objects.select_for_update(of=("self",))
            .select_related("device", "site", "client")
            .filter(pk=alert.pk)
            .first()
        )
        if current is None or not wants_ticket(current, now):
            if current is not None:
                alert.ticket_id = current.ticket_id
            return None
        priority = PRIORITY_OF.get(Severity(current.severity), Priority.NORMAL)
        if current.kind == CheckKind.SITE_OFFLINE:
            priority = Priority.URGENT
        ticket = ticket_services.create_system_ticket(
            client=current.client,
            site=current.site,
            subject=_subject(current),
            body=_body(current),
            category=monitoring_category(),
            priority=priority,
            data={"alert": str(current.public_id)},
            now=now,
        )
        current.ticket = ticket
        current.details = {**current.details, "noted_value": current.details.get("value")}
        current.save(update_fields=["ticket", "details"])
        record_audit(
            None,
            current,
            "alert.ticket_opened",
            client=current.client,
            after={"ticket": ticket.number},
        )
    alert.ticket, alert.details = ticket, current.details
    return ticket


def raise_or_update(
    *,
    device: Device | None,
    kind: str,
    severity: str,
    message: str,
    target: str = "",
    value: float | None = None,
    details: dict[str, Any] | None = None,
    site: Site | None = None,
    suppressed_reason: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Open the alert for (device, kind, target), or bring the open one up to date.

    ``suppressed_reason`` None means "work it out": maintenance for any device alert;
    the offline sweep passes the parent/site reasons it computed (or ""). A device in
    a maintenance window gets a suppressed alert (kept for the record, no ticket). A
    material change of an alert with a ticket adds an internal note, unless snoozed.
    """
    from atalaya.monitoring.maintenance import is_in_maintenance

    now = now or timezone.now()
    if device is None and site is None:
        raise ValueError("a site-wide alert needs its site")
    site = site or device.site  # type: ignore[union-attr]
    message = (message or "")[:500]
    if suppressed_reason is None:
        in_maintenance = device is not None and is_in_maintenance(device, now)
        suppressed_reason = Suppression.MAINTENANCE if in_maintenance else ""
    facts = {**(details or {}), "value": value}
    alert = _open_alert(device, site, kind, target)
    if alert is None:
        alert = Alert(
            client_id=site.client_id,
            site=site,
            device=device,
            kind=kind,
            target=target,
            severity=severity,
            message=message,
            details=facts,
            opened_at=now,
            changed_at=now,
            suppressed_reason=suppressed_reason,
        )
        try:
            with transaction.atomic():
                alert.save(force_insert=True)
                record_audit(
                    None, alert, "alert.opened", client=alert.client, after=_snapshot(alert)
                )
                emit_event("alert.opened", alert, key=f"alert.opened:{alert.pk}", now=now)
        except IntegrityError:
            # Another sweeper opened it a moment ago: update theirs.
            existing = _open_alert(device, site, kind, target)
            if existing is None:
                raise
            return _update(existing, severity, message, facts, suppressed_reason, now)
        ensure_ticket(alert, now=now)
        return alert
    return _update(alert, severity, message, facts, suppressed_reason, now)


def _open_alert(device: Device | None, site: Site, kind: str, target: str) -> Alert | None:
    qs = Alert.objects.open().select_related("ticket", "device", "site", "client")
    if device is not None:
        return qs.filter(device=device, kind=kind, target=target).first()
    return qs.filter(site=site, device__isnull=True, kind=kind).first()


def _update(
    alert: Alert,
    severity: str,
    message: str,
    facts: dict[str, Any],
    suppressed_reason: str,
    now: datetime,
) -> Alert:
    old_value = alert.details.get("value")
    changed = (
        alert.severity != severity
        or alert.message != message
        or alert.suppressed_reason != suppressed_reason
        or old_value != facts.get("value")
    )
    if not changed:
        ensure_ticket(alert, now=now)
        return alert
    before = _snapshot(alert)
    severity_changed = alert.severity != severity
    noted = alert.details.get("noted_value", old_value)
    alert.severity = severity
    alert.message = message
    alert.suppressed_reason = suppressed_reason
    alert.details = {**alert.details, **facts}
    alert.changed_at = now
    note = None
    if (
        alert.ticket_id
        and not alert.is_snoozed(now)
        and not suppressed_reason
        and (severity_changed or is_material(noted, facts.get("value")))
    ):
        alert.details["noted_value"] = facts.get("value")
        note = _("Alert changed: %(m)s (severity %(s)s).") % {
            "m": message,
            "s": Severity(severity).label,
        }
    with transaction.atomic():
        alert.save(
            update_fields=["severity", "message", "suppressed_reason", "details", "changed_at"]
        )
        # Value drift alone is not worth an audit row every minute; state changes are.
        if severity_changed or before["suppressed_reason"] != suppressed_reason or note:
            record_audit(
                None,
                alert,
                "alert.changed",
                client=alert.client,
                before=before,
                after=_snapshot(alert),
            )
        if note and alert.ticket is not None:
            ticket_services.add_system_note(
                alert.ticket, body=note, data={"alert": str(alert.public_id)}, now=now
            )
    ensure_ticket(alert, now=now)
    return alert


def ticket_touched_by_people(ticket: Ticket) -> bool:
    """Whether anyone but Atalaya worked on the ticket: an assignee, or any event by a
    technician or a client's contact."""
    if ticket.assignee_id:
        return True
    return (
        TicketEvent.objects.filter(ticket=ticket)
        .filter(Q(actor__isnull=False) | Q(actor_contact__isnull=False))
        .exists()
    )


def resolve(alert: Alert, *, now: datetime | None = None, reason: str = "") -> bool:
    """Close the alert on recovery: a note on its ticket, which is resolved only if untouched.

    A ticket a technician assigned, answered or noted stays open with the recovery
    note for them to close. False if the alert was already resolved (another sweeper).
    """
    now = now or timezone.now()
    with transaction.atomic():
        done = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
            resolved_at=now, changed_at=now
        )
        if not done:
            return False
        before = _snapshot(alert)
        alert.resolved_at = alert.changed_at = now
        record_audit(
            None,
            alert,
            "alert.resolved",
            client=alert.client,
            before=before,
            after={**_snapshot(alert), "reason": reason},
        )
        ticket = Ticket.objects.filter(pk=alert.ticket_id).first() if alert.ticket_id else None
        if ticket is not None:
            text = _("Recovered: %(m)s") % {"m": alert.message}
            if reason:
                text = f"{text} ({reason})"
            ticket_services.add_system_note(
                ticket, body=text, data={"alert": str(alert.public_id), "recovered": True}, now=now
            )
            if not ticket_touched_by_people(ticket):
                ticket_services.resolve_ticket_as_system(ticket, now=now)
    return True


def resolve_open(
    *, device: Device, kind: str, target: str = "", now: datetime | None = None, reason: str = ""
) -> bool:
    """Resolve the open alert of (device, kind, target) if there is one."""
    alert = Alert.objects.open().filter(device=device, kind=kind, target=target).first()
    return alert is not None and resolve(alert, now=now, reason=reason)


def _require_writer(actor: User) -> None:
    if not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not change alerts."))


def snooze(alert: Alert, *, actor: User, until: datetime, now: datetime | None = None) -> Alert:
    """Hold the alert's ticket and notes back until ``until`` (at most 30 days), audited."""
    now = now or timezone.now()
    _require_writer(actor)
    if not alert.is_open:
        raise ValidationError({"alert": [_("This alert is already resolved.")]})
    if timezone.is_naive(until):
        raise ValidationError({"until": [_("Give the time with its time zone.")]})
    if until <= now:
        raise ValidationError({"until": [_("Snooze until a time in the future.")]})
    if until - now > MAX_SNOOZE:
        raise ValidationError({"until": [_("An alert can be snoozed for at most 30 days.")]})
    before = _snapshot(alert)
    alert.snoozed_until, alert.snoozed_by = until, actor
    with transaction.atomic():
        alert.save(update_fields=["snoozed_until", "snoozed_by"])
        record_audit(
            actor,
            alert,
            "alert.snoozed",
            client=alert.client,
            before=before,
            after=_snapshot(alert),
        )
    return alert


def unsnooze(alert: Alert, *, actor: User, now: datetime | None = None) -> Alert:
    """End a snooze now; the alert gets its ticket at once if it still needs one."""
    now = now or timezone.now()
    _require_writer(actor)
    if alert.snoozed_until is None:
        return alert
    before = _snapshot(alert)
    alert.snoozed_until, alert.snoozed_by = None, None
    with transaction.atomic():
        alert.save(update_fields=["snoozed_until", "snoozed_by"])
        record_audit(
            actor,
            alert,
            "alert.unsnoozed",
            client=alert.client,
            before=before,
            after=_snapshot(alert),
        )
    ensure_ticket(alert, now=now)
    return alert


def open_due_tickets(*, now: datetime | None = None, limit: int = 500) -> int:
    """Open the tickets that are due: offline alerts past their settle time, snoozes over,
    suppressions lifted. Returns how many were opened."""
    now = now or timezone.now()
    due = (
        Alert.objects.open()
        .filter(ticket__isnull=True, suppressed_reason="")
        .filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
        .exclude(kind=CheckKind.OFFLINE, opened_at__gt=now - OFFLINE_TICKET_SETTLE)
        .select_related("device", "site", "client")
        .order_by("opened_at")[:limit]
    )
    return sum(1 for alert in list(due) if ensure_ticket(alert, now=now) is not None)
