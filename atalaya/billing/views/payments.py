"""Payment pages: the list, one payment (reverse it), record a payment on an invoice or as
a client's credit, and a client's credit applied to an invoice.

MSP staff only (anyone else 404); writes need the billing role or an administrator
(403). Every write is a service call; its ValidationError is shown on the form.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.billing import balance, forms_payments
from atalaya.billing.access_payments import get_payment_or_404, require_staff
from atalaya.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    billing_clients_of,
    can_write_billing,
)
from atalaya.billing.services import payments as services
from atalaya.billing.views.common import PAGE_SIZE, billing_view, error_text, user_of
from atalaya.core.forms import add_service_errors
from atalaya.core.models import Client, User


def staff_invoice_or_404(user: User, public_id: object) -> Invoice:
    """An issued invoice (not a credit note) by its public id, for staff."""
    from atalaya.billing.access_payments import _uuid

    require_staff(user)
    invoice = (
        Invoice.objects.visible_to(user)
        .select_related("client")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if invoice is None:
        raise Http404("No such invoice")
    return invoice


def staff_client_or_404(user: User, public_id: object) -> Client:
    from atalaya.billing.access_payments import _uuid

    require_staff(user)
    client = billing_clients_of(user).filter(public_id=_uuid(public_id)).first()
    if client is None:
        raise Http404("No such client")
    return client


@billing_view("GET", "HEAD")
def payment_list(request: HttpRequest) -> HttpResponse:
    """Payments received, newest first, with what each covers; one query per page."""
    user = user_of(request)
    payments = (
        Payment.objects.visible_to(user)
        .select_related("client", "collection")
        .order_by("-received_on", "-id")
    )
    page = Paginator(payments, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/payments/list.html",
        {"page": page, "can_write": can_write_billing(user)},
    )


@billing_view("GET", "HEAD")
def payment_detail(request: HttpRequest, payment_id: Any) -> HttpResponse:
    user = user_of(request)
    payment = get_payment_or_404(user, payment_id)
    allocations = list(payment.allocations.select_related("invoice").order_by("id"))
    return render(
        request,
        "billing/payments/detail.html",
        {
            "payment": payment,
            "allocations": allocations,
            "unallocated": balance.unallocated(payment),
            "can_write": can_write_billing(user),
            "reverse_form": forms_payments.ReasonForm(),
        },
    )


@billing_view("POST", write=True)
def payment_reverse(request: HttpRequest, payment_id: Any) -> HttpResponse:
    user = user_of(request)
    payment = get_payment_or_404(user, payment_id)
    form = forms_payments.ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the payment is reversed."))
    else:
        try:
            services.reverse_payment(
                actor=user, payment=payment, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("Payment reversed; its invoices are owed again."))
    return redirect("billing:payment_detail", payment_id=payment.public_id)


def _record(
    request: HttpRequest, *, client: Client, invoice: Invoice | None, template: str
) -> HttpResponse:
    user = user_of(request)
    open_amount = balance.open_balance(invoice) if invoice is not None else None
    initial = {"amount": open_amount} if open_amount and open_amount > 0 else {}
    form = forms_payments.PaymentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            payment = services.record_payment(
                actor=user,
                client=client,
                method=data["method"],
                amount=data["amount"],
                received_on=data["received_on"],
                reference=data["reference"],
                allocations=[(invoice, None)] if invoice is not None else None,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Payment recorded."))
            return redirect("billing:payment_detail", payment_id=payment.public_id)
    return render(
        request,
        template,
        {"form": form, "client": client, "invoice": invoice, "open_amount": open_amount},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@billing_view("GET", "HEAD", "POST", write=True)
def invoice_pay(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    """Record money received for an invoice: up to its open balance, the rest is credit."""
    invoice = staff_invoice_or_404(user_of(request), invoice_id)
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        raise Http404("Only an issued invoice takes payments")
    return _record(
        request, client=invoice.client, invoice=invoice, template="billing/payments/new.html"
    )


@billing_view("GET", "HEAD", "POST", write=True)
def client_payment_new(request: HttpRequest, client_id: Any) -> HttpResponse:
    """Record money received from a client for no invoice in particular (credit)."""
    client = staff_client_or_404(user_of(request), client_id)
    return _record(request, client=client, invoice=None, template="billing/payments/new.html")


@billing_view("GET", "HEAD")
def client_credit(request: HttpRequest, client_id: Any) -> HttpResponse:
    """A client's credit, its payments, and its open invoices to apply the credit to."""
    user = user_of(request)
    client = staff_client_or_404(user, client_id)
    open_invoices = [
        inv
        for inv in balance.with_balances(
            Invoice.objects.filter(
                client=client, status=InvoiceStatus.ISSUED, kind=InvoiceKind.INVOICE
            ).order_by("due_date", "id")
        )
        if inv.open_balance > 0
    ]
    payments = list(
        Payment.objects.filter(client=client)
        .select_related("collection")
        .order_by("-received_on", "-id")[:50]
    )
    return render(
        request,
        "billing/payments/credit.html",
        {
            "client": client,
            "credit": balance.credit_balance(client.pk),
            "open_invoices": open_invoices,
            "payments": payments,
            "can_write": can_write_billing(user),
        },
    )


@billing_view("POST", write=True)
def invoice_apply_credit(request: HttpRequest, invoice_id: Any) -> HttpResponse:
    user = user_of(request)
    invoice = staff_invoice_or_404(user, invoice_id)
    try:
        rows = services.allocate_credit(actor=user, invoice=invoice)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        applied = sum((row.amount for row in rows), balance.ZERO)
        messages.success(
            request,
            _("%(amount)s of credit applied to %(code)s.")
            % {"amount": applied, "code": invoice.code},
        )
    return redirect("billing:client_credit", client_id=invoice.client.public_id)
