"""Writes of outbound webhooks: create, change, rotate the secret, test, retry.

Webhooks are MSP-wide settings: only administrators change them (PermissionDenied
otherwise); ``actor`` None is the system (CLI, demo, tests). Every change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.comms.webhooks import outbox
from atalaya.comms.webhooks.models import (
    TEST_EVENT,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from atalaya.core.models import User
from atalaya.core.services import record_audit

MAX_URL_LENGTH = 2000


def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only administrators may change webhooks."))


def url_errors(url: str) -> list[str]:
    """What is wrong with a receiver URL (empty when it may be used).

    http or https only, a host, no user or password in it (they would be sent to
    whoever the URL points at and shown on the page), at most 2000 characters.
    Private addresses are allowed on purpose: MSPs post to chat tools on their LAN.
    """
    if not url:
        return [_("Enter the receiver's URL.")]
    if len(url) > MAX_URL_LENGTH:
        return [_("The URL is longer than %(n)d characters.") % {"n": MAX_URL_LENGTH}]
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return [_("The URL may not contain spaces or control characters.")]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [_("This is not a valid URL.")]
    del port
    if parts.scheme.lower() not in ("http", "https"):
        return [_("Only http:// and https:// URLs can receive webhooks.")]
    if parts.username is not None or parts.password is not None:
        return [_("Put no user name or password in the URL; the signature authenticates.")]
    if not parts.hostname:
        return [_("The URL needs a host name.")]
    return []


def _clean(name: str, url: str, events: Sequence[str]) -> tuple[str, str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    url = (url or "").strip()
    if not name:
        errors["name"] = [_("Give the webhook a name.")]
    elif len(name) > 100:
        errors["name"] = [_("At most 100 characters.")]
    if problems := url_errors(url):
        errors["url"] = problems
    chosen = [e for e in WebhookEvent.values if e in set(events)]
    unknown = sorted(set(events) - set(WebhookEvent.values))
    if unknown:
        errors["events"] = [_("Unknown event: %(events)s.") % {"events": ", ".join(unknown)}]
    elif not chosen:
        errors["events"] = [_("Choose at least one event.")]
    if errors:
        raise ValidationError(errors)
    return name, url, chosen


def _fields(webhook: Webhook) -> dict[str, Any]:
    return {
        "name": webhook.name,
        "url": webhook.url,
        "events": list(webhook.events),
        "is_active": webhook.is_active,
    }


@transaction.atomic
def create_webhook(
    *,
    actor: User | None,
    name: str,
    url: str,
    events: Sequence[str],
    is_active: bool = True,
) -> Webhook:
    """Add a receiver of the chosen events; its secret is derived (see signing.py)."""
    _require_admin(actor)
    name, url, chosen = _clean(name, url, events)
    webhook = Webhook.objects.create(
        name=name,
        url=url,
        events=chosen,
        is_active=is_active,
        created_by=actor if actor is not None and actor.pk else None,
    )
    record_audit(actor, webhook, "webhook.created", after=_fields(webhook))
    return webhook


@transaction.atomic
def update_webhook(
    *,
    actor: User | None,
    webhook: Webhook,
    name: str,
    url: str,
    events: Sequence[str],
    is_active: bool,
) -> Webhook:
    """Change a webhook's name, URL, events or state.

    Switching it off cancels its queued deliveries; switching it on clears the reason
    it was off (a 410 from the receiver, say).
    """
    _require_admin(actor)
    name, url, chosen = _clean(name, url, events)
    current = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = _fields(current)
    if current.is_active and not is_active:
        outbox.disable_webhook(
            current,
            reason=_("Switched off by %(name)s")
            % {"name": actor.display_name() if actor is not None else "system"},
            actor=actor,
        )
    current.name, current.url, current.events = name, url, chosen
    if is_active:
        current.is_active, current.disabled_reason = True, ""
    current.save(update_fields=["name", "url", "events", "is_active", "disabled_reason"])
    after = _fields(current)
    changed = [k for k in after if before[k] != after[k]]
    if changed:
        record_audit(
            actor,
            current,
            "webhook.updated",
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    webhook.refresh_from_db()
    return current


@transaction.atomic
def rotate_secret(*, actor: User | None, webhook: Webhook) -> Webhook:
    """Give the webhook a new secret (the old one stops signing at once)."""
    _require_admin(actor)
    current = Webhook.objects.select_for_update().get(pk=webhook.pk)
    current.secret_version += 1
    current.save(update_fields=["secret_version"])
    record_audit(
        actor,
        current,
        "webhook.secret_rotated",
        after={"secret_version": current.secret_version},
    )
    webhook.secret_version = current.secret_version
    return current


@transaction.atomic
def send_test_event(
    *, actor: User | None, webhook: Webhook, now: datetime | None = None
) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this webhook only, delivered like any other.

    Allowed on a webhook that is switched off too: it is how one checks a receiver
    before switching it on (the worker skips inactive webhooks, so such a test waits).
    """
    _require_admin(actor)
    now = now or timezone.now()
    key = f"test:{uuid.uuid4()}"
    data = {
        "message": _("A test event from Atalaya: the webhook is set up."),
        "webhook": webhook.name,
    }
    outbox.emit_event(TEST_EVENT, data, key=key, now=now, webhooks=[webhook])
    delivery = WebhookDelivery.objects.get(idempotency_key=f"{webhook.pk}:{key}")
    record_audit(actor, webhook, "webhook.test", after={"delivery": str(delivery.public_id)})
    return delivery


@transaction.atomic
def retry_delivery(
    *, actor: User | None, delivery: WebhookDelivery, now: datetime | None = None
) -> WebhookDelivery:
    """Try a delivery again now: a failed one with a fresh set of retries, a waiting one
    without waiting out its backoff. One being sent or delivered is left alone."""
    _require_admin(actor)
    now = now or timezone.now()
    before = delivery.status
    if delivery.status in (DeliveryStatus.SENDING, DeliveryStatus.DELIVERED) or not (
        outbox.queue_again(delivery, now)
    ):
        raise ValidationError(
            {"status": [_("Only a queued, failed or cancelled delivery can be retried.")]}
        )
    delivery.refresh_from_db()
    record_audit(
        actor,
        delivery.webhook,
        "webhook.retry",
        before={"delivery": str(delivery.public_id), "status": before},
        after={"status": delivery.status},
    )
    return delivery
