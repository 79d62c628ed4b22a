"""Every write to tickets: views, API, CLI and jobs all come through here.

Each function checks what the actor may do, validates across objects (a site must be
the ticket's client's), writes the change and its timeline event in one transaction,
and keeps the SLA clocks and the search text up to date. Errors are Django
ValidationErrors keyed by field name, or PermissionDenied, so every caller can report
them precisely.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Field, Max, Model
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.comms.webhooks.outbox import emit_event
from atalaya.core.models import Client, Contact, Site, User
from atalaya.tickets import search, signals, sla
from atalaya.tickets.models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    Attachment,
    Category,
    Counter,
    EventKind,
    Priority,
    Queue,
    SavedView,
    SearchDocument,
    SlaPolicy,
    Status,
    Ticket,
    TicketEvent,
    TicketLink,
    TimeEntry,
    WorkType,
)

MAX_BODY_LENGTH = 100_000
# What a status move may change (sla.move_status): saved together whenever it runs.
STATUS_FIELDS = (
    "status",
    "resolved_at",
    "closed_at",
    "sla_paused_at",
    "sla_paused_minutes",
    "first_response_due_at",
    "resolution_due_at",
)


def _require_writer(actor: User) -> None:
    if not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not change tickets."))


def _require_writer_or_portal(actor: User, ticket_client: Client) -> None:
    if actor.can_write_tickets:
        return
    if actor.is_portal and Client.objects.visible_to(actor).filter(pk=ticket_client.pk).exists():
        return
    raise PermissionDenied(_("Your role may not change tickets."))


def _clean_text(field: str, value: str, *, required: bool, limit: int) -> str:
    value = (value or "").replace("\x00", "").strip()
    if required and not value:
        raise ValidationError({field: [_("This field is required.")]})
    if len(value) > limit:
        raise ValidationError({field: [_("At most %(n)d characters.") % {"n": limit}]})
    return value


def _next_number() -> int:
    # The counter row is locked by the UPDATE until the surrounding transaction
    # commits, so two creators never get the same number on PostgreSQL or SQLite.
    # UPDATE … RETURNING (PostgreSQL; SQLite since 3.35) bumps and reads in one
    # statement: ticket creation is a hot path (API intake, mail, monitoring alerts).
    table = connection.ops.quote_name(Counter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET value = value + 1 WHERE name = %s RETURNING value",  # noqa: S608
            ["ticket"],
        )
        row = cursor.fetchone()
    if row is not None:
        return int(row[0])
    # A lost counter row restarts after the highest number in use, never below it.
    highest = Ticket.objects.aggregate(highest=Max("number"))["highest"] or 0
    Counter.objects.get_or_create(name="ticket", defaults={"value": highest})
    Counter.objects.filter(name="ticket").update(value=F("value") + 1)
    return Counter.objects.values_list("value", flat=True).get(name="ticket")


def _check_belongs(client: Client, *, site: Site | None, contact: Contact | None) -> None:
    errors: dict[str, list[str]] = {}
    if site is not None and site.client_id != client.pk:
        errors["site"] = [_("This site belongs to another client.")]
    if contact is not None and not contact.memberships.filter(client=client).exists():
        errors["contact"] = [_("This contact is not a contact of the client.")]
    if errors:
        raise ValidationError(errors)


def _check_assignee(assignee: User | None) -> None:
    if assignee is not None and not assignee.can_write_tickets:
        raise ValidationError(
            {"assignee": [_("Tickets can only be assigned to technicians and admins.")]}
        )


def _check_choice(field: str, value: str, choices: type[Priority] | type[Status]) -> None:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationError(
            {field: [_("Unknown value %(v)r; use one of: %(a)s") % {"v": value, "a": allowed}]}
        )


def _sla_policy(priority: str) -> SlaPolicy | None:
    """The targets for a priority, by one plain query (raw for the same reason as
    sla.holidays_of: ticket creation is the hot path and the ORM cost dominated)."""
    table = connection.ops.quote_name(SlaPolicy._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT first_response_minutes, resolution_minutes FROM {table} WHERE priority = %s",  # noqa: S608
            [priority],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return SlaPolicy(priority=priority, first_response_minutes=row[0], resolution_minutes=row[1])


def _apply_sla(ticket: Ticket) -> None:
    """Lay out the due times for the ticket's priority from its creation, past any pauses."""
    sla.lay_out_due_times(
        ticket, _sla_policy(ticket.priority), sla.BusinessCalendar.for_client(ticket.client)
    )


