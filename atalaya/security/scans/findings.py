"""Findings: create or refresh them from a scan, accept them, resolve them, expire
acceptances. Every change is audited; tickets are opened by the site's policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.services import record_audit
from atalaya.security.models import (
    SEVERITY_RANK,
    Finding,
    FindingSeverity,
    FindingStatus,
    ScanRun,
    ScanSchedule,
    require_security_writer,
)

DEFAULT_TICKET_MIN_SEVERITY = FindingSeverity.HIGH
MAX_ACCEPT_DAYS = 366

# Finding severity → ticket priority (a critical finding is urgent).
_PRIORITY_OF = {
    "info": "low",
    "low": "low",
    "medium": "normal",
    "high": "high",
    "critical": "urgent",
}


def ticket_min_severity(site: Any) -> str:
    """The site's ticket policy: its schedule's threshold, "high" without a schedule;
    "" means no tickets."""
    schedule = ScanSchedule.objects.filter(site=site).only("ticket_min_severity").first()
    if schedule is None:
        return DEFAULT_TICKET_MIN_SEVERITY
    return schedule.ticket_min_severity


def _snapshot(finding: Finding) -> dict[str, Any]:
    return {
        "status": finding.status,
        "severity": finding.severity,
        "accepted_until": finding.accepted_until.isoformat() if finding.accepted_until else None,
    }


def upsert_finding(
    *,
    scan: ScanRun,
    kind: str,
    severity: str,
    fingerprint: str,
    title: str,
    details: dict[str, Any] | None = None,
    host_ip: str | None = None,
    host_mac: str = "",
    hostname: str = "",
    port: int | None = None,
    device: Any = None,
    fix: Any = None,
) -> Finding:
    """Create the site's finding for ``fingerprint`` or refresh it (last seen, last scan).

    A resolved finding seen again is reopened (audited); an accepted one stays accepted
    until its acceptance expires. A ticket is opened once, when the finding's severity
    reaches the site's policy threshold.
    """
    if severity not in SEVERITY_RANK:
        raise ValidationError({"severity": [_("Unknown severity.")]})
    now = scan.finished_at or timezone.now()
    fingerprint = fingerprint[:200]
    title = title[:300]
    fields = {
        "kind": kind,
        "severity": severity,
        "title": title,
        "details": details or {},
        "host_ip": host_ip or None,
        "host_mac": (host_mac or "")[:17],
        "hostname": (hostname or "")[:255],
        "port": port,
    }
    with transaction.atomic():
        finding = (
            Finding.objects.select_for_update()
            .filter(site_id=scan.site_id, fingerprint=fingerprint)
            .first()
        )
        if finding is None:
            try:
                with transaction.atomic():
                    finding = Finding.objects.create(
                        client_id=scan.client_id,
                        site_id=scan.site_id,
                        fingerprint=fingerprint,
                        first_scan=scan,
                        last_scan=scan,
                        first_seen_at=now,
                        last_seen_at=now,
                        device=device,
                        fix=fix,
                        **fields,
                    )
            except IntegrityError:
                # A concurrent job created it first: refresh that one instead.
                finding = Finding.objects.select_for_update().get(
                    site_id=scan.site_id, fingerprint=fingerprint
                )
            else:
                record_audit(
                    None, finding, "finding.opened", client=scan.client, after=_snapshot(finding)
                )
                _maybe_ticket(finding)
                return finding
        before = _snapshot(finding)
        for name, value in fields.items():
            setattr(finding, name, value)
        finding.last_scan = scan
        finding.last_seen_at = max(now, finding.last_seen_at)
        if device is not None:
            finding.device = device
        if fix is not None:
            finding.fix = fix
        if finding.status == FindingStatus.RESOLVED:
            finding.status = FindingStatus.OPEN
            finding.resolved_at = None
            finding.save()
            record_audit(
                None,
                finding,
                "finding.reopened",
                client=scan.client,
                before=before,
                after=_snapshot(finding),
            )
        else:
            finding.save()
            if before["severity"] != finding.severity:
                record_audit(
                    None,
                    finding,
                    "finding.severity_changed",
                    client=scan.client,
                    before=before,
                    after=_snapshot(finding),
                )
        _maybe_ticket(finding)
    return finding


def _maybe_ticket(finding: Finding) -> None:
    # One ticket per finding, ever: a reopened finding goes back to its ticket.
    if finding.ticket_id or finding.status != FindingStatus.OPEN:
        return
    threshold = ticket_min_severity(finding.site)
    if not threshold or SEVERITY_RANK[finding.severity] < SEVERITY_RANK[threshold]:
        return
    from atalaya.tickets import services as ticket_services

    where = finding.hostname or finding.host_ip or finding.host_mac or ""
    body = _("A network scan found: %(title)s") % {"title": finding.title}
    if where:
        body += "\n" + _("Host: %(host)s") % {"host": where}
    if finding.port:
        body += "\n" + _("Port: %(port)s") % {"port": finding.port}
    ticket = ticket_services.create_system_ticket(
        client=finding.client,
        site=finding.site,
        subject=_("Security finding: %(title)s") % {"title": finding.title},
        body=body,
        priority=_PRIORITY_OF.get(finding.severity, "normal"),
        data={"finding": str(finding.public_id)},
    )
    finding.ticket = ticket
    finding.save(update_fields=["ticket"])
    record_audit(
        None,
        finding,
        "finding.ticket_opened",
        client=finding.client,
        after={"ticket": ticket.number},
    )


def accept_finding(
    finding: Finding, *, actor: Any, reason: str, until: datetime, now: datetime | None = None
) -> Finding:
    """Accept a finding with a reason and an expiry (later than now, within a year);
    when the expiry passes it is open again."""
    require_security_writer(actor)
    now = now or timezone.now()
    reason = (reason or "").replace("\x00", "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = [_("A reason is required.")]
    elif len(reason) > 500:
        errors["reason"] = [_("At most %(n)d characters.") % {"n": 500}]
    if until is None:
        errors["until"] = [_("An expiry date is required.")]
    elif until <= now:
        errors["until"] = [_("The expiry must be in the future.")]
    elif (until - now).days > MAX_ACCEPT_DAYS:
        errors["until"] = [_("An acceptance lasts at most a year.")]
    if finding.status == FindingStatus.RESOLVED:
        errors["status"] = [_("A resolved finding cannot be accepted.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        before = _snapshot(finding)
        finding.status = FindingStatus.ACCEPTED
        finding.accepted_reason = reason
        finding.accepted_until = until
        finding.accepted_by = actor
        finding.save()
        record_audit(
            actor,
            finding,
            "finding.accepted",
            client=finding.client,
            before=before,
            after={**_snapshot(finding), "reason": reason},
        )
    return finding


def reopen_finding(finding: Finding, *, actor: Any) -> Finding:
    """Withdraw an acceptance by hand: the finding is open again."""
    require_security_writer(actor)
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        if finding.status != FindingStatus.ACCEPTED:
            raise ValidationError({"status": [_("Only an accepted finding can be reopened.")]})
        before = _snapshot(finding)
        finding.status = FindingStatus.OPEN
        finding.accepted_until = None
        finding.save()
        record_audit(
            actor,
            finding,
            "finding.reopened",
            client=finding.client,
            before=before,
            after=_snapshot(finding),
        )
    return finding


def resolve_finding(finding: Finding, *, scan: ScanRun | None, actor: Any = None) -> Finding:
    """Resolve a finding a later complete scan no longer sees (or a person closes it)."""
    require_security_writer(actor)
    now = (scan.finished_at if scan else None) or timezone.now()
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        if finding.status == FindingStatus.RESOLVED:
            return finding
        before = _snapshot(finding)
        finding.status = FindingStatus.RESOLVED
        finding.resolved_at = now
        finding.save()
        record_audit(
            actor,
            finding,
            "finding.resolved",
            client=finding.client,
            before=before,
            after={**_snapshot(finding), "scan": str(scan.public_id) if scan else None},
        )
    return finding


def expire_acceptances(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Accepted findings whose acceptance has expired are open again (audited)."""
    now = now or timezone.now()
    ids = list(
        Finding.objects.filter(status=FindingStatus.ACCEPTED, accepted_until__lte=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    done = 0
    for pk in ids:
        with transaction.atomic():
            finding = Finding.objects.select_for_update().filter(pk=pk).first()
            if finding is None or finding.status != FindingStatus.ACCEPTED:
                continue
            if finding.accepted_until is None or finding.accepted_until > now:
                continue
            before = _snapshot(finding)
            finding.status = FindingStatus.OPEN
            finding.save(update_fields=["status"])
            record_audit(
                None,
                finding,
                "finding.acceptance_expired",
                client=finding.client,
                before=before,
                after=_snapshot(finding),
            )
            _maybe_ticket(finding)
            done += 1
    return done


def mark_known_device(finding: Finding, *, actor: Any, name: str, notes: str = "") -> Any:
    """ "Mark as known device": a KnownDevice of the finding's site from its host (MAC,
    IP, hostname); the unknown-device finding is resolved (later scans match it)."""
    from atalaya.security.models import FindingKind, KnownDevice

    require_security_writer(actor)
    name = (name or "").replace("\x00", "").strip()
    if not name:
        raise ValidationError({"name": [_("A name is required.")]})
    if len(name) > 200:
        raise ValidationError({"name": [_("At most %(n)d characters.") % {"n": 200}]})
    if finding.kind != FindingKind.UNKNOWN_DEVICE:
        raise ValidationError({"finding": [_("Only an unknown device can be marked as known.")]})
    with transaction.atomic():
        known = KnownDevice.objects.create(
            client_id=finding.client_id,
            site_id=finding.site_id,
            name=name,
            mac=finding.host_mac,
            ip=finding.host_ip,
            hostname=finding.hostname,
            notes=(notes or "")[:5000],
            marked_by=actor,
        )
        record_audit(
            actor,
            known,
            "known_device.marked",
            client=finding.client,
            after={
                "name": name,
                "mac": known.mac,
                "ip": known.ip,
                "finding": str(finding.public_id),
            },
        )
        resolve_finding(finding, scan=None, actor=actor)
    return known
