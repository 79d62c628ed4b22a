"""Outbox mails with attachments: stored with the row, built the same every time, delivered."""

from __future__ import annotations

from typing import Any

from atalaya.conftest import World
from atalaya.mail import outbox
from atalaya.mail.models import OutboundAttachment, OutboundMessage
from atalaya.mail.tests.smtp_server import SmtpServer

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def _queue(world: World, *, html: str = "", name: str = "F2026-00001.pdf") -> OutboundMessage:
    row = outbox.queue_mail(
        key=f"attachment-test:{name}:{bool(html)}",
        kind="invoice",
        client=world.client_a,
        to_address="ana@alfa.example",
        subject="Factura F2026-00001",
        body_text="Adjunta la factura. Ñandú.",
        body_html=html,
        language="es",
        attachments=[(name, "application/pdf", PDF)],
    )
    assert row is not None
    return row


def test_the_attachment_is_stored_and_built_into_the_mail(world: World) -> None:
    row = _queue(world)
    assert row.has_attachments
    stored = OutboundAttachment.objects.get(message=row)
    assert (stored.filename, stored.size) == ("F2026-00001.pdf", len(PDF))
    parsed = outbox.build_message(row)
    assert parsed.get_content_type() == "multipart/mixed"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and "Ñandú" in body.get_content()
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "F2026-00001.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


def test_the_bytes_are_the_same_every_time(world: World) -> None:
    row = _queue(world, html="<p>Adjunta</p>")
    first = outbox.message_bytes(row)
    again = outbox.message_bytes(OutboundMessage.objects.get(pk=row.pk))
    assert first == again
    parts = [p.get_content_type() for p in outbox.build_message(row).walk()]
    assert parts == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]


def test_a_hostile_file_name_cannot_break_the_header(world: World) -> None:
    row = _queue(world, name='evil"\r\nBcc: x@evil.example\r\n.pdf')
    raw = outbox.message_bytes(row)
    assert b"Bcc:" not in raw.split(b"\r\n\r\n", 1)[0]
    (attachment,) = list(outbox.build_message(row).iter_attachments())
    assert '"' not in attachment.get_filename() and "\n" not in attachment.get_filename()


def test_a_plain_mail_is_unchanged_and_asks_no_attachment_query(
    world: World, django_assert_num_queries: Any
) -> None:
    row = outbox.queue_mail(
        key="plain",
        kind="reply",
        client=world.client_a,
        to_address="a@alfa.example",
        subject="Hi",
        body_text="Hello",
    )
    assert row is not None and not row.has_attachments
    with django_assert_num_queries(0):
        raw = outbox.message_bytes(row)
    assert b"multipart" not in raw
    assert b'Content-Type: text/plain; charset="utf-8"' in raw


def test_delivered_over_smtp_with_the_attachment(
    world: World, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.SMTP_URL = smtp_server.url
    row = _queue(world)
    report = outbox.deliver_due()
    assert report.sent == 1
    (received,) = smtp_server.messages
    assert received.message_id == f"<{row.message_id}>"
    (attachment,) = list(received.message.iter_attachments())
    assert attachment.get_content() == PDF
