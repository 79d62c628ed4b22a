"""Protection coverage: who and what is protected, a score per client, and the gaps.

Required per client: every active device needs antivirus/EDR and backup; every
contact who is a user (membership ``is_user``) needs MFA. Evidence, best first:
the agent's inventory (``inventory["protection"]``, see agent/atalaya_agent/protection.py)
for antivirus, a recent successful ``JobHeartbeat`` for backup, else the newest
technician attestation that is still valid. A newer attestation of the same subject
and kind supersedes the older one, whatever it says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import Client, Contact, ContactMembership, User
from atalaya.core.services import record_audit
from atalaya.monitoring.models import Device, JobHeartbeat
from atalaya.security.models import Protection, ProtectionAttestation, require_security_writer

# A backup heartbeat older than this no longer proves the device is backed up.
BACKUP_MAX_AGE = timedelta(days=8)
# Signatures older than this are "out of date" even if the product says nothing.
SIGNATURE_MAX_AGE_DAYS = 7
DEVICE_KINDS = (Protection.ANTIVIRUS, Protection.BACKUP)
CONTACT_KINDS = (Protection.MFA,)


def attest(
    *,
    actor: User,
    client: Client,
    kind: str,
    valid_until: date | None,
    contact: Contact | None = None,
    device: Device | None = None,
    is_protected: bool = True,
    product: str = "",
    note: str = "",
    today: date | None = None,
) -> ProtectionAttestation:
    """Record a technician's dated statement about one contact's or device's protection.

    Exactly one subject, of ``client``; ``valid_until`` required and not in the past.
    Never edits an older attestation: the newer one supersedes it in ``coverage_of``.
    """
    require_security_writer(actor)
    if actor is None:
        raise ValidationError(
            {"attested_by": _("An attestation needs the technician who made it.")}
        )
    today = today or timezone.localdate()
    if kind not in Protection.values:
        raise ValidationError({"kind": _("Unknown protection kind.")})
    if (contact is None) == (device is None):
        raise ValidationError({"subject": _("Attest either a contact or a device.")})
    if valid_until is None:
        raise ValidationError({"valid_until": _("Say until when this attestation is valid.")})
    if valid_until < today:
        raise ValidationError({"valid_until": _("The validity date is in the past.")})
    if device is not None and device.client_id != client.pk:
        raise ValidationError({"device": _("This device belongs to another client.")})
    if (
        contact is not None
        and not ContactMembership.objects.filter(contact=contact, client=client).exists()
    ):
        raise ValidationError({"contact": _("This contact is not a member of the client.")})
    with transaction.atomic():
        row = ProtectionAttestation.objects.create(
            client=client,
            contact=contact,
            device=device,
            kind=kind,
            is_protected=is_protected,
            product=product.strip()[:200],
            note=note.strip()[:500],
            attested_by=actor,
            valid_until=valid_until,
        )
        record_audit(
            actor,
            row,
            "attested",
            client=client,
            after={
                "kind": kind,
                "subject": str((contact or device).public_id),  # type: ignore[union-attr]
                "is_protected": is_protected,
                "valid_until": valid_until.isoformat(),
            },
        )
    return row


@dataclass
class Item:
    """One required protection of one subject, with whether and how it is covered."""

    subject_type: str  # "device" | "contact"
    subject_id: str
    subject_name: str
    kind: str
    is_covered: bool
    source: str  # "agent" | "heartbeat" | "attestation" | ""
    detail: str = ""

    @property
    def todo(self) -> str:
        """What to do about a gap, in the active language."""
        if self.kind == Protection.ANTIVIRUS:
            return _("Install or update antivirus/EDR, or attest it if the agent cannot see it.")
        if self.kind == Protection.BACKUP:
            return _("Set up a backup job that reports to Atalaya, or attest the backup.")
        return _("Enrol the user in MFA and record an attestation.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "subject_name": self.subject_name,
            "kind": self.kind,
            "is_covered": self.is_covered,
            "source": self.source,
            "detail": self.detail,
            "todo": "" if self.is_covered else self.todo,
        }


@dataclass
class Coverage:
    """A client's coverage: every required item, the score and the gaps."""

    client: Client
    items: list[Item] = field(default_factory=list)

    @property
    def required(self) -> int:
        return len(self.items)

    @property
    def covered(self) -> int:
        return sum(1 for item in self.items if item.is_covered)

    @property
    def score(self) -> float:
        """Covered over required, 0..1; a client with nothing required scores 1."""
        return self.covered / self.required if self.required else 1.0

    @property
    def percent(self) -> int:
        return round(self.score * 100)

    @property
    def gaps(self) -> list[Item]:
        return [item for item in self.items if not item.is_covered]


