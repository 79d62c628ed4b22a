"""What the reminder tests do to invoices: pay, debit, settle, return, credit, and fresh bank data.

Each goes through the payments helper's services (payments.record_payment,
collections.schedule_collection / mark_submitted / mark_settled / mark_returned), so
reminders are tested against the rows the product itself writes.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone

from atalaya.billing.models import (
    BankStatement,
    Collection,
    Invoice,
    Mandate,
    Payment,
)
from atalaya.billing.tests.factories import issued_invoice

_counter = itertools.count(1)


def fresh_bank_data(until: date | None = None) -> BankStatement:
    """A statement reaching ``until`` (today by default): the bank data is fresh."""
    until = until or timezone.localdate()
    digest = hashlib.sha256(f"statement-{until}-{next(_counter)}".encode()).hexdigest()
    return BankStatement.objects.create(format="camt053", sha256=digest, covers_until=until)


def pay(invoice: Invoice, amount: Decimal | str | None = None) -> Payment:
    """A transfer from the invoice's client applied to it (all that is open by default)."""
    from atalaya.billing.services import payments

    return payments.record_payment(
        actor=None,
        client=invoice.client,
        method="transfer",
        amount=Decimal(str(amount)) if amount is not None else _open(invoice),
        received_on=timezone.localdate(),
        reference=invoice.code,
        allocations=[(invoice, Decimal(str(amount)) if amount is not None else None)],
    )


def _open(invoice: Invoice) -> Decimal:
    from atalaya.billing import balance

    return balance.open_balance(invoice)


def mandate_for(client: Any) -> Mandate:
    found = Mandate.objects.filter(client=client, revoked_at__isnull=True).first()
    return found or Mandate.objects.create(
        client=client,
        reference=f"MANDATE-{client.pk}-{next(_counter)}",
        signed_on=date(2026, 1, 1),
        debtor_name=client.name[:70],
        iban="ES9121000418450200051332",
    )


def debit_invoice(client: Any, **fields: Any) -> Invoice:
    """An issued invoice paid by direct debit on the client's mandate (issuing it
    schedules its collection: see ``collection_of``)."""
    return issued_invoice(
        client, payment_method="direct_debit", mandate=mandate_for(client), **fields
    )


def collection_of(invoice: Invoice) -> Collection:
    """The invoice's latest collection."""
    return Collection.objects.filter(invoice=invoice).order_by("-id")[0]


def schedule(invoice: Invoice) -> Collection:
    from atalaya.billing.services import collections

    return collections.schedule_collection(actor=None, invoice=invoice)


def submit(collection: Collection) -> Collection:
    """Batch the collection (pain.008) and submit the batch to the bank."""
    from atalaya.billing.models import BillingSettings
    from atalaya.billing.services import collections

    settings = BillingSettings.load()
    if not settings.iban or not settings.creditor_id:
        settings.iban = "ES7921000813610123456789"
        settings.bic = "CAIXESBBXXX"
        settings.creditor_id = "ES12ZZZB12345678"
        settings.legal_name = settings.legal_name or "Atalaya MSP S.L."
        settings.save()
    collection = Collection.objects.get(pk=collection.pk)
    if collection.batch_id is None:
        batch = collections.create_batch(
            actor=None, due_on=collection.due_on, sequence=collection.sequence
        )
    else:
        batch = collection.batch
    collections.submit_batch(actor=None, batch=batch)
    return Collection.objects.get(pk=collection.pk)


def settle(collection: Collection) -> Collection:
    from atalaya.billing.services import collections

    collection = Collection.objects.get(pk=collection.pk)
    if collection.status == "scheduled":
        collection = submit(collection)
    collections.mark_settled(actor=None, collection=collection)
    return Collection.objects.get(pk=collection.pk)


def return_debit(collection: Collection, code: str = "AM04") -> Collection:
    from atalaya.billing.services import collections

    collection = Collection.objects.get(pk=collection.pk)
    if collection.status == "scheduled":
        collection = submit(collection)
    return collections.mark_returned(actor=None, collection=collection, reason_code=code)


def credit_note(invoice: Invoice, amount: str | None = None) -> Invoice:
    """An issued credit note correcting ``invoice``: the whole invoice, or ``amount`` net
    at 21 % (through the invoicing services)."""
    from atalaya.billing.models import InvoiceSeries
    from atalaya.billing.services import invoices

    InvoiceSeries.objects.get_or_create(
        code="R2026", defaults={"prefix": "R2026-", "is_for_credit_notes": True}
    )
    lines = None
    if amount is not None:
        lines = [
            {
                "description": "Correction",
                "quantity": Decimal("-1"),
                "unit_price": Decimal(amount),
                "vat_category": "S",
                "vat_rate": Decimal("21"),
            }
        ]
    note = invoices.create_credit_note(
        actor=None, invoice=invoice, reason="Correction agreed with the client", lines=lines
    )
    return invoices.issue_invoice(actor=None, invoice=note)
