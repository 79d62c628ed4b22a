"""Temporary fixes checked against what scans see.

An entry "RDP opened on the reception PC" names its evidence: port 3389 on that host
(``evidence_port`` and ``evidence_host``; a blank host means any host of the client).
Once the entry is closed as undone, a scan of the client's network that finished
later and still sees that port open proves otherwise: it becomes a high finding
linked to the fix. The finding is keyed by fix, host and port, so nightly scans do not
pile up copies; it is reopened if it had been resolved and comes back.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from atalaya.security.models import (
    Finding,
    FindingKind,
    FindingSeverity,
    FixStatus,
    ScanHost,
    ScanRun,
    TemporaryFix,
)
from atalaya.security.scans.findings import upsert_finding


def _host_matches(fix: TemporaryFix, host: ScanHost) -> bool:
    wanted = fix.evidence_host.strip().lower()
    return not wanted or wanted in {host.ip.lower(), host.hostname.strip().lower()}


def _open_ports(host: ScanHost) -> set[int]:
    ports: set[int] = set()
    for entry in host.ports or []:
        port = entry.get("port") if isinstance(entry, dict) else None
        if isinstance(port, int) and not isinstance(port, bool):
            ports.add(port)
    return ports


def _raise(scan: ScanRun, fix: TemporaryFix, host: ScanHost) -> Finding:
    port = fix.evidence_port
    finding = upsert_finding(
        scan=scan,
        kind=FindingKind.FIX_NOT_UNDONE,
        severity=FindingSeverity.HIGH,
        fingerprint=f"fix_not_undone:{fix.public_id}:{host.mac or host.ip}:{port}",
        title=_("Port %(port)s still open on %(host)s, but the fix “%(title)s” was undone")
        % {"port": port, "host": host.hostname or host.ip, "title": fix.title[:150]},
        details={"fix": str(fix.public_id), "undo_note": fix.undo_note[:500]},
        host_ip=host.ip,
        host_mac=host.mac,
        hostname=host.hostname,
        port=port,
        device=host.device,
        fix=fix,
    )
    fix.findings.add(finding)
    return finding


def check_scan_against_fixes(scan: ScanRun) -> list[Finding]:
    """Findings for closed fixes of the scan's client whose port the scan still saw open."""
    seen_at = scan.finished_at or scan.created_at
    fixes = list(
        TemporaryFix.objects.filter(
            client_id=scan.client_id,
            status=FixStatus.CLOSED,
            evidence_port__isnull=False,
            closed_at__lt=seen_at,
        )
    )
    if not fixes:
        return []
    found = []
    hosts = list(scan.hosts.select_related("device"))
    for fix in fixes:
        for host in hosts:
            if fix.evidence_port in _open_ports(host) and _host_matches(fix, host):
                found.append(_raise(scan, fix, host))
    return found
