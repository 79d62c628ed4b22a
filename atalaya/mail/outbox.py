"""The outbox: every mail Atalaya sends is queued here first, then delivered by a worker.

``queue_mail`` is called inside the transaction of the change that causes the mail, so
the two commit or roll back together. Delivery (``deliver_due``) is a separate step
that claims rows by compare-and-set, so several workers can run side by side.

Exactly once, as far as a receiver can tell: the Message-ID (and the Date) are fixed at
queue time and the message bytes are built from the row alone, so a worker that dies
between the server's "250 accepted" and its status update sends the very same mail
again when the claim's lease runs out; receivers and Atalaya's own ledger of
Message-IDs drop the copy. A worker that dies before sending loses nothing: the row
stays claimed until the lease runs out, then another worker takes it over.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.core.claims import claim_due
from atalaya.core.models import Client, Contact, User
from atalaya.core.services import record_audit
from atalaya.mail import addressing, smtp
from atalaya.mail.models import (
    Delivery,
    FailingAddress,
    OutboundAttachment,
    OutboundKind,
    OutboundMessage,
)

logger = logging.getLogger(__name__)

# Names Atalaya's own mail: the inbound pipeline drops a mail that carries it (a loop).
LOOP_HEADER = addressing.LOOP_HEADER
# A row claimed longer ago than this belongs to a worker that died: another takes it.
LEASE = timedelta(minutes=10)
# Waits after the 1st, 2nd, … temporary failure; after MAX_ATTEMPTS the mail has failed.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
MAX_ATTEMPTS = 8
# Rows claimed at once: one short write transaction each, small enough that even a
# throttled batch of announcements ends well inside the lease.
CLAIM_CHUNK = 100
# Results are written after this many sends at the latest, so a crash re-sends few.
FLUSH_EVERY = 50
# "5.1.1 user unknown", "5.1.2 bad domain", "5.1.10 null MX", "5.2.1 mailbox disabled":
# the address itself is wrong, not this message.
_BAD_ADDRESS = re.compile(r"\b5\.1\.\d{1,3}\b|\b5\.2\.1\b")


def _one_line(value: str, limit: int) -> str:
    # Header injection: a CR or LF in a subject or name would start a new header.
    return " ".join((value or "").split())[:limit]


def queue_mail(
    *,
    key: str,
    kind: str,
    client: Client,
    to_address: str,
    subject: str,
    body_text: str,
    language: str = "en",
    to_name: str = "",
    body_html: str = "",
    ticket: Any = None,
    event: Any = None,
    announcement: Any = None,
    contact: Contact | None = None,
    user: User | None = None,
    from_name: str | None = None,
    reply_to: str = "",
    in_reply_to: str = "",
    references: str = "",
    now: datetime | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> OutboundMessage | None:
    """Queue one mail to one recipient, once per ``key``; None if the key was queued before.

    The Message-ID is fixed now, so the mail and any re-send of it are the same mail.
    Runs in a savepoint so a duplicate key does not spoil the caller's transaction.
    ``attachments`` are (filename, content type, bytes), stored with the row.
    """
    now = now or timezone.now()
    message = OutboundMessage(
        idempotency_key=key[:200],
        kind=kind,
        client=client,
        ticket=ticket,
        event=event,
        announcement=announcement,
        contact=contact,
        user=user,
        to_address=to_address.strip().lower(),
        to_name=_one_line(to_name, 200),
        language=language,
        from_address=addressing.sender_header(_one_line(from_name or "", 100) or None),
        reply_to=_one_line(reply_to, 300),
        subject=_one_line(subject, 300),
        body_text=body_text,
        body_html=body_html,
        message_id=addressing.new_message_id(),
        in_reply_to=_one_line(in_reply_to, 255),
        references=_one_line(references, 4000),
        created_at=now,
        next_attempt_at=now,
        has_attachments=bool(attachments),
    )
    try:
        with transaction.atomic():
            message.save()
            OutboundAttachment.objects.bulk_create(
                OutboundAttachment(
                    message=message,
                    position=position,
                    filename=_attachment_name(filename),
                    content_type=_content_type(content_type),
                    content=bytes(content),
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                )
                for position, (filename, content_type, content) in enumerate(attachments)
            )
    except IntegrityError:
        if OutboundMessage.objects.filter(idempotency_key=message.idempotency_key).exists():
            return None
        raise
    return message


# ---------------------------------------------------------------------------------------
# The message
# ---------------------------------------------------------------------------------------


def _attachment_name(name: str) -> str:
    """A file name safe in a header: ASCII letters, digits and ``._-`` (others become _)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", _one_line(name, 150)).strip("._") or "attachment"
    return cleaned[:150]


