"""Billing test data built on the three-user ``world``: one place, so every test agrees.

Rows are built through the services where those exist, so a factory never makes
something the product itself could not.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Max

from atalaya.billing.models import (
    BillingProfile,
    BillingSettings,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
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


def credit_series(code: str = "R2026", prefix: str = "R2026-") -> InvoiceSeries:
    """A series for credit notes, named by the invoices' series ``series()``."""
    found = InvoiceSeries.objects.filter(code=code).first() or InvoiceSeries.objects.create(
        code=code, prefix=prefix, is_for_credit_notes=True
    )
    InvoiceSeries.objects.filter(code="F2026", credit_note_series__isnull=True).update(
        credit_note_series=found
    )
    return found


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
    fields.setdefault("language", client.language)
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


def billing_ready(client: Client, tax_id: str = "B12345674") -> None:
    """The seller's settings and the client's billing profile an invoice needs to be issued."""
    settings_row = BillingSettings.load()
    if not settings_row.legal_name or not settings_row.tax_id:
        settings_row.legal_name = settings_row.legal_name or "Atalaya MSP S.L."
        settings_row.tax_id = settings_row.tax_id or "A58818501"
        settings_row.address = settings_row.address or "Calle Mayor 1, 28001 Madrid"
        settings_row.save()
    profile, _created = BillingProfile.objects.get_or_create(
        client=client, defaults={"tax_id": tax_id, "address": "Calle Real 2", "city": "Sevilla"}
    )
    if not profile.tax_id:
        profile.tax_id = tax_id
        profile.save(update_fields=["tax_id"])


def issued_invoice(
    client: Client,
    lines: list[tuple[str, str, str, str]] | None = None,
    *,
    issue_date: date | None = None,
    due_date: date | None = None,
    **fields: Any,
) -> Invoice:
    """An invoice issued by the real service (gap-free number, snapshots, audit).

    The client gets a billing profile with a valid tax id if it has none, and the
    seller's settings are filled in, since an invoice cannot be issued without them.
    """
    from atalaya.billing.services.invoices import issue_invoice

    billing_ready(client)
    issue_date = issue_date or date(2026, 11, 1)
    if "series" not in fields:
        # Numbers follow dates within a series: an invoice dated before the default
        # series' latest goes to a series of its own day, so tests may issue in any order.
        default = series()
        latest = default.invoices.filter(status="issued").aggregate(d=Max("issue_date"))["d"]
        if latest is not None and issue_date < latest:
            default = series(f"F{issue_date:%Y%m%d}", f"F{issue_date:%Y%m%d}-")
        fields["series"] = default
    invoice = draft_invoice(client, lines, **fields)
    return issue_invoice(
        actor=None,
        invoice=invoice,
        issue_date=issue_date,
        due_date=due_date or date(2026, 12, 1),
    )
