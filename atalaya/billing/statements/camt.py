"""camt.053 (account statement) and camt.054 (debit/credit notification), any version.

Parsed with lxml locked down: no DTD loaded, no entity resolved, no network, no huge
trees. A document that declares a DTD or entities at all is refused before parsing,
so a billion-laughs or external-entity file is never expanded. Element names are
matched by local name, so camt.053.001.02 and .001.08 read alike.

A booked entry (``Ntry``) with several transactions (``TxDtls``, e.g. the bank booking
a whole direct debit batch) becomes one entry per transaction, each with its own
end-to-end id and amount.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from lxml import etree

from atalaya.billing.models import StatementFormat
from atalaya.billing.statements import (
    ParsedEntry,
    ParsedStatement,
    StatementError,
    assign_dedup_keys,
)

_DANGEROUS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.\d{3}\.\d{2}")
# The root's default namespace declaration (how banks write camt), taken out before
# parsing so the tree needs no renaming pass before lxml's own lookups by plain names.
_DEFAULT_NAMESPACE = re.compile(
    rb'\sxmlns="(urn:iso:std:iso:20022:tech:xsd:camt\.05[34]\.\d{3}\.\d{2})"'
)
_MAX_AMOUNT = Decimal("999999999999.99")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class _Where:
    """ "Entry 12" for an error message, translated only if an error is raised."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __str__(self) -> str:
        return _("Entry %(n)d") % {"n": self.index}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _strip_namespaces(root: etree._Element) -> None:
    """Drop the namespace from every tag once, so lookups are lxml's own ``find`` by
    plain names (in C) and camt.053.001.02 and .001.08 read alike."""
    for element in root.iter():
        tag = element.tag
        if isinstance(tag, str) and tag[:1] == "{":
            element.tag = tag.split("}", 1)[1]


def _child(element: etree._Element | None, *path: str) -> etree._Element | None:
    """The first descendant along ``path`` of (namespace-free) names.

    A walk over the children beats lxml's ``find`` with a path here: entries have a
    handful of children and the path would be parsed on every call.
    """
    for name in path:
        if element is None:
            return None
        for child in element:
            if child.tag == name:
                element = child
                break
        else:
            return None
    return element


def _text(element: etree._Element | None, *path: str) -> str:
    found = _child(element, *path)
    text = found.text if found is not None else None
    return " ".join(text.split()) if text else ""


def _children(element: etree._Element | None, name: str) -> list[etree._Element]:
    if element is None:
        return []
    return [child for child in element if child.tag == name]


def _date(element: etree._Element | None, where: object) -> date | None:
    if element is None:
        return None
    raw = _text(element, "Dt") or _text(element, "DtTm")[:10]
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise StatementError(
            _("%(where)s: “%(value)s” is not a date.") % {"where": where, "value": raw}
        ) from None


def _amount(element: etree._Element | None, where: object) -> tuple[Decimal, str]:
    if element is None or not (element.text or "").strip():
        raise StatementError(_("%(where)s has no amount.") % {"where": where})
    raw = (element.text or "").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise StatementError(
            _("%(where)s: “%(value)s” is not an amount.") % {"where": where, "value": raw[:40]}
        ) from None
    if (
        not value.is_finite()
        or value < 0
        or value > _MAX_AMOUNT
        or value != value.quantize(Decimal("0.01"))
    ):
        raise StatementError(
            _("%(where)s: the amount %(value)s is not possible.")
            % {"where": where, "value": raw[:40]}
        )
    currency = (element.get("Ccy") or "").upper()
    if not _CURRENCY.match(currency):
        raise StatementError(_("%(where)s: the amount has no currency.") % {"where": where})
    return value.quantize(Decimal("0.01")), currency


def _remittance(tx: etree._Element | None) -> tuple[str, str]:
    """(structured creditor reference, unstructured text) of a transaction."""
    info = _child(tx, "RmtInf")
    if info is None:
        return "", ""
    unstructured = " ".join(_text(u) for u in _children(info, "Ustrd"))
    reference = ""
    for structured in _children(info, "Strd"):
        reference = reference or _text(structured, "CdtrRefInf", "Ref")
    return reference[:140], unstructured[:500]


def _party(tx: etree._Element | None, role: str) -> tuple[str, str]:
    parties = _child(tx, "RltdPties")
    if parties is None:
        return "", ""
    party = _child(parties, role)
    name = _text(party, "Nm") or _text(party, "Pty", "Nm")
    iban = _text(parties, f"{role}Acct", "Id", "IBAN").replace(" ", "").upper()
    return name[:140], iban[:34]


