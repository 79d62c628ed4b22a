"""API shapes for tickets, their timeline events and time entries.

Tickets are named by their per-install number; clients, sites and contacts by public
UUID; queues, categories and work types by slug; people by user name. The literal
choices below mirror the model's TextChoices (a test keeps them in step) so the
OpenAPI document lists every allowed value.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema

from atalaya.core.schemas import InputSchema

PriorityValue = Literal["low", "normal", "high", "urgent"]
StatusValue = Literal["new", "open", "waiting_client", "waiting_third_party", "resolved", "closed"]
EventType = Literal["reply", "note"]
SortValue = Literal["-updated_at", "updated_at", "-created_at", "created_at", "-number", "number"]

SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
USERNAME_PATTERN = r"^[\w.@+-]+$"
# Generous outer bounds so a huge string is refused before any work; the services
# apply the exact limits (after trimming) and say so with the field's name.
SUBJECT_MAX = 1_000
BODY_MAX = 110_000


class TicketOut(Schema):
    number: int
    subject: str
    status: StatusValue
    priority: PriorityValue
    client: uuid.UUID
    client_name: str
    site: uuid.UUID | None
    contact: uuid.UUID | None
    contact_name: str | None
    queue: str | None = Field(description="Queue slug.")
    category: str | None = Field(description="Category slug.")
    assignee: str | None = Field(description="User name of the technician on it.")
    created_at: datetime
    updated_at: datetime
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sla_state: Literal["breached", "due_soon", "paused", "ok", "none"]
    merged_into: int | None = Field(description="Number of the ticket this one was merged into.")


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page (same filters and sort); null at the end."
    )


class TicketIn(InputSchema):
    client: uuid.UUID = Field(description="Public id of the client.")
    subject: str = Field(max_length=SUBJECT_MAX, description="At most 250 characters.")
    body: str = Field(
        "", max_length=BODY_MAX, description="The first message; at most 100,000 characters."
    )
    site: uuid.UUID | None = Field(None, description="Public id of a site of the client.")
    contact: uuid.UUID | None = Field(None, description="Public id of a contact of the client.")
    queue: str | None = Field(None, max_length=100, pattern=SLUG_PATTERN, description="Queue slug.")
    category: str | None = Field(
        None, max_length=100, pattern=SLUG_PATTERN, description="Category slug."
    )
    priority: PriorityValue = "normal"
    assignee: str | None = Field(
        None,
        max_length=150,
        pattern=USERNAME_PATTERN,
        description="User name of a technician or admin.",
    )


class TicketPatch(InputSchema):
    """Only the fields sent change, each through its own service and timeline event.

    Send ``null`` for assignee, queue, category, site or contact to clear it.
    """

    status: StatusValue | None = None
    priority: PriorityValue | None = None
    assignee: str | None = Field(None, max_length=150, pattern=USERNAME_PATTERN)
    queue: str | None = Field(None, max_length=100, pattern=SLUG_PATTERN)
    category: str | None = Field(None, max_length=100, pattern=SLUG_PATTERN)
    subject: str | None = Field(None, max_length=SUBJECT_MAX)
    site: uuid.UUID | None = None
    contact: uuid.UUID | None = None


class AttachmentOut(Schema):
    filename: str
    content_type: str
    size: int


class EventOut(Schema):
    id: int
    ticket: int = Field(
        description="Number of the ticket the event was written on (merged tickets fold in)."
    )
    kind: str
    created_at: datetime
    actor: str = Field(description="Who wrote it: a staff member's or contact's name, or Atalaya.")
    actor_username: str | None
    actor_contact: uuid.UUID | None
    body: str
    is_public: bool
    data: dict[str, Any]
    attachments: list[AttachmentOut]


class EventPage(Schema):
    items: list[EventOut]
    next_offset: int | None


class EventIn(InputSchema):
    type: EventType = Field(
        description="reply: public, the client sees it; note: internal, staff only."
    )
    body: str = Field(max_length=BODY_MAX)


class TimeEntryOut(Schema):
    id: int
    ticket: int
    user: str
    minutes: int
    is_billable: bool
    work_type: str | None
    note: str
    worked_on: date
    created_at: datetime


class TimeEntryIn(InputSchema):
    minutes: int = Field(ge=1, le=24 * 60, description="Whole minutes, 1 to 1440.")
    is_billable: bool = True
    work_type: str | None = Field(
        None, max_length=100, pattern=SLUG_PATTERN, description="Work type slug."
    )
    note: str = Field("", max_length=2_000)
    worked_on: date | None = Field(None, description="Defaults to today.")


class TimeEntryPage(Schema):
    items: list[TimeEntryOut]
    next_offset: int | None
