"""API routes of payments, SEPA mandates and debits, and bank statements under /api/v1/billing.

MSP staff only: anyone else's token gets 404, as for an object that does not exist.
Writes need the billing role or an administrator (403) and go through the same
services as the pages; a service's error names the field it is about. Amounts are
strings of decimals (never floats) in and out. A statement is imported by POSTing the
file (multipart ``file``); the answer says what the reconciliation did.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Query, Router, Schema
from ninja.files import UploadedFile
from pydantic import Field

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.billing.access_payments import (
    get_bank_entry_or_404,
    get_collection_or_404,
    get_mandate_or_404,
    get_payment_or_404,
    get_statement_or_404,
    require_staff,
)
from atalaya.billing.forms_payments import MAX_UPLOAD
from atalaya.billing.models import (
    BankEntry,
    BankStatement,
    Collection,
    EntryStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Mandate,
    Payment,
    billing_clients_of,
)
from atalaya.billing.services import bank, collections, mandates, payments
from atalaya.core.models import Client, User

router = Router(tags=["payments"])

Amount = str | int
MAX_PAGE = 200


def _staff(request: HttpRequest) -> User:
    user = request.user
    require_staff(user)
    assert isinstance(user, User)
    return user


def _client(user: User, public_id: uuid.UUID, field: str = "client") -> Client:
    found = billing_clients_of(user).filter(public_id=public_id).first()
    if found is None:
        raise FieldNotFound(field, _("No such client."))
    return found


def _invoice(user: User, public_id: uuid.UUID) -> Invoice:
    found = (
        Invoice.objects.visible_to(user)
        .select_related("client")
        .filter(public_id=public_id, status=InvoiceStatus.ISSUED, kind=InvoiceKind.INVOICE)
        .first()
    )
    if found is None:
        raise FieldNotFound("apply_to", _("No such issued invoice."))
    return found


# --- schemas ------------------------------------------------------------------------


class AllocationOut(Schema):
    invoice: uuid.UUID
    invoice_code: str
    amount: str


class PaymentOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    method: str
    amount: str
    currency: str
    received_on: date
    reference: str
    collection: uuid.UUID | None
    returned_at: datetime | None
    allocations: list[AllocationOut]


class PaymentIn(Schema):
    client: uuid.UUID
    method: str = Field(max_length=20)
    amount: Amount
    received_on: date
    reference: str = Field("", max_length=140)
    currency: str = Field("EUR", max_length=3)
    apply_to: uuid.UUID | None = Field(
        None, description="the invoice to apply it to (up to its open balance)"
    )


class ReasonIn(Schema):
    reason: str = Field(max_length=300)


class MandateOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    reference: str
    signed_on: date
    debtor_name: str
    iban: str
    bic: str
    sequence: str
    revoked_at: datetime | None


class MandateIn(Schema):
    client: uuid.UUID
    reference: str = Field(max_length=35)
    signed_on: date
    debtor_name: str = Field(max_length=70)
    iban: str = Field(max_length=42)
    bic: str = Field("", max_length=11)


class CollectionOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    invoice: uuid.UUID
    invoice_code: str
    mandate: str
    amount: str
    end_to_end_id: str
    due_on: date
    sequence: str
    status: str
    return_reason: str


class ReturnIn(Schema):
    reason_code: str = Field(max_length=8)


class StatementOut(Schema):
    public_id: uuid.UUID
    format: str
    filename: str
    account_iban: str
    covers_from: date | None
    covers_until: date | None
    entry_count: int
    matched_count: int
    summary: dict[str, int]
    imported_at: datetime
    duplicate_file: bool = False


class EntryOut(Schema):
    id: int
    statement: uuid.UUID
    booking_date: date
    amount: str
    currency: str
    end_to_end_id: str
    reference: str
    remittance: str
    counterparty_name: str
    counterparty_iban: str
    return_reason: str
    status: str
    note: str


class MatchIn(Schema):
    apply_to: uuid.UUID | None = Field(None, description="the invoice the money pays")
    client: uuid.UUID | None = Field(None, description="or the client it is credit of")


def _payment_out(payment: Payment) -> dict[str, Any]:
    return {
        "public_id": payment.public_id,
        "client": payment.client.public_id,
        "method": payment.method,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "received_on": payment.received_on,
        "reference": payment.reference,
        "collection": payment.collection.public_id if payment.collection else None,
        "returned_at": payment.returned_at,
        "allocations": [
            {
                "invoice": a.invoice.public_id,
                "invoice_code": a.invoice.code,
                "amount": str(a.amount),
            }
            for a in payment.allocations.all()
        ],
    }


def _mandate_out(mandate: Mandate) -> dict[str, Any]:
    return {
        "public_id": mandate.public_id,
        "client": mandate.client.public_id,
        "reference": mandate.reference,
        "signed_on": mandate.signed_on,
        "debtor_name": mandate.debtor_name,
        "iban": mandate.iban,
        "bic": mandate.bic,
        "sequence": mandate.sequence,
        "revoked_at": mandate.revoked_at,
    }


def _collection_out(collection: Collection) -> dict[str, Any]:
    return {
        "public_id": collection.public_id,
        "client": collection.client.public_id,
        "invoice": collection.invoice.public_id,
        "invoice_code": collection.invoice.code,
        "mandate": collection.mandate.reference,
        "amount": str(collection.amount),
        "end_to_end_id": collection.end_to_end_id,
        "due_on": collection.due_on,
        "sequence": collection.sequence,
        "status": collection.status,
        "return_reason": collection.return_reason,
    }


def _statement_out(statement: BankStatement) -> dict[str, Any]:
    result = getattr(statement, "result", None)
    return {
        "public_id": statement.public_id,
        "format": statement.format,
        "filename": statement.filename,
        "account_iban": statement.account_iban,
        "covers_from": statement.covers_from,
        "covers_until": statement.covers_until,
        "entry_count": statement.entry_count,
        "matched_count": statement.matched_count,
        "summary": statement.summary or {},
        "imported_at": statement.imported_at,
        "duplicate_file": bool(result is not None and result.duplicate_file),
    }


def _entry_out(entry: BankEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "statement": entry.statement.public_id,
        "booking_date": entry.booking_date,
        "amount": str(entry.amount),
        "currency": entry.currency,
        "end_to_end_id": entry.end_to_end_id,
        "reference": entry.reference,
        "remittance": entry.remittance,
        "counterparty_name": entry.counterparty_name,
        "counterparty_iban": entry.counterparty_iban,
        "return_reason": entry.return_reason,
        "status": entry.status,
        "note": entry.note,
    }


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0)


# --- payments -----------------------------------------------------------------------


@router.get("/payments", response=responses(list[PaymentOut]))
def list_payments(request: HttpRequest, page: Query[PageQuery]) -> Any:
    """Payments received, newest first, with how each is allocated."""
    user = _staff(request)
    found = (
        Payment.objects.visible_to(user)
        .select_related("client", "collection")
        .prefetch_related("allocations__invoice")
        .order_by("-received_on", "-id")[page.offset : page.offset + page.limit]
    )
    return [_payment_out(p) for p in found]


@router.post("/payments", response=responses(PaymentOut, 201))
def create_payment(request: HttpRequest, payload: PaymentIn) -> Any:
    """Record a payment and apply it to invoices; what is not applied is the client's credit."""
    user = _staff(request)
    client = _client(user, payload.client)
    invoice = _invoice(user, payload.apply_to) if payload.apply_to else None
    payment = payments.record_payment(
        actor=user,
        client=client,
        method=payload.method,
        amount=str(payload.amount),
        received_on=payload.received_on,
        reference=payload.reference,
        currency=payload.currency,
        allocations=[(invoice, None)] if invoice is not None else None,
    )
    return created(_payment_out(get_payment_or_404(user, payment.public_id)))


