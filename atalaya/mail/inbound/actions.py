"""What technicians do with received mail: triage, move, split; and the bounce badge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import Client, User
from atalaya.mail.inbound.lookups import Match, _new_contact, _sender
from atalaya.mail.inbound.pipeline import (
    _ROW_RESULT_FIELDS,
    IngestResult,
    _open_ticket,
    _parse,
    _result,
    read_raw,
)
from atalaya.mail.models import (
    FailingAddress,
    InboundMessage,
    MatchRule,
    Outcome,
)
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Ticket

# --- what technicians do with received mail -------------------------------------------------


def resolve_triage(
    message: InboundMessage, *, client: Client, actor: User, now: datetime | None = None
) -> IngestResult:
    """A technician says whose the unknown sender is: the contact joins the client and the
    waiting mail becomes that client's ticket."""
    from atalaya.core import services as core_services

    if not actor.can_write_tickets:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(_("Your role may not change tickets."))
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            InboundMessage.objects.select_for_update(of=("self",))
            .select_related("mailbox", "contact")
            .get(pk=message.pk)
        )
        if row.outcome != Outcome.TRIAGE or row.ticket_id is not None:
            raise ValidationError({"message": [_("This mail is not waiting for triage.")]})
        parsed, parse_error = _parse(read_raw(row))
        if parsed is None:
            raise ValidationError({"message": [parse_error or _("The mail could not be parsed.")]})
        contact = row.contact
        if contact is None:
            contact = _sender(parsed.from_address).contact or _new_contact(parsed, None, now)
        if not contact.memberships.filter(client=client).exists():
            core_services.add_contact_to_client(actor=actor, contact=contact, client=client)
        if contact.needs_triage:
            contact.needs_triage = False
            contact.save(update_fields=["needs_triage"])
        row.contact = contact
        match = Match(row.matched_rule or MatchRule.NEW, row.matched_value)
        _open_ticket(row, parsed, match, client, contact, now, is_member=True)
        row.processed_at = now
        row.save(update_fields=_ROW_RESULT_FIELDS)
    return _result(row, new=True)


def _mail_event_of(row: InboundMessage) -> Any:
    if row.event_id is None or row.ticket_id is None:
        raise ValidationError({"message": [_("This mail is not on a ticket.")]})
    return row.event


def move_mail_message(
    message: InboundMessage, target: Ticket, *, actor: User, now: datetime | None = None
) -> IngestResult:
    """Move a received mail to another ticket of the same client; later replies follow it."""
    now = now or timezone.now()
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update().get(pk=message.pk)
        event = _mail_event_of(row)
        source_number = event.ticket.number
        new_event = ticket_services.move_mail_message(event, target, actor=actor, now=now)
        _repoint(row, target, new_event, source_number)
    return _result(row)


def split_mail_message(
    message: InboundMessage, *, actor: User, now: datetime | None = None
) -> IngestResult:
    """Split a received mail out into a new ticket of the same client."""
    now = now or timezone.now()
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update().get(pk=message.pk)
        event = _mail_event_of(row)
        source_number = event.ticket.number
        ticket, new_event = ticket_services.split_mail_message(event, actor=actor, now=now)
        _repoint(row, ticket, new_event, source_number)
    return _result(row, new=True)


def _repoint(row: InboundMessage, ticket: Ticket, event: Any, source_number: int) -> None:
    row.ticket, row.event = ticket, event
    row.matched_rule, row.matched_value = MatchRule.MOVED, f"#{source_number}"
    row.save(update_fields=["ticket", "event", "matched_rule", "matched_value"])


def failing_addresses(addresses: list[str]) -> set[str]:
    """Which of these addresses bounced and were not cleared (one query, for badges)."""
    wanted = {a.lower() for a in addresses if a}
    if not wanted:
        return set()
    return set(
        FailingAddress.objects.filter(address__in=wanted, cleared_at__isnull=True).values_list(
            "address", flat=True
        )
    )
