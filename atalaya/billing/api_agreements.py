"""API routes of the catalogue, agreements, the recurring run, time approval and hour
blocks under /api/v1/billing (MSP staff only: anyone else gets 404).

Writes need the billing role or an administrator (403) and go through the same
services as the pages; a service's error names the field it is about. Amounts are
strings of decimals (never floats) in and out.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import Field

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.billing.models import (
    Agreement,
    HourBlock,
    InvoiceSeries,
    Mandate,
    Product,
    billing_clients_of,
    can_write_billing,
)
from atalaya.billing.services import agreements as agreement_services
from atalaya.billing.services import catalog as catalog_services
from atalaya.billing.services import time as time_services
from atalaya.billing.views.agreements import get_agreement_or_404
from atalaya.billing.views.time import get_entry_or_404
from atalaya.core.models import Client, User
from atalaya.tickets.models import WorkType

router = Router(tags=["billing"])

Amount = str | int


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found")
    return user


def _writer(request: HttpRequest) -> User:
    user = _staff(request)
    if not can_write_billing(user):
        raise PermissionDenied(_("Your role may not change billing."))
    return user


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- products ---------------------------------------------------------------------------


class ComponentIn(Schema):
    product: str = Field(max_length=40, description="a product's code")
    quantity: Amount = "1"


class ProductIn(Schema):
    code: str = Field(max_length=40)
    name_en: str = Field(max_length=200)
    name_es: str = Field(max_length=200)
    description_en: str = Field("", max_length=5000)
    description_es: str = Field("", max_length=5000)
    unit: str = Field(max_length=10)
    unit_price: Amount
    vat_category: str = Field("S", max_length=4)
    vat_rate: Amount = "21"
    work_type: str | None = Field(None, max_length=100, description="a work type's slug")
    components: list[ComponentIn] = Field(default_factory=list, max_length=50)


class ProductOut(Schema):
    public_id: uuid.UUID
    code: str
    name_en: str
    name_es: str
    unit: str
    unit_price: str
    vat_category: str
    vat_rate: str
    is_package: bool
    components: list[str]
    work_type: str | None
    is_active: bool


def _product_out(product: Product) -> dict[str, Any]:
    return {
        "public_id": product.public_id,
        "code": product.code,
        "name_en": product.name_en,
        "name_es": product.name_es,
        "unit": product.unit,
        "unit_price": str(product.unit_price),
        "vat_category": product.vat_category,
        "vat_rate": str(product.vat_rate),
        "is_package": product.is_package,
        "components": [c.product.code for c in product.components.all()],
        "work_type": product.work_type.slug if product.work_type else None,
        "is_active": product.is_active,
    }


@router.get("/products", response=responses(list[ProductOut]), summary="List the catalogue")
def list_products(request: HttpRequest) -> list[dict[str, Any]]:
    """The catalogue: products and packages with unit, price and VAT."""
    _staff(request)
    products = Product.objects.select_related("work_type").prefetch_related("components__product")
    return [_product_out(p) for p in products.order_by("code")]


@router.post("/products", response=responses(ProductOut, 201), summary="Add a product")
def create_product(request: HttpRequest, payload: ProductIn) -> Any:
    """Add a product, or a package when components are given (billing role)."""
    user = _writer(request)
    data = payload.dict()
    components = []
    for part in data.pop("components"):
        found = Product.objects.filter(code=part["product"]).first()
        if found is None:
            raise FieldNotFound("components", _("No product has that code."))
        components.append((found, part["quantity"]))
    slug = data.pop("work_type")
    if slug is not None:
        work_type = WorkType.objects.filter(slug=slug).first()
        if work_type is None:
            raise FieldNotFound("work_type", _("No work type has that slug."))
        data["work_type"] = work_type
    product = catalog_services.create_product(actor=user, components=components, **data)
    return created(_product_out(product))


# --- agreements ---------------------------------------------------------------------------


class AgreementIn(Schema):
    client: uuid.UUID
    name: str = Field(max_length=200)
    billing_period: str = Field("monthly", max_length=10)
    starts_on: date
    ends_on: date | None = None
    series: str = Field(max_length=20, description="a series code")
    payment_method: str = Field("transfer", max_length=20)
    mandate_reference: str | None = Field(
        None, max_length=35, description="the SEPA reference of the client's mandate"
    )
    payment_terms_days: int = 30


class AgreementLineIn(Schema):
    product: str = Field(max_length=40, description="a product's code")
    quantity_mode: str = Field("fixed", max_length=10)
    quantity: Amount = "1"
    unit_price: Amount | None = None
    description: str = Field("", max_length=300)
    starts_on: date | None = None
    ends_on: date | None = None


class AgreementLineOut(Schema):
    id: int
    product: str
    quantity_mode: str
    quantity: str
    unit_price: str | None
    description: str
    starts_on: date | None
    ends_on: date | None


class AgreementOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    name: str
    billing_period: str
    starts_on: date
    ends_on: date | None
    billed_until: date
    series: str
    payment_method: str
    mandate_reference: str | None
    payment_terms_days: int
    is_active: bool
    lines: list[AgreementLineOut]


def _agreement_out(agreement: Agreement) -> dict[str, Any]:
    return {
        "public_id": agreement.public_id,
        "client": agreement.client.public_id,
        "name": agreement.name,
        "billing_period": agreement.billing_period,
        "starts_on": agreement.starts_on,
        "ends_on": agreement.ends_on,
        "billed_until": agreement.billed_until,
        "series": agreement.series.code,
        "payment_method": agreement.payment_method,
        "mandate_reference": agreement.mandate.reference if agreement.mandate else None,
        "payment_terms_days": agreement.payment_terms_days,
        "is_active": agreement.is_active,
        "lines": [
            {
                "id": line.pk,
                "product": line.product.code,
                "quantity_mode": line.quantity_mode,
                "quantity": str(line.quantity),
                "unit_price": _text(line.unit_price),
                "description": line.description,
                "starts_on": line.starts_on,
                "ends_on": line.ends_on,
            }
            for line in agreement.lines.all()
        ],
    }


def _agreements(user: User) -> Any:
    return (
        Agreement.objects.visible_to(user)
        .select_related("client", "series", "mandate")
        .prefetch_related("lines__product")
    )


@router.get("/agreements", response=responses(list[AgreementOut]), summary="List agreements")
def list_agreements(request: HttpRequest, client: uuid.UUID | None = None) -> list[Any]:
    """Clients' agreements, newest first, with their lines."""
    user = _staff(request)
    rows = _agreements(user)
    if client is not None:
        rows = rows.filter(client__public_id=client)
    return [_agreement_out(a) for a in rows.order_by("client__name", "name")[:1000]]


