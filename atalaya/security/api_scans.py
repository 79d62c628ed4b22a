"""/api/v1 routes of security: findings, scans queued on agents, nmap XML imports
(MSP staff only; anyone else 404)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Field, File, Form, Query, Router, Schema
from ninja.files import UploadedFile

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import User
from atalaya.core.schemas import InputSchema
from atalaya.monitoring.models import Device
from atalaya.security.models import Finding, ScanRun
from atalaya.security.scans import findings as services
from atalaya.security.scans import ingest, schedule
from atalaya.security.views.scans import get_finding_or_404, get_site_or_404, visible_findings

router = Router(tags=["security"])

MAX_LIMIT = 200
MAX_UPLOAD = ingest.MAX_XML_BYTES


class FindingOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    site: uuid.UUID
    kind: str
    severity: str
    status: str
    title: str
    host_ip: str | None
    host_mac: str
    hostname: str
    port: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    accepted_reason: str
    accepted_until: datetime | None
    ticket: int | None


class FindingPage(Schema):
    items: list[FindingOut]
    count: int


class AcceptIn(InputSchema):
    reason: str = Field(max_length=500, description="Why it is accepted.")
    until: datetime = Field(description="When the acceptance expires (at most a year).")


class ScanIn(InputSchema):
    device: uuid.UUID = Field(description="Public id of the agent's device that scans.")
    targets: str = Field("", max_length=1000, description="Targets; empty: the agent's networks.")
    ports: str = Field("", max_length=2000, description='Ports like "22,80,8000-8100".')


class ScanOut(Schema):
    public_id: uuid.UUID
    site: uuid.UUID
    source: str
    status: str
    is_complete: bool
    hosts_up: int
    open_ports: int
    created_at: datetime


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found.")
    return user


def finding_out(f: Finding) -> dict[str, Any]:
    return {
        "public_id": f.public_id,
        "client": f.client.public_id,
        "site": f.site.public_id,
        "kind": f.kind,
        "severity": f.severity,
        "status": f.status,
        "title": f.title,
        "host_ip": f.host_ip,
        "host_mac": f.host_mac,
        "hostname": f.hostname,
        "port": f.port,
        "first_seen_at": f.first_seen_at,
        "last_seen_at": f.last_seen_at,
        "accepted_reason": f.accepted_reason,
        "accepted_until": f.accepted_until,
        "ticket": f.ticket.number if f.ticket else None,
    }


def scan_out(s: ScanRun) -> dict[str, Any]:
    return {
        "public_id": s.public_id,
        "site": s.site.public_id,
        "source": s.source,
        "status": s.status,
        "is_complete": s.is_complete,
        "hosts_up": s.hosts_up,
        "open_ports": s.open_ports,
        "created_at": s.created_at,
    }


@router.get("/findings", response=responses(FindingPage), summary="List findings")
def list_findings(
    request: HttpRequest,
    client: uuid.UUID | None = Query(None, description="Public id of a client."),  # noqa: B008
    status: Literal["open", "accepted", "resolved", "all"] = Query("open"),
    severity: Literal["info", "low", "medium", "high", "critical"] | None = Query(None),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=100_000),
) -> dict[str, Any]:
    """Findings of network scans, the most recently seen first; open ones unless asked."""
    qs = visible_findings(_staff(request))
    if client is not None:
        qs = qs.filter(client__public_id=client)
    if status != "all":
        qs = qs.filter(status=status)
    if severity:
        qs = qs.filter(severity=severity)
    rows = list(qs.order_by("-last_seen_at", "pk")[offset : offset + limit])
    return {"items": [finding_out(f) for f in rows], "count": qs.count()}


@router.get("/findings/{finding_id}", response=responses(FindingOut), summary="Get a finding")
def get_finding(request: HttpRequest, finding_id: uuid.UUID) -> dict[str, Any]:
    """One finding."""
    return finding_out(get_finding_or_404(_staff(request), finding_id))


@router.post(
    "/findings/{finding_id}/accept", response=responses(FindingOut), summary="Accept a finding"
)
def accept_finding(request: HttpRequest, finding_id: uuid.UUID, payload: AcceptIn) -> Any:
    """Accept a finding with a reason until a date; when it passes the finding is open again."""
    user = _staff(request)
    finding = get_finding_or_404(user, finding_id)
    services.accept_finding(finding, actor=user, reason=payload.reason, until=payload.until)
    return finding_out(get_finding_or_404(user, finding_id))


@router.post(
    "/sites/{site_id}/scans", response=responses(ScanOut, 201), summary="Queue a network scan"
)
def queue_scan(request: HttpRequest, site_id: uuid.UUID, payload: ScanIn) -> Any:
    """Queue a scan as a signed action for one of the site's agents."""
    user = _staff(request)
    site = get_site_or_404(user, site_id)
    device = Device.objects.filter(site=site, public_id=payload.device).first()
    if device is None:
        raise FieldNotFound("device", "No such device at this site.")
    scan = schedule.queue_scan(
        actor=user, device=device, targets=payload.targets, ports=payload.ports
    )
    return created(scan_out(scan))


@router.post(
    "/sites/{site_id}/scans/import",
    response=responses(ScanOut, 201),
    summary="Import an nmap XML report",
)
def import_scan(
    request: HttpRequest,
    site_id: uuid.UUID,
    file: UploadedFile = File(..., description="nmap -oX output."),  # noqa: B008
    partial: bool = Form(False, description="The scan did not cover the whole site."),  # noqa: B008
) -> Any:
    """Import an nmap XML report (entity declarations refused) as a scan of the site."""
    user = _staff(request)
    site = get_site_or_404(user, site_id)
    if file.size is not None and file.size > MAX_UPLOAD:
        raise ValidationError({"file": ["The file is larger than 20 MB."]})
    scan = ingest.import_nmap(
        site=site,
        data=file.read(MAX_UPLOAD + 1),
        name=file.name or "",
        actor=user,
        is_complete=not partial,
    )
    return created(scan_out(scan))
