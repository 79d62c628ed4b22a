"""/api/v1 endpoints of the calls app: the call log (MSP staff only).

Logging a call goes through the same service as the form (calls.services.log_call):
a new ticket, or a note on an open ticket of the caller, with the call in one
transaction; the same ``idempotency_key`` twice is one call.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.calls import services
from atalaya.calls.access import get_call_or_404, visible_calls
from atalaya.calls.models import Call
from atalaya.core.models import Client, Contact, User
from atalaya.core.schemas import InputSchema
from atalaya.tickets.models import Category, Ticket

router = Router(tags=["calls"])

MAX_LIMIT = 200


class CallOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    client_name: str
    contact: uuid.UUID | None
    contact_name: str | None
    number: str = Field(description="E.164, e.g. +34612345678; empty when not known.")
    direction: str = Field(description="`in` or `out`.")
    note: str
    technician: str | None = Field(description="Username of who took or made the call.")
    started_at: datetime
    duration_seconds: int | None
    ticket: int | None = Field(description="Number of the ticket the call was filed on.")
    source: str = Field(description="`manual` (logged by hand) or `ring` (ring webhook).")


class CallPage(Schema):
    items: list[CallOut]
    next_offset: int | None = None


class CallIn(InputSchema):
    client: uuid.UUID = Field(description="Public id of the client the call was with.")
    contact: uuid.UUID | None = Field(None, description="Public id of the caller, if known.")
    number: str = Field("", max_length=40, description="The number, any usual form.")
    direction: Literal["in", "out"] = "in"
    note: str = Field(
        "", max_length=20_000, description="What was said; required for a new ticket."
    )
    ticket: int | None = Field(
        None,
        description="Number of an open ticket of the caller to add the call to; "
        "null opens a new ticket.",
    )
    category: str | None = Field(
        None, max_length=100, description="Slug of the new ticket's category (e.g. `vpn`)."
    )
    started_at: datetime | None = None
    duration_seconds: int | None = Field(None, ge=0, le=86_400)
    idempotency_key: str | None = Field(
        None,
        max_length=100,
        description="Any string unique to this call: sending it again returns the same call.",
    )


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found.")
    return user


def call_out(call: Call) -> dict[str, Any]:
    return {
        "public_id": call.public_id,
        "client": call.client.public_id,
        "client_name": call.client.name,
        "contact": call.contact.public_id if call.contact else None,
        "contact_name": call.contact.name if call.contact else None,
        "number": call.number,
        "direction": call.direction,
        "note": call.note,
        "technician": call.technician.username if call.technician else None,
        "started_at": call.started_at,
        "duration_seconds": call.duration_seconds,
        "ticket": call.ticket.number if call.ticket else None,
        "source": call.source,
    }


@router.get("", response=responses(CallPage), summary="List calls")
def list_calls(
    request: HttpRequest,
    client: uuid.UUID | None = Query(None, description="Public id of a client."),  # noqa: B008
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=100_000),
) -> dict[str, Any]:
    """The call log, newest first, optionally one client's."""
    qs = visible_calls(_staff(request))
    if client is not None:
        qs = qs.filter(client__public_id=client)
    rows = list(qs[offset : offset + limit + 1])
    more = len(rows) > limit
    return {
        "items": [call_out(c) for c in rows[:limit]],
        "next_offset": offset + limit if more else None,
    }


@router.get("/{call_id}", response=responses(CallOut), summary="Get a call")
def get_call(request: HttpRequest, call_id: str) -> dict[str, Any]:
    """One call by its public id."""
    return call_out(get_call_or_404(_staff(request), call_id))


@router.post("", response=responses(CallOut, 201), summary="Log a call")
def log_call(request: HttpRequest, payload: CallIn) -> Any:
    """Log a call and file it: as a new ticket, or as a note on an open ticket of the caller."""
    user = _staff(request)
    client = Client.objects.visible_to(user).filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", "No such client.")
    contact = None
    if payload.contact is not None:
        contact = (
            Contact.objects.visible_to(user)
            .filter(public_id=payload.contact, memberships__client=client)
            .first()
        )
        if contact is None:
            raise FieldNotFound("contact", "No such contact at this client.")
    ticket = None
    if payload.ticket is not None:
        ticket = (
            Ticket.objects.visible_to(user).filter(number=payload.ticket, client=client).first()
        )
        if ticket is None:
            raise FieldNotFound("ticket", "No such ticket of this client.")
    category = None
    if payload.category:
        category = Category.objects.filter(slug=payload.category).first()
        if category is None:
            raise FieldNotFound("category", "No such category.")
    key = f"api:{user.pk}:{payload.idempotency_key}" if payload.idempotency_key else None
    call = services.log_call(
        actor=user,
        client=client,
        contact=contact,
        number=payload.number,
        direction=payload.direction,
        note=payload.note,
        ticket=ticket,
        category=category,
        started_at=payload.started_at,
        duration_seconds=payload.duration_seconds,
        idempotency_key=key,
    )
    return created(call_out(get_call_or_404(user, call.public_id)))