@router.post("/agreements", response=responses(AgreementOut, 201), summary="Add an agreement")
def create_agreement(request: HttpRequest, payload: AgreementIn) -> Any:
    """Add an agreement for a client; a direct debit needs the client's active mandate."""
    user = _writer(request)
    client = billing_clients_of(user).filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", _("No client has that id."))
    series = InvoiceSeries.objects.filter(code=payload.series).first()
    if series is None:
        raise FieldNotFound("series", _("No series has that code."))
    mandate = None
    if payload.mandate_reference is not None:
        mandate = Mandate.objects.filter(client=client, reference=payload.mandate_reference).first()
        if mandate is None:
            raise FieldNotFound(
                "mandate_reference", _("This client has no mandate with that reference.")
            )
    data = payload.dict(exclude={"client", "series", "mandate_reference"})
    agreement = agreement_services.create_agreement(
        actor=user, client=client, series=series, mandate=mandate, **data
    )
    return created(_agreement_out(_agreements(user).get(pk=agreement.pk)))


@router.get(
    "/agreements/{agreement_id}", response=responses(AgreementOut), summary="Get an agreement"
)
def get_agreement(request: HttpRequest, agreement_id: uuid.UUID) -> dict[str, Any]:
    """An agreement with its lines, rates and the next period's preview."""
    user = _staff(request)
    return _agreement_out(get_agreement_or_404(user, agreement_id))