@router.get("/payments/{payment_id}", response=responses(PaymentOut))
def get_payment(request: HttpRequest, payment_id: str) -> Any:
    """One payment with its allocations."""
    return _payment_out(get_payment_or_404(_staff(request), payment_id))


@router.post("/payments/{payment_id}/reverse", response=responses(PaymentOut))
def reverse_payment(request: HttpRequest, payment_id: str, payload: ReasonIn) -> Any:
    """Reverse a payment (recorded with a reason, never deleted)."""
    user = _staff(request)
    payment = get_payment_or_404(user, payment_id)
    payments.reverse_payment(actor=user, payment=payment, reason=payload.reason)
    return _payment_out(get_payment_or_404(user, payment_id))


# --- mandates -----------------------------------------------------------------------


@router.get("/mandates", response=responses(list[MandateOut]))
def list_mandates(
    request: HttpRequest, page: Query[PageQuery], client: uuid.UUID | None = None
) -> Any:
    """SEPA direct debit mandates of the clients."""
    user = _staff(request)
    found = Mandate.objects.visible_to(user).select_related("client").order_by("-signed_on", "-id")
    if client is not None:
        found = found.filter(client__public_id=client)
    return [_mandate_out(m) for m in found[page.offset : page.offset + page.limit]]


@router.post("/mandates", response=responses(MandateOut, 201))
def create_mandate(request: HttpRequest, payload: MandateIn) -> Any:
    """Record a mandate a client signed: reference, signature date, IBAN."""
    user = _staff(request)
    mandate = mandates.create_mandate(
        actor=user,
        client=_client(user, payload.client),
        reference=payload.reference,
        signed_on=payload.signed_on,
        iban=payload.iban,
        bic=payload.bic,
        debtor_name=payload.debtor_name,
    )
    return created(_mandate_out(mandate))