def relay_client_clocks(client: Client, **_signal: Any) -> int:
    """Lay the due times of the client's open tickets out again on its current calendar.

    Receives core's client_calendar_changed: due times always follow the business hours
    and holidays the client has now (the change itself is on the client's audit trail).
    Business minutes already spent paused stay as they were counted. Returns how many
    tickets moved.
    """
    calendar = sla.BusinessCalendar.for_client(client)
    policies = {policy.priority: policy for policy in SlaPolicy.objects.all()}
    moved = []
    open_tickets = Ticket.objects.filter(client=client, status__in=OPEN_STATUSES).only(
        "id",
        "priority",
        "created_at",
        "sla_paused_minutes",
        "first_response_due_at",
        "resolution_due_at",
    )
    for ticket in open_tickets:
        before = (ticket.first_response_due_at, ticket.resolution_due_at)
        sla.lay_out_due_times(ticket, policies.get(ticket.priority), calendar)
        if (ticket.first_response_due_at, ticket.resolution_due_at) != before:
            moved.append(ticket)
    Ticket.objects.bulk_update(
        moved, ["first_response_due_at", "resolution_due_at"], batch_size=500
    )
    return len(moved)


def timeline_event(
    ticket: Ticket,
    kind: str,
    actor: User | None,
    *,
    now: datetime,
    body: str = "",
    is_public: bool = False,
    data: dict[str, Any] | None = None,
    actor_contact: Contact | None = None,
) -> TicketEvent:
    """An unsaved timeline event, attributed to staff or to the portal user's contact.

    The services save it at once; the demo's bulk replay collects them for bulk_create.
    """
    return TicketEvent(
        ticket=ticket,
        kind=kind,
        actor=actor if actor and actor.is_msp_staff else None,
        actor_contact=actor_contact or (actor.contact if actor and actor.is_portal else None),
        body=body,
        is_public=is_public,
        data=data or {},
        created_at=now,
    )


def _event(ticket: Ticket, kind: str, actor: User | None, **fields: Any) -> TicketEvent:
    event = timeline_event(ticket, kind, actor, **fields)
    event.save()
    return event


def _touch(ticket: Ticket, now: datetime, *fields: str) -> None:
    ticket.updated_at = now
    ticket.save(update_fields=["updated_at", *fields])


