"""Sending an invoice: through the outbox, with its PDF attached, to a real SMTP server."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.billing.models import BillingProfile, Invoice
from atalaya.billing.services import invoices
from atalaya.billing.tests.factories import billing_ready, draft_invoice, issued_invoice, series
from atalaya.core.models import ContactMembership
from atalaya.mail import outbox
from atalaya.mail.models import OutboundMessage
from atalaya.mail.tests.smtp_server import SmtpServer, smtp_server  # noqa: F401  (fixture)


@pytest.fixture
def invoice(world):
    series()
    billing_ready(world.client_a)
    BillingProfile.objects.filter(client=world.client_a).update(
        invoice_email="facturas@alfa.example"
    )
    return issued_invoice(world.client_a)


def test_the_mail_carries_the_pdf_to_the_invoice_address(
    world,
    invoice,
    smtp_server: SmtpServer,  # noqa: F811
    settings: Any,
) -> None:
    settings.SMTP_URL = smtp_server.url
    (message,) = invoices.send_invoice(actor=world.billing, invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.sent_at is not None and len(invoice.pdf_sha256) == 64
    assert (message.kind, message.to_address, message.language) == (
        "invoice",
        "facturas@alfa.example",
        "es",
    )
    assert "F2026-00001" in message.subject
    report = outbox.deliver_due()
    assert report.sent == 1
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["facturas@alfa.example"]
    (attachment,) = list(received.message.iter_attachments())
    assert attachment.get_filename() == "F2026-00001.pdf"
    assert attachment.get_content_type() == "application/pdf"
    content = attachment.get_content()
    assert content.startswith(b"%PDF")
    assert hashlib.sha256(content).hexdigest() == invoice.pdf_sha256
    assert received.message_id == f"<{message.message_id}>"
    # Built again (a re-send after a crash), the mail is the same bytes.
    again = OutboundMessage.objects.get(pk=message.pk)
    assert outbox.message_bytes(again) == outbox.message_bytes(message)


def test_billing_contacts_when_there_is_no_invoice_address(world) -> None:
    series()
    billing_ready(world.client_a)
    invoice = issued_invoice(world.client_a)
    with pytest.raises(ValidationError, match="no invoice e-mail"):
        invoices.send_invoice(actor=world.billing, invoice=invoice)
    assert Invoice.objects.get(pk=invoice.pk).sent_at is None
    ContactMembership.objects.filter(contact=world.contact_a).update(is_billing=True)
    (message,) = invoices.send_invoice(actor=world.billing, invoice=invoice)
    assert message.to_address == "ana@alfa.example" and message.contact == world.contact_a
    # Sending again is a new mail, on purpose (after a bounce, a person sends again).
    assert len(invoices.send_invoice(actor=world.billing, invoice=invoice)) == 1
    assert OutboundMessage.objects.filter(kind="invoice").count() == 2


def test_only_issued_invoices_are_sent_by_billing_writers(world, invoice) -> None:
    with pytest.raises(PermissionDenied):
        invoices.send_invoice(actor=world.readonly, invoice=invoice)
    draft = draft_invoice(world.client_a)
    with pytest.raises(ValidationError, match="Only an issued invoice"):
        invoices.send_invoice(actor=world.billing, invoice=draft)
    assert not OutboundMessage.objects.filter(kind="invoice").exists()
