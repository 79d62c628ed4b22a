"""Notifications: the ticket services' signals become outbox mails.

* a technician's public reply → the ticket's contact, in their language;
* the ticket resolved → the contact, a resolution notice;
* the ticket assigned → the assignee (not when they took it themselves);
* an SLA clock due soon → the assignee, or every active admin and technician when
  nobody has the ticket (``notify_sla_due_soon``, run by a periodic job).

Each mail is queued inside the signal's transaction (the outbox's point: the change
and its mail commit together) under an idempotency key naming its cause, and the
delivery job is started once the transaction commits. Every mail about a ticket
carries the marks that bring a reply back to it: ``[#1234]`` in the subject, the
ticket's Reply-To address, the signed reference in the text (a hidden span in the
HTML), and In-Reply-To/References naming the thread the recipient already has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _

from atalaya.core.models import Contact, Role, User
from atalaya.mail import addressing, outbox, rendering
from atalaya.mail.models import InboundMessage, OutboundKind, OutboundMessage
from atalaya.tickets import signals, sla
from atalaya.tickets.models import Priority, Ticket, TicketEvent

logger = logging.getLogger(__name__)

# References names the first message and the latest ones; a long thread stays short.
MAX_REFERENCES = 20


_paused: ContextVar[bool] = ContextVar("mail_notifications_paused", default=False)


@contextmanager
def notifications_paused() -> Iterator[None]:
    """Queue no notification for what happens inside (history being replayed).

    The demo loader replays months of tickets through the services; its replies and
    resolutions happened long ago and must never reach a real address the day
    someone sets ATALAYA_SMTP_URL.
    """
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def are_notifications_paused() -> bool:
    """Whether this code runs inside ``notifications_paused`` (other apps' mail asks too)."""
    return _paused.get()


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


def thread_headers(ticket: Ticket, address: str) -> tuple[str, str]:
    """(In-Reply-To, References) for a new mail to ``address`` about ``ticket``.

    The thread is what that person's mail program has seen: their own mails to the
    ticket (the ledger of received mail) and the mails Atalaya sent them about it,
    oldest first. In-Reply-To names their latest mail, or else our latest one.
    """
    address = address.strip().lower()
    received = list(
        InboundMessage.objects.filter(ticket=ticket, from_address__iexact=address).values_list(
            "received_at", "message_id"
        )
    )
    sent = list(
        OutboundMessage.objects.filter(ticket=ticket, to_address=address).values_list(
            "created_at", "message_id"
        )
    )
    thread: list[str] = []
    for _at, message_id in sorted(received + sent, key=lambda pair: pair[0]):
        message_id = addressing.normalize_message_id(message_id)
        if message_id and message_id not in thread:
            thread.append(message_id)
    if not thread:
        return "", ""
    if len(thread) > MAX_REFERENCES:
        thread = [thread[0], *thread[-(MAX_REFERENCES - 1) :]]
    latest_theirs = max(received, key=lambda pair: pair[0])[1] if received else thread[-1]
    in_reply_to = f"<{addressing.normalize_message_id(latest_theirs)}>"
    return in_reply_to, " ".join(f"<{message_id}>" for message_id in thread)


def html_of(text: str, number: int) -> str:
    """The HTML alternative: the text escaped, the signed reference in a hidden span."""
    token = addressing.body_token(number)
    visible = text.replace(token, "").rstrip()
    return (
        '<!DOCTYPE html><html><body><div style="font-family:sans-serif;font-size:14px">'
        f"{linebreaks(escape(visible))}</div>"
        f'<span style="display:none;font-size:0;color:transparent;max-height:0;overflow:hidden">'
        f"{escape(token)}</span></body></html>"
    )


def _link(name: str, number: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[number])


def _contact_language(contact: Contact, ticket: Ticket) -> str:
    return rendering.normalize_language(contact.language or ticket.client.language)


def _user_name(user: User | None) -> str:
    return user.display_name() if user is not None else ""


def _priority_label(ticket: Ticket) -> str:
    return str(Priority(ticket.priority).label) if ticket.priority in Priority.values else ""


def _base_context(ticket: Ticket) -> dict[str, str]:
    contact = ticket.contact
    return {
        "ticket_number": str(ticket.number),
        "ticket_subject": ticket.subject,
        "client_name": ticket.client.name,
        "contact_name": contact.name if contact is not None else "",
        "technician_name": _user_name(ticket.assignee),
    }


def queue_ticket_mail(
    *,
    key: str,
    kind: str,
    template: str,
    ticket: Ticket,
    to_address: str,
    to_name: str,
    language: str,
    context: dict[str, str],
    event: TicketEvent | None = None,
    contact: Contact | None = None,
    user: User | None = None,
    from_name: str | None = None,
) -> OutboundMessage | None:
    """Render ``template`` and queue it with the ticket's threading marks.

    None when ``key`` was queued before or notifications are paused. Starts delivery
    after the commit.
    """
    if _paused.get():
        return None
    language = rendering.normalize_language(language)
    with translation.override(language):
        context = {"priority": _priority_label(ticket), **context}
        rendered = rendering.render(template, language, context)
    text = f"{rendered.body.rstrip()}\n\n{addressing.body_token(ticket.number)}\n"
    in_reply_to, references = thread_headers(ticket, to_address)
    message = outbox.queue_mail(
        key=key,
        kind=kind,
        client=ticket.client,
        to_address=to_address,
        to_name=to_name,
        subject=addressing.subject_with_token(rendered.subject, ticket.number),
        body_text=text,
        body_html=html_of(text, ticket.number),
        language=language,
        ticket=ticket,
        event=event,
        contact=contact,
        user=user,
        from_name=from_name,
        reply_to=addressing.reply_address(ticket.number),
        in_reply_to=in_reply_to,
        references=references,
    )
    if message is not None:
        outbox.kick_delivery()
    return message


def _mailable_contact(ticket: Ticket, actor: Any) -> Contact | None:
    """The ticket's contact if mail can reach them and they did not cause it themselves."""
    contact = ticket.contact
    if contact is None or not contact.email.strip():
        return None
    if actor is not None and getattr(actor, "contact_id", None) == contact.pk:
        return None
    return contact


def _mailable_user(user: User | None) -> bool:
    return user is not None and user.is_active and bool(user.email.strip())


# ---------------------------------------------------------------------------------------
# The signals
# ---------------------------------------------------------------------------------------


def _mail_contact(
    template: str,
    kind: str,
    ticket: Ticket,
    event: TicketEvent,
    actor: Any,
    context: dict[str, str],
    *,
    from_name: str | None = None,
) -> None:
    """Queue ``template`` to the ticket's contact (if mailable), linking the portal ticket."""
    contact = _mailable_contact(ticket, actor)
    if contact is None:
        return
    full_context = _base_context(ticket)
    full_context.update(
        context,
        recipient_name=contact.name,
        ticket_url=_link("portal:ticket_detail", ticket.number),
    )
    queue_ticket_mail(
        key=f"{template}:{event.pk}:{contact.pk}",
        kind=kind,
        template=template,
        ticket=ticket,
        to_address=contact.email,
        to_name=contact.name,
        language=_contact_language(contact, ticket),
        context=full_context,
        event=event,
        contact=contact,
        from_name=from_name,
    )


@receiver(signals.staff_replied, dispatch_uid="mail.notify.reply")
def on_staff_replied(
    sender: Any, *, ticket: Ticket, event: TicketEvent, actor: Any = None, **kwargs: Any
) -> None:
    """The technician's public reply goes to the ticket's contact by mail, under their name."""
    _mail_contact(
        "reply",
        OutboundKind.REPLY,
        ticket,
        event,
        actor,
        {"technician_name": _user_name(actor), "message": event.body},
        from_name=_user_name(actor) or None,
    )


@receiver(signals.ticket_resolved, dispatch_uid="mail.notify.resolved")
def on_ticket_resolved(
    sender: Any, *, ticket: Ticket, event: TicketEvent, actor: Any = None, **kwargs: Any
) -> None:
    """The contact hears that their request is resolved (and that a reply reopens it)."""
    _mail_contact(
        "resolved",
        OutboundKind.RESOLVED,
        ticket,
        event,
        actor,
        {"technician_name": _user_name(actor) or _user_name(ticket.assignee)},
    )


@receiver(signals.ticket_assigned, dispatch_uid="mail.notify.assigned")
def on_ticket_assigned(
    sender: Any,
    *,
    ticket: Ticket,
    event: TicketEvent,
    actor: Any = None,
    assignee: User | None = None,
    **kwargs: Any,
) -> None:
    """The new assignee hears of it, unless they took the ticket themselves."""
    if not _mailable_user(assignee) or (actor is not None and actor.pk == assignee.pk):  # type: ignore[union-attr]
        return
    assert assignee is not None
    context = _base_context(ticket)
    context.update(
        technician_name=_user_name(actor) or "Atalaya",
        recipient_name=_user_name(assignee),
        ticket_url=_link("tickets:detail", ticket.number),
    )
    queue_ticket_mail(
        key=f"assigned:{event.pk}:{assignee.pk}",
        kind=OutboundKind.ASSIGNED,
        template="assigned",
        ticket=ticket,
        to_address=assignee.email,
        to_name=_user_name(assignee),
        language=assignee.language,
        context=context,
        event=event,
        user=assignee,
    )


# ---------------------------------------------------------------------------------------
# SLA due soon
# ---------------------------------------------------------------------------------------


def _clock_label(clock: str) -> str:
    # Translated in the recipient's language (the caller has it active).
    return _("first response") if clock == "first_response" else _("resolution")


def _running_clock(ticket: Ticket) -> tuple[str, datetime | None]:
    """The clock that matters now, as sla.state_of chooses it, and its due time."""
    if ticket.first_responded_at is None and ticket.first_response_due_at is not None:
        return "first_response", ticket.first_response_due_at
    return "resolution", ticket.resolution_due_at


def _staff_on_duty() -> list[User]:
    return list(
        User.objects.filter(is_active=True, role__in=(Role.ADMIN, Role.TECHNICIAN))
        .exclude(email="")
        .order_by("pk")
    )


def _sla_key(ticket: Ticket, clock: str, due: datetime, user: User) -> str:
    return f"sla:{ticket.pk}:{clock}:{due.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%S}:{user.pk}"


def notify_sla_due_soon(*, now: datetime | None = None) -> int:
    """Tell the technicians about open tickets whose SLA clock is due soon; how many mails.

    Once per (ticket, clock, due time, person): the idempotency key names all four, so
    the job can run every few minutes, and a due time moved by a pause or a new
    priority is a new warning. Rows already queued are skipped before rendering.
    """
    now = now or timezone.now()
    candidates = (
        Ticket.objects.open()
        .filter(sla_paused_at__isnull=True)
        .filter(
            Q(first_responded_at__isnull=True, first_response_due_at__gt=now)
            | Q(first_responded_at__isnull=False, resolution_due_at__gt=now)
            | Q(first_response_due_at__isnull=True, resolution_due_at__gt=now)
        )
        .select_related("client", "contact", "assignee")
        .order_by("pk")
    )
    due_soon = [
        t for t in candidates.iterator(chunk_size=500) if sla.state_of(t, now) == "due_soon"
    ]
    if not due_soon:
        return 0
    on_duty: list[User] | None = None
    planned: list[tuple[Ticket, str, datetime, User]] = []
    for ticket in due_soon:
        clock, due = _running_clock(ticket)
        if due is None:
            continue
        if ticket.assignee is not None and ticket.assignee.is_active:
            recipients = [ticket.assignee] if _mailable_user(ticket.assignee) else []
        else:
            on_duty = _staff_on_duty() if on_duty is None else on_duty
            recipients = on_duty
        planned += [(ticket, clock, due, user) for user in recipients]
    keys = [_sla_key(*plan) for plan in planned]
    done: set[str] = set()
    for start in range(0, len(keys), 500):
        done.update(
            OutboundMessage.objects.filter(
                idempotency_key__in=keys[start : start + 500]
            ).values_list("idempotency_key", flat=True)
        )
    queued = 0
    for plan, key in zip(planned, keys, strict=True):
        if key in done:
            continue
        ticket, clock, due, user = plan
        language = rendering.normalize_language(user.language)
        with translation.override(language):
            zone = ZoneInfo(user.time_zone or "UTC")
            context = _base_context(ticket)
            context.update(
                recipient_name=_user_name(user),
                technician_name=_user_name(ticket.assignee) or _("nobody yet"),
                ticket_url=_link("tickets:detail", ticket.number),
                clock=_clock_label(clock),
                due_at=f"{due.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})",
            )
        with transaction.atomic():
            if queue_ticket_mail(
                key=key,
                kind=OutboundKind.SLA_DUE,
                template="sla_due",
                ticket=ticket,
                to_address=user.email,
                to_name=_user_name(user),
                language=language,
                context=context,
                user=user,
            ):
                queued += 1
    return queued
