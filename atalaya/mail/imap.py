"""Fetching mail over IMAP: each mailbox with an IMAP server feeds the inbound pipeline.

One run per mailbox: connect (IMAPS, STARTTLS, or plain only when a mailbox is set up
so), log in, select the folder, look up the unseen messages by UID and hand each one,
byte for byte, to ``inbound.ingest``. A message is marked ``\\Seen`` only after it was
stored, so one that could not be stored stays unseen and is tried again on the next
run; one stored but not yet marked (the connection broke) comes again as a duplicate
Message-ID, which changes nothing. Certificates are always verified, against the
system's store plus ``settings.MAIL_CA_FILE``: a server that cannot prove who it is
gets no password.

A failing mailbox (wrong password, server down, TLS refused) ends up as a clear
``last_error`` on the mailbox and in its report; it never stops the other mailboxes.
Two workers never fetch one mailbox at once: a run claims it by compare-and-set on
``Mailbox.fetch_claimed_at``, with a lease so a crashed run's claim runs out.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import logging
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.mail.models import ImapSecurity, Mailbox, Outcome

logger = logging.getLogger(__name__)

# Messages handed to the pipeline per mailbox and run; a larger backlog is worked off
# by the following runs (the periodic job runs every minute).
DEFAULT_LIMIT = 200
# Seconds to wait for the server to connect or answer.
TIMEOUT_S = 30.0
# A claim older than this is a crashed run's; a run stops taking new messages after
# half of it, so a live run never outlasts its claim.
FETCH_LEASE = timedelta(minutes=10)
DEFAULT_PORTS = {ImapSecurity.IMAPS: 993, ImapSecurity.STARTTLS: 143, ImapSecurity.PLAIN: 143}


class FetchError(Exception):
    """Why a mailbox could not be fetched, in words for the admin who set it up."""


@dataclass
class FetchReport:
    """What one run did with one mailbox; ``error`` says why it could not be fetched."""

    mailbox: str
    fetched: int = 0  # messages handed to the pipeline and stored (duplicates included)
    new_tickets: int = 0
    replies: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    other: int = 0  # auto-replies, bounces, loops, mail waiting for triage
    errors: int = 0  # messages that could not be stored: they stay unseen
    remaining: int = 0  # unseen messages left for the next run
    error: str = ""
    skipped: bool = False  # another run holds the mailbox
    message_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.error) or self.errors > 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}

    def describe(self) -> str:
        """One line for people: the counts, then what went wrong."""
        if self.skipped:
            return _("%(mailbox)s: skipped, another fetch is running.") % {"mailbox": self.mailbox}
        line = _(
            "%(mailbox)s: %(fetched)d fetched, %(new)d new tickets, %(replies)d replies, "
            "%(duplicates)d duplicates, %(dead)d dead letters, %(errors)d errors"
        ) % {
            "mailbox": self.mailbox,
            "fetched": self.fetched,
            "new": self.new_tickets,
            "replies": self.replies,
            "duplicates": self.duplicates,
            "dead": self.dead_letters,
            "errors": self.errors + (1 if self.error else 0),
        }
        if self.remaining:
            line += _(" (%(n)d more left for the next run)") % {"n": self.remaining}
        if self.error:
            line += f" — {self.error}"
        elif self.message_errors:
            line += f" — {self.message_errors[0]}"
        return line


# ---------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------


def ssl_context() -> ssl.SSLContext:
    """Verify certificates and host names with the system's CAs and MAIL_CA_FILE."""
    context = ssl.create_default_context()
    if settings.MAIL_CA_FILE:
        context.load_verify_locations(cafile=settings.MAIL_CA_FILE)
    return context


def _tls_context() -> ssl.SSLContext:
    try:
        return ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(
            _("The CA file %(path)s (ATALAYA_MAIL_CA_FILE) cannot be read: %(reason)s")
            % {"path": settings.MAIL_CA_FILE, "reason": getattr(exc, "strerror", None) or exc}
        ) from exc