@router.post(
    "/agreements/{agreement_id}/lines",
    response=responses(AgreementOut, 201),
    summary="Add a line to an agreement",
)
def add_agreement_line(
    request: HttpRequest, agreement_id: uuid.UUID, payload: AgreementLineIn
) -> Any:
    """Add a recurring line: a catalogue product, fixed or counted quantity, optional price."""
    user = _staff(request)
    agreement = get_agreement_or_404(user, agreement_id)
    user = _writer(request)
    product = Product.objects.filter(code=payload.product).first()
    if product is None:
        raise FieldNotFound("product", _("No product has that code."))
    agreement_services.add_line(
        actor=user, agreement=agreement, product=product, **payload.dict(exclude={"product"})
    )
    return created(_agreement_out(_agreements(user).get(pk=agreement.pk)))


# --- the recurring run ----------------------------------------------------------------------


class DraftRunIn(Schema):
    as_of: date | None = None


class DraftOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    agreement: uuid.UUID
    period_start: date
    period_end: date
    net_total: str
    vat_total: str
    total: str
    status: str
    code: str


class IssueDraftsIn(Schema):
    invoices: list[uuid.UUID] = Field(min_length=1, max_length=5000)
    issue_date: date | None = None


def _draft_out(invoice: Any) -> dict[str, Any]:
    return {
        "public_id": invoice.public_id,
        "client": invoice.client.public_id,
        "agreement": invoice.agreement.public_id,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "net_total": str(invoice.net_total),
        "vat_total": str(invoice.vat_total),
        "total": str(invoice.total),
        "status": invoice.status,
        "code": invoice.code,
    }


@router.get("/recurring", response=responses(list[DraftOut]), summary="Drafts to review")
def list_run_drafts(request: HttpRequest) -> list[dict[str, Any]]:
    """The recurring run's drafts waiting for review."""
    _staff(request)
    return [_draft_out(i) for i in agreement_services.run_drafts()[:5000]]


@router.post("/recurring/draft", response=responses(list[DraftOut]), summary="Run the drafting")
def run_drafting(request: HttpRequest, payload: DraftRunIn) -> list[dict[str, Any]]:
    """Draft the next period of every agreement due on the given day (idempotent)."""
    user = _writer(request)
    made = agreement_services.draft_due_invoices(
        actor=user, as_of=payload.as_of or timezone.localdate()
    )
    ids = [i.pk for i in made]
    return [_draft_out(i) for i in agreement_services.run_drafts().filter(pk__in=ids)]


@router.post("/recurring/issue", response=responses(list[DraftOut]), summary="Issue drafts")
def issue_run_drafts(request: HttpRequest, payload: IssueDraftsIn) -> list[dict[str, Any]]:
    """Issue the chosen drafts of the recurring run, all or none, and move their agreements on."""
    user = _writer(request)
    drafts = list(agreement_services.run_drafts().filter(public_id__in=payload.invoices))
    if len(drafts) != len(set(payload.invoices)):
        raise FieldNotFound("invoices", _("Some of these are not drafts of the recurring run."))
    issued = agreement_services.issue_drafts(
        actor=user, invoices=drafts, issue_date=payload.issue_date
    )
    return [_draft_out(i) for i in issued]


# --- time approval and hour blocks --------------------------------------------------------


class PendingOut(Schema):
    id: int
    client: uuid.UUID
    ticket: int
    minutes: int
    work_type: str | None
    worked_on: date


class DecideIn(Schema):
    use_block: bool | None = None
    hourly_rate: Amount | None = None
    note: str = Field("", max_length=300)


class ChargeOut(Schema):
    status: str
    minutes: int
    block: uuid.UUID | None
    block_minutes: int
    hourly_rate: str
    amount: str


def _charge_out(charge: Any) -> dict[str, Any]:
    return {
        "status": charge.status,
        "minutes": charge.time_entry.minutes,
        "block": charge.block.public_id if charge.block else None,
        "block_minutes": charge.block_minutes,
        "hourly_rate": str(charge.hourly_rate),
        "amount": str(charge.amount),
    }