@router.post("/mandates/{mandate_id}/revoke", response=responses(MandateOut))
def revoke_mandate(request: HttpRequest, mandate_id: str, payload: ReasonIn) -> Any:
    """Revoke a mandate; its debits not yet submitted are cancelled."""
    user = _staff(request)
    mandate = get_mandate_or_404(user, mandate_id)
    mandates.revoke_mandate(actor=user, mandate=mandate, reason=payload.reason)
    return _mandate_out(get_mandate_or_404(user, mandate_id))


# --- direct debits ------------------------------------------------------------------


@router.get("/collections", response=responses(list[CollectionOut]))
def list_collections(
    request: HttpRequest, page: Query[PageQuery], status: str | None = None
) -> Any:
    """Direct debits and where each is in its life."""
    user = _staff(request)
    found = Collection.objects.visible_to(user).select_related("client", "invoice", "mandate")
    if status:
        found = found.filter(status=status)
    found = found.order_by("-due_on", "-id")[page.offset : page.offset + page.limit]
    return [_collection_out(c) for c in found]


@router.get("/collections/{collection_id}", response=responses(CollectionOut))
def get_collection(request: HttpRequest, collection_id: str) -> Any:
    """One direct debit with its history of events."""
    return _collection_out(get_collection_or_404(_staff(request), collection_id))


@router.post("/collections/{collection_id}/settle", response=responses(CollectionOut))
def settle_collection(request: HttpRequest, collection_id: str) -> Any:
    """The bank credited the debit: provisional, and a payment on the invoice."""
    user = _staff(request)
    collections.mark_settled(actor=user, collection=get_collection_or_404(user, collection_id))
    return _collection_out(get_collection_or_404(user, collection_id))


@router.post("/collections/{collection_id}/final", response=responses(CollectionOut))
def finalize_collection(request: HttpRequest, collection_id: str) -> Any:
    """The refund window has passed: the debit is final."""
    user = _staff(request)
    collections.mark_final(actor=user, collection=get_collection_or_404(user, collection_id))
    return _collection_out(get_collection_or_404(user, collection_id))


