"""Writes to people, clients and tokens, each with its audit event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import DomainNameValidator
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import (
    ApiToken,
    AuditEvent,
    Client,
    Contact,
    ContactMembership,
    Holiday,
    Language,
    MailDomain,
    Role,
    Site,
    User,
    hash_token,
    validate_time_zone,
)
from atalaya.core.phones import region_for, region_for_zone, to_e164
from atalaya.core.signals import client_calendar_changed


def record_audit(
    actor: User | None,
    obj: Any,
    action: str,
    *,
    client: Client | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append who changed what on a non-ticket object."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        client=client,
        object_type=type(obj).__name__.lower(),
        object_id=str(getattr(obj, "public_id", obj.pk)),
        action=action,
        before=before or {},
        after=after or {},
    )


def _require_admin(actor: User | None) -> None:
    # None is the system itself (CLI, demo loader, migrations).
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only administrators may do this."))


@transaction.atomic
def create_client(
    *, actor: User | None, name: str, mail_domains: Sequence[str] = (), **fields: Any
) -> Client:
    """Add a client company, optionally with the mail domains that identify it."""
    _require_admin(actor)
    if "phone" in fields:
        # Stored in E.164, local numbers read in the country of the client's time zone.
        fields["phone"] = to_e164(fields["phone"], region_for_zone(fields.get("time_zone")))
    client = Client(name=name.strip(), **fields)
    client.full_clean()
    client.save()
    for domain in mail_domains:
        MailDomain.objects.create(client=client, domain=domain)
    record_audit(actor, client, "created", client=client, after={"name": client.name})
    return client


@transaction.atomic
def add_site(*, actor: User | None, client: Client, name: str, **fields: Any) -> Site:
    """Add a site (office, branch) to a client."""
    _require_admin(actor)
    site = Site(client=client, name=name.strip(), **fields)
    site.full_clean()
    site.save()
    record_audit(actor, site, "created", client=client, after={"name": site.name})
    return site


@transaction.atomic
def add_holidays(*, actor: User | None, client: Client, days: Sequence[tuple[date, str]]) -> int:
    """Mark days the client is closed, so its SLA clocks stop on them; days already set are kept."""
    _require_admin(actor)
    known = set(client.holidays.values_list("date", flat=True))
    new = [
        Holiday(client=client, date=day, name=name[:120]) for day, name in days if day not in known
    ]
    Holiday.objects.bulk_create(new)
    if new:
        client_calendar_changed.send(sender=Client, client=client)
        record_audit(
            actor,
            client,
            "holidays_added",
            client=client,
            after={"holidays": [h.date.isoformat() for h in new]},
        )
    return len(new)


# What an administrator may change on a client after creating it.
UPDATABLE_CLIENT_FIELDS = frozenset(
    {
        "name",
        "legal_name",
        "language",
        "time_zone",
        "phone",
        "notes",
        "is_active",
        "working_days",
        "workday_starts_at",
        "workday_ends_at",
    }
)


CALENDAR_FIELDS = frozenset({"time_zone", "working_days", "workday_starts_at", "workday_ends_at"})


def _audit_value(value: Any) -> Any:
    # Audit rows are JSON; times and dates are kept as ISO text.
    return value.isoformat() if hasattr(value, "isoformat") else value


@transaction.atomic
def update_client(*, actor: User | None, client: Client, **changes: Any) -> Client:
    """Change a client's details or business hours; the audit event keeps before and after.

    Only the fields that really change are written and recorded. On a validation error
    the client is reloaded, so the caller's object never shows values that were refused.
    A change of the business calendar lays the due times of open tickets out again.
    """
    _require_admin(actor)
    unknown = sorted(set(changes) - UPDATABLE_CLIENT_FIELDS)
    if unknown:
        raise ValidationError({field: [_("This field cannot be changed.")] for field in unknown})
    if "phone" in changes:
        zone = changes.get("time_zone", client.time_zone)
        changes["phone"] = to_e164(changes["phone"], region_for_zone(zone))
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for field, value in changes.items():
        if isinstance(value, str) and field != "notes":
            value = value.strip()
        if getattr(client, field) != value:
            before[field], after[field] = _audit_value(getattr(client, field)), _audit_value(value)
            setattr(client, field, value)
    if not after:
        return client
    try:
        client.full_clean()
    except ValidationError:
        client.refresh_from_db()
        raise
    client.save(update_fields=list(after))
    if CALENDAR_FIELDS & set(after):
        client_calendar_changed.send(sender=Client, client=client)
    record_audit(actor, client, "updated", client=client, before=before, after=after)
    return client


@transaction.atomic
def add_mail_domain(*, actor: User | None, client: Client, domain: str) -> MailDomain:
    """Map a mail domain to a client, so mail from unknown senders there lands with it.

    A domain belongs to one client only; "@Example.COM." is stored as "example.com".
    """
    _require_admin(actor)
    value = (domain or "").strip().lower().removeprefix("@").rstrip(".")
    try:
        DomainNameValidator(accept_idna=True)(value)
    except ValidationError as exc:
        raise ValidationError({"domain": exc.messages}) from None
    mail_domain = MailDomain(client=client, domain=value)
    mail_domain.full_clean()
    mail_domain.save()
    record_audit(actor, client, "mail_domain_added", client=client, after={"domain": value})
    return mail_domain


@transaction.atomic
def add_contact_to_client(
    *,
    actor: User | None,
    contact: Contact,
    client: Client,
    site: Site | None = None,
    job_title: str = "",
    is_decision_maker: bool = False,
    is_technical: bool = False,
    is_billing: bool = False,
    is_user: bool = True,
) -> ContactMembership:
    """Make an existing contact a contact of one more client too (people work for several).

    A portal login of the contact then sees this client as well. The role flags say
    what the person is at this client (announcements can go to one role only).
    """
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not add contacts."))
    if site is not None and site.client_id != client.pk:
        raise ValidationError({"site": [_("This site belongs to another client.")]})
    if ContactMembership.objects.filter(contact=contact, client=client).exists():
        raise ValidationError({"contact": [_("This person is already a contact of this client.")]})
    membership = ContactMembership(
        contact=contact,
        client=client,
        site=site,
        job_title=job_title.strip(),
        is_decision_maker=is_decision_maker,
        is_technical=is_technical,
        is_billing=is_billing,
        is_user=is_user,
    )
    membership.full_clean()
    membership.save()
    record_audit(
        actor,
        contact,
        "added_to_client",
        client=client,
        after={"name": contact.name, "client": client.name, **_role_flags(membership)},
    )
    return membership


@transaction.atomic
def create_contact(
    *,
    actor: User | None,
    clients: Sequence[Client],
    name: str,
    email: str = "",
    site: Site | None = None,
    job_title: str = "",
    is_decision_maker: bool = False,
    is_technical: bool = False,
    is_billing: bool = False,
    is_user: bool = True,
    **fields: Any,
) -> Contact:
    """Add a person at one or more clients; the first site given applies to its own client.

    The role flags (decision maker, technical, billing, user) apply at every client given.
    """
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not add contacts."))
    if not clients:
        raise ValidationError({"clients": [_("A contact belongs to at least one client.")]})
    if "phone" in fields:
        fields["phone"] = to_e164(fields["phone"], region_for(clients[0]))
    contact = Contact(name=name.strip(), email=email.strip().lower(), **fields)
    contact.full_clean()
    contact.save()
    for client in clients:
        membership = ContactMembership.objects.create(
            contact=contact,
            client=client,
            job_title=job_title.strip()[:120],
            site=site if site and site.client_id == client.pk else None,
            is_decision_maker=is_decision_maker,
            is_technical=is_technical,
            is_billing=is_billing,
            is_user=is_user,
        )
        record_audit(
            actor,
            contact,
            "created",
            client=client,
            after={"name": contact.name, **_role_flags(membership)},
        )
    return contact


@transaction.atomic
def set_contact_phone(*, actor: User | None, contact: Contact, phone: str) -> Contact:
    """Change a contact's phone number (stored in E.164), with its audit event.

    Local numbers are read in the country of the contact's first client. An empty
    value removes the number.
    """
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not change contacts."))
    first = contact.memberships.select_related("client").order_by("pk").first()
    value = to_e164(phone, region_for(first.client if first else None))
    if value == contact.phone:
        return contact
    before = {"phone": contact.phone}
    contact.phone = value
    contact.save(update_fields=["phone"])
    record_audit(
        actor,
        contact,
        "phone_changed",
        client=first.client if first else None,
        before=before,
        after={"phone": value},
    )
    return contact


ROLE_FLAGS = ("is_decision_maker", "is_technical", "is_billing", "is_user")


def _role_flags(membership: ContactMembership) -> dict[str, bool]:
    # Only the flags that differ from a plain contact's, so the history stays short.
    plain = {
        "is_decision_maker": False,
        "is_technical": False,
        "is_billing": False,
        "is_user": True,
    }
    return {
        flag: getattr(membership, flag)
        for flag in ROLE_FLAGS
        if getattr(membership, flag) != plain[flag]
    }


def _set_valid_password(user: User, password: str) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)


@transaction.atomic
def create_staff_user(
    *,
    actor: User | None,
    username: str,
    password: str,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    language: str = "en",
    time_zone: str = "Europe/Madrid",
) -> User:
    """Add an MSP staff member with a role."""
    _require_admin(actor)
    if role not in Role.values or role == Role.PORTAL:
        raise ValidationError({"role": [_("Unknown staff role.")]})
    user = User(
        username=username,
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        language=language,
        time_zone=time_zone,
        is_staff=role == Role.ADMIN,
    )
    _set_valid_password(user, password)
    user.full_clean()
    user.save()
    record_audit(actor, user, "created", after={"username": username, "role": role})
    return user


@transaction.atomic
def create_portal_user(
    *,
    actor: User | None,
    contact: Contact,
    username: str,
    password: str,
    client: Client | None = None,
) -> User:
    """Give a contact a portal login; it sees exactly the clients the contact belongs to.

    ``client`` only files the audit event in that client's history.
    """
    _require_admin(actor)
    user = User(
        username=username,
        email=contact.email,
        role=Role.PORTAL,
        contact=contact,
        first_name=contact.name,
        language=contact.language,
        time_zone=contact.time_zone,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    record_audit(
        actor, user, "created", client=client, after={"username": username, "role": Role.PORTAL}
    )
    return user


@transaction.atomic
def create_api_token(*, actor: User | None, user: User, name: str) -> tuple[ApiToken, str]:
    """Issue a token for ``user``; returns the row and the raw value, which is never stored."""
    if actor is not None and actor.pk != user.pk and not actor.is_admin:
        raise PermissionDenied(_("You may only create tokens for yourself."))
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": [_("Give the token a name of 1 to 100 characters.")]})
    raw = ApiToken.generate()
    token = ApiToken.objects.create(user=user, name=name, token_hash=hash_token(raw), hint=raw[-4:])
    record_audit(actor, token, "created", after={"user": user.username, "name": name})
    return token, raw


@transaction.atomic
def revoke_api_token(*, actor: User | None, token: ApiToken) -> ApiToken:
    """Revoke a token at once; requests with it fail from now on (actor None: the CLI)."""
    if actor is not None and actor.pk != token.user_id and not actor.is_admin:
        raise PermissionDenied(_("You may only revoke your own tokens."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_audit(actor, token, "revoked")
    return token


def _token_user_sql() -> str:
    qn = connection.ops.quote_name
    columns = ", ".join(f"u.{qn(str(f.column))}" for f in User._meta.concrete_fields)
    tokens, users = qn(ApiToken._meta.db_table), qn(User._meta.db_table)
    return (
        f"SELECT {columns}, t.{qn('id')} AS token_id, "  # noqa: S608 (names from the models)
        f"CASE WHEN t.{qn('last_used_at')} IS NULL OR t.{qn('last_used_at')} < %s "
        "THEN 1 ELSE 0 END AS token_unstamped "
        f"FROM {tokens} t JOIN {users} u ON u.{qn('id')} = t.{qn('user_id')} "
        f"WHERE t.{qn('token_hash')} = %s AND t.{qn('revoked_at')} IS NULL "
        f"AND u.{qn('is_active')} = %s"
    )


def user_for_token(raw: str) -> User | None:
    """The active user behind a bearer token, marking it used (at most once a minute).

    Every API request runs this, so it is one raw query (a fraction of the ORM's cost
    to build a select_related query) that also says whether the use stamp is stale.
    """
    if not raw or not raw.startswith(ApiToken.PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    params = [now - timedelta(minutes=1), hash_token(raw), True]
    user = next(iter(User.objects.raw(_token_user_sql(), params)), None)
    if user is None:
        return None
    if user.token_unstamped:  # type: ignore[attr-defined]
        # Throttled so a busy integration does not turn every read into a write.
        ApiToken.objects.filter(pk=user.token_id).update(last_used_at=now)  # type: ignore[attr-defined]
    return user


def is_locked_out(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > timezone.now()


def record_login_failure(user: User) -> None:
    """Count a failed password; lock the account for a while after too many."""
    User.objects.filter(pk=user.pk).update(failed_login_count=F("failed_login_count") + 1)
    user.refresh_from_db(fields=["failed_login_count"])
    if user.failed_login_count >= settings.LOGIN_MAX_FAILURES:
        user.locked_until = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        user.failed_login_count = 0
        user.save(update_fields=["locked_until", "failed_login_count"])
        record_audit(None, user, "locked_out")


def record_login_success(user: User) -> None:
    if user.failed_login_count or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_login_count=0, locked_until=None)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def verify_totp(secret: str, code: str) -> bool:
    code = (code or "").strip().replace(" ", "")
    return bool(secret) and code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


@transaction.atomic
def enable_totp(*, user: User, secret: str, code: str) -> None:
    """Turn on two-factor sign-in once the user proves their app shows the right code."""
    if not user.is_msp_staff:
        raise PermissionDenied(_("Two-factor sign-in is for staff accounts."))
    if not verify_totp(secret, code):
        raise ValidationError({"code": [_("That code does not match; check your device's clock.")]})
    user.totp_secret = secret
    user.save(update_fields=["totp_secret"])
    record_audit(user, user, "totp_enabled")


@transaction.atomic
def disable_totp(*, actor: User, user: User) -> None:
    if actor.pk != user.pk and not actor.is_admin:
        raise PermissionDenied(_("You may only change your own sign-in."))
    user.totp_secret = ""
    user.save(update_fields=["totp_secret"])
    record_audit(actor, user, "totp_disabled")


@transaction.atomic
def update_preferences(*, actor: User, user: User, language: str, time_zone: str) -> User:
    """Set the language and time zone a person sees the UI (and their mail) in."""
    if actor.pk != user.pk and not actor.is_admin:
        raise PermissionDenied(_("You may only change your own preferences."))
    if language not in Language.values:
        raise ValidationError({"language": [_("Unknown language.")]})
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        raise ValidationError({"time_zone": exc.messages}) from None
    before = {"language": user.language, "time_zone": user.time_zone}
    user.language, user.time_zone = language, time_zone
    user.save(update_fields=["language", "time_zone"])
    if user.contact_id is not None:
        # A portal user is their contact: mail to the contact follows the same choice.
        Contact.objects.filter(pk=user.contact_id).update(language=language, time_zone=time_zone)
    after = {"language": user.language, "time_zone": user.time_zone}
    if before != after:
        record_audit(actor, user, "preferences_changed", before=before, after=after)
    return user


@transaction.atomic
def change_password(*, user: User, current_password: str, new_password: str) -> User:
    """Change one's own password after proving the current one; the new one must pass validation."""
    if not user.check_password(current_password):
        raise ValidationError({"current_password": [_("That is not your current password.")]})
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    record_audit(user, user, "password_changed")
    return user
