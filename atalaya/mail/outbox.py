"""The outbox: every mail Atalaya sends is queued here first, then delivered by a worker.

``queue_mail`` is called inside the transaction of the change that causes the mail, so
the two commit or roll back together. Delivery (``deliver_due``) is a separate step
that claims rows by compare-and-set, so several workers can run side by side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from atalaya.core.models import Client, Contact, User
from atalaya.mail import addressing
from atalaya.mail.models import OutboundMessage


def _one_line(value: str, limit: int) -> str:
    # Header injection: a CR or LF in a subject or name would start a new header.
    return " ".join((value or "").split())[:limit]


def queue_mail(
    *,
    key: str,
    kind: str,
    client: Client,
    to_address: str,
    subject: str,
    body_text: str,
    language: str = "en",
    to_name: str = "",
    body_html: str = "",
    ticket: Any = None,
    event: Any = None,
    announcement: Any = None,
    contact: Contact | None = None,
    user: User | None = None,
    from_name: str | None = None,
    reply_to: str = "",
    in_reply_to: str = "",
    references: str = "",
    now: datetime | None = None,
) -> OutboundMessage | None:
    """Queue one mail to one recipient, once per ``key``; None if the key was queued before.

    The Message-ID is fixed now, so the mail and any re-send of it are the same mail.
    Runs in a savepoint so a duplicate key does not spoil the caller's transaction.
    """
    now = now or timezone.now()
    message = OutboundMessage(
        idempotency_key=key[:200],
        kind=kind,
        client=client,
        ticket=ticket,
        event=event,
        announcement=announcement,
        contact=contact,
        user=user,
        to_address=to_address.strip().lower(),
        to_name=_one_line(to_name, 200),
        language=language,
        from_address=addressing.sender_header(_one_line(from_name or "", 100) or None),
        reply_to=reply_to,
        subject=_one_line(subject, 300),
        body_text=body_text,
        body_html=body_html,
        message_id=addressing.new_message_id(),
        in_reply_to=in_reply_to,
        references=references,
        created_at=now,
        next_attempt_at=now,
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if OutboundMessage.objects.filter(idempotency_key=message.idempotency_key).exists():
            return None
        raise
    return message
