"""Writes of client communications: announcements written, scheduled, cancelled and sent.

Sending resolves the audience at that moment into one outbox mail per contact (in the
contact's language) and one ``AnnouncementClient`` row per client reached. It is built
for large audiences: the audience is one query, the two languages are rendered once,
and the mails are written with ``bulk_create`` in batches, each batch in its own short
transaction so the delivery worker can start on the first ones while the rest are
written and other writers are not held up on SQLite's single write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaya.comms.models import (
    Announcement,
    AnnouncementClient,
    AnnouncementStatus,
    Audience,
    ContactRole,
)
from atalaya.comms.webhooks.models import WebhookEvent
from atalaya.comms.webhooks.outbox import emit_event
from atalaya.core.models import Client, ContactMembership, Language, User
from atalaya.core.services import record_audit
from atalaya.mail import addressing
from atalaya.mail.models import Delivery, FailingAddress, OutboundKind, OutboundMessage

# Rows per INSERT: large enough that 10,000 mails are 20 statements, small enough to
# stay under SQLite's bound-parameter limit (25 columns a row).
BATCH_SIZE = 500
# A sender that has not written a batch for this long is taken to have crashed: its
# claim may be taken over, and the re-run adds only the mails still missing.
CLAIM_LEASE = timedelta(minutes=5)
PREVIEW_SAMPLE = 10
LANGUAGES = tuple(Language.values)

# The membership flag behind each role audience.
ROLE_FLAGS = {
    ContactRole.DECISION_MAKER: "is_decision_maker",
    ContactRole.TECHNICAL: "is_technical",
    ContactRole.BILLING: "is_billing",
    ContactRole.USER: "is_user",
}
EDITABLE_STATUSES = (AnnouncementStatus.DRAFT, AnnouncementStatus.SCHEDULED)
TEXT_FIELDS = ("subject_en", "subject_es", "body_en", "body_es")


def _require_writer(actor: User | None) -> None:
    # None is the system itself (the periodic job, the CLI, benchmarks).
    if actor is not None and not actor.can_write_tickets:
        raise PermissionDenied(_("Your role may not write announcements."))


def _one_line(value: str, limit: int) -> str:
    # A CR or LF in a subject or name would start a new mail header.
    return " ".join((value or "").split())[:limit]


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def _validate(
    data: dict[str, Any], clients: Sequence[Client], *, now: datetime
) -> dict[str, list[str]]:
    """Field → errors for an announcement's fields (empty when all is well)."""
    errors: dict[str, list[str]] = {}
    for name in TEXT_FIELDS:
        if not (data.get(name) or "").strip():
            errors[name] = [_("Write this in both languages.")]
    for name in ("subject_en", "subject_es"):
        if len((data.get(name) or "").strip()) > 200:
            errors[name] = [_("At most 200 characters.")]
    audience, role = data.get("audience"), data.get("role") or ""
    if audience not in Audience.values:
        errors["audience"] = [_("Choose who receives the announcement.")]
    elif audience == Audience.CHOSEN_CLIENTS and not clients:
        errors["clients"] = [_("Choose at least one client.")]
    elif audience == Audience.ROLE and not role:
        errors["role"] = [_("Choose the role of the contacts to reach.")]
    if role and role not in ContactRole.values:
        errors["role"] = [_("Unknown role.")]
    scheduled_for, expires_at = data.get("scheduled_for"), data.get("expires_at")
    if expires_at is not None and expires_at <= (scheduled_for or now):
        errors["expires_at"] = [_("The banner must expire after the announcement goes out.")]
    return errors


def _apply(announcement: Announcement, data: dict[str, Any]) -> None:
    for name in TEXT_FIELDS:
        setattr(announcement, name, (data.get(name) or "").strip())
    announcement.audience = data["audience"]
    # A role narrows only role and chosen-client audiences; "all clients" means all.
    announcement.role = "" if data["audience"] == Audience.ALL_CLIENTS else data.get("role") or ""
    announcement.expires_at = data.get("expires_at")
    announcement.is_public = bool(data.get("is_public"))
    if "scheduled_for" in data:
        announcement.scheduled_for = data["scheduled_for"]


