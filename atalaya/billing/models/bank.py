"""Bank statements (camt.053, camt.054, Norma 43) and their entries, reconciled to payments."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.billing.models.common import money_field


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", "camt.053"
    CAMT054 = "camt054", "camt.054"
    NORMA43 = "n43", "Norma 43"


class BankStatement(models.Model):
    """One imported statement file. The file's SHA-256 is unique: importing it again
    changes nothing. ``covers_until`` is how fresh the bank data is."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    format = models.CharField(max_length=8, choices=StatementFormat.choices)
    sha256 = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=255, blank=True, default="")
    account_iban = models.CharField(max_length=34, blank=True, default="")
    statement_ref = models.CharField(max_length=64, blank=True, default="")
    covers_from = models.DateField(null=True, blank=True)
    covers_until = models.DateField(null=True, blank=True)
    entry_count = models.PositiveIntegerField(default=0)
    matched_count = models.PositiveIntegerField(default=0)
    # What the import did: new and duplicate entries, settled, returned, paid, unmatched.
    summary = models.JSONField(default=dict, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return f"{self.format} {self.statement_ref or self.sha256[:12]}"


class EntryStatus(models.TextChoices):
    MATCHED = "matched", _("Matched")
    UNMATCHED = "unmatched", _("To match by hand")
    IGNORED = "ignored", _("Ignored")


class BankEntry(models.Model):
    """One booked movement on the MSP's account. ``dedup_key`` is unique across files, so
    an entry that appears in both a camt.054 and the day's camt.053 is stored once.

    Money in is positive. A direct debit return is an entry with ``return_reason``.
    ``client`` is set once the entry is matched (it is null while unmatched, since an
    unknown payer belongs to no client yet: these rows are for MSP staff only).
    """

    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="entries")
    dedup_key = models.CharField(max_length=64, unique=True)
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    amount = money_field()
    currency = models.CharField(max_length=3, default="EUR")
    end_to_end_id = models.CharField(max_length=35, blank=True, default="", db_index=True)
    reference = models.CharField(max_length=140, blank=True, default="")
    remittance = models.CharField(max_length=500, blank=True, default="")
    counterparty_name = models.CharField(max_length=140, blank=True, default="")
    counterparty_iban = models.CharField(max_length=34, blank=True, default="")
    return_reason = models.CharField(max_length=4, blank=True, default="")
    status = models.CharField(
        max_length=10, choices=EntryStatus.choices, default=EntryStatus.UNMATCHED
    )
    client = models.ForeignKey(
        "core.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    matched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    matched_rule = models.CharField(max_length=30, blank=True, default="")
    matched_at = models.DateTimeField(null=True, blank=True)
    # Why a person ignored the entry, or what the reconciliation noticed.
    note = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-booking_date", "-id"]
        indexes = [
            models.Index(fields=["status", "booking_date"]),
            # The reconciliation finds a payer by the account it paid from before.
            models.Index(fields=["counterparty_iban"], name="bankentry_counterparty_iban"),
        ]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount}"
