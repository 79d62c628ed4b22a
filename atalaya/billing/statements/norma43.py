"""Norma 43 (AEB/CSB Cuaderno 43): the fixed-width statement every Spanish bank gives.

Records of 80 characters: 11 account header, 22 movement, 23 up to five complementary
concept lines of the movement before it, 24 currency equivalence (ignored), 33 account
totals, 88 end of file. Amounts are 14 digits with two implied decimals and a sign
code (1 debit, 2 credit); dates are YYMMDD. The account totals (33) and the record
count (88) are checked, so a cut file or a mangled line is refused rather than
imported in part. Lines may lack their trailing blanks (some banks strip them) but not
any field that carries data.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _

from atalaya.billing.models import StatementFormat
from atalaya.billing.sepa import RETURN_REASONS
from atalaya.billing.statements import (
    ParsedEntry,
    ParsedStatement,
    StatementError,
    assign_dedup_keys,
)

RECORD = 80
# Each record type's shortest length that still holds all its data fields.
MIN_LENGTH = {"11": 51, "22": 42, "23": 4, "24": 2, "33": 76, "88": 26}
CURRENCIES = {"978": "EUR", "840": "USD", "826": "GBP", "756": "CHF"}
_DIGITS = re.compile(r"^\d+$")
_TOKEN = re.compile(r"\b[A-Z]{2}[A-Z0-9]{2}\b")


def _fail(line_no: int, message: str) -> StatementError:
    return StatementError(
        _("Norma 43, line %(line)d: %(message)s") % {"line": line_no, "message": message}
    )


def _number(raw: str, line_no: int, what: str) -> int:
    if not _DIGITS.match(raw):
        raise _fail(
            line_no, _("%(what)s “%(value)s” is not a number.") % {"what": what, "value": raw}
        )
    return int(raw)


def _money(raw: str, line_no: int) -> Decimal:
    return (Decimal(_number(raw, line_no, _("the amount"))) / 100).quantize(Decimal("0.01"))


def _date(raw: str, line_no: int) -> date:
    if not _DIGITS.match(raw) or len(raw) != 6:
        raise _fail(line_no, _("“%(value)s” is not a date (YYMMDD).") % {"value": raw})
    try:
        return date(2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
    except ValueError:
        raise _fail(line_no, _("“%(value)s” is not a date (YYMMDD).") % {"value": raw}) from None


def _sign(raw: str, line_no: int) -> Decimal:
    if raw == "1":
        return Decimal(-1)
    if raw == "2":
        return Decimal(1)
    raise _fail(
        line_no, _("the debit/credit code must be 1 or 2, not “%(value)s”.") % {"value": raw}
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # What the banks' files are really in.
        return data.decode("latin-1")


def parse(data: bytes) -> ParsedStatement:
    """Parse a Norma 43 file of one account (several 11…33 groups of it are fine)."""
    text = _decode(data)
    result = ParsedStatement(format=StatementFormat.NORMA43)
    account = ""
    currency = ""
    in_account = False
    ended = False
    records = 0
    debits = credits = 0
    debit_sum = credit_sum = Decimal(0)
    current: ParsedEntry | None = None
    extra: list[str] = []

    def close_entry() -> None:
        nonlocal current, extra
        if current is not None:
            if extra:
                current.remittance = " ".join([current.remittance, *extra]).strip()[:500]
            if current.amount < 0:
                # A returned direct debit names its reason code in the concepts.
                for token in _TOKEN.findall(current.remittance.upper()):
                    if token in RETURN_REASONS:
                        current.return_reason = token
                        break
            result.entries.append(current)
        current, extra = None, []

    for line_no, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.rstrip("\r\n")
        if not line.strip():
            continue
        if ended:
            raise _fail(line_no, _("there is data after the end-of-file record (88)."))
        kind = line[:2]
        if kind not in MIN_LENGTH:
            raise _fail(line_no, _("“%(kind)s” is not a Norma 43 record type.") % {"kind": kind})
        if len(line) < MIN_LENGTH[kind] or len(line) > RECORD:
            raise _fail(
                line_no,
                _("a record %(kind)s must be 80 characters long; this one has %(n)d.")
                % {"kind": kind, "n": len(line)},
            )
        line = line.ljust(RECORD)
        if kind == "88":
            close_entry()
            if in_account:
                raise _fail(line_no, _("the account has no totals record (33)."))
            count = _number(line[20:26], line_no, _("the record count"))
            if count not in (records, records + 1):
                raise _fail(
                    line_no,
                    _("the file says it has %(count)d records but holds %(n)d: it is incomplete.")
                    % {"count": count, "n": records},
                )
            ended = True
            continue
        records += 1
        if kind == "11":
            if in_account:
                raise _fail(line_no, _("a new account starts before the totals (33)."))
            this = f"{line[2:6]}{line[6:10]}{line[10:20]}"
            _number(this, line_no, _("the account"))
            if account and this != account:
                raise StatementError(_("The file mixes statements of several accounts."))
            account = this
            start, end = _date(line[20:26], line_no), _date(line[26:32], line_no)
            if end < start:
                raise _fail(line_no, _("the statement ends before it starts."))
            result.covers_from = min(result.covers_from or start, start)
            result.covers_until = max(result.covers_until or end, end)
            _sign(line[32], line_no)
            _money(line[33:47], line_no)
            code = line[47:50]
            currency = CURRENCIES.get(code, code)
            in_account = True
            debits = credits = 0
            debit_sum = credit_sum = Decimal(0)
        elif kind == "22":
            if not in_account:
                raise _fail(line_no, _("a movement outside an account (no record 11 before it)."))
            close_entry()
            sign = _sign(line[27], line_no)
            amount = _money(line[28:42], line_no)
            if amount <= 0:
                raise _fail(line_no, _("a movement of zero."))
            if sign < 0:
                debits, debit_sum = debits + 1, debit_sum + amount
            else:
                credits, credit_sum = credits + 1, credit_sum + amount
            ref1, ref2 = line[52:64].strip(), line[64:80].strip()
            document = line[42:52].strip().lstrip("0")
            current = ParsedEntry(
                booking_date=_date(line[10:16], line_no),
                value_date=_date(line[16:22], line_no),
                amount=sign * amount,
                currency=currency,
                reference=ref2[:140],
                remittance=" ".join(part for part in (document, ref1, ref2) if part),
            )
        elif kind == "23":
            if current is None:
                raise _fail(line_no, _("a complementary concept without a movement before it."))
            extra.append(" ".join(line[4:80].split()))
        elif kind == "24":
            if current is None:
                raise _fail(line_no, _("a currency equivalence without a movement before it."))
        elif kind == "33":
            if not in_account:
                raise _fail(line_no, _("account totals without an account (record 11)."))
            close_entry()
            if f"{line[2:6]}{line[6:10]}{line[10:20]}" != account:
                raise _fail(line_no, _("the totals are of another account."))
            checks = (
                (_number(line[20:25], line_no, _("the number of debits")), debits),
                (_money(line[25:39], line_no), debit_sum),
                (_number(line[39:44], line_no, _("the number of credits")), credits),
                (_money(line[44:58], line_no), credit_sum),
            )
            if any(stated != counted for stated, counted in checks):
                raise _fail(
                    line_no,
                    _("the account totals do not match its movements: the file is incomplete."),
                )
            in_account = False
    if not ended:
        raise StatementError(_("The Norma 43 file has no end-of-file record (88): it is cut off."))
    result.currency = currency
    result.account_hint = account
    result.statement_ref = (
        f"N43 {account[:4]}-{account[4:8]}-{account[8:]} "
        f"{result.covers_from}..{result.covers_until}"
    )[:64]
    assign_dedup_keys(f"n43:{account}", result.entries)
    return result


def iban_matches(iban: str, account: str) -> bool:
    """Whether a Spanish IBAN (ES kk BBBB OOOO DD NNNNNNNNNN) is the Norma 43 account
    (bank, branch, number: the file has no check digits)."""
    compact = iban.replace(" ", "").upper()
    return (
        compact.startswith("ES")
        and len(compact) == 24
        and compact[4:12] == account[:8]
        and compact[14:24] == account[8:18]
    )
