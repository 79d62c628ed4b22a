"""Monthly client reports: a snapshot of one client's month, reviewed before it is mailed.

A report is client-owned (non-null ``client``) and there is one per client and month.
Its figures are a JSON snapshot taken when it was generated (reports/figures.py), so
what a client reads does not change when later data arrives; until it is sent a person
may regenerate it. ``html`` caches the report's body rendered in the client's language,
which the pages show and the PDF wraps, so a report is rendered once, not per view.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, Client, Contact, Role


class ReportStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    APPROVED = "approved", _("Approved")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped")


# What a client's portal user may read: a report a person has approved.
PUBLISHED_STATUSES = (ReportStatus.APPROVED, ReportStatus.SENT)


class MonthlyReportQuerySet(models.QuerySet["MonthlyReport"]):
    def visible_to(self, user: Any) -> MonthlyReportQuerySet:
        """Staff see every report; a portal user the approved reports of their clients;
        anyone else none (fails closed)."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            return self.filter(
                client__in=Client.objects.visible_to(user), status__in=PUBLISHED_STATUSES
            )
        return self.none()


class MonthlyReport(models.Model):
    """One client's report for one calendar month: figures, rendered body, review state.

    Proposed by the monthly run (or a person), then approved (mailed to the client's
    chosen recipients through the outbox; ``sent`` once mails were queued) or skipped.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="monthly_reports")
    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    language = models.CharField(max_length=5, default="es")
    figures = models.JSONField(default=dict, blank=True)
    html = models.TextField(blank=True, default="")
    generated_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.PROPOSED
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = MonthlyReportQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "-month", "client__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "year", "month"], name="monthly_report_once_per_month"
            ),
            models.CheckConstraint(
                condition=models.Q(month__gte=1, month__lte=12), name="monthly_report_month_valid"
            ),
        ]
        # The review page lists one month's reports for every client.
        indexes = [models.Index(fields=["year", "month", "status"], name="report_month_status")]

    def __str__(self) -> str:
        return f"{self.client_id} {self.year}-{self.month:02d}"

    @property
    def period(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def is_sent(self) -> bool:
        return self.status == ReportStatus.SENT


class ReportRecipientQuerySet(models.QuerySet["ReportRecipient"]):
    def visible_to(self, user: Any) -> ReportRecipientQuerySet:
        # Who gets a client's report is the MSP's setting: staff only.
        if user is not None and getattr(user, "is_msp_staff", False):
            return self.all()
        return self.none()


class ReportRecipient(models.Model):
    """A contact of the client chosen on the client's report settings page to receive
    the monthly report by mail, in the contact's own language."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ReportRecipientQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "contact"], name="report_recipient_once")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} @ {self.client_id}"
