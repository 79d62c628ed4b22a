"""Technician pages of monthly reports: review a month, preview, PDF, approve, skip, settings.

MSP staff only (anyone else 404); changes need a technician or administrator (403).
Every change goes through ``reports.services``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.models import Client, Contact, User
from atalaya.reports import services, workdays
from atalaya.reports.access import get_report_or_404, staff_client_or_404, visible_reports
from atalaya.reports.models import MonthlyReport, ReportRecipient, ReportStatus
from atalaya.reports.render import period_label
from atalaya.tickets.views.tickets import staff_view

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def parse_month(value: str | None, today: date) -> tuple[int, int]:
    """ "2026-03" → (2026, 3); empty or malformed: the month before ``today``."""
    found = _MONTH.match(value or "")
    if found:
        year, month = int(found.group(1)), int(found.group(2))
        if 1 <= month <= 12 and 2000 <= year <= 9999:
            return year, month
    return workdays.previous_month(today)


def _shift(year: int, month: int, by: int) -> str:
    index = year * 12 + (month - 1) + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def pdf_response(report: MonthlyReport, language: str | None = None) -> HttpResponse:
    response = HttpResponse(services.pdf_of(report, language), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{services.pdf_filename(report)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@staff_view("GET", "HEAD")
def report_list(request: HttpRequest) -> HttpResponse:
    """One month's reports of every active client, with what is left to review."""
    user = _user(request)
    year, month = parse_month(request.GET.get("month"), timezone.localdate())
    reports = {
        r.client_id: r
        for r in visible_reports(user)
        .filter(year=year, month=month)
        .defer("html", "figures")
        .order_by()
    }
    clients = list(Client.objects.visible_to(user).filter(is_active=True).order_by("name"))
    rows = [{"client": c, "report": reports.get(c.pk)} for c in clients]
    # Inactive clients with a report of the month still show (their report exists).
    active = {c.pk for c in clients}
    rows += [
        {"client": r.client, "report": r}
        for r in sorted(reports.values(), key=lambda r: r.client.name)
        if r.client_id not in active
    ]
    counts = {status: 0 for status in ReportStatus.values}
    for report in reports.values():
        counts[report.status] += 1
    return render(
        request,
        "reports/list.html",
        {
            "rows": rows,
            "year": year,
            "month": month,
            "month_value": f"{year:04d}-{month:02d}",
            "period": period_label(year, month),
            "previous": _shift(year, month, -1),
            "next": _shift(year, month, 1),
            "counts": counts,
            "missing": sum(1 for row in rows if row["report"] is None),
            "can_review": services.can_review(user),
        },
    )


@staff_view("POST", write=True)
def report_generate(request: HttpRequest) -> HttpResponse:
    """Generate (or regenerate) one client's report of a month, or every missing one."""
    user = _user(request)
    year, month = parse_month(request.POST.get("month"), timezone.localdate())
    target = reverse("reports:list") + f"?month={year:04d}-{month:02d}"
    client_id = request.POST.get("client", "")
    try:
        if client_id:
            client = staff_client_or_404(user, client_id)
            report = services.generate_report(actor=user, client=client, year=year, month=month)
            messages.success(request, _("Report generated."))
            return redirect("reports:detail", report.public_id)
        known = set(
            MonthlyReport.objects.filter(year=year, month=month).values_list("client_id", flat=True)
        )
        made = 0
        for client in Client.objects.filter(is_active=True).exclude(pk__in=known):
            services.generate_report(
                actor=user, client=client, year=year, month=month, only_missing=True
            )
            made += 1
        messages.success(request, _("%(n)d reports generated.") % {"n": made})
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    return redirect(target)


@staff_view("POST", write=True)
def report_approve_all(request: HttpRequest) -> HttpResponse:
    """Approve every proposed report of the month: each goes to its recipients."""
    user = _user(request)
    year, month = parse_month(request.POST.get("month"), timezone.localdate())
    count, mails = services.approve_all(actor=user, year=year, month=month)
    messages.success(
        request, _("%(n)d reports approved, %(m)d mails queued.") % {"n": count, "m": mails}
    )
    return redirect(reverse("reports:list") + f"?month={year:04d}-{month:02d}")


