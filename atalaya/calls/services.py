"""Every write of the calls app: logging a call, recording a ring, phone systems.

``log_call`` files a call as a new ticket or as an internal note on an open ticket of
the caller, in one transaction with the Call row and its audit event; a form's
idempotency token (or a ring's call id) makes a second submission return the first
call instead of a duplicate. ``record_ring`` is the ring webhook's write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.calls.models import Call, CallSource, Direction, PhoneSystem, Ring
from atalaya.core.models import STAFF_ROLES, Client, Contact, ContactMembership, User
from atalaya.core.phones import (
    default_region,
    prefix_range,
    region_for,
    search_keys,
    to_e164,
)
from atalaya.core.services import record_audit
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import OPEN_STATUSES, Category, Ticket, TicketEvent

MAX_NOTE = 20_000
MAX_QUERY = 80
MAX_MATCHES = 10
SUBJECT_LIMIT = 120


# --- caller lookup ----------------------------------------------------------------------


@dataclass
class CallerMatch:
    """One way to file a call: a contact at one of their clients, with its open tickets."""

    contact: Contact
    client: Client
    open_tickets: int
    by_phone: bool
    other_clients: list[Client] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.contact.public_id}:{self.client.public_id}"


def _phone_condition(query: str, region: str) -> Q | None:
    e164, suffix = search_keys(query, region)
    condition = Q()
    if e164:
        condition |= Q(contact__phone=e164)
    if suffix:
        low, high = prefix_range(suffix)
        rng = Q(contact__phone_digits_rev__gte=low)
        if high is not None:
            rng &= Q(contact__phone_digits_rev__lt=high)
        condition |= rng
    return condition if condition else None


def find_callers(viewer: Any, query: str, *, limit: int = MAX_MATCHES) -> list[CallerMatch]:
    """Contacts (at each client the viewer sees) whose phone or name matches ``query``.

    A query of digits matches a number however it was typed: its E.164 form or, from
    six digits on, the end of the number (both answered by an index on the stored
    E.164 value and on the reversed digits). Letters match the name. One query: the
    memberships with their contact, client and count of the contact's open tickets
    there; a person at two clients is two ways to file the call.
    """
    query = (query or "").strip()[:MAX_QUERY]
    if not query or getattr(viewer, "role", None) not in STAFF_ROLES or not viewer.is_active:
        return []
    has_letters = any(c.isalpha() for c in query)
    phone = _phone_condition(query, default_region())
    condition = Q()
    if phone is not None:
        condition |= phone
    if has_letters and len(query) >= 2:
        condition |= Q(contact__name__icontains=query)
    if not condition:
        return []
    open_tickets = (
        Ticket.objects.filter(
            client=OuterRef("client"), contact=OuterRef("contact"), status__in=OPEN_STATUSES
        )
        .order_by()
        .values("contact")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = list(
        ContactMembership.objects.filter(condition)
        .filter(client__in=Client.objects.visible_to(viewer), client__is_active=True)
        .select_related("contact", "client")
        .annotate(open_tickets=Coalesce(Subquery(open_tickets), 0))
        .order_by("contact__name", "contact_id", "client__name")[: limit * 2]
    )
    e164, suffix = search_keys(query, default_region())
    matches = [
        CallerMatch(
            contact=row.contact,
            client=row.client,
            open_tickets=row.open_tickets,
            by_phone=bool(row.contact.phone)
            and (
                row.contact.phone == e164
                or bool(suffix and row.contact.phone_digits_rev.startswith(suffix))
            ),
        )
        for row in rows
    ]
    # An exact number first: that is the caller, whatever the alphabet says.
    matches.sort(key=lambda m: (not (e164 and m.contact.phone == e164),))
    return matches[:limit]


def open_tickets_for(client: Client, contact: Contact | None, *, limit: int = 20) -> list[Ticket]:
    """The open tickets a call can be added to: the contact's at that client (newest first)."""
    if contact is None:
        return []
    return list(
        Ticket.objects.filter(client=client, contact=contact, status__in=OPEN_STATUSES).order_by(
            "-updated_at"
        )[:limit]
    )


# --- logging a call -----------------------------------------------------------------------


def _require_writer(actor: User) -> None:
    if not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not log calls."))


