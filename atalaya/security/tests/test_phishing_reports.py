"""The report-phishing mailbox: a forwarded mail becomes a judged ticket and an answer."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from atalaya.mail.inbound import ingest
from atalaya.mail.models import Mailbox, OutboundMessage
from atalaya.security.models import PhishingReport
from atalaya.tickets.models import EventKind, TicketEvent

LURE = (
    '<p>Your mailbox is full. <a href="http://198.51.100.7/owa/login.php">'
    "https://outlook.office.com</a></p>"
)


@pytest.fixture
def reports(world: Any) -> Mailbox:
    world.contact_a.email = "ana@alfa.example"
    world.contact_a.language = "es"
    world.contact_a.save(update_fields=["email", "language"])
    return Mailbox.objects.create(address="phishing@atalaya.localhost", is_phishing_report=True)


def forwarded(*, as_attachment: bool, message_id: str) -> bytes:
    outer = EmailMessage()
    outer["From"] = "Ana <ana@alfa.example>"
    outer["To"] = "phishing@atalaya.localhost"
    outer["Subject"] = "Fwd: Mailbox full"
    outer["Message-ID"] = message_id
    if as_attachment:
        inner = EmailMessage()
        inner["From"] = "IT <it@0ffice-support.example>"
        inner["Subject"] = "Mailbox full"
        inner.set_content("Your mailbox is full.")
        inner.add_alternative(LURE, subtype="html")
        outer.set_content("Is this real?")
        outer.add_attachment(inner)
    else:
        outer.set_content("Is this real?\n\n---- Forwarded ----\n" + LURE)
        outer.add_alternative(
            "<p>Is this real?</p><blockquote>" + LURE + "</blockquote>", subtype="html"
        )
    return outer.as_bytes()


@pytest.mark.parametrize("as_attachment", [False, True])
def test_a_reported_mail_is_judged_noted_and_answered(
    world: Any, reports: Mailbox, as_attachment: bool
) -> None:
    result = ingest(forwarded(as_attachment=as_attachment, message_id="<r1@alfa.example>"))
    report = PhishingReport.objects.get()
    assert report.client == world.client_a and report.contact == world.contact_a
    assert report.ticket.number == result.ticket_number
    assert report.verdict == "phishing"
    [link] = [item for item in report.links if "198.51.100.7" in item["url"]]
    assert "ip_host" in link["reasons"] and link["text"] == "https://outlook.office.com"
    note = TicketEvent.objects.get(ticket=report.ticket, kind=EventKind.NOTE)
    assert not note.is_public and "198.51.100.7" in note.body
    answer = OutboundMessage.objects.get(pk=report.answer_id)
    assert answer.to_address == "ana@alfa.example" and answer.language == "es"
    assert answer.kind == "security"


def test_the_same_report_twice_is_one_ticket_one_answer(world: Any, reports: Mailbox) -> None:
    raw = forwarded(as_attachment=False, message_id="<r2@alfa.example>")
    ingest(raw)
    ingest(raw)
    assert PhishingReport.objects.count() == 1
    assert OutboundMessage.objects.filter(kind="security").count() == 1


def test_ordinary_mailboxes_make_no_report(world: Any) -> None:
    Mailbox.objects.create(address="support@atalaya.localhost")
    raw = forwarded(as_attachment=False, message_id="<r3@alfa.example>").replace(
        b"phishing@atalaya.localhost", b"support@atalaya.localhost"
    )
    assert ingest(raw).ticket_number is not None
    assert not PhishingReport.objects.exists()


def test_a_hostile_mail_still_makes_a_ticket(world: Any, reports: Mailbox) -> None:
    hostile = "<a href='javascript:alert(1)'>x</a>" + "<a href='http://%%%%/'>" * 3000
    outer = EmailMessage()
    outer["From"] = "ana@alfa.example"
    outer["To"] = "phishing@atalaya.localhost"
    outer["Subject"] = "Fwd: weird"
    outer["Message-ID"] = "<r4@alfa.example>"
    outer.set_content("see below")
    outer.add_alternative(hostile, subtype="html")
    result = ingest(outer.as_bytes())
    assert result.ticket_number is not None
    report = PhishingReport.objects.get()
    assert len(report.links) <= 500


def test_dangerous_links_in_ordinary_mail_are_noted_for_the_technician(world: Any) -> None:
    Mailbox.objects.create(address="support@atalaya.localhost")
    mail = EmailMessage()
    mail["From"] = "ana@alfa.example"
    mail["To"] = "support@atalaya.localhost"
    mail["Subject"] = "Invoice"
    mail["Message-ID"] = "<r5@alfa.example>"
    mail.set_content("Pay at http://198.51.100.7/paypal/login or see https://www.alfa.example/")
    result = ingest(mail.as_bytes())
    note = TicketEvent.objects.get(ticket__number=result.ticket_number, kind=EventKind.NOTE)
    assert "198.51.100.7" in note.body and "alfa.example/" not in note.body
    assert not note.is_public
    assert not PhishingReport.objects.exists()
    # A mail whose links are all fine gets no note.
    mail.replace_header("Message-ID", "<r6@alfa.example>")
    mail.set_content("See https://www.alfa.example/agenda")
    clean = ingest(mail.as_bytes())
    assert not TicketEvent.objects.filter(
        ticket__number=clean.ticket_number, kind=EventKind.NOTE
    ).exists()
