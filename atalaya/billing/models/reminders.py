"""Humane reminders: policies, pauses, and runs that a person approves before anything is sent."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.billing.models.common import ClientOwnedQuerySet, money_field


class ReminderPolicy(models.Model):
    """An escalation ladder of reminder levels; clients use the default unless they name one."""

    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "reminder policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_policy"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ReminderKind(models.TextChoices):
    FRIENDLY = "friendly", _("Friendly notice")
    REMINDER = "reminder", _("Reminder")
    FIRM = "firm", _("Firm reminder")
    CALL = "call", _("Call the client (a task)")


class ReminderChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    TASK = "task", _("Task for a person")


class ReminderLevel(models.Model):
    """One step of a policy: sent this many days after the due date, and at least
    ``min_days_since_previous`` after the step before. Escalation is one step at a time."""

    policy = models.ForeignKey(ReminderPolicy, on_delete=models.CASCADE, related_name="levels")
    step = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=ReminderKind.choices)
    channel = models.CharField(
        max_length=10, choices=ReminderChannel.choices, default=ReminderChannel.EMAIL
    )
    days_after_due = models.PositiveIntegerField()
    min_days_since_previous = models.PositiveIntegerField(default=7)

    class Meta:
        ordering = ["policy_id", "step"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "step"], name="level_step_once"),
            models.CheckConstraint(condition=Q(step__gte=1), name="level_step_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} step {self.step}"


class ReminderPause(models.Model):
    """No reminders while this holds: install-wide (``client`` null) or for one client.

    A pause has a reason and an expiry; lifting it early is recorded, never deleted.
    Pauses are read only by MSP staff (a global pause belongs to no client).
    """

    client = models.ForeignKey(
        "core.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300)
    starts_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("starts_at")), name="pause_expires_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.reason


class RunStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    SENT = "sent", _("Sent")
    DISCARDED = "discarded", _("Discarded")


class ReminderRun(models.Model):
    """A proposal of reminders, computed at ``as_of``; nothing is sent until approved.

    ``bank_data_override_by`` records the person who let a run go ahead on bank data
    older than the configured age.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PROPOSED)
    as_of = models.DateTimeField(default=timezone.now)
    bank_data_until = models.DateField(null=True, blank=True)
    bank_data_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    bank_data_override_reason = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # What the proposal looked at: invoices considered, proposed, and excluded per reason.
    summary = models.JSONField(default=dict, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.public_id}"


class ItemStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    APPROVED = "approved", _("Approved")
    SKIPPED = "skipped", _("Skipped")
    SENT = "sent", _("Sent")
    DROPPED = "dropped", _("Dropped at send time")


class ReminderItem(models.Model):
    """One proposed reminder: an invoice, the level it would reach, the message as previewed.

    ``fingerprint`` digests everything the decision rested on (open balance, payments,
    collections and their statuses, pauses, dispute, the level reached). At send time the
    fingerprint is computed again; if it differs, the item is dropped, not sent.
    """

    run = models.ForeignKey(ReminderRun, on_delete=models.CASCADE, related_name="items")
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="reminder_items"
    )
    step = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=ReminderKind.choices)
    channel = models.CharField(max_length=10, choices=ReminderChannel.choices)
    open_balance = money_field()
    fingerprint = models.CharField(max_length=64)
    reasons = models.JSONField(default=list, blank=True)
    to_address = models.CharField(max_length=254, blank=True, default="")
    language = models.CharField(max_length=5, default="es")
    subject = models.CharField(max_length=250, blank=True, default="")
    body = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=10, choices=ItemStatus.choices, default=ItemStatus.PROPOSED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    dropped_reason = models.CharField(max_length=300, blank=True, default="")

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["run_id", "client_id", "invoice_id"]
        constraints = [models.UniqueConstraint(fields=["run", "invoice"], name="item_once_per_run")]

    def __str__(self) -> str:
        return f"{self.invoice_id} step {self.step}"


class SentReminder(models.Model):
    """The ledger of reminders that went out: the database allows one per (invoice, step,
    channel), so two workers sending at once cannot both send the same reminder."""

    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="sent_reminders"
    )
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="+")
    step = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=ReminderKind.choices)
    channel = models.CharField(max_length=10, choices=ReminderChannel.choices)
    item = models.OneToOneField(ReminderItem, on_delete=models.PROTECT, related_name="sent")
    sent_at = models.DateTimeField(default=timezone.now)

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["invoice_id", "step"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "step", "channel"], name="one_reminder_per_invoice_step_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} step {self.step} {self.channel}"
