"""Shared set-up of the payments, SEPA and bank tests: the MSP's creditor data, a mandate
and a direct-debit invoice of client A."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import F

from atalaya.billing.models import BillingSettings, Invoice, InvoiceSeries, Mandate
from atalaya.billing.services import mandates
from atalaya.billing.tests import factories

MSP_IBAN = "ES9121000418450200051332"
CLIENT_IBAN = "ES7921000813610123456789"
OTHER_IBAN = "DE89370400440532013000"


def creditor_settings() -> BillingSettings:
    settings = BillingSettings.load()
    settings.legal_name = "Atalaya Servicios SL"
    settings.iban = MSP_IBAN
    settings.bic = "CAIXESBBXXX"
    settings.creditor_id = "ES12ZZZB12345678"
    settings.save()
    return settings


def mandate_of(client: Any, reference: str = "ALFA-0001", iban: str = CLIENT_IBAN) -> Mandate:
    return mandates.create_mandate(
        actor=None,
        client=client,
        reference=reference,
        signed_on=date(2026, 1, 15),
        iban=iban,
        debtor_name=client.name,
    )


def dd_invoice(client: Any, mandate: Mandate | None = None, **fields: Any) -> Invoice:
    """An issued direct-debit invoice (90.75) with no collection yet: numbered directly, so
    these tests schedule its debit themselves whatever issuing does."""
    fields.setdefault("payment_method", "direct_debit")
    return issued_directly(client, mandate=mandate, **fields)


def issued_directly(client: Any, **fields: Any) -> Invoice:
    due_date = fields.pop("due_date", date(2026, 12, 1))
    invoice = factories.draft_invoice(client, **fields)
    series = invoice.series
    InvoiceSeries.objects.filter(pk=series.pk).update(next_number=F("next_number") + 1)
    number = InvoiceSeries.objects.get(pk=series.pk).next_number - 1
    Invoice.objects.filter(pk=invoice.pk).update(
        status="issued",
        number=number,
        code=f"{series.prefix}{number:05d}",
        issue_date=date(2026, 11, 1),
        due_date=due_date,
    )
    invoice.refresh_from_db()
    return invoice


def scheduled(invoice: Invoice, **kwargs: Any) -> Any:
    """The invoice's scheduled collection (issuing may have scheduled it already)."""
    from atalaya.billing.services import collections

    found = invoice.collections.filter(status="scheduled").first()
    return found or collections.schedule_collection(actor=None, invoice=invoice, **kwargs)


def payments_world_of(client: Any) -> dict[str, Any]:
    """Client A's payment, mandate, direct debit (in a batch), statement and bank entry for
    the isolation walk; made once, found again on later calls."""
    from atalaya.billing.models import BankEntry, CollectionBatch, Payment
    from atalaya.billing.services import bank, collections, payments
    from atalaya.billing.tests.statement_files import Line, camt053

    mandate = Mandate.objects.filter(client=client, reference="ALFA-ISO-1").first()
    if mandate is None:
        creditor_settings()
        mandate = mandate_of(client, reference="ALFA-ISO-1")
        collection = scheduled(dd_invoice(client, mandate))
        collections.create_batch(actor=None, due_on=collection.due_on, sequence="FRST")
        invoice = issued_directly(client)
        payments.record_payment(
            actor=None,
            client=client,
            method="transfer",
            amount="10.00",
            received_on=date(2026, 11, 20),
            reference="alfa-secret",
            allocations=[(invoice, None)],
        )
        line = Line("80.75", remittance=f"alfa-secret {invoice.code}", bank_ref="ISO-1")
        bank.import_statement(actor=None, data=camt053([line], iban=MSP_IBAN))
    collection = mandate.collections.order_by("id").first()
    assert collection is not None
    return {
        "mandate": mandate,
        "collection": collection,
        "batch": CollectionBatch.objects.get(collections=collection),
        "payment": Payment.objects.filter(client=client, reference="alfa-secret").first(),
        "entry": BankEntry.objects.filter(client=client).first(),
    }
