"""Builders of received mail for the inbound tests, in the shapes real mail programs send."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from django.utils import timezone

_counter = itertools.count(1)


def message_id() -> str:
    return f"<m{next(_counter)}.test@client.example>"


def build(
    *,
    sender: str = "ana@alfa.example",
    name: str = "Ana",
    to: str = "support@atalaya.localhost",
    cc: str = "",
    subject: str = "Printer is broken",
    body: str = "The printer on the second floor does not print.",
    html: str = "",
    msg_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
) -> bytes:
    """A plain mail (text, optional HTML alternative and files) as the bytes an MTA pipes."""
    msg = EmailMessage()
    msg["From"] = formataddr((name, sender)) if name else sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(timezone.now())
    msg["Message-ID"] = msg_id or message_id()
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _slash, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def reply_to(original: bytes, **kwargs: Any) -> bytes:
    from email import message_from_bytes, policy

    parent = message_from_bytes(original, policy=policy.default)
    kwargs.setdefault("in_reply_to", str(parent["Message-ID"]))
    kwargs.setdefault("references", str(parent["Message-ID"]))
    kwargs.setdefault("subject", f"Re: {parent['Subject']}")
    return build(**kwargs)


def bounce(
    *, recipient: str, original_id: str, status: str = "5.1.1", diagnostic: str = "user unknown"
) -> bytes:
    """A delivery status notification (RFC 3464) as Postfix sends it."""
    boundary = "dsn-boundary"
    return (
        "From: MAILER-DAEMON@mx.example (Mail Delivery System)\r\n"
        "To: support@atalaya.localhost\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id()}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} {diagnostic}\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{original_id}>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Your ticket\r\n"
        f"--{boundary}--\r\n"
    ).encode()
