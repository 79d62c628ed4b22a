"""The marks Atalaya puts on outgoing mail so replies find their ticket, and their readers.

Four marks, read back in this order by the inbound matcher (mail/inbound.py):

1. the Message-ID of every mail sent (``<random@domain>``), which a reply names in
   In-Reply-To or References;
2. ``[#1234]`` in the subject;
3. the ticket's own reply address, ``support+t1234@domain`` (plus addressing);
4. a reference in the body, ``[ref:ATL-1234-5f3a9c2e]``, signed with the secret key so
   a stranger cannot forge one, which survives clients that drop headers and rewrite
   the subject but quote the text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from email.utils import formataddr, parseaddr

from django.conf import settings

SUBJECT_TOKEN_RE = re.compile(r"\[#(\d{1,12})\]")
BODY_TOKEN_RE = re.compile(r"\[ref:ATL-(\d{1,12})-([0-9a-f]{8})\]")
MESSAGE_ID_RE = re.compile(r"<([^<>\s]{1,250})>")
# Every mail Atalaya sends carries this header; a received mail that has it is our own
# mail come back (an auto-forward, a loop), never a client's message.
LOOP_HEADER = "X-Atalaya-Loop"


def mail_from() -> tuple[str, str]:
    """The configured sender as (display name, address)."""
    name, address = parseaddr(settings.MAIL_FROM)
    return name or "Atalaya", (address or "support@atalaya.localhost").lower()


def mail_domain() -> str:
    return mail_from()[1].rpartition("@")[2] or "atalaya.localhost"


def new_message_id() -> str:
    """A fresh Message-ID without the angle brackets: random, so it cannot be guessed."""
    return f"{secrets.token_hex(12)}@{mail_domain()}"


def normalize_message_id(value: str) -> str:
    """``<Abc@Host>`` → ``Abc@host``: brackets and blanks dropped, the domain part lowered.

    The local part is compared exactly (RFC 5322 says it is case-sensitive; some
    servers do change it, but then the other marks still match).
    """
    value = value.strip().strip("<>").strip()
    local, at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if at else value


def message_ids_in(header: str) -> list[str]:
    """Every ``<id>`` in an In-Reply-To or References header, in order, normalised."""
    return [normalize_message_id(found) for found in MESSAGE_ID_RE.findall(header or "")]


def subject_token(number: int) -> str:
    return f"[#{number}]"


def subject_with_token(subject: str, number: int) -> str:
    """The subject with the ticket's number once, whatever replies have done to it."""
    token = subject_token(number)
    return subject if token in subject else f"{subject} {token}"


def ticket_number_in_subject(subject: str) -> int | None:
    found = SUBJECT_TOKEN_RE.search(subject or "")
    return int(found.group(1)) if found else None


def reply_address(number: int, base: str | None = None) -> str:
    """``support+t1234@domain`` from the mailbox address (or the configured sender)."""
    local, _at, domain = (base or mail_from()[1]).partition("@")
    return f"{local.partition('+')[0]}+t{number}@{domain}"


def ticket_number_in_address(address: str) -> int | None:
    """The ticket of a ``local+t1234@domain`` address, or None."""
    local = (address or "").partition("@")[0]
    found = re.fullmatch(r"[^+]+\+t(\d{1,12})", local)
    return int(found.group(1)) if found else None


def _signature(number: int) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"ticket:{number}".encode(), hashlib.sha256).hexdigest()[:8]


def body_token(number: int) -> str:
    return f"[ref:ATL-{number}-{_signature(number)}]"


def ticket_number_in_body(text: str) -> int | None:
    """The ticket of the first correctly signed reference in the text, or None."""
    for found in BODY_TOKEN_RE.finditer(text or ""):
        number = int(found.group(1))
        if hmac.compare_digest(found.group(2), _signature(number)):
            return number
    return None


def sender_header(name: str | None = None) -> str:
    """The From header of outgoing mail: the configured address under ``name`` if given."""
    default_name, address = mail_from()
    return formataddr((name or default_name, address))