def _server(mailbox: Mailbox) -> str:
    return f"{mailbox.imap_host}:{_port(mailbox)}"


def _port(mailbox: Mailbox) -> int:
    return mailbox.imap_port or DEFAULT_PORTS.get(ImapSecurity(mailbox.imap_security), 993)


def _decode(data: Any) -> str:
    """An IMAP answer (bytes or a list of them) as text for an error message."""
    if isinstance(data, list | tuple):
        return " ".join(_decode(item) for item in data if item is not None)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


def _reason(exc: BaseException) -> str:
    """imaplib's errors carry the server's answer as bytes."""
    return _decode(exc.args[0]) if len(exc.args) == 1 else str(exc)


def connect(mailbox: Mailbox, *, timeout: float = TIMEOUT_S) -> imaplib.IMAP4:
    """An IMAP connection to the mailbox's server, TLS verified, not yet logged in.

    Raises FetchError with a message that says what failed and where.
    """
    host, port, security = mailbox.imap_host, _port(mailbox), mailbox.imap_security
    server = _server(mailbox)
    context = _tls_context() if security != ImapSecurity.PLAIN else None
    conn: imaplib.IMAP4 | None = None
    try:
        if security == ImapSecurity.IMAPS:
            conn = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
        else:
            conn = imaplib.IMAP4(host, port, timeout=timeout)
            if security == ImapSecurity.STARTTLS:
                if "STARTTLS" not in conn.capabilities:
                    raise FetchError(
                        _(
                            "The IMAP server %(server)s does not offer STARTTLS; the password "
                            "was not sent. Choose IMAPS or check the server."
                        )
                        % {"server": server}
                    )
                conn.starttls(ssl_context=context)
    except FetchError:
        _drop(conn)
        raise
    except ssl.SSLCertVerificationError as exc:
        _drop(conn)
        raise FetchError(
            _(
                "The certificate of the IMAP server %(server)s is not trusted (%(reason)s); "
                "the password was not sent. For a private CA set ATALAYA_MAIL_CA_FILE."
            )
            % {"server": server, "reason": exc.verify_message or exc.reason}
        ) from exc
    except ssl.SSLError as exc:
        _drop(conn)
        raise FetchError(
            _("TLS with the IMAP server %(server)s failed: %(reason)s.")
            % {"server": server, "reason": exc.reason or exc}
        ) from exc
    except TimeoutError as exc:
        _drop(conn)
        raise FetchError(
            _("The IMAP server %(server)s did not answer within %(s)d seconds.")
            % {"server": server, "s": int(timeout)}
        ) from exc
    except socket.gaierror as exc:
        _drop(conn)
        raise FetchError(
            _("The IMAP server's name %(host)s could not be resolved (%(reason)s).")
            % {"host": host, "reason": exc.strerror or exc}
        ) from exc
    except ConnectionRefusedError as exc:
        _drop(conn)
        raise FetchError(
            _("The IMAP server %(server)s refused the connection: is it running on that port?")
            % {"server": server}
        ) from exc
    except OSError as exc:
        _drop(conn)
        raise FetchError(
            _("Could not connect to the IMAP server %(server)s: %(reason)s.")
            % {"server": server, "reason": exc.strerror or exc}
        ) from exc
    except imaplib.IMAP4.error as exc:
        _drop(conn)
        raise FetchError(
            _("The IMAP server %(server)s answered unexpectedly: %(reason)s.")
            % {"server": server, "reason": _reason(exc)}
        ) from exc
    return conn


def _drop(conn: imaplib.IMAP4 | None) -> None:
    """Close a connection that is being given up, whatever state it is in."""
    if conn is None:
        return
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        conn.shutdown()