def _subject(note: str, contact: Contact | None, number: str) -> str:
    first = next((line.strip() for line in note.splitlines() if line.strip()), "")
    if first:
        return first if len(first) <= SUBJECT_LIMIT else first[: SUBJECT_LIMIT - 1] + "…"
    who = contact.name if contact else number
    return (_("Phone call from %(who)s") % {"who": who})[:SUBJECT_LIMIT]


def _note_body(call: Call, note: str) -> str:
    heading = (
        _("Incoming call from %(who)s")
        if call.direction == Direction.INBOUND
        else _("Outgoing call to %(who)s")
    )
    who = call.contact.name if call.contact else call.number
    if call.contact and call.number:
        who = f"{who} ({call.number})"
    return f"{heading % {'who': who}}\n\n{note}".strip()


def _existing(key: str | None) -> Call | None:
    return Call.objects.filter(idempotency_key=key).first() if key else None


def log_call(
    *,
    actor: User,
    client: Client,
    note: str,
    contact: Contact | None = None,
    number: str = "",
    direction: str = Direction.INBOUND,
    ticket: Ticket | None = None,
    category: Category | None = None,
    started_at: datetime | None = None,
    duration_seconds: int | None = None,
    idempotency_key: str | None = None,
    ring: Ring | None = None,
    now: datetime | None = None,
) -> Call:
    """Log a call and file it: a new ticket (``ticket`` None) or a note on an open ticket.

    ``category`` is the new ticket's (a note on an existing ticket leaves its own alone).

    The ticket must be open and the caller's (or, with no contact, the client's). The
    call, the ticket or note and the audit event are written in one transaction. The
    same ``idempotency_key`` again returns the call already logged (a double submit),
    as does a ring whose call is already filed.
    """
    now = now or timezone.now()
    _require_writer(actor)
    existing = _existing(idempotency_key)
    if existing is not None:
        return existing
    note = (note or "").replace("\x00", "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": [_("At most %(n)d characters.") % {"n": MAX_NOTE}]})
    if direction not in Direction.values:
        raise ValidationError({"direction": [_("Use “in” or “out”.")]})
    if duration_seconds is not None and not 0 <= duration_seconds <= 24 * 3600:
        raise ValidationError({"duration": [_("A call lasts between 0 seconds and a day.")]})
    errors: dict[str, list[str]] = {}
    if contact is not None and not contact.memberships.filter(client=client).exists():
        errors["contact"] = [_("This contact is not a contact of the client.")]
    if ticket is not None:
        if ticket.client_id != client.pk:
            errors["ticket"] = [_("This ticket belongs to another client.")]
        elif not ticket.is_open:
            errors["ticket"] = [_("Ticket #%(n)d is not open any more.") % {"n": ticket.number}]
        elif contact is not None and ticket.contact_id != contact.pk:
            errors["ticket"] = [_("This ticket is not one of the caller's.")]
    if errors:
        raise ValidationError(errors)
    number = to_e164(number, region_for(client), field="number") if number else ""
    if not number and contact is not None:
        number = contact.phone if contact.phone.startswith("+") else ""
    if ticket is None and not note:
        raise ValidationError({"note": [_("Say what the call was about: it becomes the ticket.")]})
    try:
        with transaction.atomic():
            return _save_call(
                actor=actor,
                client=client,
                contact=contact,
                number=number,
                direction=direction,
                note=note,
                ticket=ticket,
                category=category,
                started_at=started_at or (ring.created_at if ring else now),
                duration_seconds=duration_seconds,
                idempotency_key=idempotency_key,
                ring=ring,
                now=now,
            )
    except IntegrityError:
        # Two submissions raced past the check above: the other one logged it.
        again = _existing(idempotency_key)
        if again is None:
            raise
        return again