@router.post("/collections/{collection_id}/return", response=responses(CollectionOut))
def return_collection(request: HttpRequest, collection_id: str, payload: ReturnIn) -> Any:
    """The bank returned the debit with its reason code: the invoice is owed again."""
    user = _staff(request)
    collections.mark_returned(
        actor=user,
        collection=get_collection_or_404(user, collection_id),
        reason_code=payload.reason_code,
    )
    return _collection_out(get_collection_or_404(user, collection_id))


@router.post("/collections/{collection_id}/cancel", response=responses(CollectionOut))
def cancel_collection(request: HttpRequest, collection_id: str, payload: ReasonIn) -> Any:
    """Cancel a debit that is only scheduled."""
    user = _staff(request)
    collections.cancel_collection(
        actor=user, collection=get_collection_or_404(user, collection_id), reason=payload.reason
    )
    return _collection_out(get_collection_or_404(user, collection_id))


# --- bank statements ----------------------------------------------------------------


@router.get("/bank-statements", response=responses(list[StatementOut]))
def list_statements(request: HttpRequest, page: Query[PageQuery]) -> Any:
    """Imported bank statements with their counts of entries matched."""
    _staff(request)
    found = BankStatement.objects.order_by("-imported_at", "-id")
    return [_statement_out(s) for s in found[page.offset : page.offset + page.limit]]


@router.post("/bank-statements", response=responses(StatementOut, 201))
def import_statement(request: HttpRequest, file: File[UploadedFile]) -> Any:
    """Import a camt.053, camt.054 or Norma 43 file; the same file again changes nothing
    (``duplicate_file`` true, the earlier statement returned)."""
    user = _staff(request)
    if file.size is not None and file.size > MAX_UPLOAD:
        raise ValidationError({"file": _("The file is larger than 20 MB.")})
    statement = bank.import_statement(actor=user, data=file.read(), filename=file.name or "")
    return created(_statement_out(statement))


@router.get("/bank-statements/{statement_id}", response=responses(StatementOut))
def get_statement(request: HttpRequest, statement_id: str) -> Any:
    """One imported statement with its entries."""
    return _statement_out(get_statement_or_404(_staff(request), statement_id))


@router.get("/bank-entries/unmatched", response=responses(list[EntryOut]))
def list_unmatched(request: HttpRequest, page: Query[PageQuery]) -> Any:
    """Bank entries that reconciliation could not match, waiting for a person."""
    _staff(request)
    found = (
        BankEntry.objects.filter(status=EntryStatus.UNMATCHED)
        .select_related("statement")
        .order_by("booking_date", "id")
    )
    return [_entry_out(e) for e in found[page.offset : page.offset + page.limit]]


@router.post("/bank-entries/{bank_entry_id}/match", response=responses(EntryOut))
def match_entry(request: HttpRequest, bank_entry_id: str, payload: MatchIn) -> Any:
    """Match a bank entry by hand to an invoice or a client."""
    user = _staff(request)
    entry = get_bank_entry_or_404(user, bank_entry_id)
    invoice = _invoice(user, payload.apply_to) if payload.apply_to else None
    client = _client(user, payload.client) if payload.client else None
    bank.match_entry(actor=user, entry=entry, invoice=invoice, client=client)
    return _entry_out(get_bank_entry_or_404(user, bank_entry_id))


@router.post("/bank-entries/{bank_entry_id}/ignore", response=responses(EntryOut))
def ignore_entry(request: HttpRequest, bank_entry_id: str, payload: ReasonIn) -> Any:
    """Set a bank entry aside with a reason."""
    user = _staff(request)
    entry = get_bank_entry_or_404(user, bank_entry_id)
    bank.ignore_entry(actor=user, entry=entry, reason=payload.reason)
    return _entry_out(get_bank_entry_or_404(user, bank_entry_id))
