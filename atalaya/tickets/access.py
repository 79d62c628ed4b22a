"""Scoped lookups for tickets: the only way views and the API load them.

Each helper answers 404 for what the user may not see, so another client's ticket is
indistinguishable from one that does not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from atalaya.core.models import User
from atalaya.tickets.models import PUBLIC_EVENT_KINDS, Ticket, TicketEvent


def visible_tickets(user: User) -> QuerySet[Ticket]:
    return Ticket.objects.visible_to(user)


def get_ticket_or_404(user: User, number: int | str) -> Ticket:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise Http404("No such ticket") from None
    ticket = (
        visible_tickets(user)
        .select_related("client", "site", "contact", "queue", "category", "assignee", "merged_into")
        .filter(number=number)
        .first()
    )
    if ticket is None:
        raise Http404("No such ticket")
    return ticket


def timeline_of(ticket: Ticket, viewer: User) -> QuerySet[TicketEvent]:
    """The ticket's timeline as the viewer may see it, with merged tickets' events folded in."""
    ids = [ticket.pk, *ticket.merged_tickets.values_list("pk", flat=True)]
    qs = TicketEvent.objects.filter(ticket_id__in=ids)
    # Fail closed: anyone who is not active MSP staff sees the public events only.
    if not viewer.is_msp_staff:
        qs = qs.filter(is_public=True, kind__in=PUBLIC_EVENT_KINDS)
    return qs.select_related("actor", "actor_contact", "ticket").prefetch_related("attachments")
