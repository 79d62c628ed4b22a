"""camt.053 / camt.054 parsing, and hostile or broken XML refused without expansion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from atalaya.billing.statements import StatementError, parse_statement
from atalaya.billing.tests.statement_files import Line, camt053, camt054

DATA = Path(__file__).parent / "data"
IBAN = "ES9121000418450200051332"


def test_the_sample_camt053_file():
    parsed = parse_statement((DATA / "camt053_sample.xml").read_bytes(), "camt053_sample.xml")
    assert parsed.format == "camt053"
    assert parsed.account_iban == IBAN and parsed.currency == "EUR"
    assert (parsed.covers_from, parsed.covers_until) == (date(2026, 11, 19), date(2026, 11, 20))
    credit, batch_a, batch_b, returned = parsed.entries
    assert credit.amount == Decimal("121.00") and credit.remittance == "Factura F2026-00007"
    assert credit.counterparty_iban == "ES7921000813610123456789"
    assert credit.counterparty_name == "Alfa Asesores SL"
    # A batch booking is one entry per transaction, each with its end-to-end id.
    assert (batch_a.end_to_end_id, batch_a.amount) == ("ATAE2EA", Decimal("50.00"))
    assert (batch_b.end_to_end_id, batch_b.amount) == ("ATAE2EB", Decimal("25.50"))
    assert batch_a.dedup_key != batch_b.dedup_key
    assert (returned.amount, returned.return_reason) == (Decimal("-60.00"), "MD06")
    assert returned.end_to_end_id == "ATAE2EC"


def test_generated_camt054_and_references():
    data = camt054(
        [Line("10.00", reference="RF18539007547034", e2e="X1", bank_ref="B-1")], iban=IBAN
    )
    parsed = parse_statement(data)
    assert parsed.format == "camt054"
    (entry,) = parsed.entries
    assert entry.reference == "RF18539007547034"
    assert entry.end_to_end_id == "X1"
    assert parsed.covers_until == date(2026, 11, 20)


def test_the_same_entry_in_camt054_and_camt053_has_one_key():
    line = Line("10.00", e2e="X1", bank_ref="BANKREF-77", remittance="F2026-00001")
    in_054 = parse_statement(camt054([line], iban=IBAN)).entries[0]
    in_053 = parse_statement(camt053([line], iban=IBAN)).entries[0]
    assert in_054.dedup_key == in_053.dedup_key


def test_identical_entries_without_bank_reference_stay_apart():
    parsed = parse_statement(camt053([Line("5.00"), Line("5.00")], iban=IBAN))
    assert len({e.dedup_key for e in parsed.entries}) == 2


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&lol3;</Document>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><x>&xxe;</x></Document>"""

XXE_NET = b"""<?xml version="1.0"?>
<!doctype d SYSTEM "http://127.0.0.1:1/evil.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, XXE_NET], ids=["laughs", "xxe", "dtd"])
def test_hostile_xml_is_refused(data):
    with pytest.raises(StatementError, match="DTD or entities"):
        parse_statement(data, "evil.xml")


def test_hostile_xml_in_utf16_is_refused_too():
    data = BILLION_LAUGHS.replace(
        b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>'
    )
    with pytest.raises(StatementError, match="DTD or entities"):
        parse_statement(data.decode().encode("utf-16"), "evil.xml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<Document><unclosed></Document>", "not well-formed"),
        (b"<html><body>hi</body></html>", "not a camt.053 or camt.054"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>', "no statement"),
        (b"", "empty"),
        (b"PK\x03\x04 zip", "neither"),
    ],
)
def test_broken_files(data, message):
    with pytest.raises(StatementError, match=message):
        parse_statement(data)


@pytest.mark.parametrize(
    ("amount", "message"),
    [("1e40", "not possible"), ("12.345", "not possible"), ("abc", "not an amount")],
)
def test_absurd_amounts(amount, message):
    data = camt053([Line("1.00")], iban=IBAN).replace(b">1.00<", f">{amount}<".encode())
    with pytest.raises(StatementError, match=message):
        parse_statement(data)


def test_negative_amount_in_the_file_is_refused():
    data = camt053([Line("1.00")], iban=IBAN).replace(b">1.00<", b">-1.00<")
    with pytest.raises(StatementError, match="not possible"):
        parse_statement(data)


def test_a_bad_date_is_named():
    data = camt053([Line("1.00")], iban=IBAN).replace(
        b"<Dt>2026-11-20</Dt></BookgDt>", b"<Dt>2026-13-40</Dt></BookgDt>"
    )
    with pytest.raises(StatementError, match="not a date"):
        parse_statement(data)


def test_a_statement_without_iban():
    data = camt053([Line("1.00")], iban=IBAN).replace(f"<IBAN>{IBAN}</IBAN>".encode(), b"")
    with pytest.raises(StatementError, match="IBAN"):
        parse_statement(data)


def test_prefixed_namespace_reads_alike():
    plain = camt053([Line("10.00", e2e="X1", remittance="F2026-00001")], iban=IBAN).decode()
    head, body = plain.split("?>", 1)
    body = body.replace("</", "\x00").replace("<", "<c:").replace("\x00", "</c:")
    body = body.replace('<c:Document xmlns="', '<c:Document xmlns:c="')
    parsed = parse_statement((head + "?>" + body).encode())
    (entry,) = parsed.entries
    assert entry.end_to_end_id == "X1" and entry.remittance == "F2026-00001"
    assert parsed.account_iban == IBAN