def login(conn: imaplib.IMAP4, mailbox: Mailbox) -> None:
    """Log in; a refusal becomes a FetchError naming the user and the server's words."""
    user, password = mailbox.imap_username, mailbox.imap_password
    try:
        try:
            conn.login(user, password)
        except UnicodeEncodeError:
            # LOGIN takes ASCII only; SASL PLAIN carries UTF-8 (a "contraseña").
            secret = f"\0{user}\0{password}".encode()
            conn.authenticate("PLAIN", lambda _challenge: secret)
    except imaplib.IMAP4.error as exc:
        raise FetchError(
            _("The IMAP server %(server)s refused the login of %(user)s: %(reason)s")
            % {"server": _server(mailbox), "user": user, "reason": _reason(exc)}
        ) from exc


def imap_utf7(folder: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3), quoted for a command."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            run.clear()

    for char in folder:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    text = "".join(out)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def select_folder(conn: imaplib.IMAP4, mailbox: Mailbox) -> None:
    typ, data = conn.select(imap_utf7(mailbox.imap_folder or "INBOX"))
    if typ != "OK":
        raise FetchError(
            _("The folder %(folder)s could not be opened on %(server)s: %(reason)s")
            % {"folder": mailbox.imap_folder, "server": _server(mailbox), "reason": _decode(data)}
        )


def unseen_uids(conn: imaplib.IMAP4) -> list[bytes]:
    """The UIDs of unseen messages, oldest first."""
    typ, data = conn.uid("SEARCH", None, "UNSEEN")  # type: ignore[arg-type]
    if typ != "OK":
        raise FetchError(
            _("The IMAP server refused to search: %(reason)s") % {"reason": _decode(data)}
        )
    uids = b" ".join(part for part in data if isinstance(part, bytes)).split()
    return sorted(uids, key=int)


def fetch_raw(conn: imaplib.IMAP4, uid: bytes) -> bytes | None:
    """The message's exact bytes without setting \\Seen; None when it is gone."""
    typ, data = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
    if typ != "OK":
        raise FetchError(
            _("The IMAP server refused to fetch a message: %(reason)s") % {"reason": _decode(data)}
        )
    for part in data:
        if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], bytes):
            return part[1]
    return None


def mark_seen(conn: imaplib.IMAP4, uid: bytes) -> None:
    typ, data = conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", r"(\Seen)")
    if typ != "OK":
        raise FetchError(
            _("The IMAP server refused to mark a message as read: %(reason)s")
            % {"reason": _decode(data)}
        )


# ---------------------------------------------------------------------------------------
# A run
# ---------------------------------------------------------------------------------------


def _claim(mailbox: Mailbox, now: datetime) -> bool:
    """Take the mailbox for this run, unless a live run has it (compare-and-set)."""
    free = Q(fetch_claimed_at__isnull=True) | Q(fetch_claimed_at__lt=now - FETCH_LEASE)
    return bool(Mailbox.objects.filter(free, pk=mailbox.pk).update(fetch_claimed_at=now))


def _release(mailbox: Mailbox, claim: datetime) -> None:
    # Only our own claim: after the lease another run may hold it.
    Mailbox.objects.filter(pk=mailbox.pk, fetch_claimed_at=claim).update(fetch_claimed_at=None)
    mailbox.fetch_claimed_at = None


def _count(report: FetchReport, result: Any) -> None:
    report.fetched += 1
    if result.is_duplicate:
        report.duplicates += 1
    elif result.outcome == Outcome.DEAD_LETTER:
        report.dead_letters += 1
    elif result.is_new_ticket:
        report.new_tickets += 1
    elif result.outcome == Outcome.APPENDED:
        report.replies += 1
    else:
        report.other += 1


