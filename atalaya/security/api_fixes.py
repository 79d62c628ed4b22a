"""/api/v1 routes of security: the register of temporary fixes (MSP staff only)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import Client, User
from atalaya.core.schemas import InputSchema
from atalaya.security.fixes import services
from atalaya.security.models import FixKind, FixStatus, TemporaryFix
from atalaya.security.views.fixes import get_fix_or_404, visible_fixes

router = Router(tags=["security"])

MAX_LIMIT = 200


class FixOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    client_name: str
    kind: str
    title: str
    reason: str
    owner: str
    revert_by: date
    status: str
    is_overdue: bool
    created_at: datetime
    closed_at: datetime | None
    undo_note: str
    evidence_host: str
    evidence_port: int | None
    tickets: list[int]


class FixPage(Schema):
    items: list[FixOut]
    count: int


class FixIn(InputSchema):
    client: uuid.UUID = Field(description="Public id of the client.")
    title: str = Field(max_length=300, description="What was changed.")
    reason: str = Field(max_length=5000, description="Why it was needed.")
    owner: str = Field(max_length=150, description="Username of the person who answers for it.")
    revert_by: date = Field(description="The date by which it must be undone.")
    kind: str = Field(FixKind.OTHER, description="One of: " + ", ".join(FixKind.values))
    evidence_host: str = Field("", max_length=255)
    evidence_port: int | None = Field(None, ge=1, le=65535)
    tickets: list[int] = Field([], max_length=50, description="Numbers of the client's tickets.")


class RenewIn(InputSchema):
    revert_by: date
    reason: str = Field(max_length=5000)


class CloseIn(InputSchema):
    undo_note: str = Field(max_length=5000, description="How the change was undone.")


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found.")
    return user


def fix_out(fix: TemporaryFix) -> dict[str, Any]:
    return {
        "public_id": fix.public_id,
        "client": fix.client.public_id,
        "client_name": fix.client.name,
        "kind": fix.kind,
        "title": fix.title,
        "reason": fix.reason,
        "owner": fix.owner.username,
        "revert_by": fix.revert_by,
        "status": fix.status,
        "is_overdue": fix.status == FixStatus.OPEN and fix.revert_by < timezone.localdate(),
        "created_at": fix.created_at,
        "closed_at": fix.closed_at,
        "undo_note": fix.undo_note,
        "evidence_host": fix.evidence_host,
        "evidence_port": fix.evidence_port,
        "tickets": sorted(t.number for t in fix.tickets.all()),
    }


@router.get("/fixes", response=responses(FixPage), summary="List temporary fixes")
def list_fixes(
    request: HttpRequest,
    client: uuid.UUID | None = Query(None, description="Public id of a client."),  # noqa: B008
    status: Literal["open", "closed", "all"] = Query("open"),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=100_000),
) -> dict[str, Any]:
    """Temporary fixes by revert-by date (the soonest first), open ones unless asked."""
    qs = visible_fixes(_staff(request)).prefetch_related("tickets")
    if client is not None:
        qs = qs.filter(client__public_id=client)
    if status != "all":
        qs = qs.filter(status=status)
    rows = list(qs.order_by("revert_by", "pk")[offset : offset + limit])
    return {"items": [fix_out(f) for f in rows], "count": qs.count()}


@router.post("/fixes", response=responses(FixOut, 201), summary="Record a temporary fix")
def create_fix(request: HttpRequest, payload: FixIn) -> Any:
    """Record a quick-and-dirty change with what, why, who and its mandatory revert-by date."""
    user = _staff(request)
    client = Client.objects.visible_to(user).filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", "No such client.")
    owner = User.objects.filter(username=payload.owner).first()
    if owner is None:
        raise FieldNotFound("owner", "No such user.")
    fix = services.create_fix(
        actor=user,
        client=client,
        kind=payload.kind,
        title=payload.title,
        reason=payload.reason,
        owner=owner,
        revert_by=payload.revert_by,
        evidence_host=payload.evidence_host,
        evidence_port=payload.evidence_port,
        tickets=services.tickets_by_number(client, payload.tickets),
    )
    return created(fix_out(get_fix_or_404(user, fix.public_id)))


@router.get("/fixes/{fix_id}", response=responses(FixOut), summary="Get a temporary fix")
def get_fix(request: HttpRequest, fix_id: uuid.UUID) -> dict[str, Any]:
    """One entry of the register."""
    return fix_out(get_fix_or_404(_staff(request), fix_id))


@router.post("/fixes/{fix_id}/renew", response=responses(FixOut), summary="Renew a fix")
def renew_fix(request: HttpRequest, fix_id: uuid.UUID, payload: RenewIn) -> dict[str, Any]:
    """A later revert-by date, which needs the reason it is still needed."""
    user = _staff(request)
    fix = get_fix_or_404(user, fix_id)
    services.renew_fix(actor=user, fix=fix, revert_by=payload.revert_by, reason=payload.reason)
    return fix_out(get_fix_or_404(user, fix_id))


@router.post("/fixes/{fix_id}/close", response=responses(FixOut), summary="Close a fix")
def close_fix(request: HttpRequest, fix_id: uuid.UUID, payload: CloseIn) -> dict[str, Any]:
    """Mark the change undone, saying how."""
    user = _staff(request)
    fix = get_fix_or_404(user, fix_id)
    services.close_fix(actor=user, fix=fix, undo_note=payload.undo_note)
    return fix_out(get_fix_or_404(user, fix_id))
