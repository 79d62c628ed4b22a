"""Scoped lookups of invoices: the only way views and the API load them.

Staff see every client's invoices (``billing_clients_of``); a portal user sees the
issued invoices and credit notes of the clients where they are a billing contact or a
decision maker, never drafts. Anything else is a 404, exactly as for an invoice that
does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from atalaya.billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    billing_clients_of,
)
from atalaya.core.models import Client


def _uuid(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found") from None


def visible_invoices(user: Any) -> QuerySet[Invoice]:
    """Staff: every invoice; a client's billing contact: their issued ones; else none."""
    invoices = Invoice.objects.visible_to(user)
    if not getattr(user, "is_msp_staff", False):
        invoices = invoices.filter(status=InvoiceStatus.ISSUED)
    return invoices


def get_invoice_or_404(user: Any, public_id: object) -> Invoice:
    invoice = (
        visible_invoices(user)
        .select_related("client", "series", "corrects", "mandate", "issued_by")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if invoice is None:
        raise Http404("No such invoice")
    return invoice


def get_line_or_404(invoice: Invoice, line_id: object) -> InvoiceLine:
    try:
        pk = int(str(line_id))
    except ValueError:
        raise Http404("No such line") from None
    line = InvoiceLine.objects.filter(invoice=invoice, pk=pk).first()
    if line is None:
        raise Http404("No such line")
    return line


def get_billing_client_or_404(user: Any, public_id: object) -> Client:
    client = billing_clients_of(user).filter(public_id=_uuid(public_id)).first()
    if client is None:
        raise Http404("No such client")
    return client


def get_series_or_404(code: str) -> InvoiceSeries:
    series = InvoiceSeries.objects.filter(code=code).first()
    if series is None:
        raise Http404("No such series")
    return series
