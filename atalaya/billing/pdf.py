"""An invoice as a PDF, rendered by WeasyPrint from an HTML template in the invoice's language.

The document shows what the law asks of a Spanish invoice: both parties with their tax
ids (from the snapshot taken at issue, so a later change of the client's address does
not rewrite an issued invoice), number and dates, the lines, VAT per rate bucket and
the totals, how it is paid, and for a credit note the invoice it corrects and why.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import translation

from atalaya.billing.models import BillingSettings, Invoice, InvoiceKind, InvoiceStatus


def _parties(invoice: Invoice) -> tuple[dict[str, Any], dict[str, Any]]:
    """The issued invoice's snapshots; a draft shows the current data (marked as a draft)."""
    if invoice.status == InvoiceStatus.ISSUED and invoice.seller:
        return invoice.seller, invoice.buyer
    settings_row = BillingSettings.load()
    seller = {
        "legal_name": settings_row.legal_name,
        "tax_id": settings_row.tax_id,
        "address": settings_row.address,
        "email": settings_row.email,
        "iban": settings_row.iban,
    }
    profile = getattr(invoice.client, "billing_profile", None)
    buyer = {
        "name": invoice.client.name,
        "tax_id": getattr(profile, "tax_id", ""),
        "address": getattr(profile, "address", ""),
        "postal_code": getattr(profile, "postal_code", ""),
        "city": getattr(profile, "city", ""),
        "country": getattr(profile, "country", ""),
    }
    if invoice.mandate_id and invoice.mandate:
        buyer["mandate_reference"] = invoice.mandate.reference
        buyer["iban"] = invoice.mandate.iban
    return seller, buyer


def masked_iban(iban: str) -> str:
    """An IBAN on paper shows its country, check digits and last four digits only."""
    compact = "".join((iban or "").split())
    if len(compact) < 8:
        return compact
    return f"{compact[:4]} **** **** {compact[-4:]}"


def render_html(invoice: Invoice) -> str:
    seller, buyer = _parties(invoice)
    with translation.override(invoice.language or "es"):
        return render_to_string(
            "billing/invoices/pdf.html",
            {
                "invoice": invoice,
                "is_credit_note": invoice.kind == InvoiceKind.CREDIT_NOTE,
                "is_draft": invoice.status != InvoiceStatus.ISSUED,
                "seller": seller,
                "buyer": buyer,
                "lines": list(invoice.lines.order_by("position", "id")),
                "buckets": list(invoice.vat_totals.all()),
                "debtor_iban": masked_iban(buyer.get("iban", "")),
                "corrects": invoice.corrects if invoice.corrects_id else None,
                "language": invoice.language,
            },
        )


def render_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF bytes (WeasyPrint; no network: the template has no external URLs)."""
    from weasyprint import HTML

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        # Nothing outside the document is ever loaded: a description cannot make the
        # renderer reach out to a URL.
        raise ValueError(f"external resource refused: {url[:80]}")

    pdf = HTML(string=render_html(invoice), url_fetcher=no_fetch).write_pdf()
    assert pdf is not None
    return bytes(pdf)
