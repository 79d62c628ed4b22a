"""Network scans of client sites, what they saw, and the findings they raise."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import Client, Site
from atalaya.security.models.common import FindingSeverity, StaffOnlyQuerySet


class ScanSource(models.TextChoices):
    AGENT = "agent", _("Agent")
    NMAP = "nmap", _("nmap import")


class ScanStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ScanSchedule(models.Model):
    """How often a site's network is scanned, and by which of its agents.

    ``targets`` empty means the agent's own local networks; ``ports`` empty means the
    default list (nmap's top 100 plus the risky set). ``ticket_min_severity`` is the
    policy: findings at or above it open a ticket; empty opens none.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="scan_schedule")
    device = models.ForeignKey(
        "monitoring.Device", on_delete=models.CASCADE, related_name="scan_schedules"
    )
    is_enabled = models.BooleanField(default=True)
    every_hours = models.PositiveIntegerField(default=24)
    targets = models.CharField(max_length=1000, blank=True, default="")
    ports = models.CharField(max_length=2000, blank=True, default="")
    ticket_min_severity = models.CharField(
        max_length=10, choices=FindingSeverity.choices, blank=True, default=FindingSeverity.HIGH
    )
    next_run_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = StaffOnlyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"every {self.every_hours} h"


class ScanRun(models.Model):
    """One scan of a site: queued as an agent action, or imported from nmap XML.

    ``is_complete`` says the scan covered the site's whole inventory range, so a
    device it did not see may be reported gone (a scan of one host proves nothing
    about the others).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="scans")
    source = models.CharField(max_length=10, choices=ScanSource.choices)
    status = models.CharField(max_length=10, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    device = models.ForeignKey(
        "monitoring.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.OneToOneField(
        "monitoring.RemoteAction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scan",
    )
    targets = models.CharField(max_length=1000, blank=True, default="")
    ports = models.CharField(max_length=2000, blank=True, default="")
    is_complete = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    hosts_up = models.PositiveIntegerField(default=0)
    open_ports = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")
    # The agent's result as it arrived (the scan JSON of agent/PROTOCOL.md): the check-in
    # writer only stores it; a background job turns it into hosts and findings.
    result = models.JSONField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The file an import came from (name and SHA-256): the same file twice is refused.
    source_name = models.CharField(max_length=255, blank=True, default="")
    source_sha256 = models.CharField(max_length=64, blank=True, default="")

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["site", "-created_at"], name="scan_site_recent")]

    def __str__(self) -> str:
        return f"{self.source} scan {self.public_id}"


class ScanHost(models.Model):
    """A host a scan saw up, matched against the site's inventory when it was compared.

    ``ports`` is a list of ``{"port": int, "proto": "tcp", "service": str, "banner": str}``:
    a host has a handful, and they are always read with the host.
    """

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="hosts")
    ip = models.GenericIPAddressField()
    mac = models.CharField(max_length=17, blank=True, default="")
    hostname = models.CharField(max_length=255, blank=True, default="")
    vendor = models.CharField(max_length=120, blank=True, default="")
    ports = models.JSONField(default=list, blank=True)
    device = models.ForeignKey(
        "monitoring.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    known_device = models.ForeignKey(
        "security.KnownDevice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["scan", "ip"]
        constraints = [models.UniqueConstraint(fields=["scan", "ip"], name="scan_host_once")]

    def __str__(self) -> str:
        return self.ip


class KnownDevice(models.Model):
    """A device a technician marked as known at a site (a printer, the router, a NAS):
    matched by MAC first, then IP, then hostname, so it never counts as unknown."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="known_devices")
    name = models.CharField(max_length=200)
    mac = models.CharField(max_length=17, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    notes = models.TextField(blank=True, default="")
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    marked_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FindingKind(models.TextChoices):
    UNKNOWN_DEVICE = "unknown_device", _("Unknown device")
    DEVICE_GONE = "device_gone", _("Device gone")
    RISKY_SERVICE = "risky_service", _("Risky service")
    FIX_NOT_UNDONE = "fix_not_undone", _("Temporary fix not undone")


class FindingStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACCEPTED = "accepted", _("Accepted")
    RESOLVED = "resolved", _("Resolved")


class Finding(models.Model):
    """Something a scan showed that a person must look at, once per site and subject.

    ``fingerprint`` names the subject (``risky_service:<host key>:3389``, where the
    host key is the MAC when known, else the IP), so the same open RDP seen by every
    nightly scan stays one finding. It is resolved when a complete later scan no
    longer sees it, and reopened (a new audit event) if it comes back. Accepting it
    needs a reason and an expiry; when the acceptance expires it is open again.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="findings")
    kind = models.CharField(max_length=20, choices=FindingKind.choices)
    severity = models.CharField(max_length=10, choices=FindingSeverity.choices)
    status = models.CharField(
        max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    fingerprint = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    host_ip = models.GenericIPAddressField(null=True, blank=True)
    host_mac = models.CharField(max_length=17, blank=True, default="")
    hostname = models.CharField(max_length=255, blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    device = models.ForeignKey(
        "monitoring.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_scan = models.ForeignKey(
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_scan = models.ForeignKey(
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    accepted_reason = models.CharField(max_length=500, blank=True, default="")
    accepted_until = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fix = models.ForeignKey(
        "security.TemporaryFix",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evidence_findings",
    )

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["site", "fingerprint"], name="finding_once_per_site")
        ]
        indexes = [models.Index(fields=["client", "status"], name="finding_client_status")]

    def __str__(self) -> str:
        return self.title