def _entry_rows(entry: etree._Element, index: int) -> list[ParsedEntry]:
    where = _Where(index)
    status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
    if status and status.upper() not in ("BOOK", ""):
        return []  # pending or informational entries are not money on the account yet
    indicator = _text(entry, "CdtDbtInd").upper()
    if indicator not in ("CRDT", "DBIT"):
        raise StatementError(_("%(where)s is neither a credit nor a debit.") % {"where": where})
    sign = Decimal(1) if indicator == "CRDT" else Decimal(-1)
    booked = _date(_child(entry, "BookgDt"), where)
    if booked is None:
        raise StatementError(_("%(where)s has no booking date.") % {"where": where})
    value_date = _date(_child(entry, "ValDt"), where)
    total, currency = _amount(_child(entry, "Amt"), where)
    bank_ref = _text(entry, "AcctSvcrRef")
    transactions: list[etree._Element] = []
    for block in _children(entry, "NtryDtls"):
        transactions.extend(_children(block, "TxDtls"))
    rows: list[ParsedEntry] = []
    several = len(transactions) > 1
    for position, tx in enumerate(transactions or [None]):
        if several:
            # An lxml element without children is falsy: compare with None.
            amount_element = _child(tx, "AmtDtls", "TxAmt", "Amt")
            if amount_element is None:
                amount_element = _child(tx, "Amt")
            amount, tx_currency = _amount(amount_element, where)
        else:
            amount, tx_currency = total, currency
        reference, remittance = _remittance(tx)
        e2e = _text(tx, "Refs", "EndToEndId")
        if e2e.upper() == "NOTPROVIDED":
            e2e = ""
        reason = _text(tx, "RtrInf", "Rsn", "Cd").upper()[:4]
        # Money in comes from the debtor; a returned debit names the debtor too.
        name, iban = _party(tx, "Dbtr") if indicator == "CRDT" or reason else _party(tx, "Cdtr")
        tx_ref = _text(tx, "Refs", "AcctSvcrRef")
        rows.append(
            ParsedEntry(
                booking_date=booked,
                value_date=value_date,
                amount=sign * amount,
                currency=tx_currency,
                end_to_end_id=e2e[:35],
                reference=reference,
                remittance=remittance,
                counterparty_name=name,
                counterparty_iban=iban,
                return_reason=reason,
                bank_ref=(f"{bank_ref}/{tx_ref or position}" if several else bank_ref)[:120],
            )
        )
    return rows


def parse(data: bytes) -> ParsedStatement:
    """Parse a camt.053 or camt.054 document into one statement (all its accounts' entries
    must be of one account)."""
    if _DANGEROUS.search(data):
        raise StatementError(
            _("The XML file declares a DTD or entities; bank statements never do: refused.")
        )
    namespace = ""
    opening = data.find(b"<Document", 0, 65536)
    head_end = data.find(b">", opening, opening + 4096) if opening >= 0 else -1
    declared = _DEFAULT_NAMESPACE.search(data, opening, head_end) if head_end > 0 else None
    if declared is not None:
        namespace = declared.group(1).decode("ascii")
        data = data[: declared.start()] + data[declared.end() :]
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise StatementError(
            _("The XML file is not well-formed: %(error)s") % {"error": exc}
        ) from None
    if root is None:
        raise StatementError(_("The XML file is empty."))
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Reached only by an encoding the byte scan above cannot read (UTF-16, say).
        raise StatementError(
            _("The XML file declares a DTD or entities; bank statements never do: refused.")
        )
    match = _NAMESPACE.match(namespace or etree.QName(root).namespace or "")
    if match is None or _local(root.tag) != "Document":
        raise StatementError(_("The XML file is not a camt.053 or camt.054 document."))
    kind = match.group(1)
    if not namespace:
        _strip_namespaces(root)
    body = _child(root, "BkToCstmrStmt" if kind == "camt.053" else "BkToCstmrDbtCdtNtfctn")
    reports = _children(body, "Stmt" if kind == "camt.053" else "Ntfctn")
    if not reports:
        raise StatementError(_("The file holds no statement."))
    result = ParsedStatement(
        format=StatementFormat.CAMT053 if kind == "camt.053" else StatementFormat.CAMT054
    )
    refs = []
    index = 0
    for report in reports:
        account = _child(report, "Acct")
        iban = _text(account, "Id", "IBAN").replace(" ", "").upper()
        if not iban:
            raise StatementError(_("The statement does not name its account's IBAN."))
        if result.account_iban and iban != result.account_iban:
            raise StatementError(_("The file mixes statements of several accounts."))
        result.account_iban = iban
        currency = _text(account, "Ccy").upper()
        if currency:
            result.currency = currency
        refs.append(_text(report, "Id"))
        period = _child(report, "FrToDt")
        if period is not None:
            start = (_text(period, "FrDtTm") or _text(period, "FrDt"))[:10]
            end = (_text(period, "ToDtTm") or _text(period, "ToDt"))[:10]
            try:
                if start:
                    begun = date.fromisoformat(start)
                    result.covers_from = min(result.covers_from or begun, begun)
                if end:
                    ended = date.fromisoformat(end)
                    result.covers_until = max(result.covers_until or ended, ended)
            except ValueError:
                raise StatementError(_("The statement period is not a date range.")) from None
        for entry in _children(report, "Ntry"):
            index += 1
            result.entries.extend(_entry_rows(entry, index))
    result.statement_ref = " ".join(r for r in refs if r)[:64]
    if result.entries:
        booked = [e.booking_date for e in result.entries]
        result.covers_from = result.covers_from or min(booked)
        result.covers_until = result.covers_until or max(booked)
    assign_dedup_keys(result.account_iban, result.entries)
    return result
