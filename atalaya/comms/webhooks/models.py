"""Outbound webhooks: where the MSP's chat tools and social networks are told of events.

A ``Webhook`` is MSP-wide (not a client's): administrators manage them, other staff
read them. Its signing secret is derived from the install's SECRET_KEY, the webhook's
public id and ``secret_version`` (see signing.py), so no secret sits in the database
and "rotate" is a counter bump. ``WebhookDelivery`` is the webhook outbox: one row
per (webhook, event) with a unique idempotency key, written in the transaction of the
change; ``WebhookAttempt`` records each POST of it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.TextChoices):
    ANNOUNCEMENT_PUBLISHED = "announcement.published", _("A public announcement is published")
    TICKET_CREATED = "ticket.created", _("A ticket is created")
    ALERT_OPENED = "alert.opened", _("A monitoring alert opens")
    REMINDER_SENT = "reminder.sent", _("A payment reminder is sent")
    FIX_REMINDER_SENT = "fix_reminder.sent", _("A temporary-fix reminder is sent")


# Sent only by the "send a test event" button, to the one webhook it was pressed for.
TEST_EVENT = "webhook.test"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Webhook(models.Model):
    """One receiver URL and the events it subscribes to.

    ``is_active`` False stops new deliveries being written or sent; a receiver that
    answers 410 Gone is switched off that way, with ``disabled_reason`` saying why.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    secret_version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One event for one webhook: the exact body to POST, and where its delivery stands.

    The body is fixed when the event happens, so every attempt sends the same bytes
    (only the timestamp and signature headers are fresh). The worker claims a row by
    compare-and-set on status and ``claimed_at``; a claim older than the lease belongs
    to a worker that died and may be taken over.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.PROTECT, related_name="deliveries")
    event = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=255, unique=True)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            # The worker's due scan, and the delivery log of one webhook, newest first.
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: the answer's status, how long it took, its first 1 KB, or
    the error (timeout, refused connection, redirect not followed)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="tries")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.CharField(max_length=1024, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
