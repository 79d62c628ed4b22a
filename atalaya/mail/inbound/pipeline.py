"""The pipeline itself: store, parse, decide, write; see the package's docstring."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.models import Client, Contact, User
from atalaya.mail.inbound.lookups import (
    Match,
    _client_of_domain,
    _find_mailbox,
    _match,
    _new_contact,
    _pick_client,
    _placeholders,
    _rows,
    _staff_and_sender,
    _survivor,
    _table,
)
from atalaya.mail.models import (
    Delivery,
    FailingAddress,
    InboundMessage,
    Mailbox,
    MatchRule,
    OutboundMessage,
    Outcome,
)
from atalaya.mail.parse import ParsedMail, message_id_of_headers, parse_message
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import Queue

log = logging.getLogger(__name__)

# More mails than this from one sender in LOOP_WINDOW, with no human reply to them in
# between: an auto-responder talking to ours.
LOOP_LIMIT = 20
LOOP_WINDOW = timedelta(minutes=10)
# How much quoted history is kept on the event (the raw mail keeps all of it).
QUOTED_LIMIT = 50_000
# A weak match (subject token, reply address) from someone the ticket's client does
# not know: appended, but a technician should look.
NOT_A_CONTACT = "sender is not a contact of this client"
UNTRUSTED_STAFF = "claims a staff sender through a mailbox not trusted for staff"

_RULE_LABELS: dict[str, str] = {
    MatchRule.IN_REPLY_TO: "In-Reply-To",
    MatchRule.REFERENCES: "References",
    MatchRule.SUBJECT_TOKEN: "subject token",
    MatchRule.REPLY_ADDRESS: "reply address",
    MatchRule.BODY_TOKEN: "body reference",
    MatchRule.ANNOUNCEMENT: "reply to announcement",
    MatchRule.NEW: "no match",
    MatchRule.MOVED: "moved",
}
_ID_RULES = (MatchRule.IN_REPLY_TO, MatchRule.REFERENCES, MatchRule.ANNOUNCEMENT)


class MailNotStored(Exception):
    """The mail could not be stored at all; the MTA should keep it and try again."""


@dataclass
class IngestResult:
    """What became of one received mail, for the CLI, the fetcher and the benchmark."""

    inbound_id: int | None
    message_id: str
    outcome: str
    ticket_number: int | None = None
    is_new_ticket: bool = False
    matched_rule: str = ""
    matched_value: str = ""
    is_duplicate: bool = False
    error: str = ""
    flagged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line: "ticket #12 (new), matched by In-Reply-To <…>"."""
        if self.is_duplicate:
            head = f"duplicate of <{self.message_id}>, nothing changed"
            return head + (f" (ticket #{self.ticket_number})" if self.ticket_number else "")
        if self.outcome == Outcome.DEAD_LETTER:
            return f"dead letter <{self.message_id}>: {self.error}"
        parts = []
        if self.ticket_number is not None:
            parts.append(f"ticket #{self.ticket_number}" + (" (new)" if self.is_new_ticket else ""))
        if self.outcome not in (Outcome.CREATED, Outcome.APPENDED):
            parts.append(str(Outcome(self.outcome).label).lower())
        if self.matched_rule and self.matched_rule != MatchRule.NEW:
            label = _RULE_LABELS.get(self.matched_rule, self.matched_rule)
            value = self.matched_value
            if value and self.matched_rule in _ID_RULES:
                value = f"<{value}>"
            parts.append(f"matched by {label} {value}".rstrip())
        if self.flagged:
            parts.append("flagged")
        return ", ".join(parts) or self.outcome


def _result(row: InboundMessage, *, duplicate: bool = False, new: bool = False) -> IngestResult:
    number = None
    if row.ticket_id:
        # The ticket object is at hand after processing; a duplicate's is read once.
        number = row.ticket.number if row.ticket else None
    return IngestResult(
        inbound_id=row.pk,
        message_id=row.message_id,
        outcome=row.outcome,
        ticket_number=number,
        is_new_ticket=new,
        matched_rule=row.matched_rule,
        matched_value=row.matched_value,
        is_duplicate=duplicate,
        error=row.error,
        flagged=row.is_flagged,
    )


