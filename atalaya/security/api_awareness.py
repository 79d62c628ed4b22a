"""/api/v1 routes of security: awareness campaigns (MSP staff only; anyone else 404)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core.models import Client, User
from atalaya.core.schemas import InputSchema
from atalaya.security import awareness
from atalaya.security.models import AwarenessCampaign

router = Router(tags=["security"])


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found.")
    return user


class CampaignOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    name: str
    starts_on: date
    every_days: int
    next_send_at: datetime | None
    is_active: bool
    sent_count: int
    deliveries: int
    acknowledged: int


class CampaignIn(InputSchema):
    client: uuid.UUID = Field(description="Public id of the client.")
    name: str = Field(max_length=200)
    starts_on: date = Field(description="First tip goes out on this day.")
    every_days: int = Field(7, ge=1, le=365)
    tips: list[str] = Field([], max_length=100, description="Tip keys; default all builtin.")


def _out(campaign: AwarenessCampaign, counts: dict[int, dict[str, int]]) -> dict[str, Any]:
    stats = counts.get(campaign.pk, {"deliveries": 0, "acknowledged": 0})
    return {
        "public_id": campaign.public_id,
        "client": campaign.client.public_id,
        "name": campaign.name,
        "starts_on": campaign.starts_on,
        "every_days": campaign.every_days,
        "next_send_at": campaign.next_send_at,
        "is_active": campaign.is_active,
        "sent_count": campaign.sent_count,
        **stats,
    }


@router.get("/awareness/campaigns", response=responses(list[CampaignOut]), summary="List campaigns")
def list_campaigns(request: HttpRequest) -> list[dict[str, Any]]:
    """Awareness campaigns of every client, newest first (at most 200), with delivery and
    acknowledgement counts."""
    rows = list(
        AwarenessCampaign.objects.visible_to(_staff(request)).select_related("client")[:200]
    )
    counts = awareness.delivery_counts([c.pk for c in rows])
    return [_out(c, counts) for c in rows]


@router.post(
    "/awareness/campaigns", response=responses(CampaignOut, 201), summary="Create a campaign"
)
def create_campaign(request: HttpRequest, payload: CampaignIn) -> Any:
    """A campaign sending the given tips (default: the builtin library) to the client's user
    contacts, one every ``every_days``."""
    user = _staff(request)
    client = Client.objects.filter(public_id=payload.client).first()
    if client is None:
        raise FieldNotFound("client", "No such client.")
    campaign = awareness.create_campaign(
        actor=user,
        client=client,
        name=payload.name,
        starts_on=payload.starts_on,
        every_days=payload.every_days,
        tip_keys=payload.tips or None,
    )
    return created(_out(campaign, {}))
