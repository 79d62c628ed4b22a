"""/api/v1/billing/quotes: quotes for service packages, drafted by staff, decided by the client.

Staff see every quote and (administrators, technicians, billing) draft, send and
withdraw them; a portal user's token sees the quotes of their companies once sent,
and a decision maker or billing contact of that company accepts or declines (403 for
anyone else). Another client's quote is a 404, as for one that does not exist. Every
write goes through ``services.quotes`` like the pages; a service's error names the
field it is about (a quote accepted twice or after expiry: 422 on ``status``).
Amounts are strings of decimals (never floats) in and out.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from atalaya.apiutil import PDF_OPENAPI, FieldNotFound, created, responses
from atalaya.billing.access_quotes import get_quote_or_404
from atalaya.billing.models import Product, Quote, QuoteStatus
from atalaya.billing.services import quotes as services
from atalaya.billing.views.quotes import pdf_response
from atalaya.core.models import Client, User

router = Router(tags=["billing"])

# A number as text ("12.50") or a whole number; floats are refused by the services.
Amount = str | int


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _writer(request: HttpRequest) -> User:
    user = _user(request)
    if not services.can_write_quotes(user):
        raise PermissionDenied(_("Your role may not change quotes."))
    return user


class QuoteLineIn(Schema):
    product: str = Field(max_length=40, description="a catalogue product's code")
    quantity: Amount = Field(description="how many, e.g. 12 users")
    discount_percent: Amount | None = Field(None, description="0 to 100")
    description: str = Field("", max_length=300, description="empty: the product's name")


class QuoteIn(Schema):
    client: uuid.UUID
    title: str = Field(max_length=200)
    intro: str = Field("", max_length=5000)
    valid_until: date
    proposed_start: date | None = None
    language: str | None = Field(None, max_length=5, description="en or es; empty: the client's")
    lines: list[QuoteLineIn] = Field(default_factory=list, max_length=50)


class AcceptIn(Schema):
    start_date: date = Field(description="the day the agreement starts: from today, within a year")
    note: str = Field("", max_length=1000)


class DeclineIn(Schema):
    reason: str = Field(max_length=1000)


class WithdrawIn(Schema):
    reason: str = Field("", max_length=1000)


class QuoteLineOut(Schema):
    id: int
    product: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    discount_percent: str
    unit_price_net: str
    vat_category: str
    vat_rate: str
    net_amount: str


class VatBucketOut(Schema):
    vat_category: str
    vat_rate: str
    base: str
    tax: str


class QuoteOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    code: str
    status: str
    language: str
    title: str
    intro: str
    valid_until: date
    proposed_start: date | None
    currency: str
    net_total: str
    vat_total: str
    total: str
    sent_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    chosen_start: date | None
    agreement: uuid.UUID | None
    lines: list[QuoteLineOut]
    vat_totals: list[VatBucketOut]


class QuoteSummary(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    code: str
    status: str
    title: str
    valid_until: date
    total: str


class QuotePage(Schema):
    items: list[QuoteSummary]
    next_offset: int | None


def _out(quote: Quote) -> dict[str, Any]:
    lines = list(quote.lines.select_related("product").order_by("position", "id"))
    totals = services.buckets(quote, lines)
    return {
        "public_id": quote.public_id,
        "client": quote.client.public_id,
        "code": quote.code,
        "status": quote.status,
        "language": quote.language,
        "title": quote.title,
        "intro": quote.intro,
        "valid_until": quote.valid_until,
        "proposed_start": quote.proposed_start,
        "currency": quote.currency,
        "net_total": str(quote.net_total),
        "vat_total": str(quote.vat_total),
        "total": str(quote.total),
        "sent_at": quote.sent_at,
        "decided_by": quote.decided_by.display_name() if quote.decided_by else None,
        "decided_at": quote.decided_at,
        "decision_note": quote.decision_note,
        "chosen_start": quote.chosen_start,
        "agreement": quote.agreement.public_id if quote.agreement else None,
        "lines": [
            {
                "id": ln.pk,
                "product": ln.product.code,
                "description": ln.description,
                "quantity": str(ln.quantity),
                "unit": ln.unit,
                "unit_price": str(ln.unit_price),
                "discount_percent": str(ln.discount_percent),
                "unit_price_net": str(ln.unit_price_net),
                "vat_category": ln.vat_category,
                "vat_rate": str(ln.vat_rate),
                "net_amount": str(ln.net_amount),
            }
            for ln in lines
        ],
        "vat_totals": [
            {
                "vat_category": b.category,
                "vat_rate": str(b.rate),
                "base": str(b.base),
                "tax": str(b.tax),
            }
            for b in totals.buckets
        ],
    }


def _reload(user: User, quote: Quote) -> dict[str, Any]:
    return _out(get_quote_or_404(user, quote.public_id))


@router.get("/quotes", response=responses(QuotePage), summary="List quotes")
def list_quotes(
    request: HttpRequest,
    client: uuid.UUID | None = None,
    status: QuoteStatus | None = None,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Quotes, newest first; a portal user's token sees their companies' sent ones only."""
    user = _user(request)
    rows = Quote.objects.visible_to(user).select_related("client")
    if client is not None:
        found = Client.objects.visible_to(user).filter(public_id=client).first()
        if found is None:
            raise FieldNotFound("client", _("No such client."))
        rows = rows.filter(client=found)
    if status is not None:
        rows = rows.filter(status=status)
    page = list(rows.order_by("-created_at", "-id")[offset : offset + limit + 1])
    return {
        "items": [
            {
                "public_id": q.public_id,
                "client": q.client.public_id,
                "code": q.code,
                "status": q.status,
                "title": q.title,
                "valid_until": q.valid_until,
                "total": str(q.total),
            }
            for q in page[:limit]
        ],
        "next_offset": offset + limit if len(page) > limit else None,
    }