# --- storing ------------------------------------------------------------------------------


def raw_path(digest: str) -> str:
    return f"mail/raw/{digest[:2]}/{digest}.eml"


def _store_raw(raw: bytes, digest: str) -> str:
    """Write the bytes once under their hash; the same mail twice is the same file."""
    path = raw_path(digest)
    try:
        target = Path(default_storage.path(path))
    except NotImplementedError:  # a remote storage: through its API
        if not default_storage.exists(path):
            saved = default_storage.save(path, ContentFile(raw))
            if saved != path:  # a concurrent writer won; the bytes are the same
                default_storage.delete(saved)
        return path
    if not target.exists():
        # Written aside and renamed: a reader never sees half a mail, and two writers
        # of the same mail both end with the same complete file.
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            partial.write_bytes(raw)
        except FileNotFoundError:  # the first mail of its folder (no mkdir for each mail)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(raw)
        os.replace(partial, target)
    return path


def read_raw(row: InboundMessage) -> bytes:
    with row.raw.open("rb") as handle:
        return handle.read()


# --- signals: auto-replies, bounces, loops -------------------------------------------------


def _is_loop(mail: ParsedMail, now: datetime) -> str:
    if mail.loop:
        return mail.loop
    if not mail.from_address:
        return ""
    since = now - LOOP_WINDOW
    recent = _rows(
        f"SELECT COUNT(*) FROM {_table(InboundMessage)}"  # noqa: S608
        " WHERE from_address = %s AND received_at >= %s",
        [mail.from_address, connection.ops.adapt_datetimefield_value(since)],
    )[0][0]
    # This mail's own row is written after processing, so it is not counted yet.
    if recent < LOOP_LIMIT:
        return ""
    # A technician's reply to them in the window means it is a conversation.
    answered = OutboundMessage.objects.filter(
        to_address=mail.from_address, created_at__gte=since, user__isnull=False
    ).exists()
    return "" if answered else f"more than {LOOP_LIMIT} mails from the sender in 10 minutes"


def _record_bounce(mail: ParsedMail, row: InboundMessage, now: datetime) -> None:
    """Mark the failed recipient's address and the outbox row the bounce returns."""
    bounce = mail.bounce
    if bounce is None:
        return
    sent = None
    if bounce.original_message_id:
        sent = OutboundMessage.objects.filter(message_id=bounce.original_message_id).first()
    recipient = bounce.recipient or (sent.to_address if sent else "")
    if sent is None and recipient:
        sent = OutboundMessage.objects.filter(to_address=recipient).order_by("-created_at").first()
    if recipient:
        failing, created = FailingAddress.objects.get_or_create(
            address=recipient,
            defaults={"reason": bounce.reason, "first_failed_at": now, "last_failed_at": now},
        )
        if not created:
            failing.failures += 1
            failing.last_failed_at = now
            failing.reason = bounce.reason or failing.reason
            failing.cleared_at = None
            failing.save(update_fields=["failures", "last_failed_at", "reason", "cleared_at"])
    if sent is not None:
        sent.status = Delivery.BOUNCED
        sent.last_error = bounce.reason
        sent.save(update_fields=["status", "last_error"])
        row.client_id = sent.client_id
        row.ticket_id = sent.ticket_id
        row.matched_rule = MatchRule.IN_REPLY_TO if bounce.original_message_id else ""
        row.matched_value = sent.message_id if bounce.original_message_id else recipient
    else:
        row.matched_value = recipient[:255]


# --- processing -----------------------------------------------------------------------------


def _mail_facts(mail: ParsedMail, row: InboundMessage, match: Match) -> dict[str, Any]:
    """What the ticket event keeps of the mail (shown as "matched by …")."""
    facts: dict[str, Any] = {
        "message_id": mail.message_id,
        "from": mail.from_address,
        "from_name": mail.from_name,
        "subject": mail.subject,
        "matched_by": match.rule,
        "matched_value": match.value,
        "mailbox": row.mailbox.address if row.mailbox else "",
        "flagged": row.is_flagged,
    }
    if row.flag_reason:
        facts["flag_reason"] = row.flag_reason
    if mail.cc:
        facts["cc"] = mail.cc[:20]
    if mail.quoted_text:
        facts["quoted"] = mail.quoted_text[:QUOTED_LIMIT]
    return facts


