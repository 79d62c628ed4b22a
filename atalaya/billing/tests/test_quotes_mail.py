"""Quote mail through the outbox to a real SMTP server: the offer with its PDF and the
portal link to the decision maker in their language, the decision to the quote's author."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from atalaya.billing.services import quotes
from atalaya.billing.tests.quotes_fixtures import ready, sent
from atalaya.core.models import Contact
from atalaya.mail import outbox
from atalaya.mail.tests.smtp_server import SmtpServer, smtp_server  # noqa: F401  (fixture)


def test_offer_and_decision_reach_smtp(
    world: Any,
    smtp_server: SmtpServer,  # noqa: F811
    settings: Any,
) -> None:
    settings.SMTP_URL = smtp_server.url
    Contact.objects.filter(pk=world.contact_a.pk).update(language="en")
    quote = sent(world, ready(world))
    assert outbox.deliver_due().sent == 1
    (offer,) = smtp_server.messages
    assert offer.rcpt_tos == ["ana@alfa.example"]
    assert quote.code in offer.message["Subject"]
    body = offer.message.get_body(preferencelist=("plain",)).get_content()
    assert "accept or decline" in body  # the contact's language, not the quote's
    assert f"/portal/quotes/{quote.public_id}/" in body
    (attachment,) = list(offer.message.iter_attachments())
    assert attachment.get_filename() == f"{quote.code}.pdf"
    assert attachment.get_content().startswith(b"%PDF")

    quotes.accept_quote(
        quote=quote, user=world.portal_a, start_date=timezone.localdate() + timedelta(days=2)
    )
    assert outbox.deliver_due().sent == 1
    decision = smtp_server.messages[-1]
    assert decision.rcpt_tos == ["tech@atalaya-msp.example"]
    assert "accepted" in decision.message["Subject"]
