"""Money received: payments and how they are applied to invoices; SEPA mandates and debits."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.billing.models.common import ClientOwnedQuerySet, PaymentMethod, money_field


class Payment(models.Model):
    """Money a client paid, by any method; ``PaymentAllocation`` rows apply it to invoices.

    What is not allocated is the client's credit balance. A direct debit payment is
    created when its collection settles and points at that collection; it stays a
    payment unless a real return arrives (then ``returned_at`` is set and it stops
    counting).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    amount = money_field()
    currency = models.CharField(max_length=3, default="EUR")
    received_on = models.DateField()
    reference = models.CharField(max_length=140, blank=True, default="")
    collection = models.OneToOneField(
        "billing.Collection",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment",
    )
    bank_entry = models.ForeignKey(
        "billing.BankEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    returned_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_positive")]

    def __str__(self) -> str:
        return f"{self.amount} {self.method} on {self.received_on}"


class PaymentAllocation(models.Model):
    """The part of a payment (or of a credit note's excess) applied to one invoice."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="allocations"
    )
    amount = money_field()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_positive")
        ]

    def __str__(self) -> str:
        return f"{self.amount} to {self.invoice_id}"


class MandateSequence(models.TextChoices):
    FIRST = "FRST", _("First")
    RECURRING = "RCUR", _("Recurring")
    ONE_OFF = "OOFF", _("One-off")


class Mandate(models.Model):
    """A SEPA Core direct debit mandate a client signed: reference, date, IBAN.

    ``sequence`` is what the next collection is sent as: FRST until a first
    collection has been submitted, then RCUR.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="mandates")
    reference = models.CharField(max_length=35, unique=True)
    signed_on = models.DateField()
    debtor_name = models.CharField(max_length=70)
    iban = models.CharField(max_length=34)
    bic = models.CharField(max_length=11, blank=True, default="")
    sequence = models.CharField(
        max_length=4, choices=MandateSequence.choices, default=MandateSequence.FIRST
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["client_id", "-signed_on"]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class CollectionStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    SUBMITTED = "submitted", _("Submitted to the bank")
    PROVISIONAL = "provisional", _("Settled, still refundable")
    FINAL = "final", _("Final")
    RETURNED = "returned", _("Returned")
    CANCELLED = "cancelled", _("Cancelled")


# Collections whose money is on its way or in hand: an invoice they cover is not owed.
COLLECTION_PENDING_STATUSES = frozenset(
    {CollectionStatus.SCHEDULED, CollectionStatus.SUBMITTED, CollectionStatus.PROVISIONAL}
)


class CollectionBatch(models.Model):
    """The collections sent to the bank in one pain.008 file (one due date, one sequence)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    message_id = models.CharField(max_length=35, unique=True)
    due_on = models.DateField()
    sequence = models.CharField(max_length=4, choices=MandateSequence.choices)
    xml = models.TextField(blank=True, default="")
    exported_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-due_on", "-id"]

    def __str__(self) -> str:
        return self.message_id


class Collection(models.Model):
    """One direct debit of one invoice on one mandate, and where it is in its life.

    scheduled → submitted → provisional (settled but refundable) → final, or returned
    with the bank's reason code. Only a return recorded from the bank (or by a person
    with the reason code) moves a settled collection back; nothing else downgrades it.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="collections")
    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="collections"
    )
    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, related_name="collections")
    batch = models.ForeignKey(
        CollectionBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="collections",
    )
    amount = money_field()
    end_to_end_id = models.CharField(max_length=35, unique=True)
    due_on = models.DateField()
    sequence = models.CharField(max_length=4, choices=MandateSequence.choices)
    status = models.CharField(
        max_length=12, choices=CollectionStatus.choices, default=CollectionStatus.SCHEDULED
    )
    return_reason = models.CharField(max_length=4, blank=True, default="")
    prenotified_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-due_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="collection_positive"),
            models.CheckConstraint(
                condition=~Q(status="returned") | ~Q(return_reason=""),
                name="returned_collection_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["invoice", "status"])]

    def __str__(self) -> str:
        return self.end_to_end_id


class CollectionEvent(models.Model):
    """One step in a collection's life: from, to, why, who (append-only)."""

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=12, blank=True, default="")
    to_status = models.CharField(max_length=12)
    reason = models.CharField(max_length=300, blank=True, default="")
    bank_entry = models.ForeignKey(
        "billing.BankEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["collection_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"
