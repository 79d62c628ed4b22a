"""Tickets, their typed timeline, time entries, SLA policy and saved views.

A ticket is client-owned (non-null ``client``); its events, time entries, attachments
and links reach the client through the ticket. The timeline is append-only and is the
ticket's audit history: every field change is an event with its before and after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import (
    STAFF_ROLES,
    AppendOnlyModel,
    AppendOnlyQuerySet,
    Client,
    Contact,
    Role,
    Site,
)


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    WAITING_CLIENT = "waiting_client", _("Waiting on client")
    WAITING_THIRD_PARTY = "waiting_third_party", _("Waiting on third party")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING_CLIENT, Status.WAITING_THIRD_PARTY)
DONE_STATUSES = (Status.RESOLVED, Status.CLOSED)
# The SLA clock stops while the ball is in the client's court.
PAUSED_STATUSES = (Status.WAITING_CLIENT,)

# The queues and work types a fresh install creates (migration 0003) are shown in the
# viewer's language; a name an admin typed is shown as typed. Only for display: stored
# names and audit labels stay as they are, whoever's language was active.
SEEDED_NAMES: dict[str, Any] = {
    "Help desk": _("Help desk"),
    "Projects": _("Projects"),
    "Monitoring": _("Monitoring"),
    "Remote support": _("Remote support"),
    "On-site": _("On-site"),
    "Project work": _("Project work"),
}


def display_name(name: str | None) -> str:
    """A queue's or work type's stored name as the viewer should read it."""
    return "" if name is None else str(SEEDED_NAMES.get(name, name))


class Queue(models.Model):
    """Where a ticket waits to be picked up (help desk, projects, monitoring…)."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    """An area of the business a ticket is about (VPN, e-mail, security, hardware…)."""

    name = models.CharField(max_length=100, unique=True)
    name_es = models.CharField(max_length=100, blank=True, default="")
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def localized_name(self, language: str) -> str:
        return self.name_es if language == "es" and self.name_es else self.name


class WorkType(models.Model):
    """A kind of work logged in time entries; billing later attaches hourly rates to it."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    """First-response and resolution targets for one priority, in business minutes."""

    priority = models.CharField(max_length=10, choices=Priority.choices, unique=True)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"{self.priority}: {self.first_response_minutes}/{self.resolution_minutes} min"


class Counter(models.Model):
    """A named, gap-tolerant sequence (ticket numbers are per install, not row ids)."""

    name = models.CharField(max_length=40, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class TicketQuerySet(models.QuerySet["Ticket"]):
    def visible_to(self, user: Any) -> TicketQuerySet:
        """Fails closed: staff see every ticket, portal users their clients', anyone else none."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            return self.filter(client__in=Client.objects.visible_to(user))
        return self.none()

    def open(self) -> TicketQuerySet:
        return self.filter(status__in=OPEN_STATUSES)


