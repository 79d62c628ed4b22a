"""The client portal's invoices: what a billing contact sees of their companies' billing.

A portal user whose contact is a billing contact or decision maker of a client sees
that client's issued invoices and credit notes (never drafts), with what is still
open, and downloads their PDFs. Anyone else gets 404, as for an invoice that does not
exist: an ordinary user of the company does not see its invoices.
"""

from __future__ import annotations

from typing import Any, cast

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from atalaya.billing import balance
from atalaya.billing.access_invoices import get_invoice_or_404, visible_invoices
from atalaya.billing.models import InvoiceKind, billing_clients_of
from atalaya.billing.views.invoices import pdf_response
from atalaya.core.models import User
from atalaya.portal.views import portal_only

PAGE_SIZE = 25


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@require_http_methods(["GET", "HEAD"])
@portal_only
def invoice_list(request: HttpRequest) -> HttpResponse:
    """The companies' issued invoices and credit notes, newest first, with the open balance."""
    user = _user(request)
    rows = balance.with_balances(
        visible_invoices(user).select_related("client").order_by("-issue_date", "-number", "-id")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    clients = list(billing_clients_of(user).only("id"))
    return render(
        request,
        "billing/portal/list.html",
        {"page": page, "several_clients": len(clients) > 1, "is_billing_contact": bool(clients)},
    )


@require_http_methods(["GET", "HEAD"])
@portal_only
def invoice_detail(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    user = _user(request)
    invoice = get_invoice_or_404(user, invoice_id)
    open_amount = None
    if invoice.kind == InvoiceKind.INVOICE:
        open_amount = balance.open_balance(invoice)
    return render(
        request,
        "billing/portal/detail.html",
        {
            "invoice": invoice,
            "lines": list(invoice.lines.order_by("position", "id")),
            "buckets": list(invoice.vat_totals.all()),
            "open_amount": open_amount,
            "credit_notes": list(
                visible_invoices(user).filter(corrects=invoice).order_by("issue_date", "id")
            ),
        },
    )


@require_http_methods(["GET", "HEAD"])
@portal_only
def invoice_pdf(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    return pdf_response(get_invoice_or_404(_user(request), invoice_id))
