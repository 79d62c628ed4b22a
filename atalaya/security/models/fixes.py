"""The register of temporary fixes: every quick-and-dirty change, with its revert-by date."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import Client
from atalaya.security.models.common import StaffOnlyQuerySet


class FixKind(models.TextChoices):
    FIREWALL_OPENING = "firewall", _("Firewall opening")
    PERSONAL_DEVICE = "personal_device", _("Personal device allowed")
    MFA_EXCEPTION = "mfa_exception", _("MFA exception")
    SHARED_ACCOUNT = "shared_account", _("Shared account")
    OTHER = "other", _("Other")


class FixStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Undone")


class TemporaryFix(models.Model):
    """A change made to get people working that must be undone by ``revert_by``.

    ``evidence_port`` (with ``evidence_host``, an IP or hostname, or blank for any host
    of the client) is what a scan can check: "RDP opened" is port 3389. Closing the
    entry while a later scan still sees that port open raises a finding. Renewing
    needs a reason (``TemporaryFixRenewal``); closing records how it was undone.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=FixKind.choices, default=FixKind.OTHER)
    title = models.CharField(max_length=300)
    reason = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revert_by = models.DateField()
    status = models.CharField(max_length=10, choices=FixStatus.choices, default=FixStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    undo_note = models.TextField(blank=True, default="")
    evidence_host = models.CharField(max_length=255, blank=True, default="")
    evidence_port = models.PositiveIntegerField(null=True, blank=True)
    # Set when the overdue entry was escalated (administrators told, dashboard shows it).
    escalated_at = models.DateTimeField(null=True, blank=True)
    tickets = models.ManyToManyField("tickets.Ticket", blank=True, related_name="+")
    devices = models.ManyToManyField("monitoring.Device", blank=True, related_name="+")
    findings = models.ManyToManyField("security.Finding", blank=True, related_name="fixes")

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["revert_by"]
        indexes = [models.Index(fields=["status", "revert_by"], name="fix_status_revert_by")]

    def __str__(self) -> str:
        return self.title


class TemporaryFixRenewal(models.Model):
    """A later revert-by date, with the new reason it needed (append-only)."""

    fix = models.ForeignKey(TemporaryFix, on_delete=models.CASCADE, related_name="renewals")
    old_revert_by = models.DateField()
    new_revert_by = models.DateField()
    reason = models.TextField()
    renewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    renewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["fix", "renewed_at"]

    def __str__(self) -> str:
        return f"{self.fix_id} to {self.new_revert_by}"


class ReminderStage(models.TextChoices):
    DAYS_14 = "d14", _("14 days before")
    DAYS_3 = "d3", _("3 days before")
    DUE = "d0", _("On the day")
    OVERDUE = "overdue", _("Overdue")


class TemporaryFixReminder(models.Model):
    """A reminder sent (or an escalation made) for one revert-by date: unique, so the
    daily run never sends the same one twice, and a renewal starts a fresh set."""

    fix = models.ForeignKey(TemporaryFix, on_delete=models.CASCADE, related_name="reminders")
    stage = models.CharField(max_length=10, choices=ReminderStage.choices)
    revert_by = models.DateField()
    outbound = models.ForeignKey(
        "mail.OutboundMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fix", "stage", "revert_by"], name="fix_reminder_once")
        ]

    def __str__(self) -> str:
        return f"{self.fix_id} {self.stage}"