class Ticket(models.Model):
    """A request from a client: who asked, about what, how urgent, who is on it, SLA clocks.

    ``number`` is the public identifier. SLA due times are stored (not derived at read
    time) so lists can sort and filter on them with an index; they are recomputed by
    the service layer whenever the clock pauses, resumes or the priority changes.
    """

    number = models.BigIntegerField(unique=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="tickets")
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    subject = models.CharField(max_length=250)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_tickets",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    # Business minutes spent waiting on the client so far; due times move out by this.
    sla_paused_minutes = models.PositiveIntegerField(default=0)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_tickets"
    )

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            # The list's default page: newest activity first, optionally by status.
            models.Index(fields=["-updated_at"], name="ticket_updated"),
            # Open tickets are a few percent of a million, but SQLite cannot walk an IN
            # over the four open statuses in updated order, so it collects and sorts
            # them; carrying the columns the list filters on (priority, assignee,
            # category, the SLA clocks) lets it do that from this index alone, without
            # reading each ticket's row (benchmarks/tickets.py: 57 ms → 7 ms for
            # "urgent", 69 ms → 13 ms for "SLA breached").
            models.Index(
                fields=[
                    "status",
                    "-updated_at",
                    "priority",
                    "assignee",
                    "category",
                    "created_at",
                    "first_response_due_at",
                    "first_responded_at",
                    "resolution_due_at",
                    "resolved_at",
                    "sla_paused_at",
                ],
                name="ticket_status_cover",
            ),
            models.Index(fields=["client", "-updated_at"], name="ticket_client_updated"),
            models.Index(fields=["category", "-updated_at"], name="ticket_category_updated"),
            # PostgreSQL walks this small index to list open tickets, newest activity
            # first, and to test them against a common search word one by one (SQLite
            # cannot use it: Django binds the statuses as parameters).
            models.Index(
                fields=["-updated_at", "-id"],
                name="ticket_open_updated",
                condition=models.Q(status__in=OPEN_STATUSES),
            ),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status"),
            # "Where are we flooded": tickets per category per day.
            models.Index(fields=["created_at", "category"], name="ticket_created_category"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def sla_state(self, now: datetime | None = None) -> str:
        """'breached', 'due_soon', 'paused', 'ok' or 'none', for badges and filters."""
        from atalaya.tickets import sla

        return sla.state_of(self, now or timezone.now())


class EventKind(models.TextChoices):
    CREATED = "created", _("Created")
    REPLY = "reply", _("Public reply")
    NOTE = "note", _("Internal note")
    STATUS = "status", _("Status change")
    ASSIGNMENT = "assignment", _("Assignment")
    PRIORITY = "priority", _("Priority change")
    FIELDS = "fields", _("Field change")
    TIME = "time", _("Time entry")
    ATTACHMENT = "attachment", _("Attachment")
    MERGE = "merge", _("Merge")
    LINK = "link", _("Link")
    # A received mail a technician moved to another ticket or split into a new one.
    MOVED = "moved", _("Message moved")


# What a client's portal user may see of the timeline; internal notes, time and
# assignments are for the MSP's eyes only.
PUBLIC_EVENT_KINDS = (EventKind.CREATED, EventKind.REPLY, EventKind.STATUS, EventKind.ATTACHMENT)


class TicketEventQuerySet(AppendOnlyQuerySet["TicketEvent"]):
    def visible_to(self, user: Any) -> TicketEventQuerySet:
        qs = self.filter(ticket__in=Ticket.objects.visible_to(user))
        if user is not None and getattr(user, "role", None) == Role.PORTAL:
            qs = qs.filter(kind__in=PUBLIC_EVENT_KINDS, is_public=True)
        return qs


class TicketEvent(AppendOnlyModel):
    """One entry of a ticket's timeline and audit history, never edited or deleted.

    ``data`` holds the typed payload: ``{"changes": {field: [before, after]}}`` for
    field changes, ``{"minutes": …}`` for time, ``{"merged_from": number}`` for merges.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = models.TextField(blank=True, default="")
    is_public = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)

    objects = TicketEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="event_ticket_created")]

    @property
    def changes(self) -> dict[str, list[Any]]:
        return dict(self.data.get("changes", {}))

    def actor_name(self) -> str:
        if self.actor_id:
            return self.actor.display_name() if self.actor else ""
        if self.actor_contact_id and self.actor_contact:
            return self.actor_contact.name
        return "Atalaya"


class TimeEntry(models.Model):
    """Minutes worked on a ticket, billable or not, by work type; billing reads these later."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="time_entries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="time_entries"
    )
    minutes = models.PositiveIntegerField()
    is_billable = models.BooleanField(default=True)
    work_type = models.ForeignKey(WorkType, null=True, blank=True, on_delete=models.PROTECT)
    note = models.CharField(max_length=500, blank=True, default="")
    worked_on = models.DateField(default=timezone.localdate)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-worked_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minutes__gt=0) & models.Q(minutes__lte=24 * 60),
                name="time_entry_minutes_in_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.minutes} min on ticket {self.ticket_id}"


def attachment_path(instance: Attachment, filename: str) -> str:
    # Content-addressed and client-scoped so two clients' files never share a path.
    return f"attachments/{instance.ticket.client.public_id}/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    """A file added to a ticket (from a reply, a note or the mail channel)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="attachments")
    event = models.ForeignKey(TicketEvent, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.filename


class TicketLink(models.Model):
    """Two related tickets (the same outage at two sites, a follow-up)."""

    from_ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="links_out")
    to_ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="links_in")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_ticket", "to_ticket"], name="ticket_link_once"),
            models.CheckConstraint(
                condition=~models.Q(from_ticket=models.F("to_ticket")), name="ticket_link_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_ticket_id} ↔ {self.to_ticket_id}"


class SearchDocument(models.Model):
    """The text a ticket is found by, kept by the service layer: one row per ticket.

    ``body`` is what the client may read (subjects and public messages), ``internal``
    the internal notes. Staff search both; a client's search only ``body``, so a hit
    never reveals what a note says. SQLite indexes both through an FTS5 table, and
    PostgreSQL through GIN indexes on English and Spanish tsvectors; see
    tickets/search.py.
    """

    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, primary_key=True, related_name="search_document"
    )
    body = models.TextField(default="")
    internal = models.TextField(default="", blank=True)

    def __str__(self) -> str:
        return f"search text of ticket {self.ticket_id}"


class SavedView(models.Model):
    """A user's named ticket-list filter and sort, stored as the list's query string."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_per_user")
        ]

    def __str__(self) -> str:
        return self.name