def _save_call(
    *,
    actor: User,
    client: Client,
    contact: Contact | None,
    number: str,
    direction: str,
    note: str,
    ticket: Ticket | None,
    category: Category | None,
    started_at: datetime,
    duration_seconds: int | None,
    idempotency_key: str | None,
    ring: Ring | None,
    now: datetime,
) -> Call:
    call: Call | None = None
    before: dict[str, Any] = {}
    if ring is not None:
        # Locked alone: PostgreSQL refuses FOR UPDATE on the outer join to the call.
        ring = Ring.objects.select_for_update().get(pk=ring.pk)
        call = ring.call
        if call is not None and call.ticket_id is not None:
            return call  # filed already (by another tab, or a colleague)
        if call is not None:
            before = {"client": str(call.client.public_id), "contact": _id(call.contact)}
    if call is None:
        call = Call(source=CallSource.RING if ring else CallSource.MANUAL, created_at=now)
    call.client, call.contact, call.direction, call.note = client, contact, direction, note
    call.number = number or call.number
    call.technician = actor
    call.started_at = started_at
    call.duration_seconds = duration_seconds
    if call.idempotency_key is None:
        call.idempotency_key = idempotency_key
    event: TicketEvent
    if ticket is None:
        ticket = ticket_services.create_ticket(
            actor=actor,
            client=client,
            contact=contact,
            subject=_subject(note, contact, number),
            body=_note_body(call, note),
            category=category,
            now=now,
        )
        event = TicketEvent.objects.get(ticket=ticket, kind="created")
        action = "logged_as_ticket"
    else:
        event = ticket_services.add_note(
            ticket, actor=actor, body=_note_body(call, note or _("(no note)")), now=now
        )
        action = "logged_on_ticket"
    call.ticket, call.event = ticket, event
    call.save()
    if ring is not None and ring.call_id is None:
        ring.call = call
        ring.save(update_fields=["call"])
    record_audit(
        actor,
        call,
        action,
        client=client,
        before=before,
        after={
            "client": str(client.public_id),
            "contact": _id(contact),
            "number": call.number,
            "direction": direction,
            "ticket": ticket.number,
        },
    )
    return call


def _id(obj: Any) -> str | None:
    return str(obj.public_id) if obj is not None else None


# --- the ring webhook ----------------------------------------------------------------------


def technician_at(extension: str) -> User | None:
    """The active staff member whose desk extension this is (the first one, if shared)."""
    if not extension:
        return None
    return (
        User.objects.filter(phone_extension=extension, is_active=True, role__in=STAFF_ROLES)
        .order_by("pk")
        .first()
    )


def contact_with_number(e164: str) -> tuple[Contact | None, Client | None]:
    """The contact whose phone is this number and their first client (none if unknown)."""
    membership = (
        ContactMembership.objects.filter(contact__phone=e164, client__is_active=True)
        .select_related("contact", "client")
        .order_by("contact__name", "contact_id", "pk")
        .first()
    )
    if membership is None:
        return None, None
    return membership.contact, membership.client


def clean_ring(caller: Any, extension: Any, call_id: Any) -> tuple[str, str, str]:
    """The ring's fields checked: caller in E.164, extension and call id as text."""
    errors: dict[str, list[str]] = {}
    values = {"caller": caller, "extension": extension, "call_id": call_id}
    for name, value in values.items():
        if value is not None and not isinstance(value, str | int):
            errors[name] = [_("Must be text.")]
    if errors:
        raise ValidationError(errors)
    caller_text = str(caller or "").strip()
    extension_text = str(extension or "").strip()
    call_text = str(call_id or "").strip()
    if not caller_text:
        errors["caller"] = [_("This field is required.")]
    if not call_text:
        errors["call_id"] = [_("This field is required.")]
    elif len(call_text) > 120 or "\x00" in call_text:
        errors["call_id"] = [_("At most 120 characters.")]
    if len(extension_text) > 20 or "\x00" in extension_text:
        errors["extension"] = [_("At most 20 characters.")]
    e164 = ""
    if caller_text and "caller" not in errors:
        try:
            e164 = to_e164(caller_text, default_region(), field="caller")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return e164, extension_text, call_text


def record_ring(
    *,
    phone_system: PhoneSystem,
    caller: Any,
    extension: Any = "",
    call_id: Any,
    now: datetime | None = None,
) -> tuple[Ring, bool]:
    """Keep a ring the phone system reported; (ring, False) when this call id came before.

    The technician is the one with that extension; a known caller's call is logged at
    once (not filed: that waits for the technician's note), an unknown number's ring
    waits for a technician to say whose it was.
    """
    now = now or timezone.now()
    e164, extension_text, call_text = clean_ring(caller, extension, call_id)
    found = Ring.objects.filter(phone_system=phone_system, external_id=call_text).first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            return _save_ring(phone_system, e164, extension_text, call_text, now), True
    except IntegrityError:
        # The PBX retried while the first request was still being written.
        return Ring.objects.get(phone_system=phone_system, external_id=call_text), False


