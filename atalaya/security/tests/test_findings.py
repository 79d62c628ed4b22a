"""Findings from comparing scans with the inventory: dedupe, severities, tickets by
policy, acceptance with expiry, resolution by a later complete scan, reopening."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from atalaya.core.models import AuditEvent
from atalaya.security.models import Finding, FindingStatus, KnownDevice, ScanRun, ScanStatus
from atalaya.security.scans import compare, findings, ingest, schedule
from atalaya.security.tests.scan_helpers import device_with_nic, host, scan_json
from atalaya.tickets.models import Ticket


def run(
    world: Any, hosts: list[dict[str, Any]], *, site: Any = None, complete: bool = True
) -> ScanRun:
    """A processed agent scan of ``site`` (client A's by default) with these hosts."""
    site = site or world.site_a
    scan = ScanRun.objects.create(
        client_id=site.client_id,
        site=site,
        source="agent",
        is_complete=complete,
        result=scan_json(hosts),
    )
    return ingest.process_scan(scan)


def open_findings(site: Any) -> dict[str, Finding]:
    return {
        f.fingerprint: f
        for f in Finding.objects.filter(site=site).exclude(status=FindingStatus.RESOLVED)
    }


@pytest.mark.django_db
def test_inventory_matching_and_severities(world: Any) -> None:
    device_with_nic(world, name="srv", mac="AA:BB:CC:00:00:01", ip="192.168.1.10")
    KnownDevice.objects.create(
        client=world.client_a, site=world.site_a, name="Printer", mac="aa:bb:cc:00:00:02"
    )
    scan = run(
        world,
        [
            # managed (by MAC): its web port is its job, its RDP is not
            host("192.168.1.10", "aa:bb:cc:00:00:01", "srv", (80, 3389)),
            # known device (by MAC, new IP): admin page counts, not unknown
            host("192.168.1.99", "aa:bb:cc:00:00:02", "", (631, 9100)),
            # managed by IP only
            host("192.168.1.10", "", "", ()),
            # unknown, telnet and FTP
            host("192.168.1.66", "", "cam", (23, 21)),
        ],
    )
    assert scan.status == ScanStatus.DONE
    got = {fp: (f.kind, f.severity) for fp, f in open_findings(world.site_a).items()}
    assert got == {
        "risky_service:aa:bb:cc:00:00:01:3389": ("risky_service", "high"),
        "risky_service:aa:bb:cc:00:00:02:631": ("risky_service", "medium"),
        "risky_service:aa:bb:cc:00:00:02:9100": ("risky_service", "medium"),
        "unknown_device:192.168.1.66": ("unknown_device", "medium"),
        "risky_service:192.168.1.66:23": ("risky_service", "high"),
        "risky_service:192.168.1.66:21": ("risky_service", "medium"),
    }
    # Severity table is the one place: every risky port is in it.
    assert compare.RISKY_PORTS[23][0] == "high" and compare.RISKY_PORTS[21][0] == "medium"


@pytest.mark.django_db
def test_same_finding_every_scan_is_one_finding_and_one_ticket(world: Any) -> None:
    for _ in range(3):
        run(world, [host("10.0.0.5", "aa:bb:cc:00:00:05", "", (445,))])
    smb = Finding.objects.get(kind="risky_service")
    assert Finding.objects.filter(site=world.site_a).count() == 2  # + unknown device
    assert smb.ticket is not None and smb.ticket.priority == "high"
    assert Ticket.objects.filter(client=world.client_a, subject__contains="SMB").count() == 1
    # The medium unknown device opened no ticket under the default policy (high).
    assert Finding.objects.get(kind="unknown_device").ticket is None


@pytest.mark.django_db
def test_policy_of_the_site_decides_tickets(world: Any) -> None:
    device = device_with_nic(world, name="agent", mac="aa:bb:cc:00:00:09", ip="10.0.0.2")
    schedule.save_schedule(
        actor=world.tech, site=world.site_a, device=device, every_hours=24, ticket_min_severity=""
    )
    run(world, [host("10.0.0.5", "", "", (3389,))])
    assert not Finding.objects.exclude(ticket=None).exists()
    schedule.save_schedule(
        actor=world.tech,
        site=world.site_a,
        device=device,
        every_hours=24,
        ticket_min_severity="medium",
    )
    run(world, [host("10.0.0.6", "", "", ())])
    assert Finding.objects.get(fingerprint="unknown_device:10.0.0.6").ticket is not None


@pytest.mark.django_db
def test_resolved_by_a_later_complete_scan_and_reopened(world: Any) -> None:
    run(world, [host("10.0.0.5", "", "", (3389,))])
    run(world, [host("10.0.0.5", "", "", ())], complete=False)  # partial: proves nothing
    rdp = Finding.objects.get(fingerprint="risky_service:10.0.0.5:3389")
    assert rdp.status == FindingStatus.OPEN
    run(world, [host("10.0.0.5", "", "", ())])
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.RESOLVED and rdp.resolved_at is not None
    ticket_id = rdp.ticket_id
    run(world, [host("10.0.0.5", "", "", (3389,))])
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.OPEN and rdp.ticket_id == ticket_id
    actions = list(
        AuditEvent.objects.filter(object_id=str(rdp.public_id)).values_list("action", flat=True)
    )
    assert actions.count("finding.resolved") == 1 and actions.count("finding.reopened") == 1


@pytest.mark.django_db
def test_device_gone_only_when_seen_before(world: Any) -> None:
    device = device_with_nic(world, name="nas", mac="aa:bb:cc:00:00:11", ip="10.0.0.11")
    device_with_nic(world, name="laptop", mac="aa:bb:cc:00:00:12", ip="10.0.0.12")
    run(world, [host("10.0.0.11", "aa:bb:cc:00:00:11")])
    assert not Finding.objects.filter(kind="device_gone").exists()  # laptop never seen
    run(world, [])
    gone = Finding.objects.get(kind="device_gone")
    assert gone.device == device and gone.severity == "low"
    run(world, [host("10.0.0.11", "aa:bb:cc:00:00:11")])
    gone.refresh_from_db()
    assert gone.status == FindingStatus.RESOLVED


@pytest.mark.django_db
def test_accept_with_reason_and_expiry_then_expire(world: Any) -> None:
    run(world, [host("10.0.0.5", "", "", (5900,))])
    vnc = Finding.objects.get(kind="risky_service")
    now = timezone.now()
    with pytest.raises(PermissionDenied):
        findings.accept_finding(
            vnc, actor=world.readonly, reason="x", until=now + timedelta(days=1)
        )
    with pytest.raises(ValidationError) as err:
        findings.accept_finding(vnc, actor=world.tech, reason=" ", until=now - timedelta(days=1))
    assert set(err.value.message_dict) == {"reason", "until"}
    with pytest.raises(ValidationError) as err:
        findings.accept_finding(vnc, actor=world.tech, reason="ok", until=now + timedelta(days=400))
    assert "until" in err.value.message_dict
    vnc = findings.accept_finding(
        vnc,
        actor=world.tech,
        reason="Support vendor's VNC until the migration",
        until=now + timedelta(days=7),
    )
    assert vnc.status == FindingStatus.ACCEPTED and vnc.accepted_by == world.tech
    run(world, [host("10.0.0.5", "", "", (5900,))])  # still seen: stays accepted
    vnc.refresh_from_db()
    assert vnc.status == FindingStatus.ACCEPTED
    assert findings.expire_acceptances(now=now + timedelta(days=6)) == 0
    assert findings.expire_acceptances(now=now + timedelta(days=8)) == 1
    vnc.refresh_from_db()
    assert vnc.status == FindingStatus.OPEN
    assert AuditEvent.objects.filter(
        object_id=str(vnc.public_id), action="finding.acceptance_expired"
    ).exists()


@pytest.mark.django_db
def test_upsert_contract_for_fix_evidence(world: Any) -> None:
    scan = run(world, [host("10.0.0.7", "aa:bb:cc:00:00:07", "", (3389,))])
    fp = "fix_not_undone:00000000-0000-0000-0000-000000000001:aa:bb:cc:00:00:07:3389"
    f = findings.upsert_finding(
        scan=scan,
        kind="fix_not_undone",
        severity="high",
        fingerprint=fp,
        title="RDP still open",
        host_ip="10.0.0.7",
        host_mac="aa:bb:cc:00:00:07",
        port=3389,
    )
    assert f.ticket is not None
    run(world, [host("10.0.0.7", "aa:bb:cc:00:00:07", "", (3389,))])
    f.refresh_from_db()
    assert f.status == FindingStatus.OPEN  # port still open there
    run(world, [host("10.0.0.7", "aa:bb:cc:00:00:07", "", ())])
    f.refresh_from_db()
    assert f.status == FindingStatus.RESOLVED


@pytest.mark.django_db
def test_scans_of_one_site_never_touch_another(world: Any) -> None:
    run(world, [host("10.0.0.5", "", "", (23,))], site=world.site_b)
    run(world, [])
    assert Finding.objects.filter(site=world.site_b, status=FindingStatus.OPEN).count() == 2
    assert not Finding.objects.filter(site=world.site_a).exists()