def agent_antivirus(inventory: dict[str, Any]) -> tuple[bool | None, str]:
    """(covered, detail) from the agent's ``protection`` report; None if it reported none."""
    report = inventory.get("protection") if isinstance(inventory, dict) else None
    if not isinstance(report, dict):
        return None, ""
    products = [p for p in report.get("products") or [] if isinstance(p, dict)]
    if not products:
        # The agent looked and found nothing: that is a gap, not an unknown.
        return (
            (False, _("no antivirus found by the agent")) if report.get("checked") else (None, "")
        )
    for product in products:
        age = product.get("signature_age_days")
        stale = isinstance(age, (int, float)) and age > SIGNATURE_MAX_AGE_DAYS
        if product.get("enabled") and product.get("up_to_date") is not False and not stale:
            return True, str(product.get("name", ""))[:200]
    names = ", ".join(str(p.get("name", "?"))[:60] for p in products[:3])
    return False, _("disabled or out of date: %(names)s") % {"names": names}


def _latest_attestations(client: Client, today: date) -> dict[tuple[str, int | None, str], Any]:
    """(subject type, subject pk, kind) → the newest attestation, valid or not."""
    newest: dict[tuple[str, int | None, str], Any] = {}
    rows = ProtectionAttestation.objects.filter(client=client).order_by("attested_at", "pk")
    for row in rows:
        key = (
            ("device", row.device_id, row.kind)
            if row.device_id
            else ("contact", row.contact_id, row.kind)
        )
        newest[key] = row  # later rows overwrite: newer supersedes
    return newest


def _from_attestation(row: Any, today: date) -> tuple[bool, str]:
    if row is None:
        return False, ""
    if row.valid_until < today:
        return False, _("attestation expired on %(date)s") % {"date": row.valid_until.isoformat()}
    return bool(row.is_protected), row.product


def coverage_of(client: Client, *, now: Any = None) -> Coverage:
    """Compute ``client``'s coverage in a fixed number of queries (no per-device query)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    attestations = _latest_attestations(client, today)
    devices = list(
        Device.objects.filter(client=client, retired_at__isnull=True)
        .only("pk", "public_id", "hostname", "display_name", "inventory", "client_id")
        .order_by("hostname", "pk")
    )
    cutoff = int(time.mktime(now.timetuple())) - int(BACKUP_MAX_AGE.total_seconds())
    newest_beat: dict[int, tuple[int, bool]] = {}
    beats = JobHeartbeat.objects.filter(device__in=[d.pk for d in devices], t__gte=cutoff)
    for device_id, t, is_ok in beats.values_list("device_id", "t", "is_ok"):
        if device_id not in newest_beat or t > newest_beat[device_id][0]:
            newest_beat[device_id] = (t, is_ok)
    result = Coverage(client=client)
    for device in devices:
        name = device.display_name or device.hostname
        ident = str(device.public_id)
        covered, detail = agent_antivirus(device.inventory or {})
        source = "agent"
        if not covered:
            row = attestations.get(("device", device.pk, Protection.ANTIVIRUS))
            attested, note = _from_attestation(row, today)
            if attested or covered is None:
                covered, detail, source = attested, note or detail, "attestation" if row else ""
        result.items.append(
            Item("device", ident, name, Protection.ANTIVIRUS, bool(covered), source, detail)
        )
        beat = newest_beat.get(device.pk)
        if beat and beat[1]:
            result.items.append(
                Item("device", ident, name, Protection.BACKUP, True, "heartbeat", "")
            )
        else:
            row = attestations.get(("device", device.pk, Protection.BACKUP))
            attested, note = _from_attestation(row, today)
            if beat and not attested:
                note = _("the last backup failed")
            result.items.append(
                Item(
                    "device",
                    ident,
                    name,
                    Protection.BACKUP,
                    attested,
                    "attestation" if row else "",
                    note,
                )
            )
    memberships = (
        ContactMembership.objects.filter(client=client, is_user=True)
        .select_related("contact")
        .order_by("contact__name", "contact__pk")
    )
    for membership in memberships:
        contact = membership.contact
        for kind in CONTACT_KINDS:
            row = attestations.get(("contact", contact.pk, kind))
            attested, note = _from_attestation(row, today)
            result.items.append(
                Item(
                    "contact",
                    str(contact.public_id),
                    contact.name,
                    kind,
                    attested,
                    "attestation" if row else "",
                    note,
                )
            )
    return result


def overview(clients: list[Client], *, now: Any = None) -> list[Coverage]:
    """Every given client's coverage, worst score first."""
    rows = [coverage_of(client, now=now) for client in clients]
    return sorted(rows, key=lambda c: (c.score, c.client.name))
