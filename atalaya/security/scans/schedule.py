"""Scans queued as signed agent actions: by hand ("scan now") or by a site's schedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import AuditEvent
from atalaya.core.services import record_audit
from atalaya.security.models import (
    FindingSeverity,
    ScanRun,
    ScanSchedule,
    ScanSource,
    ScanStatus,
    require_security_writer,
)

DEFAULT_TIMEOUT_MS = 1000
MAX_TARGETS = 32


def parse_targets(text: str) -> list[str]:
    """Targets as typed (IPs, CIDRs, ranges, names; spaces or commas); the agent checks
    them again and refuses public ranges."""
    items = [t for t in (text or "").replace(",", " ").split() if t]
    if len(items) > MAX_TARGETS:
        raise ValidationError({"targets": [_("At most %(n)d targets.") % {"n": MAX_TARGETS}]})
    for t in items:
        if len(t) > 100 or not all(c.isalnum() or c in ".-:/_" for c in t):
            raise ValidationError({"targets": [_("Not a valid target: %(t)s") % {"t": t[:100]}]})
    return items


def parse_ports(text: str) -> list[int]:
    """Ports as "22,80,8000-8100"; empty means the agent's default list."""
    ports: set[int] = set()
    for part in (text or "").replace(" ", ",").split(","):
        if not part:
            continue
        try:
            lo, _sep, hi = part.partition("-")
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValidationError(
                {"ports": [_("Not a port or range: %(p)s") % {"p": part[:20]}]}
            ) from None
        if not 0 < a <= b < 65536:
            raise ValidationError({"ports": [_("Ports are 1 to 65535.")]})
        ports.update(range(a, b + 1))
    return sorted(ports)


def queue_scan(
    *, actor: Any, device: Any, targets: str = "", ports: str = "", now: datetime | None = None
) -> ScanRun:
    """Queue a scan on one of the site's agents: a signed ``scan`` action and its ScanRun.
    A scan with no targets (the agent's own networks) counts as complete."""
    from atalaya.monitoring.actions import queue_action

    require_security_writer(actor)
    target_list, port_list = parse_targets(targets), parse_ports(ports)
    with transaction.atomic():
        action = queue_action(
            actor=actor,
            device=device,
            kind="scan",
            scan={"targets": target_list, "ports": port_list, "timeout_ms": DEFAULT_TIMEOUT_MS},
            now=now,
        )
        scan = ScanRun.objects.create(
            client_id=device.client_id,
            site_id=device.site_id,
            source=ScanSource.AGENT,
            status=ScanStatus.QUEUED,
            device=device,
            action=action,
            targets=" ".join(target_list)[:1000],
            ports=(ports or "")[:2000],
            is_complete=not target_list,
            created_by=actor,
            created_at=now or timezone.now(),
        )
        record_audit(
            actor,
            scan,
            "scan.queued",
            client=device.client,
            after={"device": str(device.public_id), "targets": scan.targets},
        )
    return scan


def save_schedule(
    *,
    actor: Any,
    site: Any,
    device: Any,
    every_hours: int,
    targets: str = "",
    ports: str = "",
    ticket_min_severity: str = FindingSeverity.HIGH,
    is_enabled: bool = True,
) -> ScanSchedule:
    """Create or change a site's scan schedule (the agent must be of that site)."""
    require_security_writer(actor)
    if device.site_id != site.pk or device.retired_at is not None:
        raise ValidationError({"device": [_("Choose an active device of this site.")]})
    if not 1 <= int(every_hours) <= 24 * 31:
        raise ValidationError({"every_hours": [_("Between 1 hour and 31 days.")]})
    if ticket_min_severity and ticket_min_severity not in FindingSeverity.values:
        raise ValidationError({"ticket_min_severity": [_("Unknown severity.")]})
    parse_targets(targets)
    parse_ports(ports)
    now = timezone.now()
    schedule, created = ScanSchedule.objects.update_or_create(
        site=site,
        defaults={
            "client_id": site.client_id,
            "device": device,
            "every_hours": int(every_hours),
            "targets": targets,
            "ports": ports,
            "ticket_min_severity": ticket_min_severity,
            "is_enabled": is_enabled,
            "updated_at": now,
        },
    )
    record_audit(
        actor,
        schedule,
        "scan_schedule.created" if created else "scan_schedule.changed",
        client=site.client,
        after={"every_hours": schedule.every_hours, "device": str(device.public_id)},
    )
    return schedule


def _schedule_owner(schedule: ScanSchedule) -> Any:
    # A RemoteAction needs a creator: the person who last saved the schedule.
    from atalaya.core.models import User

    event = (
        AuditEvent.objects.filter(object_type="scanschedule", object_id=str(schedule.pk))
        .exclude(actor=None)
        .order_by("-id")
        .first()
    )
    if event is None or event.actor_id is None:
        return None
    return User.objects.filter(pk=event.actor_id, is_active=True).first()


def queue_due_scans(*, now: datetime | None = None, limit: int = 200) -> int:
    """Queue the scans of schedules that are due; each schedule moves on by its period."""
    now = now or timezone.now()
    done = 0
    due = ScanSchedule.objects.filter(is_enabled=True, next_run_at__lte=now).select_related(
        "device", "site"
    )[:limit]
    for schedule in due:
        owner = _schedule_owner(schedule)
        ScanSchedule.objects.filter(pk=schedule.pk).update(
            next_run_at=now + timedelta(hours=schedule.every_hours)
        )
        if owner is None or schedule.device.retired_at is not None:
            continue
        try:
            queue_scan(
                actor=owner,
                device=schedule.device,
                targets=schedule.targets,
                ports=schedule.ports,
                now=now,
            )
        except (ValidationError, PermissionError):
            continue
        done += 1
    return done