def _read_messages(
    conn: imaplib.IMAP4, mailbox: Mailbox, report: FetchReport, *, limit: int, started: float
) -> None:
    from atalaya.mail import inbound

    uids = unseen_uids(conn)
    budget = FETCH_LEASE.total_seconds() / 2
    for index, uid in enumerate(uids):
        if index >= limit or time.monotonic() - started > budget:
            report.remaining = len(uids) - index
            break
        raw = fetch_raw(conn, uid)
        if raw is None:
            continue  # expunged by another client meanwhile
        try:
            # A savepoint: a failed store leaves no half-written rows behind.
            with transaction.atomic():
                result = inbound.ingest(raw, mailbox=mailbox)
        except Exception as exc:
            # It could not be stored: it stays unseen and comes again next run.
            logger.exception("mailbox %s: message UID %s could not be stored", mailbox, uid)
            report.errors += 1
            report.message_errors.append(
                _("A message (UID %(uid)s) could not be stored and stays unread: %(reason)s")
                % {"uid": uid.decode(), "reason": f"{type(exc).__name__}: {exc}"}
            )
            continue
        _count(report, result)
        mark_seen(conn, uid)


def fetch_mailbox(
    mailbox: Mailbox, *, limit: int = DEFAULT_LIMIT, timeout: float = TIMEOUT_S
) -> FetchReport:
    """Fetch the mailbox's unseen mail into the pipeline, at most ``limit`` messages.

    Never raises for a failure of the server or of one message: the report (and the
    mailbox's ``last_error``) says what went wrong. ``last_fetched_at`` is the time of
    the last run that reached the folder.
    """
    report = FetchReport(mailbox=mailbox.address)
    if not mailbox.fetches_imap:
        report.error = _("This mailbox has no IMAP server set up.")
        return report
    if not mailbox.is_active:
        report.error = _("This mailbox is inactive.")
        return report
    claim = timezone.now()
    if not _claim(mailbox, claim):
        report.skipped = True
        return report
    started = time.monotonic()
    reached = False
    conn: imaplib.IMAP4 | None = None
    try:
        conn = connect(mailbox, timeout=timeout)
        login(conn, mailbox)
        select_folder(conn, mailbox)
        reached = True
        _read_messages(conn, mailbox, report, limit=limit, started=started)
    except FetchError as exc:
        report.error = str(exc)
    except imaplib.IMAP4.abort as exc:
        report.error = _("The connection to the IMAP server %(server)s broke off: %(reason)s") % {
            "server": _server(mailbox),
            "reason": _reason(exc),
        }
    except (imaplib.IMAP4.error, OSError) as exc:
        report.error = _("The IMAP server %(server)s failed: %(reason)s") % {
            "server": _server(mailbox),
            "reason": _reason(exc),
        }
    except Exception as exc:
        # Whatever it was, the other mailboxes still get fetched.
        logger.exception("mailbox %s: fetch failed", mailbox)
        report.error = _("Fetching failed unexpectedly: %(reason)s") % {
            "reason": f"{type(exc).__name__}: {exc}"
        }
    finally:
        if conn is not None:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                _drop(conn)
        _record(mailbox, report, reached=reached)
        _release(mailbox, claim)
    if report.error:
        logger.warning("mailbox %s: %s", mailbox, report.error)
    return report


def _record(mailbox: Mailbox, report: FetchReport, *, reached: bool) -> None:
    """Keep the run's outcome on the mailbox, for the settings page."""
    fields = ["last_error"]
    if reached:
        mailbox.last_fetched_at = timezone.now()
        fields.append("last_fetched_at")
    mailbox.last_error = report.error or "\n".join(report.message_errors)
    mailbox.save(update_fields=fields)


def fetch_all(*, limit: int = DEFAULT_LIMIT, timeout: float = TIMEOUT_S) -> list[FetchReport]:
    """Fetch every active mailbox that has an IMAP server, one after the other."""
    mailboxes = Mailbox.objects.filter(is_active=True).exclude(imap_host="").order_by("address")
    return [fetch_mailbox(mailbox, limit=limit, timeout=timeout) for mailbox in mailboxes]