def create_ticket(
    *,
    actor: User,
    client: Client,
    subject: str,
    body: str = "",
    contact: Contact | None = None,
    site: Site | None = None,
    queue: Queue | None = None,
    category: Category | None = None,
    priority: str = Priority.NORMAL,
    assignee: User | None = None,
    attachments: Sequence[UploadedFile] = (),
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket for a client, with its first message, SLA clocks and search text.

    A portal user opens tickets only for their own clients and as themselves; staff
    pick any contact of the client. Checks and SLA arithmetic happen before the
    transaction: on SQLite it holds the database's one write lock, so it covers only
    the writes (creation is the intake hot path: API, mail, monitoring).
    """
    now = now or timezone.now()
    _require_writer_or_portal(actor, client)
    subject = _clean_text("subject", subject, required=True, limit=250)
    body = _clean_text("body", body, required=False, limit=MAX_BODY_LENGTH)
    if actor.is_portal:
        contact, assignee, queue = actor.contact, None, None
        priority = (
            priority
            if priority in (Priority.LOW, Priority.NORMAL, Priority.HIGH)
            else Priority.NORMAL
        )
    _check_choice("priority", priority, Priority)
    _check_belongs(client, site=site, contact=contact)
    _check_assignee(assignee)
    for upload in attachments:
        validate_upload(upload)
    ticket = Ticket(
        client=client,
        site=site,
        contact=contact,
        queue=queue,
        category=category,
        subject=subject,
        priority=priority,
        assignee=assignee,
        status=Status.OPEN if assignee else Status.NEW,
        created_at=now,
        updated_at=now,
    )
    _apply_sla(ticket)
    with transaction.atomic():
        ticket.number = _next_number()
        ticket.save()
        event = _event(
            ticket,
            EventKind.CREATED,
            actor,
            now=now,
            body=body,
            is_public=True,
            data={"subject": subject},
        )
        for upload in attachments:
            _store_attachment(ticket, event, upload, now)
        # A new ticket has no search document yet: one INSERT, not update_or_create's
        # SELECT and savepoints.
        SearchDocument.objects.create(ticket=ticket, body=f"{subject}\n{body}")
        emit_event("ticket.created", ticket, key=f"ticket.created:{ticket.pk}", now=now)
    return ticket


@transaction.atomic
def add_reply(
    ticket: Ticket,
    *,
    actor: User,
    body: str,
    attachments: Sequence[UploadedFile] = (),
    now: datetime | None = None,
) -> TicketEvent:
    """A public message on the ticket, from a technician or from the client's portal user.

    The first staff reply stops the first-response clock; a client's reply to a ticket
    that waits on them or was resolved puts it back in the technicians' court.
    """
    now = now or timezone.now()
    _require_writer_or_portal(actor, ticket.client)
    if actor.is_portal and ticket.merged_into_id:
        # A client's reply would reopen it, but a merged ticket stays closed.
        survivor = Ticket.objects.values_list("number", flat=True).get(pk=ticket.merged_into_id)
        raise ValidationError(
            {
                "ticket": [
                    _("This ticket was merged into #%(n)d; please reply there.") % {"n": survivor}
                ]
            }
        )
    body = _clean_text("body", body, required=not attachments, limit=MAX_BODY_LENGTH)
    for upload in attachments:
        validate_upload(upload)
    event = _event(ticket, EventKind.REPLY, actor, now=now, body=body, is_public=True)
    for upload in attachments:
        _store_attachment(ticket, event, upload, now)
    fields = []
    if actor.is_msp_staff and ticket.first_responded_at is None:
        ticket.first_responded_at = now
        fields.append("first_responded_at")
    if actor.is_portal and ticket.status in (Status.WAITING_CLIENT, *DONE_STATUSES):
        _set_status(ticket, Status.OPEN, actor, now)
        fields += STATUS_FIELDS
    elif actor.is_msp_staff and ticket.status == Status.NEW:
        _set_status(ticket, Status.OPEN, actor, now)
        fields.append("status")
    _touch(ticket, now, *fields)
    search.append_to_index(ticket, body)
    if actor.is_msp_staff:
        signals.staff_replied.send(sender=Ticket, ticket=ticket, event=event, actor=actor)
    return event


@transaction.atomic
def add_note(
    ticket: Ticket,
    *,
    actor: User,
    body: str,
    attachments: Sequence[UploadedFile] = (),
    now: datetime | None = None,
) -> TicketEvent:
    """An internal note: seen by the MSP's staff only, never by the client."""
    now = now or timezone.now()
    _require_writer(actor)
    body = _clean_text("body", body, required=not attachments, limit=MAX_BODY_LENGTH)
    for upload in attachments:
        validate_upload(upload)
    event = _event(ticket, EventKind.NOTE, actor, now=now, body=body)
    for upload in attachments:
        _store_attachment(ticket, event, upload, now)
    _touch(ticket, now)
    search.append_to_index(ticket, body, public=False)
    return event


def _set_status(ticket: Ticket, status: str, actor: User | None, now: datetime) -> None:
    """Move the status and the clocks with it, and record the change on the timeline."""
    before = ticket.status
    if before == status:
        return
    calendar = sla.BusinessCalendar.for_client(ticket.client)
    sla.move_status(ticket, status, now, calendar, _sla_policy(ticket.priority))
    event = _event(
        ticket,
        EventKind.STATUS,
        actor,
        now=now,
        is_public=True,
        data={"changes": {"status": [before, status]}},
    )
    if status == Status.RESOLVED:
        signals.ticket_resolved.send(sender=Ticket, ticket=ticket, event=event, actor=actor)


@transaction.atomic
def change_status(
    ticket: Ticket, *, actor: User, status: str, now: datetime | None = None
) -> Ticket:
    """Set the status; waiting on the client pauses the SLA clock, leaving it resumes it."""
    now = now or timezone.now()
    _require_writer(actor)
    _check_choice("status", status, Status)
    if ticket.merged_into_id and status not in DONE_STATUSES:
        raise ValidationError(
            {"status": [_("A merged ticket stays closed; work on the surviving ticket.")]}
        )
    if ticket.status == status:
        return ticket
    _set_status(ticket, status, actor, now)
    _touch(ticket, now, *STATUS_FIELDS)
    return ticket


@transaction.atomic
def close_resolved_ticket(ticket: Ticket, *, now: datetime | None = None) -> bool:
    """Close a resolved ticket on Atalaya's behalf (no actor); False if it is no longer resolved.

    The row is re-read under a lock so a client's reply that reopened it a moment ago
    wins over the job: a reopened ticket is never closed behind the client's back.
    """
    now = now or timezone.now()
    current = Ticket.objects.select_for_update().filter(pk=ticket.pk).first()
    if current is None or current.status != Status.RESOLVED:
        return False
    _set_status(current, Status.CLOSED, None, now)
    _touch(current, now, "status", "resolved_at", "closed_at")
    ticket.status, ticket.closed_at, ticket.updated_at = current.status, current.closed_at, now
    return True


def close_stale_resolved_tickets(
    *, days: int, now: datetime | None = None, limit: int = 1000
) -> int:
    """Close tickets resolved ``days`` or more ago that nobody reopened; returns how many.

    Resolved means "we think it is fixed"; a client who says nothing for a week agrees.
    Each ticket closes in its own transaction so one failure does not undo the rest.
    """
    if days <= 0:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    stale = Ticket.objects.filter(status=Status.RESOLVED, resolved_at__lte=cutoff)
    stale = stale.order_by("resolved_at")
    return sum(close_resolved_ticket(ticket, now=now) for ticket in stale[:limit])


@transaction.atomic
def assign_ticket(
    ticket: Ticket, *, actor: User, assignee: User | None, now: datetime | None = None
) -> Ticket:
    """Give the ticket to a technician (or nobody); a new ticket becomes open when assigned."""
    now = now or timezone.now()
    _require_writer(actor)
    _check_assignee(assignee)
    if ticket.assignee_id == (assignee.pk if assignee else None):
        return ticket
    before = ticket.assignee.username if ticket.assignee else None
    ticket.assignee = assignee
    event = _event(
        ticket,
        EventKind.ASSIGNMENT,
        actor,
        now=now,
        data={"changes": {"assignee": [before, assignee.username if assignee else None]}},
    )
    fields = ["assignee"]
    if assignee is not None and ticket.status == Status.NEW:
        _set_status(ticket, Status.OPEN, actor, now)
        fields.append("status")
    _touch(ticket, now, *fields)
    if assignee is not None:
        signals.ticket_assigned.send(
            sender=Ticket, ticket=ticket, event=event, actor=actor, assignee=assignee
        )
    return ticket


@transaction.atomic
def change_priority(
    ticket: Ticket, *, actor: User, priority: str, now: datetime | None = None
) -> Ticket:
    """Set the priority; the SLA targets of the new priority apply from the ticket's creation."""
    now = now or timezone.now()
    _require_writer(actor)
    _check_choice("priority", priority, Priority)
    if ticket.priority == priority:
        return ticket
    before = ticket.priority
    ticket.priority = priority
    _apply_sla(ticket)
    _event(
        ticket,
        EventKind.PRIORITY,
        actor,
        now=now,
        data={"changes": {"priority": [before, priority]}},
    )
    _touch(ticket, now, "priority", "first_response_due_at", "resolution_due_at")
    return ticket


def _label(value: Any) -> Any:
    return str(value) if value is not None else None


@transaction.atomic
def update_ticket(
    ticket: Ticket, *, actor: User, now: datetime | None = None, **changes: Any
) -> Ticket:
    """Change subject, site, contact, queue or category, recording each before and after."""
    now = now or timezone.now()
    _require_writer(actor)
    allowed = {"subject", "site", "contact", "queue", "category"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({sorted(unknown)[0]: [_("This field cannot be changed here.")]})
    if "subject" in changes:
        changes["subject"] = _clean_text("subject", changes["subject"], required=True, limit=250)
    _check_belongs(ticket.client, site=changes.get("site"), contact=changes.get("contact"))
    diff = {}
    for field, value in changes.items():
        before = getattr(ticket, field)
        if before != value:
            diff[field] = [_label(before), _label(value)]
            setattr(ticket, field, value)
    if not diff:
        return ticket
    _event(ticket, EventKind.FIELDS, actor, now=now, data={"changes": diff})
    _touch(ticket, now, *diff)
    if "subject" in diff:
        search.append_to_index(ticket, ticket.subject)
    return ticket


@transaction.atomic
def log_time(
    ticket: Ticket,
    *,
    actor: User,
    minutes: int,
    is_billable: bool = True,
    work_type: WorkType | None = None,
    note: str = "",
    worked_on: date | None = None,
    now: datetime | None = None,
) -> TimeEntry:
    """Record minutes worked on the ticket, for the team's record and for billing."""
    now = now or timezone.now()
    _require_writer(actor)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 < minutes <= 24 * 60:
        raise ValidationError({"minutes": [_("Minutes must be a whole number from 1 to 1440.")]})
    note = _clean_text("note", note, required=False, limit=500)
    entry = TimeEntry.objects.create(
        ticket=ticket,
        user=actor,
        minutes=minutes,
        is_billable=is_billable,
        work_type=work_type,
        note=note,
        worked_on=worked_on or timezone.localdate(now),
        created_at=now,
    )
    _event(
        ticket,
        EventKind.TIME,
        actor,
        now=now,
        body=note,
        data={
            "minutes": minutes,
            "is_billable": is_billable,
            "time_entry": entry.pk,
            "work_type": work_type.name if work_type else None,
        },
    )
    _touch(ticket, now)
    return entry


@transaction.atomic
def merge_tickets(
    source: Ticket, target: Ticket, *, actor: User, now: datetime | None = None
) -> Ticket:
    """Fold ``source`` into ``target``: both timelines stay, the source closes and points on."""
    now = now or timezone.now()
    _require_writer(actor)
    if source.pk == target.pk:
        raise ValidationError({"target": [_("A ticket cannot be merged into itself.")]})
    if source.client_id != target.client_id:
        raise ValidationError({"target": [_("Only tickets of the same client can be merged.")]})
    if target.merged_into_id:
        raise ValidationError(
            {"target": [_("That ticket was itself merged; merge into its survivor.")]}
        )
    if source.merged_into_id:
        raise ValidationError({"source": [_("This ticket was already merged.")]})
    source.merged_into = target
    _set_status(source, Status.CLOSED, actor, now)
    _event(source, EventKind.MERGE, actor, now=now, data={"merged_into": target.number})
    _touch(source, now, "merged_into", *STATUS_FIELDS)
    # Tickets merged into the source earlier now belong to the survivor too.
    Ticket.objects.filter(merged_into=source).update(merged_into=target)
    _event(target, EventKind.MERGE, actor, now=now, data={"merged_from": source.number})
    _touch(target, now)
    search.fold_into(source, target)
    return target


@transaction.atomic
def link_tickets(
    ticket: Ticket, other: Ticket, *, actor: User, now: datetime | None = None
) -> TicketLink:
    """Mark two tickets as related; the link shows on both."""
    now = now or timezone.now()
    _require_writer(actor)
    if ticket.pk == other.pk:
        raise ValidationError({"other": [_("A ticket cannot be linked to itself.")]})
    existing = (
        TicketLink.objects.filter(from_ticket=ticket, to_ticket=other).first()
        or TicketLink.objects.filter(from_ticket=other, to_ticket=ticket).first()
    )
    if existing:
        return existing
    link = TicketLink.objects.create(
        from_ticket=ticket, to_ticket=other, created_by=actor, created_at=now
    )
    _event(ticket, EventKind.LINK, actor, now=now, data={"linked": other.number})
    _event(other, EventKind.LINK, actor, now=now, data={"linked": ticket.number})
    _touch(ticket, now)
    _touch(other, now)
    return link


def validate_upload(upload: UploadedFile) -> None:
    """Reject files over the configured size or of a type not on the allowed list."""
    name = os.path.basename(upload.name or "")
    extension = os.path.splitext(name)[1].lower().lstrip(".")
    if not name or extension not in settings.ATTACHMENT_ALLOWED_EXTENSIONS:
        raise ValidationError(
            {
                "attachments": [
                    _("Files of type %(ext)r are not accepted; allowed: %(allowed)s")
                    % {
                        "ext": extension or name,
                        "allowed": ", ".join(settings.ATTACHMENT_ALLOWED_EXTENSIONS),
                    }
                ]
            }
        )
    if upload.size is None or upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            {
                "attachments": [
                    _("%(name)s is larger than the limit of %(mb)d MB.")
                    % {"name": name, "mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)}
                ]
            }
        )


def _store_attachment(
    ticket: Ticket, event: TicketEvent, upload: UploadedFile, now: datetime
) -> Attachment:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = Attachment(
        ticket=ticket,
        event=event,
        filename=os.path.basename(upload.name or "file")[:255],
        content_type=(upload.content_type or "application/octet-stream")[:120],
        size=upload.size or 0,
        sha256=digest.hexdigest(),
        created_at=now,
    )
    attachment.file.save(attachment.sha256, upload, save=False)
    attachment.save()
    return attachment


def save_view(*, actor: User, name: str, query: str) -> SavedView:
    """Store the actor's current ticket-list query string under a name (same name: replaced).

    A saved view is the user's own preference, not ticket data, so every staff role may
    keep them, read-only users included.
    """
    if not actor.is_msp_staff:
        raise PermissionDenied(_("Only staff keep saved views."))
    name = _clean_text("name", name, required=True, limit=100)
    query = (query or "").replace("\x00", "").strip().lstrip("?")
    if len(query) > 1000:
        raise ValidationError({"query": [_("At most %(n)d characters.") % {"n": 1000}]})
    view, _created = SavedView.objects.update_or_create(
        user=actor, name=name, defaults={"query": query}
    )
    return view


def delete_saved_view(view: SavedView, *, actor: User) -> None:
    """Remove one of the actor's own saved views (a preference, so it may really go)."""
    if view.user_id != actor.pk:
        raise PermissionDenied(_("This saved view belongs to someone else."))
    view.delete()


# ---------------------------------------------------------------------------------------
# The mail channel (mail/inbound.py): received mail becomes tickets and messages here.
# ---------------------------------------------------------------------------------------


# Plain INSERT and UPDATE statements for the rows every received mail writes (the
# intake's hot path, benchmarks/mail.py): Model.save() spent about a millisecond a row
# building its query. Same values as save(): each field's pre_save and
# get_db_prep_save; the model has no save signals' receivers or save() of its own.
_INSERTS: dict[tuple[str, type[Model]], tuple[str, list[Field[Any, Any]], bool]] = {}


def _insert_row(obj: Model) -> None:
    """``obj.save()`` of a new row (``objects.create``) as one INSERT … RETURNING."""
    model = type(obj)
    key = (connection.vendor, model)
    cached = _INSERTS.get(key)
    meta = model._meta
    if cached is None:
        auto = meta.auto_field
        fields = [
            field
            for field in meta.local_concrete_fields
            if field is not auto and not getattr(field, "generated", False)
        ]
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(meta.db_table)}"  # noqa: S608
            f" ({', '.join(quote(str(f.column)) for f in fields)})"
            f" VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if auto is not None:
            sql += f" RETURNING {quote(str(auto.column))}"
        cached = _INSERTS[key] = (sql, fields, auto is not None)
    sql, fields, returning = cached
    obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if returning:
            setattr(obj, meta.pk.attname, cursor.fetchone()[0])
    obj._state.adding = False
    obj._state.db = connection.alias


def _update_row(obj: Model, names: Sequence[str]) -> None:
    """``obj.save(update_fields=names)`` as one UPDATE."""
    meta = type(obj)._meta
    fields = [cast("Field[Any, Any]", meta.get_field(name)) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
    values = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments}"  # noqa: S608
            f" WHERE {quote(str(meta.pk.column))} = %s",
            [*values, obj.pk],
        )
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")


