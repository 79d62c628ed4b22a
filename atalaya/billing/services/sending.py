"""Sending an issued invoice: its PDF attached, through the outbox, in the client's language.

Recipients are the client's invoice e-mail, else its contacts flagged as billing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaya.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentMethod,
)
from atalaya.billing.models.common import require_billing_writer
from atalaya.billing.services.recipients import billing_recipients
from atalaya.core.models import AuditEvent, User
from atalaya.core.services import record_audit


def pdf_filename(invoice: Invoice) -> str:
    code = invoice.code or f"draft-{str(invoice.public_id)[:8]}"
    return f"{code}.pdf".replace("/", "-")


@transaction.atomic
def send_invoice(*, actor: User | None, invoice: Invoice) -> list[Any]:
    """Mail an issued invoice with its PDF to the client, through the outbox; marks ``sent_at``.

    Each sending is its own mail (a person may send again after a bounce); one
    recipient gets one mail per sending. The PDF is rendered once, in the invoice's
    language, and its hash is kept on the invoice.
    """
    require_billing_writer(actor)
    from atalaya.mail.outbox import kick_delivery, queue_mail

    if invoice.status != InvoiceStatus.ISSUED:
        raise ValidationError({"status": [_("Only an issued invoice can be sent.")]})
    recipients = billing_recipients(invoice.client, language=invoice.language)
    if not recipients:
        raise ValidationError(
            {
                "invoice_email": [
                    _("%(client)s has no invoice e-mail and no billing contact with an address.")
                    % {"client": invoice.client.name}
                ]
            }
        )
    pdf = render_pdf(invoice)
    digest = hashlib.sha256(pdf).hexdigest()
    now = timezone.now()
    # The how-many-th sending: a double click queues one mail, a deliberate re-send another.
    rounds = AuditEvent.objects.filter(
        object_type="invoice", object_id=str(invoice.public_id), action="invoice.send"
    ).count()
    messages = []
    for recipient in recipients:
        address, language = recipient.address, recipient.language
        with translation.override(language):
            subject, body = _mail_text(invoice)
        message = queue_mail(
            key=f"invoice:{invoice.public_id}:send{rounds + 1}:{address}",
            kind="invoice",
            client=invoice.client,
            to_address=address,
            subject=subject,
            body_text=body,
            language=language,
            contact=recipient.contact,
            attachments=[(pdf_filename(invoice), "application/pdf", pdf)],
            now=now,
        )
        if message is not None:
            messages.append(message)
    invoice.sent_at = now
    invoice.pdf_sha256 = digest
    invoice.save(update_fields=["sent_at", "pdf_sha256"])
    record_audit(
        actor,
        invoice,
        "invoice.send",
        client=invoice.client,
        after={"to": [r.address for r in recipients], "pdf_sha256": digest},
    )
    kick_delivery()
    return messages


def render_pdf(invoice: Invoice) -> bytes:
    """The invoice as a PDF (see ``atalaya.billing.pdf``)."""
    from atalaya.billing.pdf import render_pdf as render

    return render(invoice)


def _mail_text(invoice: Invoice) -> tuple[str, str]:
    seller = invoice.seller.get("legal_name", "")
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        subject = _("Credit note %(code)s from %(seller)s") % {
            "code": invoice.code,
            "seller": seller,
        }
        body = _(
            "Hello,\n\nAttached is credit note %(code)s of %(date)s for %(total)s %(currency)s, "
            "which corrects invoice %(original)s.\n\nKind regards,\n%(seller)s"
        ) % {
            "code": invoice.code,
            "date": invoice.issue_date.isoformat() if invoice.issue_date else "",
            "total": invoice.total,
            "currency": invoice.currency,
            "original": invoice.corrects.code if invoice.corrects else "",
            "seller": seller,
        }
        return subject, body
    subject = _("Invoice %(code)s from %(seller)s") % {"code": invoice.code, "seller": seller}
    if invoice.payment_method == PaymentMethod.DIRECT_DEBIT:
        how = _("It will be collected by direct debit; there is nothing for you to do.")
    else:
        how = _("Please pay it by %(due)s.") % {
            "due": invoice.due_date.isoformat() if invoice.due_date else ""
        }
    body = _(
        "Hello,\n\nAttached is invoice %(code)s of %(date)s for %(total)s %(currency)s. "
        "%(how)s\n\nKind regards,\n%(seller)s"
    ) % {
        "code": invoice.code,
        "date": invoice.issue_date.isoformat() if invoice.issue_date else "",
        "total": invoice.total,
        "currency": invoice.currency,
        "how": how,
        "seller": seller,
    }
    return subject, body
