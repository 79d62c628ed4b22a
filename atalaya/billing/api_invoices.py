"""API routes of invoices under /api/v1/billing: list, get, draft, lines, issue, credit notes, PDF.

Staff see every client's invoices; a portal user's token sees the issued invoices of
the clients where they are a billing contact (``billing_clients_of``), anyone else's
are 404. Writes need the billing role or an administrator (403) and go through
``services.invoices``, like the pages; a service's error names the field it is about.
Amounts are strings of decimals (never floats) in and out.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from atalaya.apiutil import PDF_OPENAPI, FieldNotFound, created, responses
from atalaya.billing import balance
from atalaya.billing.access_invoices import get_invoice_or_404, visible_invoices
from atalaya.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceSeries,
    InvoiceStatus,
    Product,
    billing_clients_of,
    can_write_billing,
)
from atalaya.billing.money import round_money
from atalaya.billing.services import invoices as services
from atalaya.billing.views.invoices import pdf_response
from atalaya.core.models import User

router = Router(tags=["billing"])

# A number as text ("12.50") or a whole number; floats are refused by the services.
Amount = str | int


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _writer(request: HttpRequest) -> User:
    user = _user(request)
    if not can_write_billing(user):
        raise PermissionDenied(_("Your role may not change billing."))
    return user


class LineIn(Schema):
    product: str | None = Field(None, max_length=40, description="a catalogue product's code")
    description: str = Field("", max_length=2000)
    quantity: Amount
    unit_price: Amount | None = None
    vat_category: str | None = Field(None, max_length=4)
    vat_rate: Amount | None = None
    currency: str | None = Field(None, max_length=10)
    period_start: date | None = None
    period_end: date | None = None


class DraftIn(Schema):
    client: uuid.UUID
    series: str | None = Field(None, max_length=20, description="a series code")
    period_start: date | None = None
    period_end: date | None = None
    payment_method: str | None = Field(None, max_length=20)
    notes: str = Field("", max_length=10_000)
    currency: str | None = Field(None, max_length=10)
    lines: list[LineIn] = Field(default_factory=list, max_length=500)


class LinesIn(Schema):
    lines: list[LineIn] = Field(min_length=1, max_length=500)


class IssueIn(Schema):
    issue_date: date | None = None


class CreditNoteIn(Schema):
    reason: str = Field(max_length=2000)
    lines: list[LineIn] | None = Field(None, max_length=500)


class LineOut(Schema):
    id: int
    description: str
    quantity: str
    unit: str
    unit_price: str
    vat_category: str
    vat_rate: str
    net_amount: str


class VatOut(Schema):
    vat_category: str
    vat_rate: str
    base: str
    tax: str


class InvoiceOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    series: str
    code: str
    number: int | None
    kind: str
    status: str
    corrects: uuid.UUID | None
    correction_reason: str
    issue_date: date | None
    due_date: date | None
    currency: str
    payment_method: str
    net_total: str
    vat_total: str
    total: str
    open_balance: str | None
    sent_at: datetime | None
    lines: list[LineOut]
    vat_totals: list[VatOut]


class InvoiceSummary(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    code: str
    kind: str
    status: str
    issue_date: date | None
    due_date: date | None
    currency: str
    total: str
    open_balance: str | None


class InvoicePage(Schema):
    items: list[InvoiceSummary]
    next_offset: int | None


def _open(invoice: Invoice, value: Any) -> str | None:
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        return None
    # SQLite hands sums back with float noise (267.550000000000): cents, as stored.
    return str(round_money(Decimal(value)))


def _invoice_out(invoice: Invoice) -> dict[str, Any]:
    lines = list(invoice.lines.order_by("position", "id"))
    return {
        "public_id": invoice.public_id,
        "client": invoice.client.public_id,
        "series": invoice.series.code,
        "code": invoice.code,
        "number": invoice.number,
        "kind": invoice.kind,
        "status": invoice.status,
        "corrects": invoice.corrects.public_id
        if invoice.corrects_id and invoice.corrects
        else None,
        "correction_reason": invoice.correction_reason,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "currency": invoice.currency,
        "payment_method": invoice.payment_method,
        "net_total": str(invoice.net_total),
        "vat_total": str(invoice.vat_total),
        "total": str(invoice.total),
        "open_balance": _open(invoice, balance.open_balance(invoice)),
        "sent_at": invoice.sent_at,
        "lines": [
            {
                "id": line.pk,
                "description": line.description,
                "quantity": str(line.quantity),
                "unit": line.unit,
                "unit_price": str(line.unit_price),
                "vat_category": line.vat_category,
                "vat_rate": str(line.vat_rate),
                "net_amount": str(line.net_amount),
            }
            for line in lines
        ],
        "vat_totals": [
            {
                "vat_category": b.vat_category,
                "vat_rate": str(b.vat_rate),
                "base": str(b.base),
                "tax": str(b.tax),
            }
            for b in invoice.vat_totals.all()
        ],
    }


def _lines(payload: list[LineIn]) -> list[dict[str, Any]]:
    """The API's lines as the services take them: product codes become products."""
    out = []
    codes = {line.product for line in payload if line.product}
    products = {p.code: p for p in Product.objects.filter(code__in=codes, is_active=True)}
    for line in payload:
        data = line.dict(exclude_none=True)
        if line.product:
            if line.product not in products:
                raise FieldNotFound("product", _("No such product."))
            data["product"] = products[line.product]
        out.append(data)
    return out