def _audit_fields(announcement: Announcement, clients: Iterable[Client]) -> dict[str, Any]:
    return {
        "subject_en": announcement.subject_en,
        "subject_es": announcement.subject_es,
        "audience": announcement.audience,
        "role": announcement.role,
        "clients": sorted(str(c.public_id) for c in clients),
        "expires_at": announcement.expires_at.isoformat() if announcement.expires_at else None,
        "is_public": announcement.is_public,
    }


@transaction.atomic
def create_announcement(
    *,
    actor: User | None,
    subject_en: str,
    subject_es: str,
    body_en: str,
    body_es: str,
    audience: str = Audience.ALL_CLIENTS,
    role: str = "",
    clients: Sequence[Client] = (),
    expires_at: datetime | None = None,
    is_public: bool = False,
) -> Announcement:
    """Write a draft announcement: subject and body in English and Spanish, and its audience.

    The audience is only a rule here (all clients, these clients, contacts with this
    role); who it reaches is decided when it is sent. ``is_public`` also puts it on the
    MSP's public news page and feed once it is sent.
    """
    _require_writer(actor)
    clients = list(clients) if audience != Audience.ALL_CLIENTS else []
    data = {
        "subject_en": subject_en,
        "subject_es": subject_es,
        "body_en": body_en,
        "body_es": body_es,
        "audience": audience,
        "role": role,
        "expires_at": expires_at,
        "is_public": is_public,
    }
    errors = _validate(data, clients, now=timezone.now())
    if errors:
        raise ValidationError(errors)
    announcement = Announcement(created_by=actor if actor is not None and actor.pk else None)
    _apply(announcement, data)
    announcement.save()
    announcement.clients.set(clients)
    record_audit(actor, announcement, "created", after=_audit_fields(announcement, clients))
    return announcement