def _files(mail: ParsedMail) -> list[ticket_services.MailFile]:
    return [
        ticket_services.MailFile(a.filename, a.content_type, a.data, a.content_id)
        for a in mail.attachments
    ]


def _flag(row: InboundMessage, reason: str) -> None:
    row.is_flagged = True
    row.flag_reason = "; ".join(r for r in (row.flag_reason, reason) if r)[:250]


def _body_of(mail: ParsedMail) -> str:
    return (mail.new_text or mail.text or "").strip()


def _process(
    row: InboundMessage, mail: ParsedMail, mailboxes: list[Mailbox], now: datetime
) -> bool:
    """Decide and write what the mail becomes; fills ``row``. True when a ticket was opened."""
    loop = _is_loop(mail, now)
    if loop:
        row.outcome = Outcome.LOOP
        row.error = loop[:500]
        return False
    if mail.is_bounce:
        row.outcome = Outcome.BOUNCE
        _record_bounce(mail, row, now)
        return False
    match = _match(mail, mailboxes)
    if match.ticket is not None:
        match.ticket = _survivor(match.ticket)
    if mail.auto_reply:
        # Noted in the ledger only: no event, no status change, no notification.
        row.outcome = Outcome.AUTO_REPLY
        row.error = mail.auto_reply[:500]
        row.matched_rule, row.matched_value = match.rule, match.value[:255]
        if match.ticket is not None:
            row.ticket, row.client_id = match.ticket, match.ticket.client_id
        return False
    row.matched_rule, row.matched_value = match.rule, match.value[:255]

    staff, sender = _staff_and_sender(mail.from_address)
    trusted = row.mailbox is not None and row.mailbox.is_trusted_for_staff
    if staff is not None and trusted:
        if match.ticket is None:
            # A technician's own new mail names no client: a person sorts it out.
            row.outcome = Outcome.TRIAGE
            _flag(row, _("staff mail that names no ticket"))
            return False
        row.ticket, row.client_id = match.ticket, match.ticket.client_id
        row.event = ticket_services.add_mail_message(
            match.ticket,
            body=_body_of(mail),
            mail=_mail_facts(mail, row, match),
            staff=staff,
            files=_files(mail),
            now=now,
        )
        row.outcome = Outcome.APPENDED
        return False
    if staff is not None:
        _flag(row, UNTRUSTED_STAFF)

    contact = sender.contact
    if match.ticket is not None:
        ticket = match.ticket
        if contact is None:
            client = _client_of_domain(mail.from_address)
            if client and client.pk == ticket.client_id:
                sender.client_ids.append(client.pk)
            contact = _new_contact(
                mail, client if client and client.pk == ticket.client_id else None, now
            )
        if match.is_weak and not sender.is_member(ticket.client_id):
            _flag(row, NOT_A_CONTACT)
        row.ticket, row.client_id, row.contact = ticket, ticket.client_id, contact
        row.event = ticket_services.add_mail_message(
            ticket,
            body=_body_of(mail),
            mail=_mail_facts(mail, row, match),
            contact=contact,
            files=_files(mail),
            now=now,
        )
        row.outcome = Outcome.APPENDED
        return False

    # A new request: whose client is it?
    client = None
    if contact is not None:
        if sender.client_ids:
            client = _pick_client(sender.client_ids, mail, match)
    else:
        client = _client_of_domain(mail.from_address)
        contact = _new_contact(mail, client, now)
        sender.client_ids = [client.pk] if client else []
    row.contact = contact
    if client is None:
        row.outcome = Outcome.TRIAGE
        return False
    _open_ticket(row, mail, match, client, contact, now, is_member=sender.is_member(client.pk))
    return True