@router.get("/time/pending", response=responses(list[PendingOut]), summary="Time to approve")
def pending_time(request: HttpRequest) -> list[dict[str, Any]]:
    """Billable ticket time that waits for a person's approval."""
    user = _staff(request)
    entries = time_services.pending_entries().filter(ticket__client__in=billing_clients_of(user))[
        :1000
    ]
    return [
        {
            "id": e.pk,
            "client": e.ticket.client.public_id,
            "ticket": e.ticket.number,
            "minutes": e.minutes,
            "work_type": e.work_type.slug if e.work_type else None,
            "worked_on": e.worked_on,
        }
        for e in entries
    ]


@router.post("/time/{entry_id}/approve", response=responses(ChargeOut, 201), summary="Approve time")
def approve_time(request: HttpRequest, entry_id: int, payload: DecideIn) -> Any:
    """Approve a time entry: it burns a prepaid block, or goes on the next invoice at its rate."""
    user = _staff(request)
    entry = get_entry_or_404(user, entry_id)
    user = _writer(request)
    charge = time_services.approve_time(
        actor=user,
        entry=entry,
        use_block=payload.use_block,
        hourly_rate=payload.hourly_rate,
        note=payload.note,
    )
    return created(_charge_out(charge))


@router.post(
    "/time/{entry_id}/write-off", response=responses(ChargeOut, 201), summary="Do not bill"
)
def write_off_time(request: HttpRequest, entry_id: int, payload: DecideIn) -> Any:
    """Decide that a billable time entry is not billed."""
    user = _staff(request)
    entry = get_entry_or_404(user, entry_id)
    user = _writer(request)
    charge = time_services.write_off_time(actor=user, entry=entry, note=payload.note)
    return created(_charge_out(charge))


class HourBlockIn(Schema):
    client: uuid.UUID
    name: str = Field(max_length=200)
    minutes_total: int
    low_balance_minutes: int = 120
    purchased_on: date | None = None
    expires_on: date | None = None
    price: Amount | None = None
    series: str | None = Field(None, max_length=20)


class HourBlockOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    name: str
    minutes_total: int
    minutes_used: int
    minutes_left: int
    low_balance_minutes: int
    low_balance: bool
    purchased_on: date
    expires_on: date | None
    invoice: uuid.UUID | None


def _block_out(block: HourBlock) -> dict[str, Any]:
    return {
        "public_id": block.public_id,
        "client": block.client.public_id,
        "name": block.name,
        "minutes_total": block.minutes_total,
        "minutes_used": block.minutes_used,
        "minutes_left": block.minutes_left,
        "low_balance_minutes": block.low_balance_minutes,
        "low_balance": block.low_balance_alerted_at is not None,
        "purchased_on": block.purchased_on,
        "expires_on": block.expires_on,
        "invoice": block.invoice.public_id if block.invoice else None,
    }


@router.get("/hour-blocks", response=responses(list[HourBlockOut]), summary="Hour blocks")
def list_hour_blocks(request: HttpRequest) -> list[dict[str, Any]]:
    """Prepaid hour blocks with what is left of them."""
    user = _staff(request)
    blocks = HourBlock.objects.visible_to(user).select_related("client", "invoice")
    return [_block_out(b) for b in blocks.order_by("client__name", "purchased_on")[:1000]]


@router.post("/hour-blocks", response=responses(HourBlockOut, 201), summary="Add an hour block")
def create_hour_block(request: HttpRequest, payload: HourBlockIn) -> Any:
    """Add a prepaid hour block for a client, invoiced as a draft when a price is given."""
    user = _writer(request)
    client: Client | None = billing_clients_of(user).filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", _("No client has that id."))
    series = None
    if payload.series is not None:
        series = InvoiceSeries.objects.filter(code=payload.series).first()
        if series is None:
            raise FieldNotFound("series", _("No series has that code."))
    block = time_services.create_hour_block(
        actor=user, client=client, series=series, **payload.dict(exclude={"client", "series"})
    )
    return created(_block_out(block))
