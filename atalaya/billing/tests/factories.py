"""Billing test data built on the three-user ``world``: one place, so every test agrees.

Rows are built through the services where those exist, so a factory never makes
something the product itself could not.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from atalaya.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    InvoiceVatTotal,
    Product,
)
from atalaya.billing.money import line_net, totals
from atalaya.core.models import Client, ContactMembership


def make_billing_contacts(world: Any) -> None:
    """Flag A's and B's portal contacts as their company's billing contact (they then see
    invoices in the portal; an ordinary user does not)."""
    ContactMembership.objects.filter(contact__in=[world.contact_a, world.contact_b]).update(
        is_billing=True
    )


def series(code: str = "F2026", prefix: str = "F2026-") -> InvoiceSeries:
    found = InvoiceSeries.objects.filter(code=code).first()
    return found or InvoiceSeries.objects.create(code=code, prefix=prefix)


def product(code: str = "remote-worker", price: str = "25.00", **fields: Any) -> Product:
    found = Product.objects.filter(code=code).first()
    if found:
        return found
    fields.setdefault("name_en", "Remote worker bundle")
    fields.setdefault("name_es", "Pack teletrabajo")
    fields.setdefault("unit", "user")
    return Product.objects.create(code=code, unit_price=Decimal(price), **fields)


def draft_invoice(
    client: Client,
    lines: list[tuple[str, str, str, str]] | None = None,
    **fields: Any,
) -> Invoice:
    """A draft with (description, quantity, unit price, VAT rate) lines and its totals."""
    lines = lines if lines is not None else [("Remote worker bundle", "3", "25.00", "21")]
    invoice = Invoice.objects.create(client=client, series=fields.pop("series", series()), **fields)
    rows = []
    for position, (description, quantity, price, rate) in enumerate(lines):
        net = line_net(Decimal(quantity), Decimal(price))
        rows.append(
            InvoiceLine(
                invoice=invoice,
                position=position,
                description=description,
                quantity=Decimal(quantity),
                unit_price=Decimal(price),
                vat_rate=Decimal(rate),
                net_amount=net,
            )
        )
    InvoiceLine.objects.bulk_create(rows)
    result = totals(("S", r.vat_rate, r.net_amount) for r in rows)
    InvoiceVatTotal.objects.bulk_create(
        InvoiceVatTotal(
            invoice=invoice, vat_category=b.category, vat_rate=b.rate, base=b.base, tax=b.tax
        )
        for b in result.buckets
    )
    invoice.net_total, invoice.vat_total, invoice.total = result.net, result.vat, result.total
    invoice.save(update_fields=["net_total", "vat_total", "total"])
    return invoice


def issued_invoice(
    client: Client,
    lines: list[tuple[str, str, str, str]] | None = None,
    *,
    issue_date: date | None = None,
    due_date: date | None = None,
    **fields: Any,
) -> Invoice:
    """An issued invoice. Until billing's issue service exists this numbers it directly;
    then it must go through the service (the invoicing work replaces this body)."""
    invoice = draft_invoice(client, lines, **fields)
    s = invoice.series
    InvoiceSeries.objects.filter(pk=s.pk).update(next_number=s.next_number + 1)
    s.refresh_from_db()
    invoice.number = s.next_number - 1
    invoice.code = f"{s.prefix}{invoice.number:05d}"
    invoice.status = InvoiceStatus.ISSUED
    invoice.kind = InvoiceKind.INVOICE
    invoice.issue_date = issue_date or date(2026, 11, 1)
    invoice.due_date = due_date or date(2026, 12, 1)
    invoice.save()
    return invoice
