"""Statement files written for the tests (and the benchmark): camt.053, camt.054, Norma 43.

The XML follows the camt.053.001.08 / camt.054.001.08 layout banks send (booked
entries, references, related parties, return information); Norma 43 follows the AEB
Cuaderno 43 record layout, 80 characters a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape


@dataclass
class Line:
    amount: Decimal | str  # signed: money in positive
    booked: date = date(2026, 11, 20)
    e2e: str = ""
    remittance: str = ""
    reference: str = ""
    name: str = ""
    iban: str = ""
    reason: str = ""
    bank_ref: str = ""
    currency: str = "EUR"


def _tx(line: Line) -> str:
    amount = Decimal(str(line.amount))
    party = "Dbtr" if amount > 0 or line.reason else "Cdtr"
    parts = ["<TxDtls><Refs>"]
    if line.bank_ref:
        parts.append(f"<AcctSvcrRef>{escape(line.bank_ref)}</AcctSvcrRef>")
    parts.append(f"<EndToEndId>{escape(line.e2e or 'NOTPROVIDED')}</EndToEndId></Refs>")
    if line.name or line.iban:
        parts.append(f"<RltdPties><{party}><Pty><Nm>{escape(line.name)}</Nm></Pty></{party}>")
        if line.iban:
            parts.append(f"<{party}Acct><Id><IBAN>{line.iban}</IBAN></Id></{party}Acct>")
        parts.append("</RltdPties>")
    if line.remittance or line.reference:
        parts.append("<RmtInf>")
        if line.remittance:
            parts.append(f"<Ustrd>{escape(line.remittance)}</Ustrd>")
        if line.reference:
            parts.append(
                "<Strd><CdtrRefInf><Ref>" + escape(line.reference) + "</Ref></CdtrRefInf></Strd>"
            )
        parts.append("</RmtInf>")
    if line.reason:
        parts.append(f"<RtrInf><Rsn><Cd>{line.reason}</Cd></Rsn></RtrInf>")
    parts.append("</TxDtls>")
    return "".join(parts)


def _entry(line: Line) -> str:
    amount = Decimal(str(line.amount))
    indicator = "CRDT" if amount > 0 else "DBIT"
    ref = f"<AcctSvcrRef>{escape(line.bank_ref)}</AcctSvcrRef>" if line.bank_ref else ""
    return (
        f'<Ntry><Amt Ccy="{line.currency}">{abs(amount):.2f}</Amt>'
        f"<CdtDbtInd>{indicator}</CdtDbtInd>"
        + ("<RvslInd>true</RvslInd>" if line.reason else "")
        + "<Sts><Cd>BOOK</Cd></Sts>"
        f"<BookgDt><Dt>{line.booked.isoformat()}</Dt></BookgDt>"
        f"<ValDt><Dt>{line.booked.isoformat()}</Dt></ValDt>{ref}"
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly>"
        "</Domn></BkTxCd>"
        f"<NtryDtls>{_tx(line)}</NtryDtls></Ntry>"
    )


def camt053(
    lines: list[Line],
    *,
    iban: str,
    statement_id: str = "STMT-2026-11-20",
    start: date = date(2026, 11, 20),
    end: date = date(2026, 11, 20),
    currency: str = "EUR",
) -> bytes:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        "<BkToCstmrStmt><GrpHdr><MsgId>MSG-" + escape(statement_id) + "</MsgId>"
        "<CreDtTm>2026-11-21T06:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{escape(statement_id)}</Id><CreDtTm>2026-11-21T06:00:00</CreDtTm>"
        f"<FrToDt><FrDtTm>{start.isoformat()}T00:00:00</FrDtTm>"
        f"<ToDtTm>{end.isoformat()}T23:59:59</ToDtTm></FrToDt>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
    )
    parts = [head]
    parts.extend(_entry(line) for line in lines)
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode("utf-8")


def camt054(lines: list[Line], *, iban: str, notification_id: str = "NTF-1") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
        "<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>" + escape(notification_id) + "</MsgId>"
        "<CreDtTm>2026-11-20T12:00:00</CreDtTm></GrpHdr>"
        f"<Ntfctn><Id>{escape(notification_id)}</Id>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id></Acct>"
    ]
    parts.extend(_entry(line) for line in lines)
    parts.append("</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")
    return "".join(parts).encode("utf-8")


def _n43_amount(value: Decimal) -> str:
    return f"{int(abs(value) * 100):014d}"


def norma43(
    lines: list[Line],
    *,
    bank: str = "2100",
    branch: str = "0418",
    account: str = "0200051332",
    start: date = date(2026, 11, 1),
    end: date = date(2026, 11, 20),
) -> bytes:
    """A Norma 43 file of one account; ``remittance`` goes into 23 records (38 chars each),
    ``reference`` into reference 2 of the movement."""
    records = [
        f"11{bank}{branch}{account}{start:%y%m%d}{end:%y%m%d}2{0:014d}9783"
        + "ATALAYA SERVICIOS SL".ljust(26)
        + "   "
    ]
    debits = credits = 0
    debit_sum = credit_sum = Decimal(0)
    for line in lines:
        amount = Decimal(str(line.amount))
        sign = "2" if amount > 0 else "1"
        if amount > 0:
            credits, credit_sum = credits + 1, credit_sum + amount
        else:
            debits, debit_sum = debits + 1, debit_sum + abs(amount)
        records.append(
            f"22    {branch}{line.booked:%y%m%d}{line.booked:%y%m%d}02000{sign}"
            f"{_n43_amount(amount)}{0:010d}{'':12}{line.reference[:16]:<16}"
        )
        text = line.remittance
        code = 1
        while text and code <= 5:
            records.append(f"23{code:02d}{text[:38]:<38}{text[38:76]:<38}")
            text, code = text[76:], code + 1
    records.append(
        f"33{bank}{branch}{account}{debits:05d}{_n43_amount(debit_sum)}{credits:05d}"
        f"{_n43_amount(credit_sum)}2{_n43_amount(credit_sum - debit_sum)}978    "
    )
    records.append(f"88{'9' * 18}{len(records):06d}".ljust(80))
    for record in records:
        assert len(record) == 80, (len(record), record)
    return ("\r\n".join(records) + "\r\n").encode("latin-1")
