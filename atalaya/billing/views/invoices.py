"""The staff invoice pages: list, detail, draft editing, issue, credit notes, PDF, sending.

Anyone who is not MSP staff gets 404 (so these URLs reveal nothing to a client);
staff without the billing role (or admin) read but may not write (403). Every write
is a service call; a service's ValidationError is shown on the field it names.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.billing import balance, forms_invoices
from atalaya.billing.access_invoices import get_invoice_or_404, get_line_or_404
from atalaya.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentAllocation,
    billing_clients_of,
    can_write_billing,
)
from atalaya.billing.services import invoices as services
from atalaya.billing.views.common import PAGE_SIZE, billing_view, error_text, user_of
from atalaya.core.forms import add_service_errors
from atalaya.core.models import AuditEvent, User


@billing_view("GET", "HEAD")
def invoice_list(request: HttpRequest) -> HttpResponse:
    """Invoices and credit notes with their open balance; filters client, status, overdue."""
    user = user_of(request)
    clients = billing_clients_of(user).order_by("name").only("id", "public_id", "name")
    form = forms_invoices.InvoiceFilterForm(request.GET or None, clients=clients)
    invoices = Invoice.objects.visible_to(user).select_related("client", "series")
    overdue = False
    if form.is_valid():
        data = form.cleaned_data
        if data.get("client"):
            invoices = invoices.filter(client=data["client"])
        if data.get("status"):
            invoices = invoices.filter(status=data["status"])
        if data.get("kind"):
            invoices = invoices.filter(kind=data["kind"])
        overdue = bool(data.get("overdue"))
    rows = balance.with_balances(invoices)
    if overdue:
        rows = rows.filter(
            status=InvoiceStatus.ISSUED,
            kind=InvoiceKind.INVOICE,
            due_date__lt=timezone.localdate(),
            open_balance__gt=0,
        )
    rows = rows.order_by("-created_at", "-id")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "billing/invoices/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "today": timezone.localdate(),
            "can_write": can_write_billing(user),
        },
    )


@billing_view("GET", "HEAD", "POST", write=True)
def invoice_new(request: HttpRequest) -> HttpResponse:
    """Start a draft for a client; lines are added on the draft's page."""
    user = user_of(request)
    clients = billing_clients_of(user).order_by("name")
    form = forms_invoices.DraftNewForm(request.POST or None, clients=clients)
    if request.method == "POST" and form.is_valid():
        try:
            invoice = services.create_draft(
                actor=user, client=form.cleaned_data["client"], series=form.cleaned_data["series"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Draft created: add its lines."))
            return redirect("billing:invoice_detail", invoice_id=invoice.public_id)
    return render(
        request,
        "billing/invoices/new.html",
        {"form": form},
        status=400 if request.method == "POST" and form.errors else 200,
    )


def _detail_context(invoice: Invoice, user: User) -> dict[str, Any]:
    lines = list(invoice.lines.select_related("product").order_by("position", "id"))
    buckets = list(invoice.vat_totals.all())
    balances = (
        balance.with_balances(Invoice.objects.filter(pk=invoice.pk))
        .values("paid", "credited", "in_flight", "open_balance")
        .first()
    )
    allocations = list(
        PaymentAllocation.objects.filter(invoice=invoice)
        .select_related("payment")
        .order_by("created_at", "id")
    )
    collections = list(invoice.collections.select_related("mandate", "batch").order_by("-id"))
    credit_notes = list(invoice.corrections.order_by("created_at", "id"))
    audit = list(
        AuditEvent.objects.filter(object_type="invoice", object_id=str(invoice.public_id))
        .select_related("actor")
        .order_by("at", "id")
    )
    return {
        "invoice": invoice,
        "lines": lines,
        "buckets": buckets,
        "balances": balances,
        "allocations": allocations,
        "collections": collections,
        "credit_notes": credit_notes,
        "audit": audit,
        "can_write": can_write_billing(user),
        "is_draft": invoice.status == InvoiceStatus.DRAFT,
        "can_credit": invoice.status == InvoiceStatus.ISSUED
        and invoice.kind == InvoiceKind.INVOICE
        and services.creditable(invoice) > 0,
    }


@billing_view("GET", "HEAD")
def invoice_detail(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    """One invoice: lines, VAT buckets, balance, payments, debits, credit notes, history."""
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    context = _detail_context(invoice, user)
    from atalaya.billing.views.reminders import why_context  # reminders import this module

    context.update(why_context(invoice))
    if context["is_draft"] and context["can_write"]:
        context["header_form"] = forms_invoices.DraftHeaderForm(
            initial={
                "period_start": invoice.period_start,
                "period_end": invoice.period_end,
                "payment_method": invoice.payment_method,
                "notes": invoice.notes,
            }
        )
        context["line_form"] = forms_invoices.LineForm()
    return render(request, "billing/invoices/detail.html", context)


def _draft_page(
    request: HttpRequest, invoice: Invoice, *, line_form: Any = None, header_form: Any = None
) -> HttpResponse:
    user = user_of(request)
    context = _detail_context(invoice, user)
    context["line_form"] = line_form or forms_invoices.LineForm()
    context["header_form"] = header_form or forms_invoices.DraftHeaderForm(
        initial={
            "period_start": invoice.period_start,
            "period_end": invoice.period_end,
            "payment_method": invoice.payment_method,
            "notes": invoice.notes,
        }
    )
    return render(request, "billing/invoices/detail.html", context, status=400)


@billing_view("POST", write=True)
def draft_edit(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    """Change a draft's period, payment method and notes."""
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    form = forms_invoices.DraftHeaderForm(request.POST)
    if form.is_valid():
        try:
            services.update_draft(actor=user, invoice=invoice, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Draft saved."))
            return redirect("billing:invoice_detail", invoice_id=invoice.public_id)
    return _draft_page(request, invoice, header_form=form)


@billing_view("POST", write=True)
def line_add(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    """Add a line to a draft: a catalogue product or free text."""
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    form = forms_invoices.LineForm(request.POST)
    if form.is_valid():
        try:
            services.add_line(actor=user, invoice=invoice, **form.line())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Line added."))
            return redirect("billing:invoice_detail", invoice_id=invoice.public_id)
    return _draft_page(request, invoice, line_form=form)


@billing_view("POST", write=True)
def line_remove(request: HttpRequest, invoice_id: Any, line_id: Any) -> HttpResponse:
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    line = get_line_or_404(invoice, line_id)
    try:
        services.remove_line(actor=user, invoice=invoice, line=line)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Line removed."))
    return redirect("billing:invoice_detail", invoice_id=invoice.public_id)


@billing_view("GET", "HEAD", "POST", write=True)
def invoice_issue(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    """Confirm, then issue: the draft gets its number and never changes again."""
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    form = forms_invoices.IssueForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.issue_invoice(
                actor=user, invoice=invoice, issue_date=form.cleaned_data.get("issue_date")
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Issued as %(code)s.") % {"code": issued.code})
            return redirect("billing:invoice_detail", invoice_id=invoice.public_id)
    return render(
        request,
        "billing/invoices/issue.html",
        {"invoice": invoice, "form": form},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@billing_view("POST", write=True)
def invoice_discard(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    try:
        services.discard_draft(actor=user, invoice=invoice)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Draft discarded."))
    return redirect("billing:invoice_detail", invoice_id=invoice.public_id)


@billing_view("GET", "HEAD", "POST", write=True)
def credit_note_new(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    """Draft a credit note (rectificativa) of an issued invoice: all of it or some lines."""
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    lines = list(invoice.lines.select_related("product").order_by("position", "id"))
    form = forms_invoices.CreditNoteForm(request.POST or None, lines=lines)
    if request.method == "POST" and form.is_valid():
        try:
            note = services.create_credit_note(
                actor=user,
                invoice=invoice,
                reason=form.cleaned_data["reason"],
                lines=form.credit_lines(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Credit note drafted: check it, then issue it."))
            return redirect("billing:invoice_detail", invoice_id=note.public_id)
    return render(
        request,
        "billing/invoices/credit_note.html",
        {
            "invoice": invoice,
            "form": form,
            "left": services.creditable(invoice) if invoice.is_issued else None,
        },
        status=400 if request.method == "POST" and form.errors else 200,
    )


def pdf_response(invoice: Invoice) -> HttpResponse:
    from atalaya.billing.pdf import render_pdf

    response = HttpResponse(render_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{services.pdf_filename(invoice)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@billing_view("GET", "HEAD")
def invoice_pdf(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    return pdf_response(get_invoice_or_404(user_of(request), invoice_id))


@billing_view("POST", write=True)
def invoice_send(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    """Queue the invoice's mail, with its PDF, to the client's invoice address."""
    user = user_of(request)
    invoice = get_invoice_or_404(user, invoice_id)
    try:
        sent = services.send_invoice(actor=user, invoice=invoice)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request,
            _("Queued for %(to)s.") % {"to": ", ".join(m.to_address for m in sent)}
            if sent
            else _("Already queued."),
        )
    return redirect("billing:invoice_detail", invoice_id=invoice.public_id)


__all__ = ["billing_view", "pdf_response"]