def _open_ticket(
    row: InboundMessage,
    mail: ParsedMail,
    match: Match,
    client: Client,
    contact: Contact,
    now: datetime,
    *,
    is_member: bool,
) -> None:
    # A reference by id: the mailbox's queue row itself is not needed.
    queue = Queue(pk=row.mailbox.queue_id) if row.mailbox and row.mailbox.queue_id else None
    extra: dict[str, Any] = {}
    if match.rule == MatchRule.ANNOUNCEMENT and match.outbound is not None:
        extra["announcement"] = match.outbound.announcement_id
    ticket, event = ticket_services.create_ticket_from_mail(
        client=client,
        contact=contact,
        subject=mail.subject,
        body=_body_of(mail),
        mail=_mail_facts(mail, row, match),
        files=_files(mail),
        queue=queue,
        now=now,
        extra=extra,
        contact_is_member=is_member,
    )
    row.ticket, row.event, row.client = ticket, event, client
    row.outcome = Outcome.CREATED


_ROW_RESULT_FIELDS = [
    "outcome",
    "matched_rule",
    "matched_value",
    "client",
    "contact",
    "ticket",
    "event",
    "is_flagged",
    "flag_reason",
    "error",
    "processed_at",
    "attempts",
    "mailbox",
    "from_address",
    "from_name",
    "subject",
]


_INSERT_FIELDS = ["message_id", "received_at", "raw", "size", "sha256", *_ROW_RESULT_FIELDS]


_INSERT_SQL: dict[str, tuple[str, list[Field]]] = {}


def _insert_statement() -> tuple[str, list[Field]]:
    """The INSERT of a ledger row, built once per database backend."""
    found = _INSERT_SQL.get(connection.vendor)
    if found is None:
        fields = [cast(Field, InboundMessage._meta.get_field(name)) for name in _INSERT_FIELDS]
        columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
        sql = (
            f"INSERT INTO {_table(InboundMessage)} ({columns})"  # noqa: S608
            f" VALUES ({_placeholders(fields)}) RETURNING id"
        )
        found = _INSERT_SQL[connection.vendor] = (sql, fields)
    return found