@staff_view("GET", "HEAD")
def report_detail(request: HttpRequest, report_id: Any) -> HttpResponse:
    """The report as the client will read it, with its review state and recipients."""
    user = _user(request)
    report = get_report_or_404(user, report_id)
    return render(
        request,
        "reports/detail.html",
        {
            "report": report,
            "body": services.body_of(report),
            "period": period_label(report.year, report.month),
            "recipients": services.recipients_of(report.client),
            "can_review": services.can_review(user),
        },
    )


@staff_view("GET", "HEAD")
def report_pdf(request: HttpRequest, report_id: Any) -> HttpResponse:
    return pdf_response(get_report_or_404(_user(request), report_id))


def _review_action(request: HttpRequest, report_id: Any, action: str) -> HttpResponse:
    user = _user(request)
    report = get_report_or_404(user, report_id)
    try:
        if action == "approve":
            sent = services.approve_report(actor=user, report=report)
            if report.status == ReportStatus.APPROVED:
                messages.warning(
                    request, _("Report approved; it has no recipients, so nothing was mailed.")
                )
            else:
                messages.success(
                    request, _("Report approved: %(n)d mails queued.") % {"n": len(sent)}
                )
        elif action == "skip":
            services.skip_report(actor=user, report=report)
            messages.success(request, _("Report skipped: it will not be sent."))
        else:
            services.generate_report(
                actor=user, client=report.client, year=report.year, month=report.month
            )
            messages.success(request, _("Report regenerated."))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("reports:detail", report.public_id)
    return redirect("reports:detail", report.public_id)


@staff_view("POST", write=True)
def report_approve(request: HttpRequest, report_id: Any) -> HttpResponse:
    """Approve the report and mail it to the client's recipients (each once)."""
    return _review_action(request, report_id, "approve")


@staff_view("POST", write=True)
def report_skip(request: HttpRequest, report_id: Any) -> HttpResponse:
    """Do not send this month's report."""
    return _review_action(request, report_id, "skip")


@staff_view("POST", write=True)
def report_regenerate(request: HttpRequest, report_id: Any) -> HttpResponse:
    """Take the month's figures again (until the report is sent)."""
    return _review_action(request, report_id, "regenerate")


class RecipientsForm(forms.Form):
    contacts = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Contacts who receive the monthly report"),
        queryset=Contact.objects.none(),
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, client: Client, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelMultipleChoiceField, self.fields["contacts"])
        field.queryset = Contact.objects.filter(memberships__client=client).order_by("name", "pk")
        # Outside the f-string, so makemessages finds it.
        no_address = _("no e-mail address")
        field.label_from_instance = lambda c: (  # type: ignore[method-assign,assignment]
            f"{c.name} <{c.email}>" if c.email else f"{c.name} ({no_address})"
        )


@staff_view("GET", "HEAD", "POST", write=True)
def client_settings(request: HttpRequest, client_id: Any) -> HttpResponse:
    """The client's report settings: which of its contacts receive the report."""
    user = _user(request)
    client = staff_client_or_404(user, client_id)
    chosen = ReportRecipient.objects.filter(client=client).values_list(
        "contact__public_id", flat=True
    )
    form = RecipientsForm(request.POST or None, client=client, initial={"contacts": list(chosen)})
    if request.method == "POST" and form.is_valid():
        try:
            services.set_recipients(
                actor=user, client=client, contacts=form.cleaned_data["contacts"]
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, _("Report recipients saved."))
            return redirect("reports:client_settings", client.public_id)
    return render(
        request,
        "reports/settings.html",
        {
            "client": client,
            "form": form,
            "reports": list(
                visible_reports(user).filter(client=client).defer("html", "figures")[:24]
            ),
            "can_review": services.can_review(user),
        },
        status=400 if form.errors else 200,
    )