def _save_ring(
    phone_system: PhoneSystem, e164: str, extension: str, call_id: str, now: datetime
) -> Ring:
    technician = technician_at(extension)
    contact, client = contact_with_number(e164)
    call = None
    if contact is not None and client is not None:
        call = Call.objects.create(
            client=client,
            contact=contact,
            number=e164,
            direction=Direction.INBOUND,
            technician=technician,
            started_at=now,
            source=CallSource.RING,
            idempotency_key=f"ring:{phone_system.public_id}:{call_id}",
            created_at=now,
        )
        record_audit(
            None,
            call,
            "rang",
            client=client,
            after={"number": e164, "extension": extension, "system": phone_system.name},
        )
    ring = Ring.objects.create(
        phone_system=phone_system,
        external_id=call_id,
        caller=e164,
        extension=extension,
        technician=technician,
        contact=contact,
        call=call,
        created_at=now,
    )
    PhoneSystem.objects.filter(pk=phone_system.pk).update(last_ring_at=now)
    return ring


def latest_ring_for(user: User, since: datetime) -> Ring | None:
    """The newest ring at the user's extension after ``since`` (the panel's poll).

    One query on the (technician, created_at) index; the caller renders nothing when
    there is none.
    """
    return (
        Ring.objects.filter(technician=user, created_at__gt=since)
        .order_by("-created_at", "-id")
        .first()
    )


# --- phone systems and extensions ------------------------------------------------------------


def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only administrators may do this."))


@transaction.atomic
def create_phone_system(*, actor: User | None, name: str) -> PhoneSystem:
    """Register a PBX that may call the ring webhook; its secret is shown once after this."""
    _require_admin(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": [_("Give the phone system a name of 1 to 100 characters.")]})
    if PhoneSystem.objects.filter(name=name).exists():
        raise ValidationError({"name": [_("A phone system with this name exists.")]})
    system = PhoneSystem.objects.create(name=name)
    record_audit(actor, system, "created", after={"name": name})
    return system


@transaction.atomic
def rotate_phone_secret(*, actor: User | None, phone_system: PhoneSystem) -> PhoneSystem:
    """A new secret for the PBX: the old one stops working at once."""
    _require_admin(actor)
    PhoneSystem.objects.filter(pk=phone_system.pk).update(
        secret_version=phone_system.secret_version + 1
    )
    phone_system.refresh_from_db(fields=["secret_version"])
    record_audit(
        actor, phone_system, "secret_rotated", after={"version": phone_system.secret_version}
    )
    return phone_system


@transaction.atomic
def set_phone_system_active(
    *, actor: User | None, phone_system: PhoneSystem, is_active: bool
) -> PhoneSystem:
    """Switch a PBX's webhook on or off (off: its rings are refused with 403)."""
    _require_admin(actor)
    if phone_system.is_active != is_active:
        phone_system.is_active = is_active
        phone_system.save(update_fields=["is_active"])
        record_audit(actor, phone_system, "activated" if is_active else "deactivated")
    return phone_system


@transaction.atomic
def set_extensions(*, actor: User | None, extensions: Iterable[tuple[User, str]]) -> int:
    """Set staff members' desk extensions ("201"); returns how many changed."""
    _require_admin(actor)
    changed = 0
    for user, extension in extensions:
        value = (extension or "").strip()
        if len(value) > 20 or (value and not value.replace("*", "").replace("#", "").isalnum()):
            raise ValidationError(
                {"extension": [_("%(v)s is not an extension.") % {"v": value[:30]}]}
            )
        if user.phone_extension == value:
            continue
        before = {"phone_extension": user.phone_extension}
        user.phone_extension = value
        user.save(update_fields=["phone_extension"])
        record_audit(
            actor, user, "extension_changed", before=before, after={"phone_extension": value}
        )
        changed += 1
    return changed
