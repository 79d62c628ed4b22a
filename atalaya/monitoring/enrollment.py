"""Enrollment: a site's tokens, and an agent trading one for a device and its own token.

An enrollment token (``ate_…``) is shown once, stored hashed, expires, can be revoked
and is usable ``max_uses`` times. Enrolling consumes one use by a compare-and-set
update, so agents enrolling at the same moment (a whole office imaged at once) never
use a token more often than allowed, on SQLite or on PostgreSQL. The same machine
(its ``machine_id``) enrolled again at the same site gets its device back with a new
token: the old token stops working, the history stays with the device.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import Site, User, hash_token
from atalaya.core.services import record_audit
from atalaya.monitoring.models import Device, DeviceStatus, EnrollmentToken

# More uses than this is a typo, not a plan: one token per site and batch of machines.
MAX_USES_LIMIT = 100_000
# Enrollment tokens are for rolling out agents, not standing credentials.
MAX_LIFETIME = timedelta(days=366)

# Lengths of the enrolling machine's self-description, as the Device columns allow.
FIELD_LIMITS = {
    "hostname": 255,
    "machine_id": 128,
    "platform": 20,
    "os_name": 120,
    "os_version": 120,
    "agent_version": 40,
}


class EnrollmentRefused(Exception):
    """An enrollment token that cannot be used; ``reason`` says which way, the message why.

    ``reason`` is one of ``unknown``, ``revoked``, ``expired``, ``used_up``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _require_writer(actor: User | None) -> None:
    # None is the system itself (CLI, demo loader).
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Only staff who may write tickets may manage enrollment tokens."))


@transaction.atomic
def create_enrollment_token(
    *,
    actor: User | None,
    site: Site,
    name: str,
    expires_at: datetime,
    max_uses: int = 1,
) -> tuple[EnrollmentToken, str]:
    """Issue an enrollment token for ``site``; returns the row and the raw value (shown once).

    Raises ``ValidationError`` naming the field for an empty or long name, an expiry in
    the past or more than a year away, and a use count below 1 or absurdly high.
    """
    _require_writer(actor)
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = [_("Give the token a name of 1 to 100 characters.")]
    if not isinstance(expires_at, datetime) or timezone.is_naive(expires_at):
        errors["expires_at"] = [_("Give the expiry as a date and time with its time zone.")]
    elif expires_at <= now:
        errors["expires_at"] = [_("The expiry must be in the future.")]
    elif expires_at > now + MAX_LIFETIME:
        errors["expires_at"] = [_("An enrollment token may be valid for a year at most.")]
    if isinstance(max_uses, bool) or not isinstance(max_uses, int):
        errors["max_uses"] = [_("The number of uses must be a whole number.")]
    elif max_uses < 1:
        errors["max_uses"] = [_("The token must be usable at least once.")]
    elif max_uses > MAX_USES_LIMIT:
        errors["max_uses"] = [
            _("A token may be used %(limit)d times at most.") % {"limit": MAX_USES_LIMIT}
        ]
    if errors:
        raise ValidationError(errors)
    raw = EnrollmentToken.generate()
    token = EnrollmentToken.objects.create(
        client_id=site.client_id,
        site=site,
        name=name,
        token_hash=hash_token(raw),
        hint=raw[-4:],
        expires_at=expires_at,
        max_uses=max_uses,
        created_by=actor if actor is not None and actor.pk else None,
        created_at=now,
    )
    record_audit(
        actor,
        token,
        "created",
        client=site.client,
        after={
            "site": str(site.public_id),
            "name": name,
            "expires_at": expires_at.isoformat(),
            "max_uses": max_uses,
        },
    )
    return token, raw


@transaction.atomic
def revoke_enrollment_token(*, actor: User | None, token: EnrollmentToken) -> EnrollmentToken:
    """Revoke a token at once: enrollments with it fail from now on; enrolled devices stay."""
    _require_writer(actor)
    if token.revoked_at is None:
        now = timezone.now()
        # Compare-and-set: two revocations at once record one event.
        if EnrollmentToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=now):
            token.revoked_at = now
            record_audit(actor, token, "revoked", client=token.site.client)
        else:
            token.refresh_from_db(fields=["revoked_at"])
    return token


