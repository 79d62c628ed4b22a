"""Offline threat feeds for the link scanner, and the phishing reports users send in."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import Client, Contact
from atalaya.security.models.common import StaffOnlyQuerySet


class FeedSource(models.TextChoices):
    URLHAUS = "urlhaus", "URLhaus"
    OPENPHISH = "openphish", "OpenPhish"
    PHISHTANK = "phishtank", "PhishTank"


class FeedLoad(models.Model):
    """One ``atalaya links update-feeds`` load of a feed file; the newest load of a
    source replaces its entries, and the scanner's in-memory sets follow the newest id."""

    source = models.CharField(max_length=12, choices=FeedSource.choices)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    entries = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-loaded_at"]

    def __str__(self) -> str:
        return f"{self.source} {self.file_name}"


class FeedEntry(models.Model):
    """A known-bad URL (canonical form) or host from a feed. ``digest`` is the SHA-256
    of ``value``: the lookup key, since URLs are longer than an index should be."""

    class Kind(models.TextChoices):
        URL = "url", _("URL")
        HOST = "host", _("Host")

    source = models.CharField(max_length=12, choices=FeedSource.choices)
    kind = models.CharField(max_length=4, choices=Kind.choices)
    value = models.TextField()
    digest = models.CharField(max_length=64)
    load = models.ForeignKey(FeedLoad, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "digest"], name="feed_entry_once")]
        indexes = [models.Index(fields=["digest"], name="feed_entry_digest")]

    def __str__(self) -> str:
        return self.value[:80]


class Verdict(models.TextChoices):
    OK = "ok", _("No threat found")
    SUSPICIOUS = "suspicious", _("Suspicious")
    PHISHING = "phishing", _("Phishing")


class PhishingReport(models.Model):
    """A mail a client's user forwarded to the report-phishing address: its ticket,
    the verdict of every link in it, and the answer the user got.

    ``links`` is a list of ``{"url", "text", "verdict", "score", "reasons"}`` as the
    scanner judged them when the report arrived.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.PROTECT, related_name="+")
    inbound = models.OneToOneField(
        "mail.InboundMessage", on_delete=models.PROTECT, related_name="phishing_report"
    )
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    links = models.JSONField(default=list, blank=True)
    answer = models.ForeignKey(
        "mail.OutboundMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"report {self.public_id}"