@router.post("/quotes", response=responses(QuoteOut, 201), summary="Draft a quote")
def create_quote(request: HttpRequest, payload: QuoteIn) -> Any:
    """A draft quote with its catalogue lines; nothing is written unless every line is valid."""
    user = _user(request)
    client = Client.objects.visible_to(user).filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", _("No such client."))
    _writer(request)
    codes = {line.product for line in payload.lines}
    products = {p.code: p for p in Product.objects.filter(code__in=codes)}
    lines = []
    for line in payload.lines:
        if line.product not in products:
            raise FieldNotFound("product", _("No such product."))
        lines.append({**line.dict(), "product": products[line.product]})
    quote = services.create_quote(
        actor=user,
        client=client,
        title=payload.title,
        intro=payload.intro,
        valid_until=payload.valid_until,
        proposed_start=payload.proposed_start,
        language=payload.language or None,
        lines=lines,
    )
    return created(_reload(user, quote))


@router.get("/quotes/{quote_id}", response=responses(QuoteOut), summary="Get a quote")
def get_quote(request: HttpRequest, quote_id: uuid.UUID) -> dict[str, Any]:
    """One quote with its lines, VAT buckets, totals and decision."""
    return _out(get_quote_or_404(_user(request), quote_id))


@router.post("/quotes/{quote_id}/send", response=responses(QuoteOut), summary="Send a quote")
def send_quote(request: HttpRequest, quote_id: uuid.UUID) -> dict[str, Any]:
    """Number the draft and mail it with its PDF to the client's decision makers (422 if it
    is no longer a draft, has no lines or nobody to send it to)."""
    user = _user(request)
    quote = get_quote_or_404(user, quote_id)
    _writer(request)
    services.send_quote(actor=user, quote=quote)
    return _reload(user, quote)


@router.post(
    "/quotes/{quote_id}/withdraw", response=responses(QuoteOut), summary="Withdraw a quote"
)
def withdraw_quote(request: HttpRequest, quote_id: uuid.UUID, payload: WithdrawIn) -> Any:
    """Take back a draft or sent quote; the client can then no longer accept it."""
    user = _user(request)
    quote = get_quote_or_404(user, quote_id)
    _writer(request)
    services.withdraw_quote(actor=user, quote=quote, reason=payload.reason)
    return _reload(user, quote)


@router.post("/quotes/{quote_id}/accept", response=responses(QuoteOut), summary="Accept a quote")
def accept_quote(request: HttpRequest, quote_id: uuid.UUID, payload: AcceptIn) -> dict[str, Any]:
    """The client accepts on a start date; the quote becomes an agreement. Only a decision
    maker or billing contact of the client (403 otherwise); a second acceptance, or one
    after expiry, is refused (422 on ``status``) and makes no second agreement."""
    user = _user(request)
    quote = get_quote_or_404(user, quote_id)
    services.accept_quote(quote=quote, user=user, start_date=payload.start_date, note=payload.note)
    return _reload(user, quote)


@router.post("/quotes/{quote_id}/decline", response=responses(QuoteOut), summary="Decline a quote")
def decline_quote(request: HttpRequest, quote_id: uuid.UUID, payload: DeclineIn) -> Any:
    """The client declines with a reason (a decision maker or billing contact only)."""
    user = _user(request)
    quote = get_quote_or_404(user, quote_id)
    services.decline_quote(quote=quote, user=user, reason=payload.reason)
    return _reload(user, quote)


@router.get(
    "/quotes/{quote_id}/pdf",
    summary="The quote's PDF",
    openapi_extra=PDF_OPENAPI,
)
def quote_pdf(request: HttpRequest, quote_id: uuid.UUID) -> HttpResponse:
    """The quote's PDF, in the quote's language."""
    return pdf_response(get_quote_or_404(_user(request), quote_id))
