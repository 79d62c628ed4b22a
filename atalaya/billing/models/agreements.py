"""Agreements: what each client pays for regularly, prepaid hours, and approved ticket time."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.billing.models.common import (
    BillingPeriod,
    ClientOwnedQuerySet,
    PaymentMethod,
    money_field,
    price_field,
    quantity_field,
)


class Agreement(models.Model):
    """A client's contract: recurring lines billed each period, in advance.

    ``billed_until`` is the first day not yet invoiced; the recurring run drafts the
    period starting there and moves it on when the draft is issued, so a period is
    never billed twice. Direct debit agreements name the mandate to collect on.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="agreements")
    name = models.CharField(max_length=200)
    billing_period = models.CharField(
        max_length=10, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    billed_until = models.DateField()
    series = models.ForeignKey("billing.InvoiceSeries", on_delete=models.PROTECT, related_name="+")
    payment_method = models.CharField(
        max_length=20, choices=PaymentMethod.choices, default=PaymentMethod.TRANSFER
    )
    mandate = models.ForeignKey(
        "billing.Mandate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payment_terms_days = models.PositiveIntegerField(default=30)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["client_id", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="agreement_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(payment_method="direct_debit") | Q(mandate__isnull=False),
                name="agreement_direct_debit_has_mandate",
            ),
        ]
        indexes = [models.Index(fields=["is_active", "billed_until"])]

    def __str__(self) -> str:
        return self.name


class QuantityMode(models.TextChoices):
    FIXED = "fixed", _("Fixed")
    MONITORED_DEVICES = "devices", _("Monitored devices")
    USER_CONTACTS = "users", _("Contacts flagged as users")


class AgreementLine(models.Model):
    """A recurring line: a catalogue product, a quantity fixed or counted, an optional price.

    A line that starts or ends inside a period is prorated by days.
    """

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("billing.Product", on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=300, blank=True, default="")
    quantity_mode = models.CharField(
        max_length=10, choices=QuantityMode.choices, default=QuantityMode.FIXED
    )
    quantity = quantity_field(default=1)
    unit_price = price_field(null=True, blank=True)  # None: the product's price
    starts_on = models.DateField(null=True, blank=True)  # None: the agreement's start
    ends_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["agreement_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="line_quantity_not_negative"),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="line_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} × {self.quantity}"


class AgreementRate(models.Model):
    """The hourly rate of one work type under one agreement (overrides the catalogue's)."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="rates")
    work_type = models.ForeignKey("tickets.WorkType", on_delete=models.PROTECT, related_name="+")
    hourly_rate = price_field()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agreement", "work_type"], name="rate_once"),
            models.CheckConstraint(condition=Q(hourly_rate__gte=0), name="rate_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.work_type_id} at {self.hourly_rate}"


class HourBlock(models.Model):
    """Prepaid hours a client bought; approved billable time burns them down first.

    ``minutes_used`` is only ever changed by a conditional UPDATE that keeps it within
    ``minutes_total``, so two approvals at once cannot overdraw a block.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="hour_blocks")
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.PROTECT, related_name="hour_blocks"
    )
    name = models.CharField(max_length=200)
    minutes_total = models.PositiveIntegerField()
    minutes_used = models.PositiveIntegerField(default=0)
    low_balance_minutes = models.PositiveIntegerField(default=120)
    low_balance_alerted_at = models.DateTimeField(null=True, blank=True)
    purchased_on = models.DateField(default=timezone.localdate)
    expires_on = models.DateField(null=True, blank=True)
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["client_id", "purchased_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(minutes_used__lte=models.F("minutes_total")), name="block_not_overdrawn"
            ),
            models.CheckConstraint(condition=Q(minutes_total__gt=0), name="block_has_minutes"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def minutes_left(self) -> int:
        return self.minutes_total - self.minutes_used


class TimeChargeStatus(models.TextChoices):
    APPROVED = "approved", _("Approved, to invoice")
    INVOICED = "invoiced", _("Invoiced")
    BURNED = "burned", _("Burned from a block")
    WRITTEN_OFF = "written_off", _("Not billed")


class TimeCharge(models.Model):
    """A person's decision on one billable time entry: invoice it, burn a block, or not bill.

    Billable entries without a charge wait for approval. One charge per entry (unique),
    so an entry is never billed twice. The rate and amount are fixed at approval.
    """

    time_entry = models.OneToOneField(
        "tickets.TimeEntry", on_delete=models.PROTECT, related_name="charge"
    )
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=TimeChargeStatus.choices)
    hourly_rate = price_field(default=0)
    amount = money_field(default=0)
    block = models.ForeignKey(
        HourBlock, null=True, blank=True, on_delete=models.PROTECT, related_name="charges"
    )
    block_minutes = models.PositiveIntegerField(default=0)
    invoice_line = models.ForeignKey(
        "billing.InvoiceLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True, default="")

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["client", "status"])]

    def __str__(self) -> str:
        return f"{self.time_entry_id} {self.status}"
