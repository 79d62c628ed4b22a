"""The inbound pipeline end to end: real parsing, real database, real files."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaya.core.models import Contact, ContactMembership
from atalaya.mail import addressing, outbox
from atalaya.mail.inbound import ingest, reprocess, resolve_triage
from atalaya.mail.models import (
    Delivery,
    FailingAddress,
    InboundMessage,
    Mailbox,
    MatchRule,
    OutboundMessage,
    Outcome,
)
from atalaya.mail.tests import mails
from atalaya.tickets import services as ticket_services
from atalaya.tickets import signals
from atalaya.tickets.models import Attachment, EventKind, Queue, SearchDocument, Status, Ticket


@pytest.fixture
def inbox(world: Any, settings: Any, tmp_path: Any) -> Mailbox:
    settings.MEDIA_ROOT = tmp_path
    queue = Queue.objects.order_by("pk").first()
    return Mailbox.objects.create(address="support@atalaya.localhost", queue=queue)


@pytest.fixture
def staff_replies() -> Any:
    seen: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    signals.staff_replied.connect(receiver, weak=False)
    yield seen
    signals.staff_replied.disconnect(receiver)


def _sent(world: Any, ticket: Ticket | None = None, **kwargs: Any) -> OutboundMessage:
    ticket = ticket or world.ticket_a
    message = outbox.queue_mail(
        key=f"test:{ticket.number}:{OutboundMessage.objects.count()}",
        kind="reply",
        client=ticket.client,
        ticket=ticket,
        to_address=world.contact_a.email,
        subject=addressing.subject_with_token(ticket.subject, ticket.number),
        body_text="We are on it.",
        **kwargs,
    )
    assert message is not None
    return message


# --- new tickets and the raw bytes ----------------------------------------------------------


def test_a_contacts_mail_opens_a_ticket_in_the_mailbox_queue(world: Any, inbox: Mailbox) -> None:
    raw = mails.build(subject="Scanner offline", body="The scanner is offline.")
    result = ingest(raw)
    assert result.outcome == Outcome.CREATED and result.is_new_ticket
    ticket = Ticket.objects.get(number=result.ticket_number)
    assert ticket.client == world.client_a and ticket.contact == world.contact_a
    assert ticket.queue == inbox.queue and ticket.subject == "Scanner offline"
    assert ticket.first_response_due_at is not None
    event = ticket.events.get(kind=EventKind.CREATED)
    assert event.actor_contact == world.contact_a and event.actor is None
    assert event.body == "The scanner is offline."
    assert event.data["mail"]["matched_by"] == MatchRule.NEW
    assert event.data["mail"]["mailbox"] == inbox.address
    assert "scanner" in SearchDocument.objects.get(ticket=ticket).body.lower()
    row = InboundMessage.objects.get(pk=result.inbound_id)
    assert row.mailbox == inbox and row.ticket == ticket and row.event == event
    assert row.raw.read() == raw and row.size == len(raw)
    assert result.describe() == f"ticket #{ticket.number} (new)"


def test_the_same_message_id_twice_changes_nothing(world: Any, inbox: Mailbox) -> None:
    raw = mails.build()
    first = ingest(raw)
    events = Ticket.objects.get(number=first.ticket_number).events.count()
    second = ingest(raw)
    assert second.is_duplicate and second.inbound_id == first.inbound_id
    assert second.ticket_number == first.ticket_number
    assert InboundMessage.objects.count() == 1
    assert Ticket.objects.get(number=first.ticket_number).events.count() == events
    assert "duplicate" in second.describe()


def test_reply_all_with_cc_to_two_mailboxes_is_one_event(world: Any, inbox: Mailbox) -> None:
    Mailbox.objects.create(address="help@atalaya.localhost")
    sent = _sent(world)
    raw = mails.build(
        to="support@atalaya.localhost",
        cc="help@atalaya.localhost, boss@alfa.example",
        subject="Re: VPN",
        in_reply_to=f"<{sent.message_id}>",
    )
    before = world.ticket_a.events.count()
    first = ingest(raw, mailbox=inbox)
    second = ingest(raw, mailbox=Mailbox.objects.get(address="help@atalaya.localhost"))
    assert first.outcome == Outcome.APPENDED and second.is_duplicate
    assert world.ticket_a.events.count() == before + 1


def test_a_mail_without_message_id_gets_one_from_its_bytes(world: Any, inbox: Mailbox) -> None:
    raw = b"From: ana@alfa.example\r\nTo: support@atalaya.localhost\r\nSubject: hi\r\n\r\nhello\r\n"
    result = ingest(raw)
    assert result.message_id.startswith("sha256-") and result.message_id.endswith(
        "@atalaya.invalid"
    )
    assert ingest(raw).is_duplicate


def test_the_mailbox_is_found_from_the_recipients_ignoring_plus_tags(
    world: Any, inbox: Mailbox
) -> None:
    other = Mailbox.objects.create(address="projects@atalaya.localhost")
    result = ingest(mails.build(to="Projects <Projects+urgent@atalaya.localhost>"))
    assert InboundMessage.objects.get(pk=result.inbound_id).mailbox == other


# --- replies by each rule ---------------------------------------------------------------------


def test_in_reply_to_an_outbox_message_threads(world: Any, inbox: Mailbox) -> None:
    sent = _sent(world)
    result = ingest(mails.build(subject="Re: anything", in_reply_to=f"<{sent.message_id}>"))
    assert result.outcome == Outcome.APPENDED
    assert result.ticket_number == world.ticket_a.number and not result.is_new_ticket
    assert result.matched_rule == MatchRule.IN_REPLY_TO
    assert result.matched_value == sent.message_id
    assert result.describe() == (
        f"ticket #{world.ticket_a.number}, matched by In-Reply-To <{sent.message_id}>"
    )
    event = world.ticket_a.events.get(kind=EventKind.REPLY)
    assert event.data["mail"]["matched_by"] == "in_reply_to"
    assert event.data["mail"]["matched_value"] == sent.message_id
    assert event.actor_contact == world.contact_a and event.is_public


def test_references_to_an_earlier_received_mail_thread(world: Any, inbox: Mailbox) -> None:
    first = ingest(mails.build(msg_id="<first@alfa.example>"))
    result = ingest(
        mails.build(
            subject="more",
            in_reply_to="<unknown@elsewhere.example>",
            references="<older@nowhere.example> <first@alfa.example>",
        )
    )
    assert result.ticket_number == first.ticket_number
    assert result.matched_rule == MatchRule.REFERENCES
    assert result.matched_value == "first@alfa.example"


def test_the_subject_token_threads(world: Any, inbox: Mailbox) -> None:
    result = ingest(mails.build(subject=f"Re: VPN [#{world.ticket_a.number}]"))
    assert result.ticket_number == world.ticket_a.number
    assert result.matched_rule == MatchRule.SUBJECT_TOKEN and not result.flagged


def test_the_reply_address_threads(world: Any, inbox: Mailbox) -> None:
    to = addressing.reply_address(world.ticket_a.number, inbox.address)
    result = ingest(mails.build(subject="no token", to=to))
    assert result.ticket_number == world.ticket_a.number
    assert result.matched_rule == MatchRule.REPLY_ADDRESS and result.matched_value == to


def test_the_signed_reference_in_the_quoted_text_threads(world: Any, inbox: Mailbox) -> None:
    token = addressing.body_token(world.ticket_a.number)
    body = f"Thanks!\n\nOn Mon, 12 Jan 2026 at 10:00, Support wrote:\n> We fixed it.\n> {token}\n"
    result = ingest(mails.build(subject="no token here", body=body))
    assert result.ticket_number == world.ticket_a.number
    assert result.matched_rule == MatchRule.BODY_TOKEN
    event = world.ticket_a.events.get(kind=EventKind.REPLY)
    assert event.body == "Thanks!" and token in event.data["mail"]["quoted"]


def test_a_forged_body_reference_does_not_thread(world: Any, inbox: Mailbox) -> None:
    body = f"> [ref:ATL-{world.ticket_a.number}-00000000]"
    assert ingest(mails.build(subject="x", body=body)).is_new_ticket


def test_mail_for_a_merged_ticket_goes_to_its_survivor(world: Any, inbox: Mailbox) -> None:
    survivor = ticket_services.create_ticket(
        actor=world.tech, client=world.client_a, contact=world.contact_a, subject="Survivor"
    )
    ticket_services.merge_tickets(world.ticket_a, survivor, actor=world.tech)
    result = ingest(mails.build(subject=f"Re: [#{world.ticket_a.number}]"))
    assert result.ticket_number == survivor.number


def test_a_clients_mail_reopens_a_resolved_ticket_without_notifying(
    world: Any, inbox: Mailbox, staff_replies: list[Any]
) -> None:
    ticket_services.change_status(world.ticket_a, actor=world.tech, status=Status.RESOLVED)
    ingest(mails.build(subject=f"Re: [#{world.ticket_a.number}] still broken"))
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.status == Status.OPEN
    assert staff_replies == []


def test_a_weak_match_from_a_stranger_is_appended_but_flagged(world: Any, inbox: Mailbox) -> None:
    result = ingest(
        mails.build(sender="mallory@evil.example", subject=f"Re: [#{world.ticket_a.number}]")
    )
    assert result.outcome == Outcome.APPENDED and result.flagged
    row = InboundMessage.objects.get(pk=result.inbound_id)
    assert "not a contact of this client" in row.flag_reason
    event = world.ticket_a.events.get(kind=EventKind.REPLY)
    assert event.data["mail"]["flagged"] is True


def test_another_clients_contact_on_a_subject_token_is_flagged(world: Any, inbox: Mailbox) -> None:
    result = ingest(mails.build(sender="ana@beta.example", subject=f"[#{world.ticket_a.number}]"))
    assert result.ticket_number == world.ticket_a.number and result.flagged


# --- senders ----------------------------------------------------------------------------------


def test_a_new_sender_at_a_known_domain_becomes_a_contact_to_confirm(
    world: Any, inbox: Mailbox
) -> None:
    result = ingest(mails.build(sender="luis@alfa.example", name="Luis"))
    assert result.outcome == Outcome.CREATED
    contact = Contact.objects.get(email="luis@alfa.example")
    assert contact.needs_triage and contact.name == "Luis"
    assert ContactMembership.objects.filter(contact=contact, client=world.client_a).exists()
    assert Ticket.objects.get(number=result.ticket_number).contact == contact


def test_an_unknown_domain_waits_in_triage_until_a_technician_picks_the_client(
    world: Any, inbox: Mailbox
) -> None:
    result = ingest(mails.build(sender="who@unknown.example", subject="Help"))
    assert result.outcome == Outcome.TRIAGE and result.ticket_number is None
    contact = Contact.objects.get(email="who@unknown.example")
    assert contact.needs_triage and not contact.memberships.exists()
    row = InboundMessage.objects.get(pk=result.inbound_id)
    assert row.contact == contact and row.ticket is None
    done = resolve_triage(row, client=world.client_b, actor=world.tech)
    assert done.outcome == Outcome.CREATED and done.is_new_ticket
    ticket = Ticket.objects.get(number=done.ticket_number)
    assert ticket.client == world.client_b and ticket.contact == contact
    contact.refresh_from_db()
    assert not contact.needs_triage
    # The next mail of that sender goes straight to the client.
    assert ingest(mails.build(sender="who@unknown.example")).outcome == Outcome.CREATED


def test_staff_mail_through_an_untrusted_mailbox_is_an_external_flagged_message(
    world: Any, inbox: Mailbox, staff_replies: list[Any]
) -> None:
    world.tech.email = "tech@msp.example"
    world.tech.save()
    result = ingest(
        mails.build(sender="tech@msp.example", subject=f"Re: [#{world.ticket_a.number}] done")
    )
    assert result.outcome == Outcome.APPENDED and result.flagged
    event = world.ticket_a.events.get(kind=EventKind.REPLY)
    assert event.actor is None and event.actor_contact.email == "tech@msp.example"
    assert staff_replies == []


def test_staff_mail_through_a_trusted_mailbox_is_a_technician_reply(
    world: Any, inbox: Mailbox, staff_replies: list[Any]
) -> None:
    inbox.is_trusted_for_staff = True
    inbox.save()
    world.tech.email = "tech@msp.example"
    world.tech.save()
    result = ingest(
        mails.build(sender="Tech@MSP.example", subject=f"Re: [#{world.ticket_a.number}] fixed")
    )
    assert result.outcome == Outcome.APPENDED and not result.flagged
    event = world.ticket_a.events.get(kind=EventKind.REPLY)
    assert event.actor == world.tech and event.actor_contact is None
    assert [s["event"] for s in staff_replies] == [event]
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.first_responded_at is not None


def test_a_reply_to_an_announcement_opens_a_ticket_of_the_replying_client(
    world: Any, inbox: Mailbox
) -> None:
    from atalaya.comms.models import Announcement

    announcement = Announcement.objects.create(
        subject_en="We are open", subject_es="Abrimos", body_en="b", body_es="b"
    )
    sent = outbox.queue_mail(
        key="ann:1",
        kind="announcement",
        client=world.client_a,
        announcement=announcement,
        to_address=world.contact_a.email,
        subject="We are open",
        body_text="b",
    )
    assert sent is not None
    result = ingest(mails.build(subject="Re: We are open", in_reply_to=f"<{sent.message_id}>"))
    assert result.outcome == Outcome.CREATED and result.matched_rule == MatchRule.ANNOUNCEMENT
    ticket = Ticket.objects.get(number=result.ticket_number)
    assert ticket.client == world.client_a
    assert ticket.events.get(kind=EventKind.CREATED).data["announcement"] == announcement.pk


# --- auto-replies, bounces, loops -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "yes"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
    ],
)
def test_auto_replies_never_open_tickets(
    world: Any, inbox: Mailbox, headers: dict[str, str], staff_replies: list[Any]
) -> None:
    tickets = Ticket.objects.count()
    result = ingest(mails.build(subject="Out of office", headers=headers))
    assert result.outcome == Outcome.AUTO_REPLY and result.ticket_number is None
    assert Ticket.objects.count() == tickets and OutboundMessage.objects.count() == 0


def test_auto_submitted_no_is_a_person(world: Any, inbox: Mailbox) -> None:
    assert ingest(mails.build(headers={"Auto-Submitted": "no"})).outcome == Outcome.CREATED


def test_an_auto_reply_on_a_ticket_is_only_noted_in_the_ledger(world: Any, inbox: Mailbox) -> None:
    events = world.ticket_a.events.count()
    result = ingest(
        mails.build(
            subject=f"Automatic reply: [#{world.ticket_a.number}]",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    assert result.outcome == Outcome.AUTO_REPLY and result.ticket_number == world.ticket_a.number
    assert world.ticket_a.events.count() == events


def test_a_bounce_marks_the_address_failing_and_the_outbox_row_bounced(
    world: Any, inbox: Mailbox
) -> None:
    sent = _sent(world)
    result = ingest(mails.bounce(recipient=world.contact_a.email, original_id=sent.message_id))
    assert result.outcome == Outcome.BOUNCE and not result.is_new_ticket
    sent.refresh_from_db()
    assert sent.status == Delivery.BOUNCED and "5.1.1" in sent.last_error
    failing = FailingAddress.objects.get(address=world.contact_a.email)
    assert failing.failures == 1 and "user unknown" in failing.reason
    ingest(mails.bounce(recipient=world.contact_a.email, original_id="other@x.example"))
    failing.refresh_from_db()
    assert failing.failures == 2


def test_a_bounce_without_the_original_id_marks_the_latest_mail_to_the_recipient(
    world: Any, inbox: Mailbox
) -> None:
    _older, newer = _sent(world), _sent(world)
    ingest(mails.bounce(recipient=world.contact_a.email, original_id="unknown@x.example"))
    newer.refresh_from_db()
    assert newer.status == Delivery.BOUNCED


def test_a_mailer_daemon_sender_is_a_bounce(world: Any, inbox: Mailbox) -> None:
    result = ingest(mails.build(sender="MAILER-DAEMON@mx.example", subject="failure"))
    assert result.outcome == Outcome.BOUNCE


def test_our_own_loop_header_is_a_loop(world: Any, inbox: Mailbox) -> None:
    result = ingest(mails.build(headers={addressing.LOOP_HEADER: "1"}))
    assert result.outcome == Outcome.LOOP and Ticket.objects.count() == 2


def test_too_many_received_headers_is_a_loop(world: Any, inbox: Mailbox) -> None:
    hops = "".join(f"Received: from hop{i} by hop{i + 1}\r\n" for i in range(30)).encode()
    assert ingest(hops + mails.build()).outcome == Outcome.LOOP


def test_a_flood_from_one_sender_is_a_loop(world: Any, inbox: Mailbox) -> None:
    outcomes = [ingest(mails.build(subject=f"ping {i}")).outcome for i in range(22)]
    assert outcomes[:20] == [Outcome.CREATED] * 20
    assert outcomes[-1] == Outcome.LOOP


# --- attachments, charsets, HTML, injection ---------------------------------------------------


def test_attachments_are_stored_and_inline_images_kept(world: Any, inbox: Mailbox) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "ana@alfa.example"
    msg["To"] = "support@atalaya.localhost"
    msg["Subject"] = "with files"
    msg["Message-ID"] = mails.message_id()
    msg.set_content("see attached")
    msg.add_alternative('<p>see <img src="cid:logo@x"></p>', subtype="html")
    msg.get_payload()[1].add_related(b"\x89PNG fake", "image", "png", cid="<logo@x>")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="report.pdf")
    msg.add_attachment(b"MZ", maintype="application", subtype="octet-stream", filename="run.exe")
    result = ingest(msg.as_bytes())
    ticket = Ticket.objects.get(number=result.ticket_number)
    names = sorted(Attachment.objects.filter(ticket=ticket).values_list("filename", flat=True))
    assert names == ["logo.png", "report.pdf"]
    data = ticket.events.get(kind=EventKind.CREATED).data["mail"]
    assert data["inline"] == {
        "logo@x": Attachment.objects.get(ticket=ticket, filename="logo.png").pk
    }
    assert [s["filename"] for s in data["skipped_attachments"]] == ["run.exe"]
    pdf = Attachment.objects.get(ticket=ticket, filename="report.pdf")
    assert pdf.file.read() == b"%PDF-1.4"


def test_a_20_mb_attachment_is_kept_by_name_only_but_the_mail_is_stored(
    world: Any, inbox: Mailbox
) -> None:
    big = b"x" * (20 * 1024 * 1024 + 1)
    raw = mails.build(attachments=[("big.zip", "application/zip", big)])
    result = ingest(raw)
    assert result.outcome == Outcome.CREATED
    ticket = Ticket.objects.get(number=result.ticket_number)
    assert not Attachment.objects.filter(ticket=ticket).exists()
    skipped = ticket.events.get(kind=EventKind.CREATED).data["mail"]["skipped_attachments"]
    assert skipped[0]["filename"] == "big.zip" and "20 MB" in skipped[0]["reason"]
    assert InboundMessage.objects.get(pk=result.inbound_id).size == len(raw)


def test_a_mail_over_the_size_limit_is_a_dead_letter_with_its_bytes(
    world: Any, inbox: Mailbox, settings: Any
) -> None:
    settings.MAIL_MAX_BYTES = 1000
    raw = mails.build(body="y" * 5000)
    result = ingest(raw)
    assert result.outcome == Outcome.DEAD_LETTER and "limit" in result.error
    row = InboundMessage.objects.get(pk=result.inbound_id)
    assert row.raw.read() == raw
    assert result.message_id.endswith("client.example")


def _raw_mail(content_type: str, body: bytes, cte: str = "8bit", subject: bytes = b"hi") -> bytes:
    return (
        b"From: ana@alfa.example\r\nTo: support@atalaya.localhost\r\nSubject: " + subject + b"\r\n"
        b"Message-ID: " + mails.message_id().encode() + b"\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: " + content_type.encode() + b"\r\n"
        b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n" + body
    )


@pytest.mark.parametrize(
    ("charset", "body", "cte", "expected"),
    [
        ("windows-1252", "Caf\xe9 \u201cok\u201d".encode("cp1252"), "8bit", "Café “ok”"),
        ("iso-2022-jp", "プリンター".encode("iso-2022-jp"), "7bit", "プリンター"),
        ("x-unknown-charset", "Año".encode(), "8bit", "Año"),
        ("x-unknown-charset", "Año".encode("latin-1"), "8bit", "Año"),
        ("utf-8", b"QcOxbw==", "base64", "Año"),
        ("utf-8", b"A=C3=B1o", "quoted-printable", "Año"),
    ],
)
def test_any_charset_and_transfer_encoding(
    world: Any, inbox: Mailbox, charset: str, body: bytes, cte: str, expected: str
) -> None:
    result = ingest(_raw_mail(f"text/plain; charset={charset}", body, cte))
    event = Ticket.objects.get(number=result.ticket_number).events.get(kind=EventKind.CREATED)
    assert event.body == expected


def test_html_with_scripts_and_remote_images_is_sanitised(world: Any, inbox: Mailbox) -> None:
    html = (
        '<p onclick="steal()">Hola<script>alert(1)</script>'
        '<img src="https://tracker.example/pixel.gif"><img src="cid:inline1"></p>'
    )
    result = ingest(_raw_mail("text/html; charset=utf-8", html.encode()))
    event = Ticket.objects.get(number=result.ticket_number).events.get(kind=EventKind.CREATED)
    assert event.body == "Hola"
    from atalaya.mail.parse import parse_message

    clean = parse_message(_raw_mail("text/html; charset=utf-8", html.encode())).html
    assert "script" not in clean and "onclick" not in clean and "tracker" not in clean
    assert 'src="cid:inline1"' in clean


def test_header_injection_in_subject_and_names_stays_one_line(world: Any, inbox: Mailbox) -> None:
    subject = b"=?utf-8?q?Hi=0D=0ABcc:_victim@example.com?="
    raw = (
        b'From: "Ana=0D=0ABcc: x@y" <ana@alfa.example>\r\nTo: support@atalaya.localhost\r\n'
        b"Subject: " + subject + b"\r\nMessage-ID: <inj@alfa.example>\r\n\r\nbody\r\n"
    )
    result = ingest(raw)
    row = InboundMessage.objects.get(pk=result.inbound_id)
    assert "\r" not in row.subject and "\n" not in row.subject
    assert row.subject == "Hi Bcc: victim@example.com"
    assert "\n" not in row.from_name
    ticket = Ticket.objects.get(number=result.ticket_number)
    assert "\n" not in ticket.subject


# --- dead letters ----------------------------------------------------------------------------


def test_a_failure_while_processing_is_a_dead_letter_that_can_be_processed_again(
    world: Any, inbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atalaya.mail.inbound import pipeline as inbound

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(inbound, "_open_ticket", broken)
    tickets = Ticket.objects.count()
    result = ingest(mails.build(subject="lost?"))
    assert result.outcome == Outcome.DEAD_LETTER and "disk on fire" in result.error
    assert Ticket.objects.count() == tickets
    assert not Contact.objects.filter(email="ana@alfa.example", needs_triage=True).exists()
    monkeypatch.undo()
    row = InboundMessage.objects.get(pk=result.inbound_id)
    again = reprocess(row, actor=world.admin)
    assert again.outcome == Outcome.CREATED and again.inbound_id == row.pk
    row.refresh_from_db()
    assert row.attempts == 2 and row.error == ""


def test_garbage_bytes_are_stored_not_raised(world: Any, inbox: Mailbox) -> None:
    result = ingest(b"\xff\xfe\x00garbage\r\n\r\n\x00\x01")
    assert result.inbound_id is not None
    assert result.outcome in (Outcome.TRIAGE, Outcome.DEAD_LETTER)


def test_ingesting_a_reply_costs_a_bounded_number_of_queries(world: Any, inbox: Mailbox) -> None:
    sent = _sent(world)
    raw = mails.build(subject="Re: x", in_reply_to=f"<{sent.message_id}>")
    with CaptureQueriesContext(connection) as captured:
        ingest(raw)
    assert len(captured) <= 20, [q["sql"] for q in captured]


def test_a_racing_copy_fails_on_the_unique_message_id_and_changes_nothing(
    world: Any, inbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers with the same mail: both pass the quick look-up, one insert loses."""
    from atalaya.mail.inbound import pipeline as inbound

    raw = mails.build(subject=f"Re: [#{world.ticket_a.number}] race")
    first = ingest(raw)
    events = world.ticket_a.events.count()
    real_rows = inbound._rows

    def blind_lookup(sql: str, params: list[Any]) -> list[Any]:
        # The second worker looked before the first one committed: it saw nothing.
        if sql.startswith("SELECT id FROM") and "message_id = %s" in sql:
            return []
        return real_rows(sql, params)

    monkeypatch.setattr(inbound, "_rows", blind_lookup)
    second = ingest(raw)
    assert second.is_duplicate and second.inbound_id == first.inbound_id
    assert world.ticket_a.events.count() == events
    assert InboundMessage.objects.count() == 1
