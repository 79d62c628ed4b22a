"""An announcement end to end: queued, delivered to a real SMTP server, and a reply to it
becomes a ticket of the replying contact's client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from atalaya.comms import services
from atalaya.comms.models import Audience
from atalaya.comms.tests.helpers import TEXTS, announce, contact_at
from atalaya.conftest import World
from atalaya.mail import outbox
from atalaya.mail.inbound import ingest
from atalaya.mail.models import Delivery, MatchRule, OutboundMessage
from atalaya.mail.tests.smtp_server import SmtpServer, start_smtp_server
from atalaya.tickets.models import Ticket


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpServer]:
    """The mail tests' real SMTP server (aiosmtpd on 127.0.0.1), plain, without login."""
    server = start_smtp_server(query="?starttls=false")
    settings.SMTP_URL = server.url
    settings.ANNOUNCEMENT_RATE_PER_S = 0  # no throttle: the test measures nothing
    yield server
    server.stop()


def test_sent_through_smtp_in_each_language_and_a_reply_opens_a_ticket(
    world: World, smtp: SmtpServer
) -> None:
    contact_at([world.client_b], "Ben", "ben@beta.example", "en")
    announcement = announce(world.tech, audience=Audience.ALL_CLIENTS)
    result = services.send_announcement(actor=world.tech, announcement=announcement)
    assert result is not None and result.recipients == 3
    report = outbox.deliver_due()
    assert (report.sent, report.failed) == (3, 0)
    received = {m.rcpt_tos[0]: m.message for m in smtp.messages}
    assert set(received) == {"ana@alfa.example", "ana@beta.example", "ben@beta.example"}
    english, spanish = received["ben@beta.example"], received["ana@alfa.example"]
    assert english["Subject"] == TEXTS["subject_en"]
    assert spanish["Subject"] == TEXTS["subject_es"]
    assert TEXTS["body_es"] in spanish.get_content()
    assert english["Reply-To"] == "support@atalaya.localhost"
    assert english["Precedence"] == "bulk"
    statuses = set(
        OutboundMessage.objects.filter(announcement=announcement).values_list("status", flat=True)
    )
    assert statuses == {Delivery.SENT}

    before = Ticket.objects.count()
    reply = (
        "From: Ben <ben@beta.example>\r\nTo: support@atalaya.localhost\r\n"
        f"Subject: Re: {TEXTS['subject_en']}\r\n"
        f"In-Reply-To: {english['Message-ID']}\r\n"
        "Message-ID: <ben-reply@beta.example>\r\n\r\nCan you call us about the VPN?\r\n"
    ).encode()
    outcome = ingest(reply)
    assert outcome.is_new_ticket and outcome.matched_rule == MatchRule.ANNOUNCEMENT
    ticket = Ticket.objects.get(number=outcome.ticket_number)
    assert ticket.client_id == world.client_b.pk
    assert Ticket.objects.count() == before + 1
