"""A scan against the site's inventory: unknown devices, devices gone, risky services.

The severity table of risky ports is RISKY_PORTS, the one place it is defined.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from atalaya.security.models import (
    Finding,
    FindingKind,
    FindingStatus,
    KnownDevice,
    ScanHost,
    ScanRun,
)
from atalaya.security.scans.findings import resolve_finding, upsert_finding

# port → (severity, name, on managed devices too?). Admin pages (web, printing) only
# count on hosts that are not managed devices: a managed server's web port is its job.
RISKY_PORTS: dict[int, tuple[str, str, bool]] = {
    21: ("medium", "FTP", True),
    23: ("high", "Telnet", True),
    139: ("high", "SMB (NetBIOS)", True),
    445: ("high", "SMB", True),
    3389: ("high", "RDP", True),
    1900: ("medium", "UPnP", True),
    5000: ("medium", "UPnP", True),
    5900: ("high", "VNC", True),
    5901: ("high", "VNC", True),
    5902: ("high", "VNC", True),
    5903: ("high", "VNC", True),
    1433: ("high", "SQL Server", True),
    1521: ("high", "Oracle", True),
    3306: ("high", "MySQL", True),
    5432: ("high", "PostgreSQL", True),
    6379: ("high", "Redis", True),
    27017: ("high", "MongoDB", True),
    9200: ("high", "Elasticsearch", True),
    80: ("low", "HTTP admin page", False),
    8080: ("low", "HTTP admin page", False),
    443: ("low", "HTTPS admin page", False),
    8443: ("low", "HTTPS admin page", False),
    631: ("medium", "IPP printer admin", False),
    9100: ("medium", "raw printing (JetDirect)", False),
}


def _norm_mac(mac: str) -> str:
    return (mac or "").lower().replace("-", ":")


def device_addresses(device: Any) -> tuple[set[str], set[str]]:
    """A managed device's MACs and IPs from its agent inventory's network interfaces."""
    macs, ips = set(), set()
    for iface in (device.inventory or {}).get("network") or []:
        if not isinstance(iface, dict):
            continue
        mac = _norm_mac(str(iface.get("mac") or ""))
        if mac and mac != "00:00:00:00:00:00":
            macs.add(mac)
        for addr in iface.get("addresses") or []:
            if isinstance(addr, dict) and addr.get("address"):
                ips.add(str(addr["address"]).split("%")[0])
    return macs, ips


def host_key(mac: str, ip: str) -> str:
    """A host's stable name in fingerprints: its MAC when known, else its IP."""
    return _norm_mac(mac) or ip


class Inventory:
    """The site's managed devices and known devices, indexed by MAC, IP and hostname."""

    def __init__(self, site: Any) -> None:
        from atalaya.monitoring.models import Device

        self.devices = list(Device.objects.filter(site=site, retired_at__isnull=True))
        self.known = list(KnownDevice.objects.filter(site=site, retired_at__isnull=True))
        self.by_mac: dict[str, Any] = {}
        self.by_ip: dict[str, Any] = {}
        self.by_name: dict[str, Any] = {}
        for d in self.devices:
            macs, ips = device_addresses(d)
            for m in macs:
                self.by_mac.setdefault(m, d)
            for i in ips:
                self.by_ip.setdefault(i, d)
            self.by_name.setdefault(d.hostname.lower().split(".")[0], d)
        for k in self.known:
            if k.mac:
                self.by_mac.setdefault(_norm_mac(k.mac), k)
            if k.ip:
                self.by_ip.setdefault(k.ip, k)
            if k.hostname:
                self.by_name.setdefault(k.hostname.lower().split(".")[0], k)

    def match(self, mac: str, ip: str, hostname: str) -> Any:
        """MAC first, then IP, then hostname (a DHCP lease moves, a MAC does not)."""
        mac = _norm_mac(mac)
        if mac and mac in self.by_mac:
            return self.by_mac[mac]
        if ip in self.by_ip:
            return self.by_ip[ip]
        name = (hostname or "").lower().split(".")[0]
        return self.by_name.get(name) if name else None


