"""Notifications from the ticket services: who gets what, in which language, threaded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from atalaya.conftest import World
from atalaya.core.models import Contact, User
from atalaya.mail import addressing, notify, outbox
from atalaya.mail.models import (
    Delivery,
    InboundMessage,
    OutboundKind,
    OutboundMessage,
    Outcome,
)
from atalaya.mail.tests.smtp_server import SmtpServer
from atalaya.tickets import services as ts
from atalaya.tickets.models import Status, Ticket


@pytest.fixture
def staff_mail(world: World) -> World:
    """The staff users get addresses and languages (the world fixture gives them none)."""
    for user, language in ((world.admin, "en"), (world.tech, "es"), (world.readonly, "en")):
        user.email = f"{user.username}@msp.example"
        user.language = language
        user.save(update_fields=["email", "language"])
    return world


def _set_language(contact: Contact, language: str) -> None:
    contact.language = language
    contact.save(update_fields=["language"])


def mails(**filters: Any) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(**filters).order_by("created_at", "id"))


@pytest.mark.parametrize(("language", "greeting"), [("en", "Hello"), ("es", "Hola")])
def test_reply_goes_to_the_contact_in_their_language(
    world: World, language: str, greeting: str
) -> None:
    _set_language(world.contact_a, language)
    t = world.ticket_a
    event = ts.add_reply(t, actor=world.tech, body="We restarted the gateway.")
    (mail,) = mails(kind=OutboundKind.REPLY)
    assert mail.idempotency_key == f"reply:{event.pk}:{world.contact_a.pk}"
    assert (mail.to_address, mail.language, mail.contact_id) == (
        "ana@alfa.example",
        language,
        world.contact_a.pk,
    )
    assert mail.ticket_id == t.pk and mail.client_id == world.client_a.pk
    assert mail.body_text.startswith(f"{greeting} Contact of Alfa Asesores")
    assert "We restarted the gateway." in mail.body_text
    # The marks that bring the client's answer back to this ticket.
    assert mail.subject == f"Re: VPN does not connect [#{t.number}]"
    assert mail.reply_to == addressing.reply_address(t.number)
    token = addressing.body_token(t.number)
    assert token in mail.body_text
    assert addressing.ticket_number_in_body(mail.body_text) == t.number
    assert '<span style="display:none' in mail.body_html and token in mail.body_html
    assert f"/portal/tickets/{t.number}/" in mail.body_text
    built = outbox.build_message(mail)
    assert built["Auto-Submitted"] is None  # a person's reply, not an automatic mail
    assert built[addressing.LOOP_HEADER]
    assert built["Message-ID"] == f"<{mail.message_id}>"


def test_notes_and_client_replies_send_nothing(world: World) -> None:
    ts.add_note(world.ticket_a, actor=world.tech, body="internal")
    ts.add_reply(world.ticket_a, actor=world.portal_a, body="from the client")
    assert mails() == []


def test_no_mail_without_an_address(world: World) -> None:
    Contact.objects.filter(pk=world.contact_a.pk).update(email="")
    ticket = Ticket.objects.get(pk=world.ticket_a.pk)
    ts.add_reply(ticket, actor=world.tech, body="hello")
    assert mails() == []


def test_threading_headers_follow_the_clients_thread(world: World) -> None:
    t = world.ticket_a
    InboundMessage.objects.create(
        message_id="CAF-first@mail.alfa.example",
        raw="mail/raw/none",
        from_address="ana@alfa.example",
        outcome=Outcome.APPENDED,
        ticket=t,
        client=world.client_a,
        received_at=timezone.now() - timedelta(hours=2),
    )
    # Someone else's mail on the ticket is not in Ana's thread.
    InboundMessage.objects.create(
        message_id="other@beta.example",
        raw="mail/raw/none2",
        from_address="someone@elsewhere.example",
        outcome=Outcome.APPENDED,
        ticket=t,
        client=world.client_a,
        received_at=timezone.now() - timedelta(hours=1),
    )
    ts.add_reply(t, actor=world.tech, body="first answer")
    ts.add_reply(t, actor=world.tech, body="second answer")
    first, second = mails(kind=OutboundKind.REPLY)
    assert first.in_reply_to == "<CAF-first@mail.alfa.example>"
    assert first.references == "<CAF-first@mail.alfa.example>"
    assert second.in_reply_to == "<CAF-first@mail.alfa.example>"
    assert second.references == f"<CAF-first@mail.alfa.example> <{first.message_id}>"
    assert "other@beta.example" not in second.references


def test_resolution_notice(world: World) -> None:
    _set_language(world.contact_a, "es")
    ts.change_status(world.ticket_a, actor=world.tech, status=Status.RESOLVED)
    (mail,) = mails(kind=OutboundKind.RESOLVED)
    assert mail.subject.startswith("Resuelto: VPN does not connect")
    assert f"[#{world.ticket_a.number}]" in mail.subject
    assert "Hemos resuelto su solicitud" in mail.body_text
    assert outbox.build_message(mail)["Auto-Submitted"] == "auto-generated"


def test_assignment_goes_to_the_assignee_in_their_language(staff_mail: World) -> None:
    world = staff_mail
    ts.assign_ticket(world.ticket_a, actor=world.admin, assignee=world.tech)
    (mail,) = mails(kind=OutboundKind.ASSIGNED)
    assert (mail.to_address, mail.user_id, mail.language) == (
        "tech@msp.example",
        world.tech.pk,
        "es",
    )
    assert mail.subject.startswith("Asignada a usted")
    assert "Admin le ha asignado la incidencia" in mail.body_text
    assert f"/tickets/{world.ticket_a.number}/" in mail.body_text
    assert "/portal/" not in mail.body_text


def test_no_mail_for_taking_a_ticket_yourself_or_to_inactive_users(staff_mail: World) -> None:
    world = staff_mail
    ts.assign_ticket(world.ticket_a, actor=world.tech, assignee=world.tech)
    assert mails() == []
    ts.assign_ticket(world.ticket_b, actor=world.tech, assignee=world.admin)
    assert [m.to_address for m in mails()] == ["admin@msp.example"]
    # An inactive technician's tickets do not reach them.
    User.objects.filter(pk=world.admin.pk).update(is_active=False)
    world.admin.is_active = False
    notify.on_ticket_assigned(
        Ticket,
        ticket=world.ticket_a,
        event=world.ticket_a.events.first(),
        actor=world.tech,
        assignee=world.admin,
    )
    assert len(mails()) == 1


def test_the_same_cause_queues_one_mail(world: World) -> None:
    event = ts.add_reply(world.ticket_a, actor=world.tech, body="once")
    notify.on_staff_replied(Ticket, ticket=world.ticket_a, event=event, actor=world.tech)
    assert len(mails()) == 1


def _due_soon_now(ticket: Ticket) -> Any:
    ticket.refresh_from_db()
    assert ticket.first_response_due_at is not None
    return ticket.first_response_due_at - timedelta(minutes=20)


def test_sla_due_soon_for_an_unassigned_ticket_goes_to_the_team(staff_mail: World) -> None:
    world = staff_mail
    now = _due_soon_now(world.ticket_a)
    assert world.ticket_a.sla_state(now) == "due_soon"
    queued = notify.notify_sla_due_soon(now=now)
    ours = mails(kind=OutboundKind.SLA_DUE, ticket=world.ticket_a)
    # Admins and technicians with an address; not read-only or billing staff.
    assert sorted(m.to_address for m in ours) == ["admin@msp.example", "tech@msp.example"]
    assert queued >= 2
    spanish = next(m for m in ours if m.to_address == "tech@msp.example")
    assert spanish.subject.startswith("SLA a punto de vencer")
    assert f"[#{world.ticket_a.number}]" in spanish.subject
    assert spanish.idempotency_key.startswith(f"sla:{world.ticket_a.pk}:first_response:")
    # Every five minutes the job runs again: still one warning per clock and due time.
    assert notify.notify_sla_due_soon(now=now + timedelta(minutes=5)) == 0
    assert len(mails(kind=OutboundKind.SLA_DUE, ticket=world.ticket_a)) == 2


def test_sla_due_soon_goes_to_the_assignee_only(staff_mail: World) -> None:
    world = staff_mail
    ts.assign_ticket(world.ticket_a, actor=world.tech, assignee=world.tech)
    now = _due_soon_now(world.ticket_a)
    notify.notify_sla_due_soon(now=now)
    ours = mails(kind=OutboundKind.SLA_DUE, ticket=world.ticket_a)
    assert [m.to_address for m in ours] == ["tech@msp.example"]


def test_no_sla_warning_when_not_due_soon_or_paused(staff_mail: World) -> None:
    world = staff_mail
    ticket = world.ticket_a
    ticket.refresh_from_db()
    early = ticket.created_at + timedelta(minutes=1)
    assert ticket.sla_state(early) == "ok"
    assert notify.notify_sla_due_soon(now=early) == 0
    late = ticket.first_response_due_at + timedelta(minutes=1)
    assert notify.notify_sla_due_soon(now=late) == 0  # breached is not "due soon"
    # Waiting on the client: the clock is paused, nothing is due.
    ts.change_status(ticket, actor=world.tech, status=Status.WAITING_CLIENT)
    ticket.refresh_from_db()
    assert ticket.sla_paused_at is not None
    notify.notify_sla_due_soon(now=ticket.first_response_due_at - timedelta(minutes=20))
    assert not mails(kind=OutboundKind.SLA_DUE, ticket=ticket)


def test_header_injection_in_subject_and_names_adds_no_header(
    world: World, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.SMTP_URL = smtp_server.url
    Ticket.objects.filter(pk=world.ticket_a.pk).update(
        subject="VPN\r\nBcc: victim@evil.example\r\nX-Injected: 1"
    )
    Contact.objects.filter(pk=world.contact_a.pk).update(
        name="Ana\r\nBcc: other@evil.example\nX-Injected: 2 ñ"
    )
    ticket = Ticket.objects.select_related("contact", "client").get(pk=world.ticket_a.pk)
    ts.add_reply(ticket, actor=world.tech, body="Body\r\nBcc: body@evil.example")
    assert outbox.deliver_due().sent == 1
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["ana@alfa.example"]
    message = received.message
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "victim@evil.example" in str(message["Subject"])  # kept as text, on one line
    assert str(message["To"]).endswith("<ana@alfa.example>")
    assert "\n" not in str(message["Subject"]) and "\n" not in str(message["To"])
    names = [name.lower() for name in message]
    assert names.count("to") == 1 and "bcc" not in names


def test_a_reply_is_delivered_after_the_commit(
    world: World, smtp_server: SmtpServer, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SMTP_URL = smtp_server.url
    _set_language(world.contact_a, "en")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ts.add_reply(world.ticket_a, actor=world.tech, body="Fixed: ñandú ✓")
        ts.add_note(world.ticket_a, actor=world.tech, body="no mail")
    assert len(callbacks) == 1  # one kick for the transaction
    (mail,) = mails()
    assert mail.status == Delivery.SENT
    (received,) = smtp_server.messages
    message = received.message
    assert message["Message-ID"] == f"<{mail.message_id}>"
    assert message["Reply-To"] == addressing.reply_address(world.ticket_a.number)
    assert f"[#{world.ticket_a.number}]" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Fixed: ñandú ✓" in text and addressing.body_token(world.ticket_a.number) in text
    assert addressing.body_token(world.ticket_a.number) in html and "display:none" in html
    assert str(message["To"]) == "Contact of Alfa Asesores <ana@alfa.example>"
