"""The invoice PDF: a real PDF, in the client's language, with what a Spanish invoice shows."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from decimal import Decimal

import pytest

from atalaya.billing.models import BillingSettings, Mandate
from atalaya.billing.pdf import render_html, render_pdf
from atalaya.billing.services import invoices
from atalaya.billing.tests.factories import billing_ready, credit_series, issued_invoice, series


def pdf_text(pdf: bytes, tmp_path, invoice=None) -> str:
    """The PDF's text by poppler's pdftotext (apt: poppler-utils), else WeasyPrint's own
    laid-out text boxes of the same document (when the machine has no poppler)."""
    if shutil.which("pdftotext"):
        path = tmp_path / "invoice.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60
        )
        return out.stdout.decode("utf-8")
    assert invoice is not None, "pdftotext is missing and no invoice to lay out"
    from weasyprint import HTML

    def texts(box):
        if getattr(box, "text", None):
            yield box.text
        for child in getattr(box, "children", None) or []:
            yield from texts(child)

    document = HTML(string=render_html(invoice)).render()
    return "\n".join(t for page in document.pages for t in texts(page._page_box))


def test_both_ways_of_reading_the_pdf_agree(world, tmp_path, monkeypatch):
    series()
    billing_ready(world.client_a)
    invoice = issued_invoice(world.client_a)
    poppler = pdf_text(render_pdf(invoice), tmp_path, invoice)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    laid_out = pdf_text(render_pdf(invoice), tmp_path, invoice)
    for expected in ("F2026-00001", "90,75", "B12345674"):
        assert expected in poppler and expected in laid_out


@pytest.fixture
def spanish_invoice(world):
    series()
    billing_ready(world.client_a)
    return issued_invoice(
        world.client_a,
        [("Pack teletrabajo alfa-secret", "3", "25.00", "21"), ("Libro", "1", "10.00", "4")],
        issue_date=date(2026, 11, 1),
    )


def test_a_spanish_invoice_pdf(spanish_invoice, tmp_path):
    pdf = render_pdf(spanish_invoice)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path, spanish_invoice)
    assert "F2026-00001" in text
    assert "Alfa Asesores" in text and "B12345674" in text and "A58818501" in text
    # Spanish number formatting: comma decimals. 75.00 + 15.75 and 10.00 + 0.40.
    assert spanish_invoice.total == Decimal("101.15")
    assert "101,15" in text and "15,75" in text and "0,40" in text
    assert "01/11/2026" in text and "01/12/2026" in text
    assert "101.15" not in text


def test_an_english_client_gets_english(world, tmp_path):
    world.client_b.language = "en"
    world.client_b.save()
    series()
    billing_ready(world.client_b, tax_id="12345678Z")
    invoice = issued_invoice(world.client_b)
    text = pdf_text(render_pdf(invoice), tmp_path, invoice)
    assert "Invoice" in text and "90.75" in text and "90,75" not in text


def test_a_credit_note_names_the_invoice_it_corrects(spanish_invoice, tmp_path):
    credit_series()
    note = invoices.create_credit_note(actor=None, invoice=spanish_invoice, reason="Precio erróneo")
    note = invoices.issue_invoice(actor=None, invoice=note, issue_date=date(2026, 11, 5))
    text = pdf_text(render_pdf(note), tmp_path, note)
    assert "R2026-00001" in text and "F2026-00001" in text
    assert "Precio erróneo" in text and "-101,15" in text


def test_direct_debit_shows_the_mandate(world, tmp_path):
    series()
    billing_ready(world.client_a)
    BillingSettings.objects.update(creditor_id="ES11ZZZB12345674")
    mandate = Mandate.objects.create(
        client=world.client_a,
        reference="ALFA-MANDATE-7",
        signed_on=date(2026, 1, 10),
        debtor_name="Alfa Asesores",
        iban="ES9121000418450200051332",
    )
    invoice = issued_invoice(world.client_a, payment_method="direct_debit", mandate=mandate)
    text = pdf_text(render_pdf(invoice), tmp_path, invoice)
    assert "ALFA-MANDATE-7" in text and "ES91" in text and "1332" in text
    assert "ES11ZZZB12345674" in text


def test_a_draft_is_marked_and_a_hostile_description_is_only_text(world):
    series()
    billing_ready(world.client_a)
    draft = invoices.create_draft(
        actor=None,
        client=world.client_a,
        lines=[
            {
                "description": '<img src="http://evil.example/x.png"> <b>bold</b>',
                "quantity": "1",
                "unit_price": "1",
                "vat_rate": "21",
            }
        ],
    )
    html = render_html(draft)
    assert "<img" not in html and "&lt;img" in html
    assert 'class="draft"' in html
    assert render_pdf(draft).startswith(b"%PDF")