class MailFile:
    """A file from a received mail, as the attachment store reads an upload."""

    def __init__(self, filename: str, content_type: str, data: bytes, content_id: str = ""):
        self.name = os.path.basename(filename or "file")[:255] or "file"
        self.content_type = content_type or "application/octet-stream"
        self.data = data
        self.size = len(data)
        self.content_id = content_id

    def chunks(self) -> Sequence[bytes]:
        return [self.data]

    def seek(self, _position: int) -> None:
        return None


def _mail_file_problem(upload: MailFile) -> str:
    """Why a mail's file is not stored (too large, a type not accepted), or ""."""
    try:
        validate_upload(upload)  # type: ignore[arg-type]
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


def _store_mail_files(
    ticket: Ticket, event: TicketEvent, files: Sequence[MailFile], now: datetime
) -> tuple[list[tuple[MailFile, Attachment]], list[dict[str, str]]]:
    """Store the files that pass the upload rules; name the others with the reason."""
    from django.core.files.base import ContentFile

    stored: list[tuple[MailFile, Attachment]] = []
    skipped: list[dict[str, str]] = []
    for upload in files:
        problem = _mail_file_problem(upload)
        if problem:
            skipped.append({"filename": upload.name, "reason": problem})
            continue
        attachment = Attachment(
            ticket=ticket,
            event=event,
            filename=upload.name,
            content_type=upload.content_type[:120],
            size=upload.size,
            sha256=hashlib.sha256(upload.data).hexdigest(),
            created_at=now,
        )
        attachment.file.save(attachment.sha256, ContentFile(upload.data), save=False)
        _insert_row(attachment)
        stored.append((upload, attachment))
    return stored, skipped


