"""Moving a mis-threaded mail to another ticket and splitting it into a new one."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.mail.inbound import ingest, move_mail_message, split_mail_message
from atalaya.mail.models import InboundMessage, MatchRule
from atalaya.mail.tests import mails
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Attachment, EventKind, Ticket, TicketEvent


@pytest.fixture
def misthreaded(world: Any, settings: Any, tmp_path: Any) -> InboundMessage:
    """Ana's mail about a new problem that landed on the VPN ticket by its subject token."""
    settings.MEDIA_ROOT = tmp_path
    raw = mails.build(
        subject=f"Re: [#{world.ticket_a.number}] and the scanner too",
        body="Also the scanner is broken.",
        msg_id="<mis@alfa.example>",
        attachments=[("scan.pdf", "application/pdf", b"%PDF scan")],
    )
    result = ingest(raw)
    assert result.ticket_number == world.ticket_a.number
    return InboundMessage.objects.get(pk=result.inbound_id)


def test_move_keeps_history_and_later_replies_follow(world: Any, misthreaded: Any) -> None:
    target = ticket_services.create_ticket(
        actor=world.tech, client=world.client_a, contact=world.contact_a, subject="Scanner"
    )
    original = misthreaded.event
    result = move_mail_message(misthreaded, target, actor=world.tech)
    assert result.ticket_number == target.number
    # The source keeps the original event and gets a MOVED event naming the target.
    assert TicketEvent.objects.filter(pk=original.pk, ticket=world.ticket_a).exists()
    moved = world.ticket_a.events.get(kind=EventKind.MOVED)
    assert moved.data == {"moved_to": target.number, "moved_event": original.pk}
    assert moved.actor == world.tech
    copy = target.events.get(kind=EventKind.REPLY)
    assert copy.body == "Also the scanner is broken."
    assert copy.data["moved_from"] == world.ticket_a.number
    assert copy.actor_contact == world.contact_a
    assert Attachment.objects.filter(event=copy, filename="scan.pdf").exists()
    misthreaded.refresh_from_db()
    assert misthreaded.ticket == target and misthreaded.event == copy
    assert misthreaded.matched_rule == MatchRule.MOVED
    # A reply to the moved mail threads to where it is now.
    reply = ingest(mails.build(subject="Re: scanner", in_reply_to="<mis@alfa.example>"))
    assert reply.ticket_number == target.number


def test_move_to_another_clients_ticket_is_refused(world: Any, misthreaded: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        move_mail_message(misthreaded, world.ticket_b, actor=world.tech)
    assert "same client" in str(caught.value)
    misthreaded.refresh_from_db()
    assert misthreaded.ticket == world.ticket_a


def test_move_to_the_same_ticket_is_refused(world: Any, misthreaded: Any) -> None:
    with pytest.raises(ValidationError):
        move_mail_message(misthreaded, world.ticket_a, actor=world.tech)


def test_read_only_staff_may_not_move(world: Any, misthreaded: Any) -> None:
    target = ticket_services.create_ticket(actor=world.tech, client=world.client_a, subject="x")
    with pytest.raises(PermissionDenied):
        move_mail_message(misthreaded, target, actor=world.readonly)


def test_split_opens_a_new_ticket_of_the_same_client(world: Any, misthreaded: Any) -> None:
    tickets = Ticket.objects.count()
    result = split_mail_message(misthreaded, actor=world.tech)
    assert result.is_new_ticket and Ticket.objects.count() == tickets + 1
    ticket = Ticket.objects.get(number=result.ticket_number)
    assert ticket.client == world.client_a and ticket.contact == world.contact_a
    assert "scanner" in ticket.subject
    assert ticket.events.get(kind=EventKind.CREATED).data["split_from"] == world.ticket_a.number
    assert ticket.events.get(kind=EventKind.REPLY).data["moved_from"] == world.ticket_a.number
    assert world.ticket_a.events.get(kind=EventKind.MOVED).data["split_to"] == ticket.number
    misthreaded.refresh_from_db()
    assert misthreaded.ticket == ticket


def test_the_ticket_page_marks_the_moved_message(world: Any, misthreaded: Any) -> None:
    target = ticket_services.create_ticket(actor=world.tech, client=world.client_a, subject="x")
    move_mail_message(misthreaded, target, actor=world.tech)
    page = world.http(world.tech).get(f"/tickets/{world.ticket_a.number}/").content.decode()
    assert f"moved to #{target.number}" in page
    page = world.http(world.tech).get(f"/tickets/{target.number}/").content.decode()
    assert f"moved from #{world.ticket_a.number}" in page
    # The moved copy can be moved again; the original cannot.
    assert f"/mail/received/{misthreaded.pk}/move/" in page