@router.get("/invoices", response=responses(InvoicePage), summary="List invoices")
def list_invoices(
    request: HttpRequest,
    client: uuid.UUID | None = None,
    status: InvoiceStatus | None = None,
    kind: InvoiceKind | None = None,
    overdue: bool = False,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Invoices and credit notes, newest first, with the open balance of each invoice."""
    user = _user(request)
    rows = visible_invoices(user)
    if client is not None:
        found = billing_clients_of(user).filter(public_id=client).first()
        if found is None:
            raise FieldNotFound("client", _("No such client."))
        rows = rows.filter(client=found)
    if status is not None:
        rows = rows.filter(status=status)
    if kind is not None:
        rows = rows.filter(kind=kind)
    annotated = balance.with_balances(rows.select_related("client"))
    if overdue:
        annotated = annotated.filter(
            status=InvoiceStatus.ISSUED,
            kind=InvoiceKind.INVOICE,
            due_date__lt=timezone.localdate(),
            open_balance__gt=0,
        )
    page = list(annotated.order_by("-created_at", "-id")[offset : offset + limit + 1])
    return {
        "items": [
            {
                "public_id": i.public_id,
                "client": i.client.public_id,
                "code": i.code,
                "kind": i.kind,
                "status": i.status,
                "issue_date": i.issue_date,
                "due_date": i.due_date,
                "currency": i.currency,
                "total": str(i.total),
                "open_balance": _open(i, i.open_balance),
            }
            for i in page[:limit]
        ],
        "next_offset": offset + limit if len(page) > limit else None,
    }


@router.post("/invoices", response=responses(InvoiceOut, 201), summary="Create a draft")
def create_draft(request: HttpRequest, payload: DraftIn) -> Any:
    """A draft invoice with its lines; nothing is written unless every line is valid."""
    user = _user(request)
    client = billing_clients_of(user).filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", _("No such client."))
    _writer(request)
    series = None
    if payload.series:
        series = InvoiceSeries.objects.filter(code=payload.series).first()
        if series is None:
            raise FieldNotFound("series", _("No such series."))
    invoice = services.create_draft(
        actor=user,
        client=client,
        series=series,
        period_start=payload.period_start,
        period_end=payload.period_end,
        payment_method=payload.payment_method,
        notes=payload.notes,
        currency=payload.currency,
        lines=_lines(payload.lines),
    )
    return created(_invoice_out(invoice))


@router.get("/invoices/{invoice_id}", response=responses(InvoiceOut), summary="Get an invoice")
def get_invoice(request: HttpRequest, invoice_id: uuid.UUID) -> dict[str, Any]:
    """One invoice or credit note with its lines, VAT buckets and open balance."""
    return _invoice_out(get_invoice_or_404(_user(request), invoice_id))


@router.post(
    "/invoices/{invoice_id}/lines", response=responses(InvoiceOut), summary="Add lines to a draft"
)
def add_lines(request: HttpRequest, invoice_id: uuid.UUID, payload: LinesIn) -> dict[str, Any]:
    """Add lines to a draft; the totals are recomputed (an issued invoice refuses, 422)."""
    invoice = get_invoice_or_404(_user(request), invoice_id)
    user = _writer(request)
    services.add_lines(actor=user, invoice=invoice, lines=_lines(payload.lines))
    invoice.refresh_from_db()
    return _invoice_out(invoice)


@router.post("/invoices/{invoice_id}/issue", response=responses(InvoiceOut), summary="Issue")
def issue(request: HttpRequest, invoice_id: uuid.UUID, payload: IssueIn) -> dict[str, Any]:
    """Give the draft its number; issuing an issued invoice again is refused (422)."""
    invoice = get_invoice_or_404(_user(request), invoice_id)
    user = _writer(request)
    issued = services.issue_invoice(actor=user, invoice=invoice, issue_date=payload.issue_date)
    return _invoice_out(issued)


@router.post(
    "/invoices/{invoice_id}/credit-notes",
    response=responses(InvoiceOut, 201),
    summary="Draft a credit note",
)
def credit_note(request: HttpRequest, invoice_id: uuid.UUID, payload: CreditNoteIn) -> Any:
    """A draft credit note of an issued invoice: whole without ``lines`` (negative quantities)."""
    invoice = get_invoice_or_404(_user(request), invoice_id)
    user = _writer(request)
    note = services.create_credit_note(
        actor=user,
        invoice=invoice,
        reason=payload.reason,
        lines=None if payload.lines is None else _lines(payload.lines),
    )
    return created(_invoice_out(note))


@router.get(
    "/invoices/{invoice_id}/pdf",
    summary="The invoice's PDF",
    openapi_extra=PDF_OPENAPI,
)
def invoice_pdf(request: HttpRequest, invoice_id: uuid.UUID) -> HttpResponse:
    """The invoice's PDF, in the invoice's language."""
    return pdf_response(get_invoice_or_404(_user(request), invoice_id))
