"""/api/v1 endpoints of the reports app: monthly reports, their figures, approval."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Query, Router, Schema

from atalaya.apiutil import responses
from atalaya.reports import services
from atalaya.reports.access import get_report_or_404, visible_reports
from atalaya.reports.models import MonthlyReport

router = Router(tags=["reports"])

MAX_LIMIT = 200


class ReportOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    client_name: str
    year: int
    month: int
    status: str
    generated_at: datetime
    reviewed_at: datetime | None
    sent_at: datetime | None


class ReportDetailOut(ReportOut):
    figures: dict[str, Any]


class ReportPage(Schema):
    items: list[ReportOut]
    count: int


class ApprovedOut(Schema):
    report: ReportOut
    mails_queued: int


def report_out(report: MonthlyReport, *, figures: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "public_id": report.public_id,
        "client": report.client.public_id,
        "client_name": report.client.name,
        "year": report.year,
        "month": report.month,
        "status": report.status,
        "generated_at": report.generated_at,
        "reviewed_at": report.reviewed_at,
        "sent_at": report.sent_at,
    }
    if figures:
        out["figures"] = report.figures
    return out


@router.get("", response=responses(ReportPage), summary="List monthly reports")
def list_reports(
    request: HttpRequest,
    year: int | None = Query(None, ge=2000, le=9999),
    month: int | None = Query(None, ge=1, le=12),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=100_000),
) -> dict[str, Any]:
    """Monthly reports the caller may see, newest month first: every report for MSP
    staff, the approved reports of their companies for a client's user."""
    qs = visible_reports(request.user).defer("html", "figures")
    if year is not None:
        qs = qs.filter(year=year)
    if month is not None:
        qs = qs.filter(month=month)
    qs = qs.order_by("-year", "-month", "client__name", "pk")
    return {"items": [report_out(r) for r in qs[offset : offset + limit]], "count": qs.count()}


@router.get("/{report_id}", response=responses(ReportDetailOut), summary="Get a monthly report")
def get_report(request: HttpRequest, report_id: uuid.UUID) -> dict[str, Any]:
    """One report with its figures snapshot (tickets, SLA, devices, alerts, security,
    billing), as JSON."""
    return report_out(get_report_or_404(request.user, report_id), figures=True)


@router.post(
    "/{report_id}/approve", response=responses(ApprovedOut), summary="Approve a monthly report"
)
def approve_report(request: HttpRequest, report_id: uuid.UUID) -> dict[str, Any]:
    """Approve the report and mail it (PDF attached) to the client's chosen recipients
    through the outbox; approving again mails only recipients who have not had it.
    Technicians and administrators only."""
    report = get_report_or_404(request.user, report_id)
    if not services.can_review(request.user):
        raise PermissionDenied("Your role may not review or send reports.")
    sent = services.approve_report(actor=request.user, report=report)  # type: ignore[arg-type]
    return {"report": report_out(report), "mails_queued": len(sent)}
