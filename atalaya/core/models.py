"""People, client companies and the audit trail: what every other app hangs off.

The boundary of isolation is the client company. Every client-owned row reaches its
client through a non-null foreign key, and every queryset of such rows offers
``visible_to(user)``, which fails closed: a role it does not know sees nothing.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
import zoneinfo
from datetime import time
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.phones import reversed_digits

if TYPE_CHECKING:
    from django.db.models import QuerySet

_M = TypeVar("_M", bound=models.Model)


class Language(models.TextChoices):
    ENGLISH = "en", _("English")
    SPANISH = "es", _("Spanish")


@functools.cache
def known_time_zones() -> frozenset[str]:
    """The IANA zone names of this machine; read once, since listing them walks the disk."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in known_time_zones():
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value})


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    TECHNICIAN = "technician", _("Technician")
    BILLING = "billing", _("Billing")
    READONLY = "readonly", _("Read-only")
    PORTAL = "portal", _("Client portal user")


STAFF_ROLES = frozenset({Role.ADMIN, Role.TECHNICIAN, Role.BILLING, Role.READONLY})
# Roles that may change tickets (reply, note, status, assignment, time).
TICKET_WRITER_ROLES = frozenset({Role.ADMIN, Role.TECHNICIAN})


class User(AbstractUser):
    """A person who signs in: MSP staff with a role, or a client contact with a portal login.

    A portal user is tied to exactly one Contact and sees the clients that contact
    belongs to. Language and time zone drive the UI; TOTP is optional for staff.
    """

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.READONLY)
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.ENGLISH)
    time_zone = models.CharField(
        max_length=64, default="Europe/Madrid", validators=[validate_time_zone]
    )
    contact = models.OneToOneField(
        "core.Contact", null=True, blank=True, on_delete=models.PROTECT, related_name="portal_user"
    )
    totp_secret = models.CharField(max_length=64, blank=True, default="")
    # May queue remote actions (reboots, scripts) on monitored devices; administrators
    # always may. Off by default: running code on a client's machine is a privilege.
    is_remote_operator = models.BooleanField(default=False)
    failed_login_count = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    # The technician's desk extension on the phone system: a ring webhook naming it shows
    # the caller to this person. Indexed: every ring looks it up.
    phone_extension = models.CharField(max_length=20, blank=True, default="", db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="portal") | models.Q(contact__isnull=False),
                name="portal_user_has_contact",
            )
        ]

    @property
    def is_msp_staff(self) -> bool:
        return self.is_active and self.role in STAFF_ROLES

    @property
    def is_portal(self) -> bool:
        return self.is_active and self.role == Role.PORTAL and self.contact_id is not None

    @property
    def can_write_tickets(self) -> bool:
        return self.is_active and self.role in TICKET_WRITER_ROLES

    @property
    def can_run_remote_actions(self) -> bool:
        return self.is_active and (
            self.role == Role.ADMIN or (self.role == Role.TECHNICIAN and self.is_remote_operator)
        )

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role == Role.ADMIN

    @property
    def has_totp(self) -> bool:
        return bool(self.totp_secret)

    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ClientQuerySet(models.QuerySet["Client"]):
    def visible_to(self, user: Any) -> ClientQuerySet:
        """Clients the user may see: all for staff, their contact's for portal, else none."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            return self.filter(memberships__contact_id=user.contact_id)
        return self.none()


class Client(models.Model):
    """A client company of the MSP: the unit of isolation, with its own business hours.

    The business-hours calendar (time zone, working days, hours, holidays) drives the
    SLA clock of the client's tickets.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    legal_name = models.CharField(max_length=200, blank=True, default="")
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.SPANISH)
    time_zone = models.CharField(
        max_length=64, default="Europe/Madrid", validators=[validate_time_zone]
    )
    # E.164 ("+34912345678"); see core.phones.
    phone = models.CharField(max_length=40, blank=True, default="")
    notes = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    # Working days as ISO weekday digits (1 = Monday … 7 = Sunday).
    working_days = models.CharField(max_length=7, default="12345")
    workday_starts_at = models.TimeField(default=time(9, 0))
    workday_ends_at = models.TimeField(default=time(18, 0))
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.working_days or any(c not in "1234567" for c in self.working_days):
            raise ValidationError({"working_days": _("Use ISO weekday digits 1 (Monday) to 7.")})
        if self.workday_starts_at >= self.workday_ends_at:
            raise ValidationError(
                {"workday_ends_at": _("The working day must end after it starts.")}
            )


