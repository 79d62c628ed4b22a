"""Norma 43 (AEB Cuaderno 43): records 11, 22, 23, 33, 88; sign codes; YYMMDD dates; and
truncated or inconsistent files refused with the line named."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from atalaya.billing.statements import StatementError, parse_statement
from atalaya.billing.statements.norma43 import iban_matches
from atalaya.billing.tests.statement_files import Line, norma43

DATA = Path(__file__).parent / "data"


def _sample() -> bytes:
    return norma43(
        [
            Line(
                "121.00", remittance="TRANSF ALFA ASESORES SL FRA F2026-00007", reference="ORD-55"
            ),
            Line("-60.00", remittance="DEVOLUCION RECIBO SEPA MOTIVO MD06 ATAE2EC"),
            Line("-15.30", remittance="COMISION MANTENIMIENTO"),
        ]
    )


def test_the_sample_file():
    parsed = parse_statement((DATA / "norma43_sample.n43").read_bytes(), "extracto.n43")
    assert parsed.format == "n43"
    assert parsed.account_hint == "210004180200051332"
    assert parsed.currency == "EUR"
    assert (parsed.covers_from, parsed.covers_until) == (date(2026, 11, 1), date(2026, 11, 20))
    transfer, returned, fee = parsed.entries
    assert transfer.amount == Decimal("121.00")
    assert "F2026-00007" in transfer.remittance and transfer.reference == "ORD-55"
    assert (returned.amount, returned.return_reason) == (Decimal("-60.00"), "MD06")
    assert "ATAE2EC" in returned.remittance
    assert fee.amount == Decimal("-15.30") and fee.return_reason == ""


def test_generated_file_matches_the_sample():
    assert _sample() == (DATA / "norma43_sample.n43").read_bytes()


def test_lines_without_trailing_blanks_are_fine():
    stripped = b"\n".join(line.rstrip() for line in _sample().splitlines())
    assert len(parse_statement(stripped).entries) == 3


def _lines() -> list[str]:
    return _sample().decode("latin-1").splitlines()


def _join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def test_a_truncated_movement_line():
    lines = _lines()
    lines[1] = lines[1][:35]  # cut inside the amount
    with pytest.raises(StatementError, match="line 2: a record 22 must be 80 characters"):
        parse_statement(_join(lines))


def test_a_cut_off_file():
    lines = _lines()[:-2]  # no totals, no end record
    with pytest.raises(StatementError, match="no end-of-file record"):
        parse_statement(_join(lines))


def test_a_missing_movement_is_caught_by_the_totals():
    lines = _lines()
    del lines[1:3]  # the first movement and its concept
    with pytest.raises(StatementError, match="totals do not match"):
        parse_statement(_join(lines))


def test_wrong_record_count():
    lines = _lines()
    lines[-1] = lines[-1][:20] + "000099" + lines[-1][26:]
    with pytest.raises(StatementError, match="says it has 99 records"):
        parse_statement(_join(lines))


@pytest.mark.parametrize(
    ("index", "start", "value", "message"),
    [
        (1, 27, "3", "debit/credit code must be 1 or 2"),
        (1, 10, "261340", "not a date"),
        (1, 28, "00000000012X45", "not a number"),
        (2, 0, "19", "line 3: “19” is not a Norma 43 record type"),
    ],
)
def test_bad_fields(index, start, value, message):
    lines = _lines()
    lines[index] = lines[index][:start] + value + lines[index][start + len(value) :]
    with pytest.raises(StatementError, match=message):
        parse_statement(_join(lines))


def test_a_concept_before_any_movement():
    lines = _lines()
    lines.insert(1, "2301" + "HUERFANO".ljust(76))
    with pytest.raises(StatementError, match="without a movement"):
        parse_statement(_join(lines))


def test_two_accounts_in_one_file_are_refused():
    other = norma43([Line("1.00")], account="9999999999").decode("latin-1").splitlines()
    lines = _lines()[:-1] + other[:-1]
    lines.append("88" + "9" * 18 + f"{len(lines):06d}".ljust(60))
    with pytest.raises(StatementError, match="several accounts"):
        parse_statement(_join(lines))


def test_iban_matches_the_account_without_check_digits():
    assert iban_matches("ES9121000418450200051332", "210004180200051332")
    assert not iban_matches("ES9121000418450200051332", "210004180200051333")
    assert not iban_matches("DE89370400440532013000", "210004180200051332")