def _insert(row: InboundMessage) -> None:
    """row.save() as one plain INSERT … RETURNING (the hot path; see _rows)."""
    sql, fields = _insert_statement()
    values = [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
    found = _rows(sql, values)
    row.pk = found[0][0]
    row._state.adding = False


def _reset(row: InboundMessage) -> None:
    row.client = row.contact = row.ticket = row.event = None
    row.matched_rule = row.matched_value = row.flag_reason = row.error = ""
    row.is_flagged = False


def _run(
    row: InboundMessage,
    raw: bytes,
    mailbox: Mailbox | None,
    now: datetime,
    parsed: ParsedMail | None,
    parse_error: str,
) -> bool:
    """Process a stored row inside the caller's transaction; False if it is a dead letter."""
    _reset(row)
    row.processed_at = now
    if len(raw) > settings.MAIL_MAX_BYTES:
        row.outcome = Outcome.DEAD_LETTER
        row.error = _("The mail is larger than the limit of %(mb)d MB; it is kept as it came.") % {
            "mb": settings.MAIL_MAX_BYTES // (1024 * 1024)
        }
        return False
    if parsed is None:
        row.outcome = Outcome.DEAD_LETTER
        row.error = parse_error or _("The mail could not be parsed.")
        return False
    found, mailboxes = _find_mailbox(parsed)
    row.mailbox = mailbox or row.mailbox or found
    if row.mailbox is not None and row.mailbox not in mailboxes:
        mailboxes.append(row.mailbox)
    new = False
    try:
        with transaction.atomic():
            new = _process(row, parsed, mailboxes, now)
    except Exception as exc:  # noqa: BLE001 - anything at all: a dead letter, never lost
        log.exception("inbound mail %s became a dead letter", row.message_id)
        _reset(row)
        row.outcome = Outcome.DEAD_LETTER
        row.error = _describe_error(exc)
    return new


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        text = "; ".join(exc.messages)
    else:
        text = f"{type(exc).__name__}: {exc}"
    tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return (text if text.strip() else tail)[:2000]


def _parse(raw: bytes) -> tuple[ParsedMail | None, str]:
    if len(raw) > settings.MAIL_MAX_BYTES:
        return None, ""
    try:
        return parse_message(raw), ""
    except Exception as exc:  # noqa: BLE001 - the parser met something new
        log.exception("inbound mail could not be parsed")
        return None, _describe_error(exc)


def ingest(
    raw: bytes, *, mailbox: Mailbox | None = None, now: datetime | None = None
) -> IngestResult:
    """Receive one mail: store it, thread it, and say what became of it.

    Never raises for anything about the mail itself (that is a dead letter); raises
    ``MailNotStored`` only when the bytes or the ledger row could not be written.
    """
    now = now or timezone.now()
    raw = bytes(raw or b"")
    digest = hashlib.sha256(raw).hexdigest()
    parsed, parse_error = _parse(raw)
    if parsed is not None:
        message_id = parsed.message_id
    else:
        message_id = message_id_of_headers(raw) or f"sha256-{digest}@atalaya.invalid"
    message_id = message_id[:255]
    try:
        seen = _rows(
            f"SELECT id FROM {_table(InboundMessage)} WHERE message_id = %s",  # noqa: S608
            [message_id],
        )
        if seen:
            existing = InboundMessage.objects.select_related("ticket").get(pk=seen[0][0])
            return _result(existing, duplicate=True)
        path = _store_raw(raw, digest)
    except (DatabaseError, OSError) as exc:
        raise MailNotStored(str(exc)) from exc
    row = InboundMessage(
        message_id=message_id,
        mailbox=mailbox,
        received_at=now,
        raw=path,
        size=len(raw),
        sha256=digest,
        outcome=Outcome.DEAD_LETTER,
    )
    if parsed is not None:
        row.from_address = parsed.from_address[:254]
        row.from_name = parsed.from_name[:200]
        row.subject = parsed.subject[:250]
    try:
        with transaction.atomic():
            new = _run(row, raw, mailbox, now, parsed, parse_error)
            # Written last, in the same transaction: a second copy racing this one (two
            # workers, two mailboxes) fails here on the unique Message-ID, and its
            # ticket writes roll back with it, so the mail is on the ticket once.
            _insert(row)
            if parsed is not None and row.ticket_id is not None:
                from atalaya.security.phishing import handle_received_mail

                handle_received_mail(row, parsed, is_new_ticket=new, now=now)
    except IntegrityError:
        winner = InboundMessage.objects.filter(message_id=message_id).first()
        if winner is None:
            raise MailNotStored("the ledger refused the mail") from None
        return _result(winner, duplicate=True)
    except DatabaseError as exc:
        raise MailNotStored(str(exc)) from exc
    return _result(row, new=new)


def reprocess(
    message: InboundMessage, *, actor: User | None, now: datetime | None = None
) -> IngestResult:
    """Run a stored mail (a dead letter) through the pipeline again, from its raw bytes.

    Only a mail that did not become a ticket message may be processed again, so this
    never adds a second copy of a message to a ticket.
    """
    if actor is not None and not actor.is_admin:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(_("Only administrators process mail again."))
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            InboundMessage.objects.select_for_update(of=("self",))
            .select_related("mailbox")
            .get(pk=message.pk)
        )
        if row.event_id is not None or row.outcome in (Outcome.CREATED, Outcome.APPENDED):
            raise ValidationError(
                {"message": [_("This mail is already on a ticket; move it instead.")]}
            )
        try:
            raw = read_raw(row)
        except OSError as exc:
            raise ValidationError({"message": [_("The stored mail is missing: %s") % exc]}) from exc
        parsed, parse_error = _parse(raw)
        row.attempts += 1
        new = _run(row, raw, row.mailbox, now, parsed, parse_error)
        if parsed is not None:
            row.from_address = parsed.from_address[:254]
            row.from_name = parsed.from_name[:200]
            row.subject = parsed.subject[:250]
        row.save(update_fields=_ROW_RESULT_FIELDS)
    message.refresh_from_db()
    return _result(row, new=new)
