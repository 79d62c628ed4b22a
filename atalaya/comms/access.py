"""Scoped lookups for announcements and webhooks; 404 for what the user may not see."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404

from atalaya.comms.models import Announcement, Webhook, WebhookDelivery


def get_announcement_or_404(user: Any, public_id: object) -> Announcement:
    try:
        key = uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    announcement = Announcement.objects.visible_to(user).filter(public_id=key).first()
    if announcement is None:
        raise Http404("No such announcement")
    return announcement


def _staff(user: Any) -> bool:
    # Webhooks are the MSP's own settings: staff only, whatever a portal user asks for.
    return bool(user is not None and getattr(user, "is_authenticated", False)) and bool(
        getattr(user, "is_msp_staff", False)
    )


def get_webhook_or_404(user: Any, public_id: object) -> Webhook:
    """A webhook for a member of staff; 404 for anyone else or an unknown id."""
    try:
        key = uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    webhook = Webhook.objects.filter(public_id=key).first() if _staff(user) else None
    if webhook is None:
        raise Http404("No such webhook")
    return webhook


def get_delivery_or_404(user: Any, public_id: object) -> WebhookDelivery:
    """A webhook delivery for a member of staff; 404 for anyone else or an unknown id."""
    try:
        key = uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    delivery = (
        WebhookDelivery.objects.select_related("webhook").filter(public_id=key).first()
        if _staff(user)
        else None
    )
    if delivery is None:
        raise Http404("No such delivery")
    return delivery
