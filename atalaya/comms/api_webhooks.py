"""/api/v1/webhooks: outbound webhooks and their delivery log.

Staff read them (anyone else gets 404); changes are for administrators (403). Every
request a webhook receives is a POST of JSON ``{"id", "event", "occurred_at",
"data"}`` with the headers X-Atalaya-Event, X-Atalaya-Delivery (the delivery id, the
same on every retry), X-Atalaya-Timestamp (Unix seconds) and X-Atalaya-Signature:
``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the webhook's secret>``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from atalaya.apiutil import created, responses
from atalaya.comms.access import get_delivery_or_404, get_webhook_or_404
from atalaya.comms.webhooks import services, signing
from atalaya.comms.webhooks.models import Webhook, WebhookDelivery
from atalaya.core.models import User

router = Router(tags=["webhooks"])


class WebhookIn(Schema):
    name: str = Field(max_length=100)
    url: str = Field(max_length=2000)
    events: list[str] = Field(max_length=10)
    is_active: bool = True


class WebhookPatch(Schema):
    name: str | None = Field(None, max_length=100)
    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = Field(None, max_length=10)
    is_active: bool | None = None


class WebhookOut(Schema):
    public_id: uuid.UUID
    name: str
    url: str
    events: list[str]
    is_active: bool
    disabled_reason: str
    created_at: datetime
    secret: str | None = None


class AttemptOut(Schema):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str
    error: str


class DeliveryOut(Schema):
    public_id: uuid.UUID
    webhook: uuid.UUID
    event: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str


class DeliveryDetailOut(DeliveryOut):
    body: str
    tries: list[AttemptOut]


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_offset: int | None


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found")
    return user


def _admin(request: HttpRequest) -> User:
    user = _staff(request)
    if not user.is_admin:
        raise PermissionDenied(_("Only administrators may change webhooks."))
    return user


def _out(webhook: Webhook, user: User) -> dict[str, Any]:
    return {
        "public_id": webhook.public_id,
        "name": webhook.name,
        "url": webhook.url,
        "events": list(webhook.events),
        "is_active": webhook.is_active,
        "disabled_reason": webhook.disabled_reason,
        "created_at": webhook.created_at,
        # The secret is derived on demand, for administrators only.
        "secret": signing.secret_for(webhook.public_id, webhook.secret_version)
        if user.is_admin
        else None,
    }


def _delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "public_id": d.public_id,
        "webhook": d.webhook.public_id,
        "event": d.event,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": d.created_at,
        "next_attempt_at": d.next_attempt_at,
        "delivered_at": d.delivered_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
    }


@router.get("", response=responses(list[WebhookOut]), summary="List webhooks")
def list_webhooks(request: HttpRequest) -> list[dict[str, Any]]:
    """Every webhook (staff); the signing secret is included for administrators only."""
    user = _staff(request)
    return [_out(w, user) for w in Webhook.objects.order_by("name", "id")]


@router.post("", response=responses(WebhookOut, 201), summary="Add a webhook")
def create_webhook(request: HttpRequest, payload: WebhookIn) -> Any:
    """Add a receiver (administrators). ``url``: http or https, no credentials, at most
    2000 characters; ``events``: any of announcement.published, ticket.created,
    alert.opened, reminder.sent, fix_reminder.sent. The answer carries the secret."""
    user = _admin(request)
    webhook = services.create_webhook(actor=user, **payload.dict())
    return created(_out(webhook, user))


@router.get("/{webhook_id}", response=responses(WebhookOut), summary="One webhook")
def get_webhook(request: HttpRequest, webhook_id: uuid.UUID) -> dict[str, Any]:
    """One webhook (staff); the secret for administrators."""
    user = _staff(request)
    return _out(get_webhook_or_404(user, webhook_id), user)


@router.patch("/{webhook_id}", response=responses(WebhookOut), summary="Change a webhook")
def update_webhook(request: HttpRequest, webhook_id: uuid.UUID, payload: WebhookPatch) -> Any:
    """Change name, URL, events or state (administrators); fields left out stay as they
    are. Switching it off cancels its queued deliveries."""
    webhook = get_webhook_or_404(_staff(request), webhook_id)
    user = _admin(request)
    given = payload.dict(exclude_unset=True)
    fields = {
        "name": webhook.name,
        "url": webhook.url,
        "events": list(webhook.events),
        "is_active": webhook.is_active,
        **{k: v for k, v in given.items() if v is not None},
    }
    webhook = services.update_webhook(actor=user, webhook=webhook, **fields)
    return _out(webhook, user)


@router.post("/{webhook_id}/rotate", response=responses(WebhookOut), summary="Rotate the secret")
def rotate_secret(request: HttpRequest, webhook_id: uuid.UUID) -> Any:
    """A new signing secret (administrators); the old one stops signing at once."""
    webhook = get_webhook_or_404(_staff(request), webhook_id)
    user = _admin(request)
    return _out(services.rotate_secret(actor=user, webhook=webhook), user)


@router.post("/{webhook_id}/test", response=responses(DeliveryOut, 201), summary="Test event")
def send_test_event(request: HttpRequest, webhook_id: uuid.UUID) -> Any:
    """Queue a ``webhook.test`` event for this webhook only (administrators)."""
    webhook = get_webhook_or_404(_staff(request), webhook_id)
    delivery = services.send_test_event(actor=_admin(request), webhook=webhook)
    return created(_delivery(delivery))


@router.get("/{webhook_id}/deliveries", response=responses(DeliveryPage), summary="Delivery log")
def list_deliveries(
    request: HttpRequest,
    webhook_id: uuid.UUID,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """A webhook's deliveries, newest first (staff)."""
    webhook = get_webhook_or_404(_staff(request), webhook_id)
    rows = list(
        WebhookDelivery.objects.filter(webhook=webhook)
        .select_related("webhook")
        .defer("body")
        .order_by("-created_at", "-id")[offset : offset + limit + 1]
    )
    return {
        "items": [_delivery(d) for d in rows[:limit]],
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@router.get(
    "/deliveries/{delivery_id}", response=responses(DeliveryDetailOut), summary="One delivery"
)
def get_delivery(request: HttpRequest, delivery_id: uuid.UUID) -> dict[str, Any]:
    """One delivery with the body sent and every attempt (staff)."""
    delivery = get_delivery_or_404(_staff(request), delivery_id)
    return {
        **_delivery(delivery),
        "body": delivery.body,
        "tries": [
            {
                "number": t.number,
                "started_at": t.started_at,
                "duration_ms": t.duration_ms,
                "status_code": t.status_code,
                "response_body": t.response_body,
                "error": t.error,
            }
            for t in delivery.tries.order_by("number")
        ],
    }


@router.post(
    "/deliveries/{delivery_id}/retry", response=responses(DeliveryOut), summary="Retry now"
)
def retry_delivery(request: HttpRequest, delivery_id: uuid.UUID) -> dict[str, Any]:
    """Try a queued, failed or cancelled delivery again now (administrators); 422 for one
    being sent or delivered."""
    delivery = get_delivery_or_404(_staff(request), delivery_id)
    return _delivery(services.retry_delivery(actor=_admin(request), delivery=delivery))
