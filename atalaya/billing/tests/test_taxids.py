"""Tax ids and IBANs: the valid ones are stored compact, the wrong ones are named."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from atalaya.billing.taxids import validate_iban, validate_tax_id


@pytest.mark.parametrize(
    ("raw", "value", "kind"),
    [
        ("12345678-z", "12345678Z", "nif"),
        ("X1234567L", "X1234567L", "nie"),
        ("B-58378431", "B58378431", "cif"),
        ("ESB58378431", "B58378431", "cif"),
        ("DE 136 695 976", "DE136695976", "eu_vat"),
    ],
)
def test_valid_tax_ids(raw, value, kind):
    found = validate_tax_id(raw)
    assert (found.value, found.kind) == (value, kind)


@pytest.mark.parametrize("raw", ["", "12345678A", "B58378432", "DE136695977", "x" * 5000, "ES\x00"])
def test_wrong_tax_ids_are_named(raw):
    with pytest.raises(ValidationError) as caught:
        validate_tax_id(raw)
    assert caught.value.messages[0]


def test_iban_compact_with_its_bic():
    account = validate_iban("es91 2100 0418 4502 0005 1332")
    assert account.iban == "ES9121000418450200051332"
    assert account.bic == "CAIXESBB"


@pytest.mark.parametrize("raw", ["", "ES9121000418450200051333", "XX00", "ES91" + "1" * 100])
def test_wrong_ibans_are_named(raw):
    with pytest.raises(ValidationError) as caught:
        validate_iban(raw)
    assert "IBAN" in caught.value.messages[0]


def test_a_wrong_bic_is_named():
    with pytest.raises(ValidationError, match="BIC"):
        validate_iban("ES9121000418450200051332", bic="NOTABIC!")
