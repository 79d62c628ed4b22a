"""Isolation samples of the webhook routes (merged into core/tests/test_isolation.py).

Webhooks are MSP-wide, not a client's: a portal user of any client must get 404 on
them. The sample webhook and its delivery carry client A's words (a ticket of A was
emitted to it), so a page that leaked them to client B would be caught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _a_webhook(a: Any) -> Any:
    from atalaya.comms.webhooks import outbox, services
    from atalaya.comms.webhooks.models import WebhookDelivery

    if "webhook" not in a.extra:
        webhook = services.create_webhook(
            actor=None,
            name="alfa-secret chat",
            url="http://127.0.0.1:9/alfa-secret",
            events=["ticket.created"],
        )
        outbox.emit_event(
            "ticket.created", a.world.ticket_a, key="isolation:ticket_a", webhooks=[webhook]
        )
        a.extra["webhook"] = webhook
        a.extra["webhook_delivery"] = WebhookDelivery.objects.get(webhook=webhook)
    return a.extra["webhook"]


def _a_delivery(a: Any) -> Any:
    _a_webhook(a)
    return a.extra["webhook_delivery"]


SAMPLES: dict[str, Callable[[Any], Any]] = {
    "webhook_id": lambda a: _a_webhook(a).public_id,
    "delivery_id": lambda a: _a_delivery(a).public_id,
}