def _save_mail_event(
    ticket: Ticket,
    kind: str,
    *,
    body: str,
    mail: dict[str, Any],
    files: Sequence[MailFile],
    now: datetime,
    staff: User | None = None,
    contact: Contact | None = None,
    extra: dict[str, Any] | None = None,
) -> TicketEvent:
    """A mail's timeline event with its files; what was not stored is named in its data."""
    event = timeline_event(
        ticket, kind, staff, now=now, body=body, is_public=True, actor_contact=contact
    )
    # The event is saved first (attachments point at it), then its data is final: the
    # one extra UPDATE only when a file was stored or refused.
    event.data = {"mail": dict(mail), **(extra or {})}
    _insert_row(event)
    if files:
        stored, skipped = _store_mail_files(ticket, event, files, now)
        # Inline images (cid:) are shown from the stored file: Content-ID → attachment.
        inline = {upload.content_id: a.pk for upload, a in stored if upload.content_id}
        if inline or skipped:
            if inline:
                event.data["mail"]["inline"] = inline
            if skipped:
                event.data["mail"]["skipped_attachments"] = skipped
            _update_row(event, ["data"])
    return event


def create_ticket_from_mail(
    *,
    client: Client,
    contact: Contact | None,
    subject: str,
    body: str,
    mail: dict[str, Any],
    files: Sequence[MailFile] = (),
    queue: Queue | None = None,
    now: datetime | None = None,
    extra: dict[str, Any] | None = None,
    contact_is_member: bool | None = None,
) -> tuple[Ticket, TicketEvent]:
    """Open a ticket from a received mail: the contact's request, its files, SLA, search.

    The mail's facts (Message-ID, sender, how it was matched, the flag) are kept in
    the CREATED event's ``data["mail"]``. A contact not (yet) of the client is still
    recorded as the sender (``actor_contact``) but not as the ticket's contact.
    Runs inside the caller's transaction (the inbound pipeline's, one per mail).
    """
    now = now or timezone.now()
    subject = _clean_text("subject", subject, required=False, limit=250) or _("(no subject)")
    body = (body or "").replace("\x00", "")[:MAX_BODY_LENGTH]
    is_member = contact_is_member
    if is_member is None:
        is_member = contact is not None and contact.memberships.filter(client=client).exists()
    ticket = Ticket(
        client=client,
        contact=contact if is_member else None,
        queue=queue,
        subject=subject,
        priority=Priority.NORMAL,
        status=Status.NEW,
        created_at=now,
        updated_at=now,
    )
    _apply_sla(ticket)
    # No savepoint of its own: the pipeline runs each mail in one already.
    with transaction.atomic(savepoint=False):
        ticket.number = _next_number()
        _insert_row(ticket)
        event = _save_mail_event(
            ticket,
            EventKind.CREATED,
            body=body,
            mail=mail,
            files=files,
            now=now,
            contact=contact,
            extra={"subject": subject, **(extra or {})},
        )
        _insert_row(SearchDocument(ticket=ticket, body=f"{subject}\n{body}"))
        emit_event("ticket.created", ticket, key=f"ticket.created:{ticket.pk}", now=now)
    return ticket, event


