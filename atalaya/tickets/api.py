"""API routes for tickets: create, list (filters, search, keyset pages), get, change,
timeline events and time entries.

Tickets are loaded only through tickets.access (404 for another client's ticket) and
changed only through tickets.services, one service call and one timeline event per
changed field. Lists never count rows: they fetch one row more than the page and hand
back an opaque cursor for the next one, which stays correct however deep it goes.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import Client, Contact, Role, Site, User
from atalaya.tickets import search, services
from atalaya.tickets.access import get_ticket_or_404, timeline_of, visible_tickets
from atalaya.tickets.models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    PUBLIC_EVENT_KINDS,
    Category,
    Queue,
    Status,
    Ticket,
    TicketEvent,
    TimeEntry,
    WorkType,
)
from atalaya.tickets.schemas import (
    SLUG_PATTERN,
    USERNAME_PATTERN,
    EventIn,
    EventOut,
    EventPage,
    PriorityValue,
    SortValue,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    TimeEntryIn,
    TimeEntryOut,
    TimeEntryPage,
)

router = Router(tags=["tickets"])

MAX_LIMIT = 200
MAX_OFFSET = 10_000_000
# Ticket numbers are BIGINTs; a longer string cannot name one (and would overflow
# SQLite's integer binding instead of simply not matching).
MAX_NUMBER_DIGITS = 18
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "open": tuple(OPEN_STATUSES),
    "done": tuple(DONE_STATUSES),
}
# sort value -> (field, descending)
SORTS: dict[str, tuple[str, bool]] = {
    "-updated_at": ("updated_at", True),
    "updated_at": ("updated_at", False),
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-number": ("number", True),
    "number": ("number", False),
}
LIST_RELATED = ("client", "site", "contact", "queue", "category", "assignee", "merged_into")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # set by the bearer auth; every route requires it
    return user


def _ticket(user: User, number: str) -> Ticket:
    if not (number.isascii() and number.isdigit()) or len(number) > MAX_NUMBER_DIGITS:
        raise Http404(_("No such ticket."))
    try:
        return get_ticket_or_404(user, number)
    except Http404:
        raise Http404(_("No such ticket.")) from None


def ticket_out(ticket: Ticket, now: datetime) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "client": ticket.client.public_id,
        "client_name": ticket.client.name,
        "site": ticket.site.public_id if ticket.site_id else None,  # type: ignore[union-attr]
        "contact": ticket.contact.public_id if ticket.contact_id else None,  # type: ignore[union-attr]
        "contact_name": ticket.contact.name if ticket.contact_id else None,  # type: ignore[union-attr]
        "queue": ticket.queue.slug if ticket.queue_id else None,  # type: ignore[union-attr]
        "category": ticket.category.slug if ticket.category_id else None,  # type: ignore[union-attr]
        "assignee": ticket.assignee.username if ticket.assignee_id else None,  # type: ignore[union-attr]
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "first_response_due_at": ticket.first_response_due_at,
        "resolution_due_at": ticket.resolution_due_at,
        "first_responded_at": ticket.first_responded_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "sla_state": ticket.sla_state(now),
        "merged_into": ticket.merged_into.number if ticket.merged_into_id else None,  # type: ignore[union-attr]
    }


def event_out(event: TicketEvent, attachments: list[Any] | None = None) -> dict[str, Any]:
    files = attachments if attachments is not None else list(event.attachments.all())
    return {
        "id": event.pk,
        "ticket": event.ticket.number,
        "kind": event.kind,
        "created_at": event.created_at,
        "actor": event.actor_name(),
        "actor_username": event.actor.username if event.actor_id else None,  # type: ignore[union-attr]
        "actor_contact": event.actor_contact.public_id if event.actor_contact_id else None,  # type: ignore[union-attr]
        "body": event.body,
        "is_public": event.is_public,
        "data": event.data,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in files
        ],
    }


def time_entry_out(entry: TimeEntry, ticket: Ticket) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "ticket": ticket.number,
        "user": entry.user.username,
        "minutes": entry.minutes,
        "is_billable": entry.is_billable,
        "work_type": entry.work_type.slug if entry.work_type_id else None,  # type: ignore[union-attr]
        "note": entry.note,
        "worked_on": entry.worked_on,
        "created_at": entry.created_at,
    }


# Lookups of what a request names. Objects owned by a client go through visible_to,
# so another client's id answers exactly like an id that does not exist (404).


def _client(user: User, public_id: uuid.UUID, field: str = "client") -> Client:
    client = Client.objects.visible_to(user).filter(public_id=public_id).first()
    if client is None:
        raise FieldNotFound(field, _("No such client."))
    return client


def _site(user: User, public_id: uuid.UUID | None) -> Site | None:
    if public_id is None:
        return None
    site = Site.objects.visible_to(user).filter(public_id=public_id).first()
    if site is None:
        raise FieldNotFound("site", _("No such site."))
    return site


def _contact(user: User, public_id: uuid.UUID | None) -> Contact | None:
    if public_id is None:
        return None
    contact = Contact.objects.visible_to(user).filter(public_id=public_id).first()
    if contact is None:
        raise FieldNotFound("contact", _("No such contact."))
    return contact


def _by_slug(
    model: type[Queue] | type[Category] | type[WorkType], field: str, slug: str | None
) -> Any:
    if slug is None:
        return None
    found = model.objects.filter(slug=slug).first()
    if found is None:
        choices = ", ".join(model.objects.values_list("slug", flat=True)[:50])
        raise ValidationError(
            {
                field: [
                    _("Unknown %(field)s %(slug)r; use one of: %(choices)s")
                    % {"field": field, "slug": slug, "choices": choices}
                ]
            }
        )
    return found


def _assignee(username: str | None) -> User | None:
    if username is None:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationError({"assignee": [_("No such user: %(name)s") % {"name": username}]})
    return user


def _statuses(value: str) -> list[str]:
    wanted: list[str] = []
    for part in (p.strip() for p in value.split(",")):
        if part in STATUS_GROUPS:
            wanted += STATUS_GROUPS[part]
        elif part in Status.values:
            wanted.append(part)
        else:
            allowed = ", ".join([*STATUS_GROUPS, *Status.values])
            raise ValidationError(
                {
                    "status": [
                        _("Unknown value %(v)r; use one of: %(a)s") % {"v": part, "a": allowed}
                    ]
                }
            )
    return wanted


def _encode_cursor(sort: str, ticket: Ticket) -> str:
    field, _desc = SORTS[sort]
    value = getattr(ticket, field)
    raw = json.dumps([sort, value.isoformat() if isinstance(value, datetime) else value, ticket.pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    bad = ValidationError(
        {"cursor": [_("This cursor is not valid for this list; start again without it.")]}
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, value, pk = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    field, _desc = SORTS[sort]
    if got_sort != sort or not isinstance(pk, int) or isinstance(pk, bool):
        raise bad
    if field == "number":
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or abs(value) >= 2**63
            or abs(pk) >= 2**63
        ):
            raise bad
        return value, pk
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise bad from None
    if moment.tzinfo is None or abs(pk) >= 2**63:
        raise bad
    return moment, pk


def _after_cursor(qs: QuerySet[Ticket], sort: str, cursor: str) -> QuerySet[Ticket]:
    field, desc = SORTS[sort]
    value, pk = _decode_cursor(sort, cursor)
    # "Up to the value, minus the rows at it already shown" rather than an OR of two
    # ranges: a single range the (field) index can walk on both databases.
    if desc:
        return qs.filter(**{f"{field}__lte": value}).exclude(**{field: value, "id__gte": pk})
    return qs.filter(**{f"{field}__gte": value}).exclude(**{field: value, "id__lte": pk})


@router.post("", response=responses(TicketOut, 201), summary="Create a ticket")
def create_ticket(request: HttpRequest, payload: TicketIn) -> Any:
    """Open a ticket for a client; portal users open them for their own clients, as themselves."""
    user = _user(request)
    if not (user.can_write_tickets or user.is_portal):
        raise PermissionDenied(_("Your role may not change tickets."))
    client = _client(user, payload.client)
    staff_only: dict[str, Any] = {}
    if not user.is_portal:
        # A portal user's ticket always comes from their own contact and lands unassigned.
        staff_only = {
            "contact": _contact(user, payload.contact),
            "assignee": _assignee(payload.assignee),
            "queue": _by_slug(Queue, "queue", payload.queue),
        }
    ticket = services.create_ticket(
        actor=user,
        client=client,
        subject=payload.subject,
        body=payload.body,
        site=_site(user, payload.site),
        category=_by_slug(Category, "category", payload.category),
        priority=payload.priority,
        **staff_only,
    )
    return created(ticket_out(ticket, ticket.created_at))


# ninja declares parameters through default values (B008 is about mutable defaults).
@router.get("", response=responses(TicketPage), summary="List and search tickets")
def list_tickets(
    request: HttpRequest,
    status: str | None = Query(
        None,
        max_length=200,
        description=(
            "A status, or a comma-separated list of them. `open` means every status still "
            "in progress (new, open, waiting_client, waiting_third_party); `done` means "
            "resolved or closed."
        ),
    ),
    client: uuid.UUID | None = Query(None, description="Public id of a client."),  # noqa: B008
    assignee: str | None = Query(
        None,
        max_length=150,
        pattern=USERNAME_PATTERN,
        description=(
            "User name of the technician; `none` for unassigned tickets, `me` for your own."
        ),
    ),
    priority: PriorityValue | None = Query(None),  # noqa: B008
    category: str | None = Query(
        None, max_length=100, pattern=SLUG_PATTERN, description="Category slug."
    ),
    queue: str | None = Query(
        None, max_length=100, pattern=SLUG_PATTERN, description="Queue slug."
    ),
    q: str = Query("", max_length=200, description="Full-text search over subjects and timelines."),
    sort: SortValue = Query("-updated_at"),  # noqa: B008
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(
        None, max_length=400, description="next_cursor of the previous page."
    ),
    offset: int | None = Query(
        None, ge=0, le=MAX_OFFSET, description="Skip this many tickets instead of using a cursor."
    ),
) -> dict[str, Any]:
    """Tickets you may see, newest activity first by default, a page at a time (no total count)."""
    user = _user(request)
    if cursor is not None and offset is not None:
        raise ValidationError({"offset": [_("Use either cursor or offset, not both.")]})
    qs = visible_tickets(user)
    if status:
        qs = qs.filter(status__in=_statuses(status))
    if client is not None:
        qs = qs.filter(client=_client(user, client))
    if assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee == "me":
        qs = qs.filter(assignee=user)
    elif assignee is not None:
        if user.is_msp_staff:
            qs = qs.filter(assignee=_assignee(assignee))
        else:
            # A portal user cannot probe which user names exist.
            qs = qs.filter(assignee__username=assignee)
    if priority is not None:
        qs = qs.filter(priority=priority)
    if category is not None:
        qs = qs.filter(category=_by_slug(Category, "category", category))
    if queue is not None:
        qs = qs.filter(queue=_by_slug(Queue, "queue", queue))
    if q.strip():
        qs = search.filter_tickets(qs, q, viewer=user)
    field, desc = SORTS[sort]
    qs = qs.order_by(f"-{field}" if desc else field, "-id" if desc else "id")
    if cursor:
        qs = _after_cursor(qs, sort, cursor)
    start = offset or 0
    # The page's ids first (an index walk, or a sort of narrow index entries), then
    # their rows with the joins: never joins for rows that are not on the page.
    ids = list(qs.values_list("id", flat=True)[start : start + limit + 1])
    found = Ticket.objects.select_related(*LIST_RELATED).in_bulk(ids[:limit])
    rows = [found[pk] for pk in ids[:limit] if pk in found]
    next_cursor = _encode_cursor(sort, rows[-1]) if len(ids) > limit and rows else None
    now = timezone.now()
    return {"items": [ticket_out(t, now) for t in rows], "next_cursor": next_cursor}


@router.get("/{number}", response=responses(TicketOut), summary="Get a ticket")
def get_ticket(request: HttpRequest, number: str) -> dict[str, Any]:
    """One ticket by its number; 404 when it does not exist or belongs to another client."""
    return ticket_out(_ticket(_user(request), number), timezone.now())


@router.patch("/{number}", response=responses(TicketOut), summary="Change a ticket")
def update_ticket(request: HttpRequest, number: str, payload: TicketPatch) -> dict[str, Any]:
    """Change status, assignee, priority, queue, category, subject, site or contact.

    Only the fields sent change; each goes through its own service and leaves its own
    timeline event. Either every change is saved or none is.
    """
    user = _user(request)
    ticket = _ticket(user, number)
    if not user.can_write_tickets:
        raise PermissionDenied(_("Your role may not change tickets."))
    sent = payload.model_fields_set
    for field in ("status", "priority", "subject"):
        if field in sent and getattr(payload, field) is None:
            raise ValidationError({field: [_("This field cannot be null.")]})
    # Resolve every reference before the first write, so a bad one changes nothing.
    fields: dict[str, Any] = {}
    if "subject" in sent:
        fields["subject"] = payload.subject
    if "site" in sent:
        fields["site"] = _site(user, payload.site)
    if "contact" in sent:
        fields["contact"] = _contact(user, payload.contact)
    if "queue" in sent:
        fields["queue"] = _by_slug(Queue, "queue", payload.queue)
    if "category" in sent:
        fields["category"] = _by_slug(Category, "category", payload.category)
    assignee = _assignee(payload.assignee) if "assignee" in sent else None
    with transaction.atomic():
        for field, value in fields.items():
            services.update_ticket(ticket, actor=user, **{field: value})
        if "priority" in sent:
            services.change_priority(ticket, actor=user, priority=payload.priority)  # type: ignore[arg-type]
        if "assignee" in sent:
            services.assign_ticket(ticket, actor=user, assignee=assignee)
        # Last, so an explicit status wins over the "assigned means open" rule.
        if "status" in sent:
            services.change_status(ticket, actor=user, status=payload.status)  # type: ignore[arg-type]
    return ticket_out(ticket, timezone.now())


@router.get("/{number}/events", response=responses(EventPage), summary="List a ticket's timeline")
def list_events(
    request: HttpRequest,
    number: str,
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """The timeline, oldest first, merged tickets folded in; portal users see public events only."""
    user = _user(request)
    ticket = _ticket(user, number)
    qs = timeline_of(ticket, user)
    if user.role == Role.PORTAL:
        qs = qs.filter(kind__in=PUBLIC_EVENT_KINDS)
    rows = list(qs.order_by("created_at", "id")[offset : offset + limit + 1])
    return {
        "items": [event_out(e) for e in rows[:limit]],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.post(
    "/{number}/events", response=responses(EventOut, 201), summary="Reply or add an internal note"
)
def add_event(request: HttpRequest, number: str, payload: EventIn) -> Any:
    """A public reply (staff writers, the client's portal users) or an internal note (staff)."""
    user = _user(request)
    ticket = _ticket(user, number)
    if payload.type == "reply":
        event = services.add_reply(ticket, actor=user, body=payload.body)
    else:
        event = services.add_note(ticket, actor=user, body=payload.body)
    return created(event_out(event, attachments=[]))


@router.get(
    "/{number}/time", response=responses(TimeEntryPage), summary="List a ticket's time entries"
)
def list_time(
    request: HttpRequest,
    number: str,
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Minutes worked on the ticket, newest first (MSP staff only)."""
    user = _user(request)
    ticket = _ticket(user, number)
    if not user.is_msp_staff:
        raise PermissionDenied(_("Time entries are for the MSP's staff."))
    qs = TimeEntry.objects.filter(ticket=ticket).select_related("user", "work_type")
    rows = list(qs.order_by("-worked_on", "-created_at", "-id")[offset : offset + limit + 1])
    return {
        "items": [time_entry_out(e, ticket) for e in rows[:limit]],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.post(
    "/{number}/time", response=responses(TimeEntryOut, 201), summary="Log time on a ticket"
)
def add_time(request: HttpRequest, number: str, payload: TimeEntryIn) -> Any:
    """Record minutes worked, billable or not, by work type (technicians and admins)."""
    user = _user(request)
    ticket = _ticket(user, number)
    if not user.can_write_tickets:
        raise PermissionDenied(_("Your role may not change tickets."))
    entry = services.log_time(
        ticket,
        actor=user,
        minutes=payload.minutes,
        is_billable=payload.is_billable,
        work_type=_by_slug(WorkType, "work_type", payload.work_type),
        note=payload.note,
        worked_on=payload.worked_on,
    )
    return created(time_entry_out(entry, ticket))
