"""Scoped lookups of the reports app: 404 for what the user may not see."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from atalaya.core.models import Client
from atalaya.reports.models import MonthlyReport


def _uuid_or_404(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found") from None


def visible_reports(user: Any) -> QuerySet[MonthlyReport]:
    return MonthlyReport.objects.visible_to(user).select_related("client", "reviewed_by")


def get_report_or_404(user: Any, public_id: object) -> MonthlyReport:
    """One report by its public id, as the user may see it (portal: approved only), or 404."""
    report = visible_reports(user).filter(public_id=_uuid_or_404(public_id)).first()
    if report is None:
        raise Http404("No such report")
    return report


def staff_client_or_404(user: Any, public_id: object) -> Client:
    """A client by public id, for MSP staff only (report settings are theirs), else 404."""
    if not getattr(user, "is_msp_staff", False):
        raise Http404("Not found")
    client = Client.objects.visible_to(user).filter(public_id=_uuid_or_404(public_id)).first()
    if client is None:
        raise Http404("No such client")
    return client
