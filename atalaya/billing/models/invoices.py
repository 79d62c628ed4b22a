"""Invoices: series with gap-free numbers, immutable once issued, credit notes that correct."""

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
    ClientOwnedQuerySet,
    PaymentMethod,
    VatCategory,
    money_field,
    price_field,
    quantity_field,
)


class BillingSettings(models.Model):
    """The MSP's own billing data (one row): who issues the invoices and collects debits.

    Also the install-wide knobs of humane reminders: how many days before a direct debit
    the client is told, and how old the last bank statement may be before reminders
    stop until a person overrides.
    """

    legal_name = models.CharField(max_length=200, default="")
    tax_id = models.CharField(max_length=20, default="")
    address = models.TextField(blank=True, default="")
    email = models.EmailField(blank=True, default="")
    iban = models.CharField(max_length=34, blank=True, default="")
    bic = models.CharField(max_length=11, blank=True, default="")
    creditor_id = models.CharField(max_length=35, blank=True, default="")
    prenotification_days = models.PositiveIntegerField(default=14)
    bank_data_max_age_hours = models.PositiveIntegerField(default=72)
    currency = models.CharField(max_length=3, default="EUR")

    def __str__(self) -> str:
        return self.legal_name or "billing settings"

    @classmethod
    def load(cls) -> BillingSettings:
        found, _created = cls.objects.get_or_create(pk=1)
        return found


