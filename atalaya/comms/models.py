"""Client communications: announcements to many clients at once, in each contact's language.

An announcement is written once in Spanish and in English. When it goes out, its
audience (all clients, chosen clients, or contacts with a role) is resolved into one
outbox mail per contact and one ``AnnouncementClient`` row per client reached: that
row is what the portal's banner and the client's communication log read.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, Client, Role


class Audience(models.TextChoices):
    ALL_CLIENTS = "all", _("All clients")
    CHOSEN_CLIENTS = "clients", _("Chosen clients")
    ROLE = "role", _("Contacts with a role")


class ContactRole(models.TextChoices):
    """The role flags of a contact at a client (core.ContactMembership.is_*)."""

    DECISION_MAKER = "decision_maker", _("Decision makers")
    TECHNICAL = "technical", _("Technical contacts")
    BILLING = "billing", _("Billing contacts")
    USER = "user", _("Users")


class AnnouncementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class AnnouncementQuerySet(models.QuerySet["Announcement"]):
    def visible_to(self, user: Any) -> AnnouncementQuerySet:
        """Staff see every announcement; a portal user those that reached their clients."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            reached = AnnouncementClient.objects.filter(
                client__in=Client.objects.visible_to(user)
            ).values("announcement_id")
            return self.filter(pk__in=reached)
        return self.none()

    def public(self, now: Any) -> AnnouncementQuerySet:
        """Marked public, sent and not expired: the news page and the feed, for anyone."""
        return self.on_banner(now).filter(is_public=True)

    def on_banner(self, now: Any) -> AnnouncementQuerySet:
        """Sent and not yet expired: what the portal shows at the top of every page."""
        return self.filter(status=AnnouncementStatus.SENT, sent_at__lte=now).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class Announcement(models.Model):
    """A message from the MSP to many clients ("we are open and working").

    The audience is resolved when it is sent, not when it is written, so contacts added
    in between are reached. ``role`` applies when the audience is ROLE (and narrows
    CHOSEN_CLIENTS when set).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject_en = models.CharField(max_length=200)
    subject_es = models.CharField(max_length=200)
    body_en = models.TextField()
    body_es = models.TextField()
    audience = models.CharField(
        max_length=10, choices=Audience.choices, default=Audience.ALL_CLIENTS
    )
    role = models.CharField(max_length=20, choices=ContactRole.choices, blank=True, default="")
    clients = models.ManyToManyField(Client, blank=True, related_name="+")
    status = models.CharField(
        max_length=10, choices=AnnouncementStatus.choices, default=AnnouncementStatus.DRAFT
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Shown on the MSP's public news page and feed (no login) once sent, until it expires.
    is_public = models.BooleanField(default=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)

    objects = AnnouncementQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.subject_en

    def subject_in(self, language: str) -> str:
        return self.subject_es if language == "es" else self.subject_en

    def body_in(self, language: str) -> str:
        return self.body_es if language == "es" else self.body_en


class AnnouncementClient(models.Model):
    """One client an announcement reached, with how many of its contacts got the mail."""

    announcement = models.ForeignKey(
        Announcement, on_delete=models.PROTECT, related_name="reached_clients"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="announcements")
    recipients = models.PositiveIntegerField(default=0)
    reached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["announcement", "client"], name="announcement_client_once"
            )
        ]
        indexes = [models.Index(fields=["client", "-reached_at"], name="announcement_client_log")]

    def __str__(self) -> str:
        return f"{self.announcement_id} → {self.client_id}"


# The webhook models live in their own module; imported here so Django registers them.
from atalaya.comms.webhooks.models import (  # noqa: E402
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)

__all__ = [
    "Announcement",
    "AnnouncementClient",
    "AnnouncementQuerySet",
    "AnnouncementStatus",
    "Audience",
    "ContactRole",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