def _content_type(value: str) -> str:
    value = _one_line(value, 100).lower()
    return (
        value if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", value) else "application/octet-stream"
    )


def _base64_lines(content: bytes) -> bytes:
    """Base64 in lines of 76 characters with CRLF ends (RFC 2045)."""
    encoded = binascii.b2a_base64(content, newline=False)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


# A header line is folded (at a space) past this length: RFC 5322's "SHOULD" of 78.
_FOLD_AT = 78


def _fold(name: str, value: str) -> str:
    """``Name: value`` folded at spaces into lines of about 78 characters."""
    line, out = f"{name}: ", []
    for word in value.split(" "):
        if len(line) + len(word) > _FOLD_AT and line.strip() and not line.endswith(": "):
            out.append(line.rstrip(" "))
            line = " "
        line += word + " "
    out.append(line.rstrip(" "))
    return "\r\n".join(out)


def _encoded(value: str, limit: int) -> str:
    """One line (no header injection), RFC 2047 encoded words if it is not ASCII."""
    value = _one_line(value, limit)
    if value.isascii():
        return value
    return " ".join(Header(value, "utf-8", maxlinelen=10_000).encode().split())


def _address(name: str, address: str) -> str:
    """``Name <address>`` with the display name quoted or encoded as it needs."""
    name, address = _one_line(name, 200), _one_line(address, 254)
    return _one_line(formataddr((name, address), charset="utf-8"), 1000)


def _quoted_printable(text: str) -> bytes:
    """The text as UTF-8 quoted-printable with CRLF line ends (binascii: C speed)."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True)
    return encoded.replace(b"\n", b"\r\n")


def _headers(message: OutboundMessage) -> list[tuple[str, str]]:
    from_name, from_address = parseaddr(message.from_address)
    headers = [
        ("From", _address(from_name, from_address)),
        ("To", _address(message.to_name, message.to_address)),
    ]
    if message.reply_to:
        headers.append(("Reply-To", _encoded(message.reply_to, 300)))
    headers += [
        ("Subject", _encoded(message.subject, 300)),
        ("Date", format_datetime(message.created_at)),
        ("Message-ID", f"<{_one_line(message.message_id, 255)}>"),
    ]
    if message.in_reply_to:
        headers.append(("In-Reply-To", _one_line(message.in_reply_to, 255)))
    if message.references:
        headers.append(("References", _one_line(message.references, 4000)))
    if message.kind != OutboundKind.REPLY:
        # RFC 3834: vacation responders must not answer notifications or announcements.
        headers.append(("Auto-Submitted", "auto-generated"))
    if message.kind == OutboundKind.ANNOUNCEMENT:
        headers.append(("Precedence", "bulk"))
    headers.append((LOOP_HEADER, addressing.mail_domain()))
    if message.language:
        headers.append(("Content-Language", _one_line(message.language, 5)))
    headers.append(("MIME-Version", "1.0"))
    return headers


_TEXT_PART = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable'
)


def message_bytes(message: OutboundMessage) -> bytes:
    """The RFC 5322 bytes of an outbox row: the same bytes every time they are built.

    Written directly rather than through the email package's generator, which costs
    several milliseconds a message (benchmarks/mail.py wants 200 mails a second).
    Every header value is one line of ASCII (names and subjects RFC 2047 encoded), so
    nothing a client typed can start a header; bodies are quoted-printable UTF-8. The
    MIME boundary comes from the Message-ID, so a re-sent copy is byte for byte equal.
    """
    headers = _headers(message)
    content_type, body = _body(message)
    if message.has_attachments:
        # The boundary, like the alternative one, comes from the Message-ID: a re-sent
        # copy is the same bytes.
        boundary = "=_atalaya_mixed_" + hashlib.sha256(message.message_id.encode()).hexdigest()[:26]
        mark = f"--{boundary}".encode()
        parts = [b"This is a multi-part message in MIME format.\r\n\r\n"]
        parts.append(mark + b"\r\n" + "\r\n".join(content_type).encode() + b"\r\n\r\n")
        parts.append(body + b"\r\n")
        for attachment in message.attachments.order_by("position", "id"):
            name = _attachment_name(attachment.filename)
            parts.append(
                mark
                + b"\r\n"
                + (
                    f'Content-Type: {_content_type(attachment.content_type)}; name="{name}"\r\n'
                    f'Content-Disposition: attachment; filename="{name}"\r\n'
                    "Content-Transfer-Encoding: base64\r\n\r\n"
                ).encode()
                + _base64_lines(bytes(attachment.content))
            )
        parts.append(mark + b"--\r\n")
        headers.append(("Content-Type", f'multipart/mixed; boundary="{boundary}"'))
        body = b"".join(parts)
    else:
        for line in content_type:
            name, _sep, value = line.partition(": ")
            headers.append((name, value))
    head = "\r\n".join(_fold(name, value) for name, value in headers)
    return head.encode("ascii", "replace") + b"\r\n\r\n" + body


def _body(message: OutboundMessage) -> tuple[list[str], bytes]:
    """The mail's text (and HTML alternative): its Content-* header lines and its bytes."""
    text = _quoted_printable(message.body_text)
    if not message.body_html:
        return [
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
        ], text
    boundary = "=_atalaya_" + hashlib.sha256(message.message_id.encode()).hexdigest()[:32]
    mark = f"--{boundary}".encode()
    body = b"".join(
        [
            b"This is a multi-part message in MIME format.\r\n\r\n",
            mark + b"\r\n" + _TEXT_PART % b"plain" + b"\r\n\r\n" + text + b"\r\n",
            mark + b"\r\n" + _TEXT_PART % b"html" + b"\r\n\r\n",
            _quoted_printable(message.body_html) + b"\r\n",
            mark + b"--\r\n",
        ]
    )
    return [f'Content-Type: multipart/alternative; boundary="{boundary}"'], body


