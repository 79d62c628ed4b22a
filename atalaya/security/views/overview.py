"""The security dashboard: what needs a person now, across every client.

Overdue temporary fixes (escalated) and those due within two weeks, open findings by
severity, and the latest phishing reports. MSP staff only; a handful of queries
whatever the size of the install.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from atalaya.security.models import (
    SEVERITY_RANK,
    Finding,
    FindingStatus,
    FixStatus,
    PhishingReport,
    TemporaryFix,
)
from atalaya.tickets.views.tickets import staff_view

DUE_SOON = timedelta(days=14)


@staff_view("GET", "HEAD")
def overview(request: HttpRequest) -> HttpResponse:
    """Fixes overdue or due soon, open findings by severity, recent phishing reports."""
    user = request.user
    today = timezone.localdate()
    fixes = list(
        TemporaryFix.objects.visible_to(user)
        .filter(status=FixStatus.OPEN, revert_by__lte=today + DUE_SOON)
        .select_related("client", "owner")
        .order_by("revert_by", "pk")[:50]
    )
    for fix in fixes:
        fix.days_left = (fix.revert_by - today).days
    counts = dict(
        Finding.objects.visible_to(user)
        .filter(status=FindingStatus.OPEN)
        .values_list("severity")
        .annotate(n=Count("pk"))
        .values_list("severity", "n")
    )
    by_severity: list[dict[str, Any]] = [
        {"severity": severity, "count": counts.get(severity, 0)}
        for severity in sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__, reverse=True)
    ]
    reports = list(
        PhishingReport.objects.visible_to(user)
        .select_related("client", "ticket")
        .order_by("-created_at")[:10]
    )
    context = {
        "overdue": [f for f in fixes if f.days_left < 0],
        "due_soon": [f for f in fixes if f.days_left >= 0],
        "findings": by_severity,
        "reports": reports,
    }
    return render(request, "security/overview.html", context)


urlpatterns = [path("", overview, name="overview")]