def compare_scan(scan: ScanRun) -> list[Finding]:
    """Compare a processed scan with the site's inventory; create/refresh findings; on a
    complete scan resolve those it no longer sees; then the fixes' evidence check."""
    from atalaya.monitoring.models import Device
    from atalaya.security.fixes.evidence import check_scan_against_fixes

    inventory = Inventory(scan.site)
    seen: set[str] = set()
    found: list[Finding] = []
    matched_devices: set[int] = set()
    hosts = list(ScanHost.objects.filter(scan=scan))
    for host in hosts:
        match = inventory.match(host.mac, host.ip, host.hostname)
        is_managed = isinstance(match, Device)
        if is_managed:
            host.device = match
            matched_devices.add(match.pk)
        elif match is not None:
            host.known_device = match
        key = host_key(host.mac, host.ip)
        label = host.hostname or host.ip
        if match is None:
            fp = f"unknown_device:{key}"
            seen.add(fp)
            found.append(
                upsert_finding(
                    scan=scan,
                    kind=FindingKind.UNKNOWN_DEVICE,
                    severity="medium",
                    fingerprint=fp,
                    title=_("Unknown device %(host)s") % {"host": label},
                    details={"ports": [p["port"] for p in host.ports], "vendor": host.vendor},
                    host_ip=host.ip,
                    host_mac=host.mac,
                    hostname=host.hostname,
                )
            )
        for p in host.ports:
            rule = RISKY_PORTS.get(p["port"])
            if rule is None or (is_managed and not rule[2]):
                continue
            severity, name, _managed_too = rule
            fp = f"risky_service:{key}:{p['port']}"
            seen.add(fp)
            found.append(
                upsert_finding(
                    scan=scan,
                    kind=FindingKind.RISKY_SERVICE,
                    severity=severity,
                    fingerprint=fp,
                    title=_("%(service)s open on %(host)s (port %(port)d)")
                    % {"service": name, "host": label, "port": p["port"]},
                    details={"service": p.get("service", ""), "banner": p.get("banner", "")},
                    host_ip=host.ip,
                    host_mac=host.mac,
                    hostname=host.hostname,
                    port=p["port"],
                    device=match if is_managed else None,
                )
            )
    ScanHost.objects.bulk_update(hosts, ["device", "known_device"], batch_size=500)
    if scan.is_complete:
        _devices_gone(scan, inventory, matched_devices, hosts, seen, found)
        fixes_seen = {f"{host_key(h.mac, h.ip)}:{p['port']}" for h in hosts for p in h.ports} | {
            f"{h.ip}:{p['port']}" for h in hosts for p in h.ports
        }
        stale = Finding.objects.filter(site=scan.site).exclude(status=FindingStatus.RESOLVED)
        for finding in stale:
            if finding.fingerprint in seen:
                continue
            if finding.kind == FindingKind.FIX_NOT_UNDONE:
                # fix_not_undone:<fix>:<host key>:<port> — resolved once nothing is open there.
                tail = finding.fingerprint.split(":", 2)[-1]
                if tail in fixes_seen:
                    continue
            resolve_finding(finding, scan=scan)
    found.extend(check_scan_against_fixes(scan))
    return found


def _devices_gone(
    scan: ScanRun,
    inventory: Inventory,
    matched: set[int],
    hosts: list[ScanHost],
    seen: set[str],
    found: list[Finding],
) -> None:
    # Only devices an earlier scan saw: a laptop never on this network is not "gone".
    earlier = set(
        ScanHost.objects.filter(scan__site=scan.site, device__isnull=False)
        .exclude(scan=scan)
        .values_list("device_id", flat=True)
    )
    for device in inventory.devices:
        if device.pk in matched or device.pk not in earlier:
            continue
        fp = f"device_gone:{device.public_id}"
        seen.add(fp)
        found.append(
            upsert_finding(
                scan=scan,
                kind=FindingKind.DEVICE_GONE,
                severity="low",
                fingerprint=fp,
                title=_("Device %(name)s not seen by the scan")
                % {"name": device.display_name or device.hostname},
                hostname=device.hostname,
                device=device,
            )
        )