def add_mail_message(
    ticket: Ticket,
    *,
    body: str,
    mail: dict[str, Any],
    contact: Contact | None = None,
    staff: User | None = None,
    files: Sequence[MailFile] = (),
    now: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> TicketEvent:
    """A received mail on an existing ticket: a client's message or a technician's reply.

    ``staff`` (only for mail through a mailbox trusted for staff) makes it a staff
    reply: it answers the first response, opens a new ticket and sends staff_replied so
    the client is notified. Otherwise it is the client's message, which puts a ticket
    that waits on them or was resolved back in the technicians' court, like a portal
    reply, and sends nothing.
    """
    now = now or timezone.now()
    body = (body or "").replace("\x00", "")[:MAX_BODY_LENGTH]
    with transaction.atomic(savepoint=False):
        event = _save_mail_event(
            ticket,
            EventKind.REPLY,
            body=body,
            mail=mail,
            files=files,
            now=now,
            staff=staff,
            contact=None if staff else contact,
            extra=extra,
        )
        fields: list[str] = []
        if staff is not None:
            if ticket.first_responded_at is None:
                ticket.first_responded_at = now
                fields.append("first_responded_at")
            if ticket.status == Status.NEW:
                _set_status(ticket, Status.OPEN, staff, now)
                fields.append("status")
        elif ticket.status in (Status.WAITING_CLIENT, *DONE_STATUSES) and not ticket.merged_into_id:
            _set_status(ticket, Status.OPEN, None, now)
            fields += STATUS_FIELDS
        ticket.updated_at = now
        _update_row(ticket, ["updated_at", *fields])
        _append_mail_text(ticket, body)
        if staff is not None:
            signals.staff_replied.send(sender=Ticket, ticket=ticket, event=event, actor=staff)
    return event


def _append_mail_text(ticket: Ticket, text: str) -> None:
    """search.append_to_index's public part by one plain UPDATE (the mail intake's hot
    path: building the ORM's CASE expression cost more than running it)."""
    if not text.strip():
        return
    table = connection.ops.quote_name(SearchDocument._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET body = CASE WHEN body = '' THEN %s"  # noqa: S608
            " ELSE body || %s || %s END WHERE ticket_id = %s",
            [text, "\n", text, ticket.pk],
        )
        updated = cursor.rowcount
    if not updated:
        search.append_to_index(ticket, text)


def _require_same_mail_ticket(event: TicketEvent | None, source: Ticket) -> TicketEvent:
    if event is None or event.ticket_id != source.pk:
        raise ValidationError({"message": [_("This message is not on a ticket any more.")]})
    return event


def _copy_attachments(event: TicketEvent, target: Ticket, new_event: TicketEvent) -> None:
    # The same stored file: a move copies the row, never the bytes (same client, so the
    # client-scoped path is right for the target too).
    for attachment in Attachment.objects.filter(event=event):
        Attachment.objects.create(
            ticket=target,
            event=new_event,
            file=attachment.file.name,
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=attachment.sha256,
            created_at=attachment.created_at,
        )


@transaction.atomic
def move_mail_message(
    source_event: TicketEvent, target: Ticket, *, actor: User, now: datetime | None = None
) -> TicketEvent:
    """Move a mis-threaded received mail to another ticket of the same client.

    Append-only: the source ticket gets a MOVED event naming where it went, the target
    a copy of the message (a REPLY with ``moved_from``); the original event stays as it
    was (the timeline marks it moved). Returns the target's new event. The caller
    (mail/inbound.py) re-points the ledger so later replies thread to the new place.
    """
    now = now or timezone.now()
    _require_writer(actor)
    source = source_event.ticket
    if target.pk == source.pk:
        raise ValidationError({"target": [_("The message is already on this ticket.")]})
    if target.client_id != source.client_id:
        raise ValidationError(
            {"target": [_("A message can only be moved to a ticket of the same client.")]}
        )
    if target.merged_into_id:
        raise ValidationError(
            {"target": [_("That ticket was merged; move the message to its survivor.")]}
        )
    return _relocate(source_event, target, actor, now, key="moved_to")


def _relocate(
    source_event: TicketEvent, target: Ticket, actor: User, now: datetime, *, key: str
) -> TicketEvent:
    source = source_event.ticket
    mail = dict(source_event.data.get("mail", {}))
    mail["matched_by"] = "moved"
    mail["matched_value"] = f"#{source.number}"
    new_event = TicketEvent.objects.create(
        ticket=target,
        kind=EventKind.REPLY,
        actor=source_event.actor,
        actor_contact=source_event.actor_contact,
        body=source_event.body,
        is_public=True,
        data={"mail": mail, "moved_from": source.number, "moved_event": source_event.pk},
        created_at=now,
    )
    _copy_attachments(source_event, target, new_event)
    _event(
        source,
        EventKind.MOVED,
        actor,
        now=now,
        data={key: target.number, "moved_event": source_event.pk},
    )
    _touch(source, now)
    _touch(target, now)
    search.append_to_index(target, source_event.body)
    return new_event


@transaction.atomic
def split_mail_message(
    source_event: TicketEvent,
    *,
    actor: User,
    subject: str = "",
    now: datetime | None = None,
) -> tuple[Ticket, TicketEvent]:
    """Split a received mail out of its ticket into a new ticket of the same client.

    As in move_mail_message, the original stays and the source gets a MOVED event; the
    new ticket's first message is the copy, with the sender as its contact.
    """
    now = now or timezone.now()
    _require_writer(actor)
    source = source_event.ticket
    mail = source_event.data.get("mail", {})
    subject = _clean_text("subject", subject or mail.get("subject", ""), required=False, limit=250)
    contact = source_event.actor_contact
    is_member = contact is not None and contact.memberships.filter(client=source.client).exists()
    ticket = Ticket(
        client=source.client,
        contact=contact if is_member else None,
        site=None,
        queue=source.queue,
        subject=subject or source.subject,
        priority=Priority.NORMAL,
        status=Status.NEW,
        created_at=now,
        updated_at=now,
    )
    _apply_sla(ticket)
    ticket.number = _next_number()
    ticket.save()
    _event(
        ticket,
        EventKind.CREATED,
        actor,
        now=now,
        is_public=True,
        data={"subject": ticket.subject, "split_from": source.number},
    )
    SearchDocument.objects.create(ticket=ticket, body=ticket.subject)
    new_event = _relocate(source_event, ticket, actor, now, key="split_to")
    return ticket, new_event


# --- Tickets Atalaya opens and works on by itself (monitoring alerts) --------------------


def create_system_ticket(
    *,
    client: Client,
    subject: str,
    body: str = "",
    site: Site | None = None,
    category: Category | None = None,
    priority: str = Priority.NORMAL,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket on Atalaya's own behalf (no actor): a monitoring alert's ticket.

    Like a mailed request it has no human author; it has a category, a site and a
    priority from the alert's severity. SLA clocks and the search text are laid out as
    for any new ticket; ``data`` lands in the CREATED event (the alert's id).
    """
    now = now or timezone.now()
    subject = _clean_text("subject", subject, required=True, limit=250)
    body = (body or "").replace("\x00", "")[:MAX_BODY_LENGTH]
    _check_choice("priority", priority, Priority)
    _check_belongs(client, site=site, contact=None)
    ticket = Ticket(
        client=client,
        site=site,
        category=category,
        subject=subject,
        priority=priority,
        status=Status.NEW,
        created_at=now,
        updated_at=now,
    )
    _apply_sla(ticket)
    with transaction.atomic():
        ticket.number = _next_number()
        _insert_row(ticket)
        _insert_row(
            timeline_event(
                ticket,
                EventKind.CREATED,
                None,
                now=now,
                body=body,
                is_public=True,
                data={"subject": subject, **(data or {})},
            )
        )
        _insert_row(SearchDocument(ticket=ticket, body=f"{subject}\n{body}"))
        emit_event("ticket.created", ticket, key=f"ticket.created:{ticket.pk}", now=now)
    return ticket


@transaction.atomic
def add_system_note(
    ticket: Ticket, *, body: str, data: dict[str, Any] | None = None, now: datetime | None = None
) -> TicketEvent:
    """An internal note written by Atalaya itself (an alert that changed or recovered)."""
    now = now or timezone.now()
    body = _clean_text("body", body, required=True, limit=MAX_BODY_LENGTH)
    event = _event(ticket, EventKind.NOTE, None, now=now, body=body, data=data or {})
    _touch(ticket, now)
    search.append_to_index(ticket, body, public=False)
    return event


@transaction.atomic
def resolve_ticket_as_system(ticket: Ticket, *, now: datetime | None = None) -> bool:
    """Resolve an open ticket on Atalaya's behalf; False if it is no longer open.

    The row is re-read under a lock so a technician's change a moment ago wins.
    """
    now = now or timezone.now()
    current = Ticket.objects.select_for_update().filter(pk=ticket.pk).first()
    if current is None or current.status not in OPEN_STATUSES or current.merged_into_id:
        return False
    _set_status(current, Status.RESOLVED, None, now)
    _touch(current, now, *STATUS_FIELDS)
    ticket.status, ticket.resolved_at, ticket.updated_at = current.status, current.resolved_at, now
    return True
