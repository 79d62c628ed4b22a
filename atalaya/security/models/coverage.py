"""Who and what is protected: antivirus/EDR, MFA and backup, per contact and device."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import Client, Contact
from atalaya.security.models.common import StaffOnlyQuerySet


class Protection(models.TextChoices):
    ANTIVIRUS = "antivirus", _("Antivirus / EDR")
    MFA = "mfa", _("MFA enrolled")
    BACKUP = "backup", _("Backup covered")


class ProtectionAttestation(models.Model):
    """A technician's dated statement that a contact or a device has (or lacks) a
    protection, where the agent cannot tell: MFA of a person, antivirus on a machine
    without an agent, a backup made elsewhere. It counts until ``valid_until``; a newer
    attestation of the same subject and kind supersedes it (never edited)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    device = models.ForeignKey(
        "monitoring.Device", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Protection.choices)
    is_protected = models.BooleanField(default=True)
    product = models.CharField(max_length=200, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    attested_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateField()

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-attested_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False, device__isnull=True)
                | Q(contact__isnull=True, device__isnull=False),
                name="attestation_one_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.attested_at:%Y-%m-%d})"
