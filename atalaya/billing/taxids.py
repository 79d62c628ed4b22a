"""Tax ids and bank accounts, checked by the field's libraries (python-stdnum, schwifty).

Every function returns the compact form to store, or raises a ValidationError whose
message names what is wrong, so a form or the API can show it on the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import schwifty
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from schwifty.exceptions import SchwiftyException
from stdnum.es import cif, nie, nif
from stdnum.eu import vat
from stdnum.exceptions import ValidationError as StdnumError

MAX_INPUT = 64


@dataclass(frozen=True)
class TaxId:
    value: str  # compact, with the country prefix for EU VAT numbers
    kind: str  # "nif", "nie", "cif" or "eu_vat"
    country: str


def validate_tax_id(raw: str) -> TaxId:
    """A Spanish NIF, NIE or CIF, or an EU VAT number with its country prefix."""
    text = (raw or "").strip()[:MAX_INPUT]
    if not text:
        raise ValidationError(_("A tax id is required."))
    compact = nif.compact(text)
    if compact.startswith("ES") and len(compact) > 9:
        compact = compact[2:]
    for kind, module in (("nie", nie), ("cif", cif), ("nif", nif)):
        try:
            return TaxId(module.validate(compact), kind, "ES")
        except StdnumError:
            continue
    try:
        value = vat.validate(text)
    except StdnumError:
        raise ValidationError(
            _("“%(value)s” is not a valid NIF, NIE, CIF or EU VAT number."), params={"value": text}
        ) from None
    return TaxId(value, "eu_vat", value[:2].upper().replace("EL", "GR"))


@dataclass(frozen=True)
class BankAccount:
    iban: str  # compact
    bic: str  # derived from the IBAN where the bank registry knows it, else ""


def validate_iban(raw: str, bic: str = "") -> BankAccount:
    """An IBAN (checksum, length and bank code for its country) and its BIC."""
    text = (raw or "").strip()[:MAX_INPUT]
    if not text:
        raise ValidationError(_("An IBAN is required."))
    try:
        iban = schwifty.IBAN(text)
    except SchwiftyException as exc:
        raise ValidationError(
            _("“%(value)s” is not a valid IBAN: %(reason)s"), params={"value": text, "reason": exc}
        ) from None
    if bic:
        try:
            checked = schwifty.BIC(bic.strip())
        except SchwiftyException as exc:
            raise ValidationError(
                _("“%(value)s” is not a valid BIC: %(reason)s"),
                params={"value": bic, "reason": exc},
            ) from None
        return BankAccount(iban.compact, checked.compact)
    derived = iban.bic
    return BankAccount(iban.compact, derived.compact if derived is not None else "")