def build_message(message: OutboundMessage) -> EmailMessage:
    """The outbox row's mail parsed back: for the preview and the tests."""
    parsed = message_from_bytes(message_bytes(message), policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def envelope_sender(message: OutboundMessage) -> str:
    return addressing.mail_from()[1]


# ---------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` run did; ``configured`` is False when SMTP_URL is empty."""

    configured: bool = True
    claimed: int = 0
    taken_over: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped_failing: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["errors"] = self.errors[:20]
        return data


def backoff_after(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try (1 min, 5, 30, 2 h, 6 h, …)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def _claim(now: datetime, limit: int) -> tuple[list[OutboundMessage], int]:
    """Claim up to ``limit`` due rows (and rows whose claim outlived the lease): see
    core/claims.py. The rows come back oldest due first, with how many were taken over."""
    won, taken_over = claim_due(
        OutboundMessage,
        OutboundMessage.objects.due(now),
        queued=Delivery.QUEUED,
        sending=Delivery.SENDING,
        now=now,
        lease=LEASE,
        limit=limit,
    )
    rows = OutboundMessage.objects.filter(pk__in=won)
    return sorted(rows, key=lambda m: (m.next_attempt_at, m.pk)), taken_over


class _Results:
    """Outcomes waiting to be written: sent rows in one UPDATE, the others one each."""

    def __init__(self, report: DeliveryReport) -> None:
        self.report = report
        self.sent: list[int] = []
        self.other: list[tuple[OutboundMessage, list[str]]] = []
        self.failing: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.sent) + len(self.other)

    def mark_sent(self, message: OutboundMessage) -> None:
        self.sent.append(message.pk)
        self.report.sent += 1

    def mark_temporary(self, message: OutboundMessage, error: str, now: datetime) -> None:
        message.attempts += 1
        message.last_error = error[:2000]
        message.claimed_at = None
        if message.attempts >= MAX_ATTEMPTS:
            message.status = Delivery.FAILED
            self.report.failed += 1
        else:
            message.status = Delivery.QUEUED
            message.next_attempt_at = now + backoff_after(message.attempts)
            self.report.retried += 1
        fields = ["attempts", "last_error", "claimed_at", "status", "next_attempt_at"]
        self.other.append((message, fields))

    def mark_failed(self, message: OutboundMessage, error: str, *, attempt: bool) -> None:
        if attempt:
            message.attempts += 1
        message.status = Delivery.FAILED
        message.last_error = error[:2000]
        message.claimed_at = None
        self.other.append((message, ["attempts", "status", "last_error", "claimed_at"]))
        self.report.failed += 1

    def mark_bad_address(self, address: str, reason: str) -> None:
        self.failing.append((address, reason))

    def flush(self, now: datetime) -> None:
        if not len(self) and not self.failing:
            return
        with transaction.atomic():
            if self.sent:
                # Only rows still ours: a row taken over meanwhile is the other worker's.
                OutboundMessage.objects.filter(pk__in=self.sent, status=Delivery.SENDING).update(
                    status=Delivery.SENT,
                    sent_at=now,
                    claimed_at=None,
                    attempts=F("attempts") + 1,
                    last_error="",
                )
            for message, fields in self.other:
                message.save(update_fields=fields)
            for address, reason in self.failing:
                mark_address_failing(address, reason, now=now)
        self.sent, self.other, self.failing = [], [], []


def mark_address_failing(
    address: str, reason: str, *, now: datetime | None = None
) -> FailingAddress:
    """Record that mail to ``address`` bounces: it is not mailed again until cleared.

    A second failure counts up and un-clears the mark.
    """
    now = now or timezone.now()
    address = address.strip().lower()
    reason = _one_line(reason, 500)
    with transaction.atomic():
        failing, created = FailingAddress.objects.select_for_update().get_or_create(
            address=address,
            defaults={"first_failed_at": now, "last_failed_at": now, "reason": reason},
        )
        if not created:
            failing.failures += 1
            failing.last_failed_at = now
            failing.reason = reason
            failing.cleared_at = None
            failing.save(update_fields=["failures", "last_failed_at", "reason", "cleared_at"])
    return failing


def _failing_addresses(addresses: Iterable[str]) -> dict[str, str]:
    return dict(
        FailingAddress.objects.filter(
            address__in=set(addresses), cleared_at__isnull=True
        ).values_list("address", "reason")
    )


class _Throttle:
    """At most ``rate`` announcement mails a second from this worker."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        pause = self.next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self.next_at = max(self.next_at, time.monotonic()) + self.interval


def deliver_due(
    *, limit: int = 500, now: datetime | None = None, max_seconds: float = 240.0
) -> DeliveryReport:
    """Send up to ``limit`` due mails over one SMTP connection and record each outcome.

    Sent → ``sent``; a 4xx or a network error → queued again with backoff, ``failed``
    after MAX_ATTEMPTS; a 5xx for the recipient → ``failed`` at once (and the address
    marked failing when the answer says it does not exist). Addresses already marked
    failing are not tried. With SMTP_URL empty nothing is claimed or sent. A run stops
    claiming after ``max_seconds`` so a periodic job never piles up behind itself.
    """
    started = time.monotonic()
    report = DeliveryReport()
    config = smtp.configured()
    if config is None:
        report.configured = False
        return report
    fixed_now = now
    throttle = _Throttle(float(settings.ANNOUNCEMENT_RATE_PER_S))
    results = _Results(report)
    with smtp.SmtpConnection(config) as connection:
        while report.claimed < limit and time.monotonic() - started < max_seconds:
            now = fixed_now or timezone.now()
            batch, taken_over = _claim(now, min(CLAIM_CHUNK, limit - report.claimed))
            if not batch:
                break
            report.claimed += len(batch)
            report.taken_over += taken_over
            stop = _send_batch(connection, batch, results, throttle, fixed_now)
            results.flush(fixed_now or timezone.now())
            if stop:
                break
    report.seconds = time.monotonic() - started
    return report


def _send_batch(
    connection: smtp.SmtpConnection,
    batch: list[OutboundMessage],
    results: _Results,
    throttle: _Throttle,
    fixed_now: datetime | None,
) -> bool:
    """Send the claimed rows; True when the server is unreachable and the run should stop."""
    failing = _failing_addresses(m.to_address for m in batch)
    for index, message in enumerate(batch):
        now = fixed_now or timezone.now()
        if message.to_address in failing:
            results.mark_failed(
                message,
                _("Not sent: mail to %(address)s bounces (%(reason)s).")
                % {"address": message.to_address, "reason": failing[message.to_address]},
                attempt=False,
            )
            results.report.skipped_failing += 1
            continue
        if message.kind == OutboundKind.ANNOUNCEMENT:
            throttle.wait()
        try:
            connection.send(envelope_sender(message), message.to_address, message_bytes(message))
        except smtp.SendError as error:
            results.report.errors.append(f"{message.to_address}: {error.text}")
            if error.connection:
                # The server, not this mail: every claimed row waits and tries again.
                for rest in batch[index:]:
                    results.mark_temporary(rest, error.text, now)
                return True
            if error.permanent:
                results.mark_failed(message, error.text, attempt=True)
                if _BAD_ADDRESS.search(error.text):
                    results.mark_bad_address(message.to_address, error.text)
                    failing[message.to_address] = error.text
            else:
                results.mark_temporary(message, error.text, now)
        except Exception as error:  # a row that cannot be built must not stop the others
            logger.exception("could not build outbound message %s", message.pk)
            results.mark_failed(message, f"{type(error).__name__}: {error}", attempt=True)
        else:
            results.mark_sent(message)
        if len(results) >= FLUSH_EVERY:
            results.flush(fixed_now or timezone.now())
    return False


# ---------------------------------------------------------------------------------------
# Staff actions
# ---------------------------------------------------------------------------------------


def _require_writer(actor: User | None) -> None:
    if actor is not None and not actor.can_write_tickets:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(_("Your role may not change the outbox."))


@transaction.atomic
def retry_message(
    message: OutboundMessage, *, actor: User | None, now: datetime | None = None
) -> OutboundMessage:
    """Queue a failed or bounced mail again, now, with a fresh count of attempts.

    A technician retrying says the address works again (the client fixed it), so the
    address's failing mark is cleared too. The Message-ID stays: it is the same mail.
    """
    now = now or timezone.now()
    _require_writer(actor)
    before = message.status
    updated = OutboundMessage.objects.filter(
        pk=message.pk, status__in=(Delivery.FAILED, Delivery.BOUNCED)
    ).update(status=Delivery.QUEUED, attempts=0, next_attempt_at=now, claimed_at=None)
    if not updated:
        raise ValidationError({"status": [_("Only a failed or bounced mail can be sent again.")]})
    FailingAddress.objects.filter(address=message.to_address, cleared_at__isnull=True).update(
        cleared_at=now
    )
    message.refresh_from_db()
    record_audit(
        actor,
        message,
        "outbound.retry",
        client=message.client,
        before={"status": before},
        after={"status": message.status},
    )
    kick_delivery()
    return message


@transaction.atomic
def cancel_message(message: OutboundMessage, *, actor: User | None) -> OutboundMessage:
    """Stop a queued mail from being sent; a mail already being sent cannot be stopped."""
    _require_writer(actor)
    updated = OutboundMessage.objects.filter(pk=message.pk, status=Delivery.QUEUED).update(
        status=Delivery.CANCELLED, claimed_at=None
    )
    if not updated:
        raise ValidationError({"status": [_("Only a queued mail can be cancelled.")]})
    message.refresh_from_db()
    record_audit(
        actor,
        message,
        "outbound.cancel",
        client=message.client,
        before={"status": Delivery.QUEUED},
        after={"status": message.status},
    )
    return message


def _run_delivery_job() -> None:
    try:
        from atalaya.mail import tasks

        tasks.deliver_outbox()
    except Exception:  # the mail is queued; the periodic job delivers it anyway
        logger.exception("could not start mail delivery")


def kick_delivery() -> None:
    """Start the delivery job once the current transaction commits, once per commit."""
    connection = transaction.get_connection()
    pending = getattr(connection, "run_on_commit", None) or []
    if any(entry[1] is _run_delivery_job for entry in pending):
        return
    transaction.on_commit(_run_delivery_job)
