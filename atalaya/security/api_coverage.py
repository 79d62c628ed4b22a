"""/api/v1 routes of security: coverage (MSP staff only; anyone else 404)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import Contact, User
from atalaya.core.schemas import InputSchema
from atalaya.monitoring.models import Device
from atalaya.security import coverage
from atalaya.security.models import Protection
from atalaya.security.views.coverage import client_or_404

router = Router(tags=["security"])


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found.")
    return user


class ItemOut(Schema):
    subject_type: str
    subject_id: str
    subject_name: str
    kind: str
    is_covered: bool
    source: str
    detail: str
    todo: str


class CoverageOut(Schema):
    client: uuid.UUID
    client_name: str
    score: float
    covered: int
    required: int
    items: list[ItemOut]
    gaps: list[ItemOut]


class AttestationIn(InputSchema):
    kind: str = Field(description="One of: " + ", ".join(Protection.values))
    valid_until: date = Field(description="Until when the statement holds.")
    contact: uuid.UUID | None = Field(None, description="Public id of the contact (or device).")
    device: uuid.UUID | None = Field(None, description="Public id of the device (or contact).")
    is_protected: bool = True
    product: str = Field("", max_length=200)
    note: str = Field("", max_length=500)


class AttestationOut(Schema):
    public_id: uuid.UUID
    kind: str
    is_protected: bool
    valid_until: date


def _coverage_out(result: coverage.Coverage) -> dict[str, Any]:
    return {
        "client": result.client.public_id,
        "client_name": result.client.name,
        "score": round(result.score, 4),
        "covered": result.covered,
        "required": result.required,
        "items": [i.as_dict() for i in result.items],
        "gaps": [i.as_dict() for i in result.gaps],
    }


@router.get("/coverage/{client_id}", response=responses(CoverageOut), summary="A client's coverage")
def get_coverage(request: HttpRequest, client_id: uuid.UUID) -> dict[str, Any]:
    """The client's protection score (covered / required), every required item and the gaps
    with what to do."""
    client = client_or_404(_staff(request), client_id)
    return _coverage_out(coverage.coverage_of(client))


@router.post(
    "/coverage/{client_id}/attestations",
    response=responses(AttestationOut, 201),
    summary="Record an attestation",
)
def create_attestation(request: HttpRequest, client_id: uuid.UUID, payload: AttestationIn) -> Any:
    """A technician's dated statement about one contact's or one device's protection; a newer
    one of the same subject and kind supersedes it."""
    user = _staff(request)
    client = client_or_404(user, client_id)
    device = contact = None
    if payload.device is not None:
        device = Device.objects.filter(public_id=payload.device, client=client).first()
        if device is None:
            raise FieldNotFound("device", "No such device.")
    if payload.contact is not None:
        contact = Contact.objects.filter(
            public_id=payload.contact, memberships__client=client
        ).first()
        if contact is None:
            raise FieldNotFound("contact", "No such contact.")
    row = coverage.attest(
        actor=user,
        client=client,
        kind=payload.kind,
        valid_until=payload.valid_until,
        device=device,
        contact=contact,
        is_protected=payload.is_protected,
        product=payload.product,
        note=payload.note,
    )
    return created(
        {
            "public_id": row.public_id,
            "kind": row.kind,
            "is_protected": row.is_protected,
            "valid_until": row.valid_until,
        }
    )