@transaction.atomic
def update_announcement(
    *,
    actor: User | None,
    announcement: Announcement,
    subject_en: str,
    subject_es: str,
    body_en: str,
    body_es: str,
    audience: str,
    role: str = "",
    clients: Sequence[Client] = (),
    expires_at: datetime | None = None,
    is_public: bool = False,
) -> Announcement:
    """Change a draft or scheduled announcement; one that is going out or gone is final."""
    _require_writer(actor)
    current = Announcement.objects.select_for_update().get(pk=announcement.pk)
    if current.status not in EDITABLE_STATUSES:
        raise ValidationError(
            {"status": [_("Only a draft or scheduled announcement can be changed.")]}
        )
    clients = list(clients) if audience != Audience.ALL_CLIENTS else []
    data = {
        "subject_en": subject_en,
        "subject_es": subject_es,
        "body_en": body_en,
        "body_es": body_es,
        "audience": audience,
        "role": role,
        "expires_at": expires_at,
        "is_public": is_public,
        "scheduled_for": current.scheduled_for,
    }
    errors = _validate(data, clients, now=timezone.now())
    if errors:
        raise ValidationError(errors)
    before = _audit_fields(current, current.clients.all())
    _apply(current, data)
    current.save(update_fields=[*TEXT_FIELDS, "audience", "role", "expires_at", "is_public"])
    current.clients.set(clients)
    after = _audit_fields(current, clients)
    changed = [k for k in after if before[k] != after[k]]
    if changed:
        record_audit(
            actor,
            current,
            "updated",
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    announcement.refresh_from_db()
    return current


@transaction.atomic
def schedule_announcement(
    *, actor: User | None, announcement: Announcement, when: datetime, now: datetime | None = None
) -> Announcement:
    """Have the periodic job send a draft (or re-scheduled) announcement at ``when``."""
    _require_writer(actor)
    now = now or timezone.now()
    if when is None or when <= now:
        raise ValidationError({"scheduled_for": [_("Choose a time in the future.")]})
    current = Announcement.objects.select_for_update().get(pk=announcement.pk)
    if current.status not in EDITABLE_STATUSES:
        raise ValidationError(
            {"status": [_("Only a draft or scheduled announcement can be scheduled.")]}
        )
    if current.expires_at is not None and current.expires_at <= when:
        raise ValidationError(
            {"scheduled_for": [_("The announcement would expire before it goes out.")]}
        )
    before = {"status": current.status, "scheduled_for": _iso(current.scheduled_for)}
    current.status, current.scheduled_for = AnnouncementStatus.SCHEDULED, when
    current.save(update_fields=["status", "scheduled_for"])
    record_audit(
        actor,
        current,
        "scheduled",
        before=before,
        after={"status": current.status, "scheduled_for": _iso(when)},
    )
    announcement.status, announcement.scheduled_for = current.status, current.scheduled_for
    return current


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@transaction.atomic
def cancel_announcement(*, actor: User | None, announcement: Announcement) -> int:
    """Stop an announcement before it goes out; returns how many queued mails were cancelled.

    A draft or scheduled one is simply cancelled. One being sent (or sent, while the
    throttled worker is still delivering) has its still-queued mails cancelled; mails
    already handed to the SMTP server cannot be called back. The compare-and-set on
    status means a sender that is half-way notices at its next batch and stops.
    """
    _require_writer(actor)
    cancellable = [*EDITABLE_STATUSES, AnnouncementStatus.SENDING, AnnouncementStatus.SENT]
    previous = (
        Announcement.objects.filter(pk=announcement.pk).values_list("status", flat=True).first()
    )
    changed = Announcement.objects.filter(pk=announcement.pk, status__in=cancellable).update(
        status=AnnouncementStatus.CANCELLED
    )
    if not changed:
        raise ValidationError({"status": [_("This announcement is already cancelled.")]})
    cancelled = OutboundMessage.objects.filter(
        announcement_id=announcement.pk, status=Delivery.QUEUED
    ).update(status=Delivery.CANCELLED)
    if previous == AnnouncementStatus.SENT and not cancelled:
        # Everything was delivered already: there is nothing left to stop.
        raise ValidationError(
            {"status": [_("Every mail of this announcement has been delivered already.")]}
        )
    record_audit(
        actor,
        announcement,
        "cancelled",
        before={"status": previous},
        after={"status": AnnouncementStatus.CANCELLED, "mails_cancelled": cancelled},
    )
    announcement.status = AnnouncementStatus.CANCELLED
    return cancelled


# ---------------------------------------------------------------------------------------
# The audience
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """One contact an announcement goes to, at the client it reaches them through."""

    contact_id: int
    client_id: int
    email: str
    name: str
    language: str


def _memberships(announcement: Announcement) -> QuerySet[ContactMembership]:
    """The memberships of the audience, among active clients and reachable contacts."""
    qs = ContactMembership.objects.filter(
        client__is_active=True, contact__needs_triage=False
    ).exclude(contact__email="")
    narrowed = announcement.audience == Audience.CHOSEN_CLIENTS or (
        announcement.audience == Audience.ROLE and announcement.clients.exists()
    )
    if narrowed:
        qs = qs.filter(client__in=announcement.clients.values("pk"))
    if announcement.audience != Audience.ALL_CLIENTS and announcement.role:
        flag = ROLE_FLAGS.get(ContactRole(announcement.role))
        if flag is None:  # pragma: no cover - the role is validated on write
            return qs.none()
        qs = qs.filter(**{flag: True})
    if announcement.audience == Audience.ROLE and not announcement.role:
        return qs.none()
    failing = FailingAddress.objects.filter(
        address=OuterRef("contact__email"), cleared_at__isnull=True
    )
    return qs.filter(~Exists(failing))


def resolve_audience(announcement: Announcement) -> list[Recipient]:
    """Who the announcement reaches right now: each contact (and each address) once.

    A contact with several memberships in the audience is reached through the first of
    them (the oldest), which names the client of its outbox row.
    """
    rows = (
        _memberships(announcement)
        .order_by("contact_id", "id")
        .values_list(
            "contact_id", "client_id", "contact__email", "contact__name", "contact__language"
        )
    )
    seen_contacts: set[int] = set()
    seen_addresses: set[str] = set()
    recipients: list[Recipient] = []
    for contact_id, client_id, email, name, language in rows.iterator(chunk_size=2000):
        address = email.strip().lower()
        if contact_id in seen_contacts or address in seen_addresses:
            continue
        seen_contacts.add(contact_id)
        # Two contact records with one address are one person's inbox: one mail.
        seen_addresses.add(address)
        recipients.append(
            Recipient(
                contact_id=contact_id,
                client_id=client_id,
                email=address,
                name=name,
                language=language if language in LANGUAGES else Language.ENGLISH,
            )
        )
    return recipients


@dataclass(frozen=True)
class RenderedMail:
    language: str
    subject: str
    body: str


def render_mail(announcement: Announcement, language: str) -> RenderedMail:
    """The announcement's mail in one language: its text and a line on how to answer."""
    with translation.override(language):
        body = render_to_string(
            "comms/mail/announcement.txt",
            {"body": announcement.body_in(language).strip()},
        )
    return RenderedMail(
        language=language,
        subject=_one_line(announcement.subject_in(language), 300),
        body=body.strip() + "\n",
    )


@dataclass
class Preview:
    """What sending would do now: the reach per language and the mail in each language."""

    contacts: int
    clients: int
    per_language: dict[str, int]
    mails: dict[str, RenderedMail]
    sample: list[dict[str, Any]] = field(default_factory=list)


def preview_announcement(announcement: Announcement, *, sample: int = PREVIEW_SAMPLE) -> Preview:
    """How many contacts and clients the announcement would reach right now, per language,
    the rendered mail in each language, and a few of the recipients (name, address,
    client, language)."""
    recipients = resolve_audience(announcement)
    per_language = dict.fromkeys(LANGUAGES, 0)
    for recipient in recipients:
        per_language[recipient.language] += 1
    shown = recipients[:sample]
    names = dict(
        Client.objects.filter(pk__in={r.client_id for r in shown}).values_list("pk", "name")
    )
    return Preview(
        contacts=len(recipients),
        clients=len({r.client_id for r in recipients}),
        per_language=per_language,
        mails={language: render_mail(announcement, language) for language in LANGUAGES},
        sample=[
            {
                "name": r.name,
                "email": r.email,
                "client": names.get(r.client_id, ""),
                "language": r.language,
            }
            for r in shown
        ],
    )


# ---------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What one send did: mails written now (a re-run writes only the missing ones)."""

    announcement: Announcement
    recipients: int
    queued: int
    clients: int


def _claim(announcement: Announcement, now: datetime) -> datetime | None:
    """Take the announcement for sending by compare-and-set; the claim time, or None.

    A draft or scheduled announcement nobody holds is taken; so is one whose sender
    stopped renewing its claim (crashed) for longer than the lease.
    """
    fresh = Announcement.objects.filter(
        pk=announcement.pk, status__in=EDITABLE_STATUSES, claimed_at__isnull=True
    ).update(status=AnnouncementStatus.SENDING, claimed_at=now)
    if fresh:
        return now
    stale = Announcement.objects.filter(
        pk=announcement.pk, status=AnnouncementStatus.SENDING, claimed_at__lt=now - CLAIM_LEASE
    ).update(claimed_at=now)
    return now if stale else None


def _renew(announcement_id: int, claim: datetime) -> datetime | None:
    """Renew our claim before a batch; None if it was cancelled or taken over meanwhile."""
    renewed = max(timezone.now(), claim + timedelta(microseconds=1))
    updated = Announcement.objects.filter(
        pk=announcement_id, status=AnnouncementStatus.SENDING, claimed_at=claim
    ).update(claimed_at=renewed)
    return renewed if updated else None


def _kick_delivery() -> None:
    """Have the mail worker start delivering once this transaction commits.

    Only queues the mail app's delivery job (never sends here, never waits): the worker
    throttles announcement mail to ANNOUNCEMENT_RATE_PER_S, and its periodic run picks
    the mails up anyway if the job is lost.
    """
    from atalaya.mail import outbox

    kick = getattr(outbox, "kick_delivery", None)
    if kick is not None:
        kick()


def send_announcement(
    *, actor: User | None, announcement: Announcement, now: datetime | None = None
) -> SendResult | None:
    """Queue the announcement's mails now; None if it is not ours to send.

    The announcement is claimed by compare-and-set on status and ``claimed_at``, so two
    workers (or a button pressed twice) never send it twice; one that is cancelled,
    sent or held by another sender gives None. The audience is resolved now. Each
    contact gets one outbox mail in their language, keyed
    ``announcement:{id}:contact:{id}`` (a re-run after a crash adds only what is
    missing), with Reply-To the support address so an answer opens a ticket. Each
    client reached gets an ``AnnouncementClient`` row with its recipient count, which
    the portal banner and the client's communication log read.
    """
    _require_writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        claim = _claim(announcement, now)
    if claim is None:
        return None
    announcement.refresh_from_db()
    recipients = resolve_audience(announcement)
    mails = {language: render_mail(announcement, language) for language in LANGUAGES}
    from_address = addressing.sender_header()
    reply_to = addressing.mail_from()[1]
    queued = 0
    for start in range(0, len(recipients), BATCH_SIZE):
        batch = recipients[start : start + BATCH_SIZE]
        with transaction.atomic():
            claim = _renew(announcement.pk, claim)
            if claim is None:
                # Cancelled (or taken over) half-way: what was written is the canceller's.
                announcement.refresh_from_db()
                return None
            rows = [
                OutboundMessage(
                    idempotency_key=f"announcement:{announcement.pk}:contact:{r.contact_id}",
                    kind=OutboundKind.ANNOUNCEMENT,
                    client_id=r.client_id,
                    announcement_id=announcement.pk,
                    contact_id=r.contact_id,
                    to_address=r.email,
                    to_name=_one_line(r.name, 200),
                    language=r.language,
                    from_address=from_address,
                    reply_to=reply_to,
                    subject=mails[r.language].subject,
                    body_text=mails[r.language].body,
                    message_id=addressing.new_message_id(),
                    status=Delivery.QUEUED,
                    created_at=now,
                    next_attempt_at=now,
                )
                for r in batch
            ]
            # ignore_conflicts: a key queued by an earlier, crashed run stays as it is.
            OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True)
            queued += len(rows)
    counts: dict[int, int] = {}
    for recipient in recipients:
        counts[recipient.client_id] = counts.get(recipient.client_id, 0) + 1
    with transaction.atomic():
        if _renew(announcement.pk, claim) is None:
            announcement.refresh_from_db()
            return None
        AnnouncementClient.objects.bulk_create(
            [
                AnnouncementClient(
                    announcement_id=announcement.pk,
                    client_id=client_id,
                    recipients=count,
                    reached_at=now,
                )
                for client_id, count in counts.items()
            ],
            batch_size=BATCH_SIZE,
            ignore_conflicts=True,
        )
        Announcement.objects.filter(pk=announcement.pk).update(
            status=AnnouncementStatus.SENT, sent_at=now
        )
        if announcement.is_public:
            announcement.sent_at = now
            emit_event(
                WebhookEvent.ANNOUNCEMENT_PUBLISHED,
                announcement,
                key=f"announcement.published:{announcement.pk}",
                now=now,
            )
        record_audit(
            actor,
            announcement,
            "sent",
            after={"recipients": len(recipients), "clients": len(counts)},
        )
        _kick_delivery()
    announcement.refresh_from_db()
    return SendResult(
        announcement=announcement, recipients=len(recipients), queued=queued, clients=len(counts)
    )


def due_announcements(now: datetime) -> QuerySet[Announcement]:
    """Scheduled announcements whose time has come, and sends that crashed half-way."""
    return Announcement.objects.filter(
        Q(status=AnnouncementStatus.SCHEDULED, scheduled_for__lte=now, claimed_at__isnull=True)
        | Q(status=AnnouncementStatus.SENDING, claimed_at__lt=now - CLAIM_LEASE)
    ).order_by("scheduled_for", "pk")


def send_due_announcements(now: datetime | None = None) -> int:
    """Send every announcement that is due (the periodic job); returns how many went out."""
    now = now or timezone.now()
    sent = 0
    for announcement in list(due_announcements(now)):
        if send_announcement(actor=None, announcement=announcement, now=now) is not None:
            sent += 1
    return sent