class BillingProfile(models.Model):
    """A client's billing identity: tax id, address, where invoices go, how they pay."""

    client = models.OneToOneField(
        "core.Client", on_delete=models.PROTECT, related_name="billing_profile"
    )
    tax_id = models.CharField(max_length=20, blank=True, default="")
    address = models.TextField(blank=True, default="")
    postal_code = models.CharField(max_length=12, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    country = models.CharField(max_length=2, default="ES")
    invoice_email = models.EmailField(blank=True, default="")
    payment_terms_days = models.PositiveIntegerField(default=30)
    reminder_policy = models.ForeignKey(
        "billing.ReminderPolicy", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ClientOwnedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"billing of {self.client_id}"


class InvoiceSeries(models.Model):
    """A numbering series ("F2026", "R2026" for credit notes): numbers without gaps.

    ``next_number`` is taken by one atomic UPDATE in the transaction that issues, so
    numbers follow issue order and a rolled-back issue leaves no hole.
    """

    code = models.SlugField(max_length=20, unique=True)
    prefix = models.CharField(max_length=20)
    next_number = models.PositiveIntegerField(default=1)
    is_for_credit_notes = models.BooleanField(default=False)
    credit_note_series = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "invoice series"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ISSUED = "issued", _("Issued")
    DISCARDED = "discarded", _("Discarded draft")


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


# What may still change on an issued invoice: delivery and dispute bookkeeping.
ISSUED_MUTABLE_FIELDS = frozenset(
    {"sent_at", "pdf_sha256", "is_disputed", "dispute_reason", "disputed_at"}
)


class IssuedInvoiceChanged(Exception):
    """An issued invoice never changes; correct it with a credit note."""


class Invoice(models.Model):
    """An invoice or a credit note (factura rectificativa) of one client.

    A draft is freely edited; issuing gives it the next number of its series and freezes
    it with a snapshot of both parties. From then on only the fields in
    ``ISSUED_MUTABLE_FIELDS`` may be saved, and only with ``update_fields``. A credit
    note has negative totals and references the invoice it corrects.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.PROTECT, related_name="invoices")
    series = models.ForeignKey(InvoiceSeries, on_delete=models.PROTECT, related_name="invoices")
    number = models.PositiveIntegerField(null=True, blank=True)
    code = models.CharField(max_length=40, blank=True, default="")  # prefix + number
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    status = models.CharField(
        max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    correction_reason = models.CharField(max_length=300, blank=True, default="")
    agreement = models.ForeignKey(
        "billing.Agreement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)  # inclusive
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    language = models.CharField(max_length=5, default="es")
    currency = models.CharField(max_length=3, default="EUR")
    payment_method = models.CharField(
        max_length=20, choices=PaymentMethod.choices, default=PaymentMethod.TRANSFER
    )
    mandate = models.ForeignKey(
        "billing.Mandate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seller = models.JSONField(default=dict, blank=True)  # snapshot at issue
    buyer = models.JSONField(default=dict, blank=True)  # snapshot at issue
    net_total = money_field(default=0)
    vat_total = money_field(default=0)
    total = money_field(default=0)
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True, default="")
    is_disputed = models.BooleanField(default=False)
    dispute_reason = models.CharField(max_length=300, blank=True, default="")
    disputed_at = models.DateTimeField(null=True, blank=True)

    objects = ClientOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-number", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "number"], name="invoice_number_once_per_series"
            ),
            models.CheckConstraint(
                condition=Q(status="issued", number__isnull=False, issue_date__isnull=False)
                | ~Q(status="issued"),
                name="issued_invoice_has_number",
            ),
            models.CheckConstraint(
                condition=Q(kind="invoice") | Q(corrects__isnull=False),
                name="credit_note_corrects_an_invoice",
            ),
            # Rounded to cents: SQLite adds NUMERIC columns as floats (94.67 + 3.79 is
            # 98.46000000000001 there); PostgreSQL's numeric sum is exact either way.
            models.CheckConstraint(
                condition=Q(
                    total=Round(models.F("net_total") + models.F("vat_total"), precision=2)
                ),
                name="invoice_total_is_net_plus_vat",
            ),
            # The recurring run drafts an agreement's period once: a second run (or a
            # second worker) cannot draft it again; a discarded draft frees the period.
            models.UniqueConstraint(
                fields=["agreement", "period_start"],
                condition=Q(agreement__isnull=False, kind="invoice") & ~Q(status="discarded"),
                name="invoice_once_per_agreement_period",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "status"]),
            models.Index(fields=["status", "due_date"]),
        ]

    def __str__(self) -> str:
        return self.code or f"draft {self.public_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored == InvoiceStatus.ISSUED:
                fields = kwargs.get("update_fields")
                if fields is None or not set(fields) <= ISSUED_MUTABLE_FIELDS:
                    raise IssuedInvoiceChanged(f"invoice {self.code} is issued")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if self.status != InvoiceStatus.DRAFT:
            raise IssuedInvoiceChanged("only a draft may be deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_issued(self) -> bool:
        return self.status == InvoiceStatus.ISSUED


class InvoiceLine(models.Model):
    """One line: quantity × unit price, rounded half-up to cents, with its VAT category."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    product = models.ForeignKey(
        "billing.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agreement_line = models.ForeignKey(
        "billing.AgreementLine", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(max_length=500)
    quantity = quantity_field()
    unit = models.CharField(max_length=10, blank=True, default="")
    unit_price = price_field()
    vat_category = models.CharField(
        max_length=2, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2)
    net_amount = money_field()
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["invoice_id", "position", "id"]

    def __str__(self) -> str:
        return self.description

    def save(self, *args: Any, **kwargs: Any) -> None:
        _refuse_if_issued(self.invoice_id)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        _refuse_if_issued(self.invoice_id)
        return super().delete(*args, **kwargs)


class InvoiceVatTotal(models.Model):
    """The VAT of one (category, rate) bucket: base and tax, rounded once per bucket."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="vat_totals")
    vat_category = models.CharField(max_length=2, choices=VatCategory.choices)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2)
    base = money_field()
    tax = money_field()

    class Meta:
        ordering = ["invoice_id", "-vat_rate"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "vat_category", "vat_rate"], name="vat_bucket_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.vat_category} {self.vat_rate}%"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _refuse_if_issued(self.invoice_id)
        super().save(*args, **kwargs)


def _refuse_if_issued(invoice_id: int | None) -> None:
    if invoice_id is not None and (
        Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.ISSUED).exists()
    ):
        raise IssuedInvoiceChanged("the lines of an issued invoice never change")
