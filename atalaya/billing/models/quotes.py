"""Quotes: a proposal of catalogue services to a client, accepted or declined in the portal.

A quote is edited as a draft, numbered when it is sent (Q-2026-0007, one counter per
year for the whole install), and then decided once: accepted (it becomes an agreement),
declined, withdrawn by the MSP or expired. Every status change is one compare-and-set
UPDATE from the status it expects, so two people deciding at once cannot both win.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.billing.models.common import (
    VatCategory,
    money_field,
    price_field,
    quantity_field,
)
from atalaya.core.models import STAFF_ROLES, Client, Role


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Expired")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# A decided quote never changes again: only a sent one may be accepted or declined.
DECIDED_STATUSES = frozenset(
    {QuoteStatus.ACCEPTED, QuoteStatus.DECLINED, QuoteStatus.EXPIRED, QuoteStatus.WITHDRAWN}
)


class QuoteQuerySet(models.QuerySet["Quote"]):
    def visible_to(self, user: Any) -> QuoteQuerySet:
        """Staff see every quote; a client's portal users see its quotes once sent (never a
        draft); anyone else nothing. Who may decide is a narrower question
        (``can_decide``): every user of the company may read what was proposed to it."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            return self.filter(client__in=Client.objects.visible_to(user)).exclude(
                status=QuoteStatus.DRAFT
            )
        return self.none()


class QuoteCounter(models.Model):
    """The next quote number of one year; taken by one atomic UPDATE when a quote is sent,
    so numbers follow sending order and a rolled-back send leaves no hole."""

    year = models.PositiveIntegerField(unique=True)
    next_number = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"Q-{self.year}: {self.next_number}"


class Quote(models.Model):
    """A proposal of catalogue services to one client, in the client's language.

    Totals follow the invoice rules (``billing.money``): each line's net is rounded to
    cents, VAT once per (category, rate) bucket. Once accepted it names the agreement it
    became, and who decided, when, and on which start date.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="quotes")
    number = models.PositiveIntegerField(null=True, blank=True)
    year = models.PositiveIntegerField(null=True, blank=True)
    code = models.CharField(max_length=20, blank=True, default="")
    language = models.CharField(max_length=5, default="es")
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, default="")
    valid_until = models.DateField()
    proposed_start = models.DateField(null=True, blank=True)
    billing_period = models.CharField(max_length=10, default="monthly")
    status = models.CharField(max_length=10, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT)
    currency = models.CharField(max_length=3, default="EUR")
    net_total = money_field(default=0)
    vat_total = money_field(default=0)
    total = money_field(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=1000, blank=True, default="")
    chosen_start = models.DateField(null=True, blank=True)
    agreement = models.OneToOneField(
        "billing.Agreement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="quote",
    )

    objects = QuoteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["year", "number"], name="quote_number_once_per_year"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False),
                name="sent_quote_has_number",
            ),
            models.CheckConstraint(
                # The agreement is made in the same transaction right after the status
                # moves (its own service needs the quote accepted first), so it is the
                # service's promise; the start and the decider are the row's.
                condition=~Q(status="accepted")
                | Q(decided_by__isnull=False, chosen_start__isnull=False),
                name="accepted_quote_has_start",
            ),
            # Rounded: SQLite adds NUMERIC columns as floats (see Invoice).
            models.CheckConstraint(
                condition=Q(
                    total=Round(models.F("net_total") + models.F("vat_total"), precision=2)
                ),
                name="quote_total_is_net_plus_vat",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "status"]),
            models.Index(fields=["status", "valid_until"]),
        ]

    def __str__(self) -> str:
        return self.code or f"draft {self.public_id}"

    @property
    def is_draft(self) -> bool:
        return self.status == QuoteStatus.DRAFT

    @property
    def is_open(self) -> bool:
        """Sent and still within its validity: the client may decide."""
        return self.status == QuoteStatus.SENT and self.valid_until >= timezone.localdate()


class QuoteLine(models.Model):
    """One proposed service: a catalogue product × quantity at the catalogue's price of the
    day the line was added, less a discount.

    The discounted unit price is kept to four decimals (``unit_price_net``) and the net
    amount is quantity × that, rounded half-up to cents: exactly what the agreement's
    invoices will charge for a whole period.
    """

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    product = models.ForeignKey("billing.Product", on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=300)
    quantity = quantity_field()
    unit = models.CharField(max_length=10, blank=True, default="")
    unit_price = price_field()
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    unit_price_net = price_field()
    vat_category = models.CharField(
        max_length=2, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2)
    net_amount = money_field()

    class Meta:
        ordering = ["quote_id", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="quote_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0) & Q(discount_percent__lte=100),
                name="quote_line_discount_range",
            ),
        ]

    def __str__(self) -> str:
        return self.description
