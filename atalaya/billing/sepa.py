"""SEPA Core direct debit files (pain.008) built with sepaxml, and the R-transaction codes.

The file format is pain.008.001.08: the ISO 20022 2019 message the EPC SDD rulebook and
its implementation guidelines use since November 2023 (Spanish banks take it for
Cuaderno 19.14 SEPA XML). Unlike pain.008.001.02 (the 2009 message, being phased out)
it lets the debtor agent's BIC be left out (IBAN-only, as SEPA allows since 2016) and
matches the camt.05x messages of the same generation that the bank sends back.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from sepaxml import SepaDD

PAIN008_SCHEMA = "pain.008.001.08"

# The R-transaction reason codes (EPC SDD rulebook, ISO 20022 ExternalReturnReason1Code)
# a bank may return a direct debit with. Spanish comes from the gettext catalogue.
RETURN_REASONS: dict[str, Promise] = {
    "AC01": gettext_lazy("Account identifier incorrect (invalid IBAN)"),
    "AC04": gettext_lazy("Account closed"),
    "AC06": gettext_lazy("Account blocked, or blocked for direct debits by the debtor"),
    "AC13": gettext_lazy("Debtor account is a consumer account"),
    "AG01": gettext_lazy("Direct debit forbidden on this type of account"),
    "AG02": gettext_lazy("Operation or bank transaction code incorrect"),
    "AM04": gettext_lazy("Insufficient funds"),
    "AM05": gettext_lazy("Duplicate collection"),
    "BE05": gettext_lazy("Creditor identifier incorrect"),
    "CNOR": gettext_lazy("Creditor bank is not registered under this BIC"),
    "DNOR": gettext_lazy("Debtor bank is not registered under this BIC"),
    "ED05": gettext_lazy("Settlement of the collection failed"),
    "FF01": gettext_lazy("File format or operation code invalid"),
    "FOCR": gettext_lazy("Returned after a cancellation request"),
    "MD01": gettext_lazy("No mandate, or the mandate is not valid (unauthorised debit)"),
    "MD02": gettext_lazy("Mandate data missing or incorrect"),
    "MD06": gettext_lazy("Refund requested by the debtor"),
    "MD07": gettext_lazy("Debtor deceased"),
    "MS02": gettext_lazy("Refused by the debtor (no reason given)"),
    "MS03": gettext_lazy("No reason given by the bank"),
    "RC01": gettext_lazy("Bank identifier (BIC) incorrect"),
    "RR01": gettext_lazy("Debtor account or identification missing (regulatory reason)"),
    "RR02": gettext_lazy("Debtor name or address missing (regulatory reason)"),
    "RR03": gettext_lazy("Creditor name or address missing (regulatory reason)"),
    "RR04": gettext_lazy("Regulatory reason"),
    "SL01": gettext_lazy("Specific service offered by the debtor bank"),
    "TM01": gettext_lazy("Received after the bank's cut-off time"),
}

_CODE = re.compile(r"^[A-Z0-9]{4}$")


def clean_reason_code(raw: str) -> str:
    """A four-character ISO reason code; unknown but well-formed codes are kept (a bank
    may send a newer one) and described as such."""
    code = (raw or "").strip().upper()
    if not _CODE.match(code):
        raise ValidationError(
            {
                "reason_code": _("“%(value)s” is not a SEPA return reason code (like AM04).")
                % {"value": raw}
            }
        )
    return code


def describe_reason(code: str) -> str:
    meaning = RETURN_REASONS.get(code)
    if meaning is None:
        return _("Return reason %(code)s") % {"code": code}
    return f"{code}: {meaning}"


def reason_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} — {meaning}") for code, meaning in RETURN_REASONS.items()]


class _SepaDD(SepaDD):
    """sepaxml's SepaDD with Atalaya's own (stored, unique) message id in the header."""

    def __init__(self, config: dict[str, Any], schema: str, msg_id: str) -> None:
        self._atalaya_msg_id = msg_id
        super().__init__(config, schema=schema, clean=True)

    def _create_header(self) -> None:
        self.msg_id = self._atalaya_msg_id
        super()._create_header()


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def build_pain008(
    *,
    message_id: str,
    creditor_name: str,
    creditor_iban: str,
    creditor_bic: str,
    creditor_id: str,
    currency: str,
    collections: Iterable[Any],
) -> bytes:
    """One pain.008.001.08 document for collections of one due date and sequence type.

    Each collection needs ``mandate`` (reference, signed_on, debtor_name, iban, bic),
    ``amount``, ``due_on``, ``sequence``, ``end_to_end_id`` and ``invoice.code``.
    sepaxml validates the output against its own copy of the XSD while exporting.
    """
    config: dict[str, Any] = {
        "name": creditor_name,
        "IBAN": creditor_iban,
        "batch": True,
        "creditor_id": creditor_id,
        "currency": currency,
    }
    if creditor_bic:
        config["BIC"] = creditor_bic
    document = _SepaDD(config, schema=PAIN008_SCHEMA, msg_id=message_id)
    count = 0
    for collection in collections:
        mandate = collection.mandate
        payment: dict[str, Any] = {
            "name": mandate.debtor_name,
            "IBAN": mandate.iban,
            "amount": _cents(collection.amount),
            "type": collection.sequence,
            "collection_date": collection.due_on,
            "mandate_id": mandate.reference,
            "mandate_date": mandate.signed_on,
            "description": _("Invoice %(code)s") % {"code": collection.invoice.code},
            "endtoend_id": collection.end_to_end_id,
        }
        if mandate.bic:
            payment["BIC"] = mandate.bic
        if not isinstance(payment["collection_date"], datetime.date):
            raise ValidationError(_("A collection has no due date."))
        document.add_payment(payment)
        count += 1
    if not count:
        raise ValidationError(_("There is nothing to collect on that date."))
    try:
        return bytes(document.export(validate=True))
    except Exception as exc:  # sepaxml raises its own ValidationError or a bare Exception
        raise ValidationError(
            _("The direct debit file does not validate: %(error)s") % {"error": exc}
        ) from exc