class Holiday(models.Model):
    """A day the client's business is closed: the SLA clock does not run on it."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=120, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "date"], name="holiday_once_per_day")
        ]
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class MailDomain(models.Model):
    """A mail domain that belongs to one client: unknown senders from it map to that client."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="mail_domains")
    domain = models.CharField(max_length=253, unique=True)

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)


class SiteQuerySet(models.QuerySet["Site"]):
    def visible_to(self, user: Any) -> SiteQuerySet:
        return self.filter(client__in=Client.objects.visible_to(user))


class Site(models.Model):
    """A location of a client (office, branch, a home office that counts as a site)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True, default="")
    time_zone = models.CharField(
        max_length=64, default="Europe/Madrid", validators=[validate_time_zone]
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "name"], name="site_name_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.client.name} — {self.name}"


class ContactQuerySet(models.QuerySet["Contact"]):
    def visible_to(self, user: Any) -> ContactQuerySet:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            clients = Client.objects.visible_to(user)
            return self.filter(memberships__client__in=clients).distinct()
        return self.none()


class Contact(models.Model):
    """A person at one or more client companies: caller, mail sender, portal user."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, default="", db_index=True)
    # E.164 ("+34612345678"), written through core.phones.to_e164.
    phone = models.CharField(max_length=40, blank=True, default="", db_index=True)
    # The phone's digits last first, kept by save(): "ends with 345678" becomes a prefix
    # range on this index (core.phones.search_keys), so caller lookup never scans.
    phone_digits_rev = models.CharField(max_length=24, blank=True, default="", db_index=True)
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.SPANISH)
    time_zone = models.CharField(
        max_length=64, default="Europe/Madrid", validators=[validate_time_zone]
    )
    clients = models.ManyToManyField(Client, through="ContactMembership", related_name="contacts")
    # Made by the mail channel for a sender nobody knew: a technician confirms who it is.
    needs_triage = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.phone_digits_rev = reversed_digits(self.phone)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "phone" in update_fields:
            kwargs["update_fields"] = {*update_fields, "phone_digits_rev"}
        super().save(*args, **kwargs)


class ContactMembership(models.Model):
    """A contact's place at one client (and optionally one of its sites)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="memberships")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL)
    job_title = models.CharField(max_length=120, blank=True, default="")
    # Roles at this client: announcements can go to decision makers only, invoices to
    # billing contacts; "user" is a person the MSP looks after (per-user billing).
    is_decision_maker = models.BooleanField(default=False)
    is_technical = models.BooleanField(default=False)
    is_billing = models.BooleanField(default=False)
    is_user = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "client"], name="membership_once_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} @ {self.client_id}"


class AppendOnlyQuerySet(models.QuerySet[_M]):
    """Bulk ``update()`` and ``delete()`` would bypass the model's refusal; refuse them too."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise ValueError(f"{self.model.__name__} is append-only")

    def delete(self) -> NoReturn:
        raise ValueError(f"{self.model.__name__} is append-only")


class AuditEventQuerySet(AppendOnlyQuerySet["AuditEvent"]):
    def visible_to(self, user: Any) -> AuditEventQuerySet:
        # The install-wide audit log is for MSP staff only.
        if user is not None and getattr(user, "is_msp_staff", False):
            return self.all()
        return self.none()


class AppendOnlyModel(models.Model):
    """A row that is written once: history is corrected by new rows, never edited."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ValueError(f"{type(self).__name__} is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"{type(self).__name__} is append-only")


class AuditEvent(AppendOnlyModel):
    """One change to a non-ticket object (client, contact, user, token): who, when, before, after.

    Tickets keep their own history in their timeline (tickets.TicketEvent); this is the
    trail for everything else.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    action = models.CharField(max_length=60)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} {self.action}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A bearer token for /api/v1, stored as a SHA-256 hash; the raw value is shown once.

    Tokens are long random strings, so a fast hash is enough (no salt or KDF needed,
    unlike passwords) and lets a request find its token by an indexed equality lookup.
    """

    PREFIX = "ata_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (…{self.hint})"

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def clients_of(user: Any) -> QuerySet[Client]:
    """Shorthand used by every app's access rules."""
    return Client.objects.visible_to(user)
