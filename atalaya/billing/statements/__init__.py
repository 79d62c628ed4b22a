"""Bank statement parsers: camt.053 / camt.054 (ISO 20022 XML) and Norma 43 (AEB Cuaderno 43).

Each parser turns a file into a ``ParsedStatement`` of ``ParsedEntry`` rows with signed
amounts (money in positive), or raises ``StatementError`` naming what is wrong: the
import never stores half a file. ``parse_statement`` picks the parser by content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Larger files are refused before parsing: 50,000 camt entries are ~40 MB.
MAX_STATEMENT_BYTES = 100 * 1024 * 1024


class StatementError(ValidationError):
    """A statement file that cannot be imported; the message says why."""


@dataclass
class ParsedEntry:
    booking_date: date
    amount: Decimal  # signed: money in is positive
    currency: str
    value_date: date | None = None
    end_to_end_id: str = ""
    reference: str = ""
    remittance: str = ""
    counterparty_name: str = ""
    counterparty_iban: str = ""
    return_reason: str = ""
    bank_ref: str = ""  # the bank's own reference (AcctSvcrRef), when it gives one
    dedup_key: str = ""


@dataclass
class ParsedStatement:
    format: str  # a StatementFormat value
    account_iban: str = ""
    account_hint: str = ""  # Norma 43: bank, branch and account number (no IBAN in the file)
    statement_ref: str = ""
    currency: str = ""
    covers_from: date | None = None
    covers_until: date | None = None
    entries: list[ParsedEntry] = field(default_factory=list)


def dedup_key(account: str, entry: ParsedEntry, occurrence: int) -> str:
    """The key an entry keeps across files: the bank's reference when given (a camt.054
    and the day's camt.053 quote the same one), else its booked facts plus how many
    identical entries came before it in the same file."""
    if entry.bank_ref:
        # A bank that repeats its reference inside one file still gets distinct rows.
        raw = f"ref|{account}|{entry.bank_ref}" + (f"|{occurrence}" if occurrence else "")
    else:
        raw = "|".join(
            [
                "facts",
                account,
                entry.booking_date.isoformat(),
                str(entry.amount),
                entry.currency,
                entry.end_to_end_id,
                entry.reference,
                entry.remittance,
                entry.counterparty_iban,
                entry.return_reason,
                str(occurrence),
            ]
        )
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def assign_dedup_keys(account: str, entries: list[ParsedEntry]) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        base = dedup_key(account, entry, 0)
        # (occurrence counts identical entries: same facts, or the same bank reference)
        occurrence = seen.get(base, 0)
        seen[base] = occurrence + 1
        entry.dedup_key = base if occurrence == 0 else dedup_key(account, entry, occurrence)


def parse_statement(data: bytes, filename: str = "") -> ParsedStatement:
    """Detect the format from the content and parse it."""
    from atalaya.billing.statements import camt, norma43

    if not data:
        raise StatementError(_("The file is empty."))
    if len(data) > MAX_STATEMENT_BYTES:
        raise StatementError(_("The file is too large for a bank statement."))
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 XML too
        return camt.parse(data)
    if head[:2] == b"11":
        return norma43.parse(data)
    if filename:
        raise StatementError(
            _("“%(name)s” is neither a camt.053/camt.054 XML file nor a Norma 43 file.")
            % {"name": filename}
        )
    raise StatementError(_("The file is neither a camt.053/camt.054 XML file nor a Norma 43 file."))