def _refusal(token: EnrollmentToken | None, now: datetime) -> EnrollmentRefused:
    if token is None:
        return EnrollmentRefused("unknown", _("Unknown enrollment token."))
    if token.revoked_at is not None:
        return EnrollmentRefused("revoked", _("This enrollment token was revoked."))
    if token.expires_at <= now:
        return EnrollmentRefused("expired", _("This enrollment token has expired."))
    return EnrollmentRefused("used_up", _("This enrollment token has been used up."))


def _clean_machine_fields(fields: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for field, limit in FIELD_LIMITS.items():
        value = fields[field]
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[field] = [_("Must be text.")]
            continue
        value = value.strip()
        if len(value) > limit:
            errors[field] = [_("At most %(limit)d characters.") % {"limit": limit}]
        elif "\x00" in value:
            errors[field] = [_("Must not contain NUL characters.")]
        cleaned[field] = value
    if "hostname" not in errors and not cleaned.get("hostname"):
        errors["hostname"] = [_("The hostname is required.")]
    if errors:
        raise ValidationError(errors)
    return cleaned


def enroll_device(
    *,
    raw_token: str,
    hostname: str,
    machine_id: str,
    platform: str,
    os_name: str,
    os_version: str,
    agent_version: str,
    now: datetime | None = None,
) -> tuple[Device, str]:
    """Trade one use of an enrollment token for a device and its raw device token.

    Raises ``EnrollmentRefused`` (unknown, revoked, expired, used up) or
    ``ValidationError`` naming the field. The use is taken by a compare-and-set update
    inside the same transaction as the device write, so a failed write gives it back.
    """
    now = now or timezone.now()
    fields = _clean_machine_fields(
        {
            "hostname": hostname,
            "machine_id": machine_id,
            "platform": platform,
            "os_name": os_name,
            "os_version": os_version,
            "agent_version": agent_version,
        }
    )
    if (
        not isinstance(raw_token, str)
        or not raw_token.startswith(EnrollmentToken.PREFIX)
        or len(raw_token) > 200
    ):
        raise _refusal(None, now)
    with transaction.atomic():
        token = (
            EnrollmentToken.objects.select_related("site", "site__client")
            .filter(token_hash=hash_token(raw_token))
            .first()
        )
        if token is None:
            raise _refusal(None, now)
        taken = EnrollmentToken.objects.filter(
            pk=token.pk, uses__lt=F("max_uses"), revoked_at=None, expires_at__gt=now
        ).update(uses=F("uses") + 1)
        if not taken:
            token.refresh_from_db(fields=["uses", "revoked_at", "expires_at"])
            raise _refusal(token, now)
        raw_device_token = Device.generate_token()
        device = None
        if fields["machine_id"]:
            device = (
                Device.objects.select_for_update()
                .filter(site=token.site, machine_id=fields["machine_id"], retired_at=None)
                .order_by("-enrolled_at")
                .first()
            )
        if device is not None:
            device.token_hash = hash_token(raw_device_token)
            device.token_hint = raw_device_token[-4:]
            device.enrolled_with = token
            device.enrolled_at = now
            for field, value in fields.items():
                setattr(device, field, value)
            device.save(
                update_fields=[
                    "token_hash",
                    "token_hint",
                    "enrolled_with",
                    "enrolled_at",
                    *fields,
                ]
            )
            action = "rekeyed"
        else:
            device = Device.objects.create(
                client_id=token.client_id,
                site=token.site,
                token_hash=hash_token(raw_device_token),
                token_hint=raw_device_token[-4:],
                enrolled_with=token,
                enrolled_at=now,
                status=DeviceStatus.PENDING,
                status_changed_at=now,
                **fields,
            )
            action = "enrolled"
        record_audit(
            None,
            device,
            action,
            client=token.site.client,
            after={
                "hostname": device.hostname,
                "site": str(token.site.public_id),
                "enrollment_token": str(token.public_id),
            },
        )
    return device, raw_device_token
