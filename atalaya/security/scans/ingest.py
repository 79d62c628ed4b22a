"""Scan results into ScanRun/ScanHost: the agent's scan JSON (bounded at the wire,
stored by the check-in writer, processed by a job) and nmap XML imports."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.services import record_audit
from atalaya.security.models import ScanHost, ScanRun, ScanSource, ScanStatus

logger = logging.getLogger(__name__)

MAX_HOSTS = 4096
MAX_PORTS_PER_HOST = 1000
MAX_TARGETS = 64
MAX_ERRORS = 50
MAX_BANNER = 200
MAX_HOSTNAME = 255
MAX_XML_BYTES = 20 * 1024 * 1024


class ScanDataError(Exception):
    """A scan result that is refused; ``path`` names the field (``.hosts[3].ip``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _text(v: Any, path: str, limit: int) -> str:
    if v is None:
        return ""
    if type(v) is not str:
        raise ScanDataError(path, "Must be text.")
    # Printable only, cut to the limit: banners are whatever a service says.
    return "".join(c if c.isprintable() else " " for c in v[:limit]).strip()


def _epoch(v: Any, path: str) -> float | None:
    if v is None:
        return None
    if type(v) not in (int, float) or not math.isfinite(v) or not 0 <= v < 1e11:
        raise ScanDataError(path, "Must be epoch seconds.")
    return float(v)


def _ip(v: Any, path: str) -> str:
    if type(v) is not str or len(v) > 45:
        raise ScanDataError(path, "Must be an IP address.")
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ScanDataError(path, "Must be an IP address.") from None


def _mac(v: Any, path: str) -> str:
    text = _text(v, path, 17).lower().replace("-", ":")
    if text and (len(text) != 17 or any(c not in "0123456789abcdef:" for c in text)):
        raise ScanDataError(path, "Must be a MAC address like aa:bb:cc:dd:ee:ff.")
    return text


def bound_scan_result(raw: Any) -> dict[str, Any]:
    """Check and bound an agent's scan JSON (≤ 4096 hosts, ≤ 1000 ports each, strings
    cut); the normalised copy is what is stored. Raises ScanDataError naming the field."""
    if type(raw) is not dict:
        raise ScanDataError("", "Must be an object.")
    if raw.get("version", 1) != 1:
        raise ScanDataError(".version", "Must be 1.")
    hosts_raw = raw.get("hosts") or []
    if type(hosts_raw) is not list:
        raise ScanDataError(".hosts", "Must be a list.")
    if len(hosts_raw) > MAX_HOSTS:
        raise ScanDataError(".hosts", f"At most {MAX_HOSTS} hosts.")
    targets = raw.get("targets") or []
    if type(targets) is not list or len(targets) > MAX_TARGETS:
        raise ScanDataError(".targets", f"Must be a list of at most {MAX_TARGETS} targets.")
    ports = raw.get("ports") or []
    if type(ports) is not list or len(ports) > 65536:
        raise ScanDataError(".ports", "Must be a list of ports.")
    errors = raw.get("errors") or []
    if type(errors) is not list:
        raise ScanDataError(".errors", "Must be a list.")
    hosts = []
    seen: set[str] = set()
    for i, h in enumerate(hosts_raw):
        p = f".hosts[{i}]"
        if type(h) is not dict:
            raise ScanDataError(p, "Must be an object.")
        ip = _ip(h.get("ip"), p + ".ip")
        if ip in seen:
            continue
        seen.add(ip)
        port_list = h.get("ports") or []
        if type(port_list) is not list or len(port_list) > MAX_PORTS_PER_HOST:
            raise ScanDataError(p + ".ports", f"At most {MAX_PORTS_PER_HOST} ports.")
        out_ports = []
        for j, pt in enumerate(port_list):
            pp = f"{p}.ports[{j}]"
            if type(pt) is not dict:
                raise ScanDataError(pp, "Must be an object.")
            number = pt.get("port")
            if type(number) is not int or not 0 < number < 65536:
                raise ScanDataError(pp + ".port", "Must be a port number 1-65535.")
            proto = pt.get("proto") or "tcp"
            if proto not in ("tcp", "udp"):
                raise ScanDataError(pp + ".proto", "Must be tcp or udp.")
            out_ports.append(
                {
                    "port": number,
                    "proto": proto,
                    "service": _text(pt.get("service"), pp + ".service", 40),
                    "banner": _text(pt.get("banner"), pp + ".banner", MAX_BANNER),
                }
            )
        hosts.append(
            {
                "ip": ip,
                "mac": _mac(h.get("mac"), p + ".mac"),
                "hostname": _text(h.get("hostname"), p + ".hostname", MAX_HOSTNAME),
                "up_by": _text(h.get("up_by"), p + ".up_by", 20),
                "ports": out_ports,
            }
        )
    return {
        "version": 1,
        "started_at": _epoch(raw.get("started_at"), ".started_at"),
        "finished_at": _epoch(raw.get("finished_at"), ".finished_at"),
        "targets": [_text(t, f".targets[{i}]", 100) for i, t in enumerate(targets)],
        "ports": [p for p in ports if type(p) is int and 0 < p < 65536][:65536],
        "hosts": hosts,
        "errors": [_text(e, f".errors[{i}]", 300) for i, e in enumerate(errors[:MAX_ERRORS])],
    }


def store_agent_result(action: Any, scan: dict[str, Any] | None, *, error: str = "") -> None:
    """Called by the check-in writer: keep the bounded result on the action's ScanRun
    and queue its processing. Nothing else happens here (the writer is the hot path).
    A scan action that came back without a scan (refused, failed) fails its ScanRun."""
    if scan is None:
        ScanRun.objects.filter(action_id=action.pk, processed_at__isnull=True).update(
            status=ScanStatus.FAILED,
            error=(error or "no scan result")[:500],
            processed_at=timezone.now(),
        )
        return
    updated = ScanRun.objects.filter(action_id=action.pk, processed_at__isnull=True).update(
        result=scan
    )
    if updated:
        from atalaya.security.tasks_scans import process_scan_task

        scan_id = ScanRun.objects.filter(action_id=action.pk).values_list("pk", flat=True).first()
        if scan_id is not None:
            transaction.on_commit(lambda: _enqueue(process_scan_task, scan_id))


def _enqueue(task: Any, scan_id: int) -> None:
    # A queue that is down must not fail the check-in: the periodic sweep catches up.
    try:
        task(scan_id)
    except Exception:  # noqa: BLE001
        logger.warning("scan %s: processing not queued; the periodic sweep will", scan_id)


def _dt(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


def _write_hosts(scan: ScanRun, hosts: list[dict[str, Any]]) -> None:
    rows = [
        ScanHost(
            scan=scan,
            ip=h["ip"],
            mac=h.get("mac", ""),
            hostname=h.get("hostname", ""),
            vendor=h.get("vendor", "")[:120],
            ports=h.get("ports", []),
        )
        for h in hosts
    ]
    ScanHost.objects.bulk_create(rows, batch_size=500)
    scan.hosts_up = len(rows)
    scan.open_ports = sum(len(h.get("ports", [])) for h in hosts)


def process_scan(scan: ScanRun) -> ScanRun:
    """Turn a stored agent result into hosts, then compare it with the inventory."""
    from atalaya.security.scans import compare

    with transaction.atomic():
        scan = ScanRun.objects.select_for_update().get(pk=scan.pk)
        if scan.processed_at is not None or scan.result is None:
            return scan
        try:
            data = bound_scan_result(scan.result)
        except ScanDataError as exc:
            scan.status, scan.error = ScanStatus.FAILED, str(exc)[:500]
            scan.processed_at = timezone.now()
            scan.save()
            return scan
        scan.started_at = _dt(data["started_at"]) or scan.started_at
        scan.finished_at = min(_dt(data["finished_at"]) or timezone.now(), timezone.now())
        if data["errors"]:
            scan.error = "; ".join(data["errors"])[:500]
        _write_hosts(scan, data["hosts"])
        scan.status = ScanStatus.DONE
        scan.processed_at = timezone.now()
        scan.save()
        compare.compare_scan(scan)
    return scan


# --- nmap XML --------------------------------------------------------------------------


def parse_nmap_xml(data: bytes) -> dict[str, Any]:
    """nmap's ``-oX`` output as the scan JSON; entity declarations and external
    references are refused (defusedxml) with a clear error."""
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    if len(data) > MAX_XML_BYTES:
        raise ValidationError({"file": [_("The file is larger than 20 MB.")]})
    try:
        root = DET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise ValidationError(
            {"file": [_("The XML declares entities or external references; refused.")]}
        ) from None
    except Exception as exc:  # noqa: BLE001  (ParseError and friends)
        raise ValidationError(
            {"file": [_("Not valid XML: %(error)s") % {"error": str(exc)[:200]}]}
        ) from None
    if root.tag != "nmaprun":
        raise ValidationError({"file": [_("Not an nmap XML report (no <nmaprun>).")]})
    hosts: list[dict[str, Any]] = []
    for host in root.iter("host"):
        status = host.find("status")
        if status is not None and status.get("state") not in (None, "up"):
            continue
        ip, mac, vendor = "", "", ""
        for addr in host.findall("address"):
            kind = addr.get("addrtype")
            if kind in ("ipv4", "ipv6") and not ip:
                ip = addr.get("addr", "")
            elif kind == "mac":
                mac, vendor = addr.get("addr", "").lower(), addr.get("vendor", "")
        hostname_el = host.find("hostnames/hostname")
        ports = []
        for port in host.findall("ports/port"):
            state = port.find("state")
            if state is None or state.get("state") != "open":
                continue
            service = port.find("service")
            ports.append(
                {
                    "port": int(port.get("portid", "0") or 0),
                    "proto": port.get("protocol", "tcp"),
                    "service": service.get("name", "") if service is not None else "",
                    "banner": " ".join(
                        x
                        for x in (
                            service.get("product", "") if service is not None else "",
                            service.get("version", "") if service is not None else "",
                        )
                        if x
                    ),
                }
            )
        hosts.append(
            {
                "ip": ip,
                "mac": mac,
                "hostname": hostname_el.get("name", "") if hostname_el is not None else "",
                "ports": ports,
                "vendor": vendor,
            }
        )
        if len(hosts) > MAX_HOSTS:
            raise ValidationError({"file": [_("At most %(n)d hosts.") % {"n": MAX_HOSTS}]})
    try:
        bounded = bound_scan_result(
            {
                "version": 1,
                "started_at": float(root.get("start", "0") or 0) or None,
                "hosts": hosts,
            }
        )
    except (ScanDataError, ValueError) as exc:
        raise ValidationError({"file": [str(exc)[:300]]}) from None
    vendors = {h["ip"]: h["vendor"] for h in hosts}
    for h in bounded["hosts"]:
        h["vendor"] = vendors.get(h["ip"], "")
    finished = root.find("runstats/finished")
    if finished is not None and finished.get("time", "").isdigit():
        bounded["finished_at"] = float(finished.get("time", "0"))
    bounded["targets"] = [root.get("args", "")[:100]] if root.get("args") else []
    return bounded


def import_nmap(
    *, site: Any, data: bytes, name: str = "", actor: Any = None, is_complete: bool = True
) -> ScanRun:
    """Import an nmap XML report as a done scan of ``site`` and compare it. The same file
    twice is refused; every host belongs to that one site (nothing crosses clients)."""
    from atalaya.security.models import require_security_writer
    from atalaya.security.scans import compare

    require_security_writer(actor)
    digest = hashlib.sha256(data).hexdigest()
    if ScanRun.objects.filter(site=site, source_sha256=digest).exists():
        raise ValidationError({"file": [_("This file was already imported for this site.")]})
    parsed = parse_nmap_xml(data)
    now = timezone.now()
    with transaction.atomic():
        scan = ScanRun.objects.create(
            client_id=site.client_id,
            site=site,
            source=ScanSource.NMAP,
            status=ScanStatus.DONE,
            targets=" ".join(parsed["targets"])[:1000],
            is_complete=is_complete,
            created_by=actor if actor is not None and actor.pk else None,
            created_at=now,
            started_at=_dt(parsed["started_at"]),
            finished_at=min(_dt(parsed.get("finished_at")) or now, now),
            processed_at=now,
            source_name=(name or "")[:255],
            source_sha256=digest,
        )
        _write_hosts(scan, parsed["hosts"])
        scan.save()
        record_audit(
            actor,
            scan,
            "scan.imported",
            client=site.client,
            after={"file": scan.source_name, "hosts": scan.hosts_up, "ports": scan.open_ports},
        )
        compare.compare_scan(scan)
    return scan
