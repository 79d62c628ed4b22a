"""The client portal's monthly reports: the approved reports of the contact's companies.

A report another client's user asks for, or one not approved yet, is a 404 like one
that does not exist. The report is shown in the reader's language (the portal's).
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_http_methods

from atalaya.portal.views import portal_only
from atalaya.reports import services
from atalaya.reports.access import get_report_or_404, visible_reports
from atalaya.reports.render import period_label
from atalaya.reports.views import pdf_response

PAGE_SIZE = 24


def _language() -> str:
    language = translation.get_language() or "es"
    return "es" if language.startswith("es") else "en"


@require_http_methods(["GET", "HEAD"])
@portal_only
def report_list(request: HttpRequest) -> HttpResponse:
    """The companies' monthly reports, newest first."""
    rows = (
        visible_reports(request.user)
        .defer("html", "figures")
        .order_by("-year", "-month", "client__name", "pk")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for report in page:
        report.period_label = period_label(report.year, report.month)  # type: ignore[attr-defined]
    several = len({r.client_id for r in page}) > 1
    return render(request, "reports/portal/list.html", {"page": page, "several_clients": several})


@require_http_methods(["GET", "HEAD"])
@portal_only
def report_detail(request: HttpRequest, report_id: Any) -> HttpResponse:
    report = get_report_or_404(request.user, report_id)
    return render(
        request,
        "reports/portal/detail.html",
        {
            "report": report,
            "body": services.body_of(report, _language()),
            "period": period_label(report.year, report.month),
        },
    )


@require_http_methods(["GET", "HEAD"])
@portal_only
def report_pdf(request: HttpRequest, report_id: Any) -> HttpResponse:
    return pdf_response(get_report_or_404(request.user, report_id), _language())
