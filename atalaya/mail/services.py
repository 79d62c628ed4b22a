"""Writes of the mail channel that people make: mailbox settings (more sections follow).

Every write checks who may make it, validates with errors that name the field, and
leaves an audit event. The IMAP password never reaches an audit event or a log.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from atalaya.core.models import User
from atalaya.core.services import record_audit
from atalaya.mail.models import ImapSecurity, Mailbox
from atalaya.tickets.models import Queue

# ---------------------------------------------------------------------------------------
# Mailboxes
# ---------------------------------------------------------------------------------------

MAILBOX_FIELDS = frozenset(
    {
        "address",
        "name",
        "queue",
        "is_active",
        "is_trusted_for_staff",
        "imap_host",
        "imap_port",
        "imap_security",
        "imap_username",
        "imap_password",
        "imap_folder",
    }
)
# A host name or an IPv4/IPv6 literal; no scheme, port, path or spaces.
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$|^[0-9A-Fa-f:.]+$")


def _require_mailbox_admin(actor: User | None) -> None:
    # None is the system itself (CLI, tests' set-up); people must be administrators.
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only administrators may change mailboxes."))


def _audit_values(mailbox: Mailbox, fields: set[str] | frozenset[str]) -> dict[str, Any]:
    """Audit values of ``fields``: the password only as whether it changed, never itself."""
    values: dict[str, Any] = {}
    for field in sorted(fields):
        if field == "imap_password":
            values["imap_password_changed"] = True
        elif field == "queue":
            values["queue"] = mailbox.queue.slug if mailbox.queue else ""
        else:
            values[field] = getattr(mailbox, field)
    return values


def _clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - MAILBOX_FIELDS)
    if unknown:
        raise ValidationError({field: [_("This field cannot be changed.")] for field in unknown})
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if isinstance(value, str) and field != "imap_password":
            value = value.strip()
        if field == "address" and isinstance(value, str):
            value = value.lower()
        if field == "queue" and isinstance(value, str):
            queue = Queue.objects.filter(slug=value).first() if value else None
            if value and queue is None:
                raise ValidationError(
                    {"queue": [_("There is no queue %(slug)s.") % {"slug": value}]}
                )
            value = queue
        if field == "imap_port" and value == "":
            value = None
        cleaned[field] = value
    return cleaned


def _validate_mailbox(mailbox: Mailbox) -> None:
    """Check a mailbox's settings, each error under the field it is about."""
    errors: dict[str, list[str]] = {}
    try:
        validate_email(mailbox.address)
    except ValidationError:
        errors["address"] = [_("Enter a valid mail address, such as support@example.com.")]
    else:
        taken = Mailbox.objects.filter(address=mailbox.address).exclude(pk=mailbox.pk).exists()
        if taken:
            errors["address"] = [_("A mailbox with this address already exists.")]
    if len(mailbox.name) > 100:
        errors["name"] = [_("A name has at most 100 characters.")]
    port = mailbox.imap_port
    if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
        errors["imap_port"] = [_("A port is a number from 1 to 65535.")]
    if mailbox.imap_security not in ImapSecurity.values:
        errors["imap_security"] = [_("Choose IMAPS, STARTTLS or none.")]
    host = mailbox.imap_host
    if host:
        if len(host) > 253 or not _HOST.match(host):
            errors["imap_host"] = [
                _("Enter the server's host name or address only, such as imap.example.com.")
            ]
        if not mailbox.imap_username:
            errors["imap_username"] = [_("A mailbox fetched over IMAP needs a user name.")]
        if not mailbox.imap_password:
            errors["imap_password"] = [_("A mailbox fetched over IMAP needs a password.")]
        if not mailbox.imap_folder:
            errors["imap_folder"] = [_("Name the folder to fetch, usually INBOX.")]
    if len(mailbox.imap_username) > 200:
        errors["imap_username"] = [_("A user name has at most 200 characters.")]
    if len(mailbox.imap_password) > 200:
        errors["imap_password"] = [_("A password has at most 200 characters.")]
    if len(mailbox.imap_folder) > 200:
        errors["imap_folder"] = [_("A folder name has at most 200 characters.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_mailbox(*, actor: User | None, address: str, **fields: Any) -> Mailbox:
    """Add an address Atalaya receives mail at, optionally fetched over IMAP.

    ``queue`` may be a Queue or its slug. Only administrators may do this; the audit
    event records the settings but never the IMAP password.
    """
    _require_mailbox_admin(actor)
    cleaned = _clean_changes({"address": address, **fields})
    mailbox = Mailbox(**cleaned)
    _validate_mailbox(mailbox)
    mailbox.save()
    record_audit(actor, mailbox, "created", after=_audit_values(mailbox, set(cleaned)))
    return mailbox


@transaction.atomic
def update_mailbox(*, actor: User | None, mailbox: Mailbox, **changes: Any) -> Mailbox:
    """Change a mailbox's settings; only the fields that really change are written.

    A blank or missing ``imap_password`` keeps the saved one (the form never shows it
    back, so an empty field means "unchanged"). On a validation error the mailbox is
    reloaded, so the caller's object never shows values that were refused.
    """
    _require_mailbox_admin(actor)
    cleaned = _clean_changes(changes)
    if not cleaned.get("imap_password"):
        cleaned.pop("imap_password", None)
    before: dict[str, Any] = {}
    changed: set[str] = set()
    for field, value in cleaned.items():
        if getattr(mailbox, field) != value:
            changed.add(field)
            before.update(_audit_values(mailbox, {field}))
            setattr(mailbox, field, value)
    if not changed:
        return mailbox
    before.pop("imap_password_changed", None)
    try:
        _validate_mailbox(mailbox)
    except ValidationError:
        mailbox.refresh_from_db()
        raise
    if changed & {"imap_host", "imap_port", "imap_security", "imap_username", "imap_password"}:
        # The last error was about the old connection settings.
        mailbox.last_error = ""
        changed.add("last_error")
    mailbox.save(update_fields=sorted(changed))
    changed.discard("last_error")
    record_audit(actor, mailbox, "updated", before=before, after=_audit_values(mailbox, changed))
    return mailbox
