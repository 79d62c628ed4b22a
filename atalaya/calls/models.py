"""The call log: every phone call with a client, the phone systems that report rings.

A Call is client-owned (non-null ``client``): who called (the contact, when known),
the number in E.164, what was said (the note) and where it went (a new ticket, or an
event on one of the contact's open tickets). Calls are the MSP's own records: staff
see them, client portal users never do.

A PhoneSystem (Asterisk, 3CX…) calls the ring webhook with the caller's number and
the extension that rings. Each ring is kept as a Ring: the number may be nobody's yet,
so a ring reaches no client by itself; when the number is a known contact's, the ring
also logs a Call at once. The webhook's secret is derived, never stored (see
``PhoneSystem.secret``).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, Client, Contact


def _is_staff(user: Any) -> bool:
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.role in STAFF_ROLES
    )


class Direction(models.TextChoices):
    INBOUND = "in", _("Incoming")
    OUTBOUND = "out", _("Outgoing")


class CallSource(models.TextChoices):
    MANUAL = "manual", _("Logged by hand")
    RING = "ring", _("Ring webhook")


class PhoneSystemQuerySet(models.QuerySet["PhoneSystem"]):
    def visible_to(self, user: Any) -> PhoneSystemQuerySet:
        """MSP staff see the phone systems; anyone else none (administrators change them)."""
        return self.all() if _is_staff(user) else self.none()


class PhoneSystem(models.Model):
    """A PBX that reports rings to Atalaya: its webhook URL names it by ``public_id``.

    The signing secret is HMAC(SECRET_KEY, "phone:<public_id>:<version>"): nothing
    secret is stored, rotating bumps ``secret_version`` (the old secret stops working
    at once), and changing SECRET_KEY rotates every system's secret.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    secret_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    last_ring_at = models.DateTimeField(null=True, blank=True)

    objects = PhoneSystemQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        message = f"phone:{self.public_id}:{self.secret_version}".encode()
        return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()

    def signature_of(self, body: bytes) -> str:
        """The ``X-Atalaya-Signature`` value a PBX sends with ``body``."""
        return "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()


class CallQuerySet(models.QuerySet["Call"]):
    def visible_to(self, user: Any) -> CallQuerySet:
        """Fails closed: MSP staff see every call; portal users and anyone else none."""
        return self.all() if _is_staff(user) else self.none()


class Call(models.Model):
    """One phone call with a client: who, which number, what about, and where it was filed.

    ``ticket`` and ``event`` say where the note went: a new ticket (its creation event)
    or an internal note on an open ticket. A call reported by the ring webhook starts
    without them until a technician logs what was said. ``idempotency_key`` is unique,
    so a form submitted twice or a ring reported twice is one call.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="calls")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="calls"
    )
    number = models.CharField(max_length=20, blank=True, default="")
    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.INBOUND)
    note = models.TextField(blank=True, default="")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
    )
    started_at = models.DateTimeField(default=timezone.now)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.PROTECT, related_name="calls"
    )
    event = models.ForeignKey(
        "tickets.TicketEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    source = models.CharField(max_length=8, choices=CallSource.choices, default=CallSource.MANUAL)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CallQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The call log page: newest first, optionally one client's.
            models.Index(fields=["-started_at", "-id"], name="call_started"),
            models.Index(fields=["client", "-started_at"], name="call_client_started"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.number} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_filed(self) -> bool:
        return self.ticket_id is not None


class RingQuerySet(models.QuerySet["Ring"]):
    def visible_to(self, user: Any) -> RingQuerySet:
        return self.all() if _is_staff(user) else self.none()


class Ring(models.Model):
    """A call the phone system reported ringing at an extension, known caller or not.

    ``technician`` is the user whose extension rang (none when nobody has it); the ring
    panel of that technician's pages shows it. ``call`` is the logged call: at once for
    a known contact, or when the technician logs an unknown number's call.
    """

    phone_system = models.ForeignKey(PhoneSystem, on_delete=models.PROTECT, related_name="rings")
    external_id = models.CharField(max_length=120)
    caller = models.CharField(max_length=20)
    extension = models.CharField(max_length=20, blank=True, default="")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    call = models.OneToOneField(
        Call, null=True, blank=True, on_delete=models.PROTECT, related_name="ring"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = RingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A PBX retrying its webhook reports the same call_id: one ring.
            models.UniqueConstraint(fields=["phone_system", "external_id"], name="ring_once")
        ]
        indexes = [
            # The ring panel polls this every two seconds for each technician.
            models.Index(fields=["technician", "created_at"], name="ring_technician_at"),
        ]

    def __str__(self) -> str:
        return f"{self.caller} → {self.extension or '?'}"
