"""Invoice lines: every value a line carries checked, and its net amount, before any write.

Quantities, prices and rates are Decimal (a float is refused: it is not exact), within
their NUMERIC columns' ranges and decimals; the VAT is one of Spain's IVA rates or an
exempt / reverse-charge category; a product fills what a line leaves out. A
ValidationError names the field, and which line when there are several.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from atalaya.billing import money
from atalaya.billing.models import Invoice, InvoiceLine, Product, VatCategory
from atalaya.billing.models.common import IVA_RATES

# The NUMERIC columns' ranges: an amount past them cannot be stored, so it is refused.
MAX_AMOUNT = Decimal("999999999999.99")  # money: NUMERIC(14, 2)
MAX_PRICE = Decimal("9999999999.9999")  # unit price: NUMERIC(14, 4)
MAX_QUANTITY = Decimal("999999999.999")  # quantity: NUMERIC(12, 3)
MAX_DESCRIPTION = 500
MAX_LINES = 500


def _decimal(value: Any, field: str, places: int, maximum: Decimal, label: str) -> Decimal:
    """A Decimal from a Decimal, int or string; floats are refused (they are not exact)."""
    if isinstance(value, (bool, float)):
        raise ValidationError(
            {field: [_("%(label)s must be exact, not a float.") % {"label": label}]}
        )
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(
            {field: [_("“%(value)s” is not a number.") % {"value": str(value)[:40]}]}
        ) from None
    if not number.is_finite():
        raise ValidationError({field: [_("%(label)s must be a finite number.") % {"label": label}]})
    if abs(number) > maximum:
        raise ValidationError(
            {
                field: [
                    _("%(label)s is out of range (at most %(max)s).")
                    % {"label": label, "max": maximum}
                ]
            }
        )
    exact = number.quantize(Decimal(1).scaleb(-places))
    if exact != number:
        raise ValidationError(
            {field: [_("%(label)s takes at most %(n)d decimals.") % {"label": label, "n": places}]}
        )
    return exact


@dataclass(frozen=True)
class CleanLine:
    product: Product | None
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_category: str
    vat_rate: Decimal
    net_amount: Decimal
    period_start: date | None
    period_end: date | None
    agreement_line_id: int | None


def _product_text(product: Product, language: str) -> str:
    text = product.name(language)
    if product.is_package:
        parts = [c.product.name(language) for c in product.components.select_related("product")]
        if parts:
            text = f"{text}: {', '.join(parts)}"
    return text


def clean_line(
    data: Mapping[str, Any], *, currency: str, language: str, credit: bool = False
) -> CleanLine:
    """Check one line (a dict as the contract names it) and compute its net amount.

    A product fills what the line does not say: description, price, unit and VAT.
    Invoice lines take a positive quantity, credit note lines a negative one; a
    price is never negative (a discount is a credit note, not a negative price).
    """
    unknown = set(data) - {
        "product",
        "description",
        "quantity",
        "unit_price",
        "vat_category",
        "vat_rate",
        "unit",
        "period_start",
        "period_end",
        "currency",
        "agreement_line",
        "agreement_line_id",
    }
    if unknown:
        raise ValidationError(
            {
                "lines": [
                    _("Unknown line fields: %(names)s.") % {"names": ", ".join(sorted(unknown))}
                ]
            }
        )
    line_currency = str(data.get("currency") or currency).strip().upper()
    if line_currency != currency:
        raise ValidationError(
            {
                "currency": [
                    _("This invoice is in %(currency)s; a line in %(other)s cannot be added.")
                    % {"currency": currency, "other": line_currency[:10]}
                ]
            }
        )
    product = data.get("product")
    if product is not None and not isinstance(product, Product):
        raise ValidationError({"product": [_("Unknown product.")]})
    description = data.get("description")
    if description in (None, "") and product is not None:
        description = _product_text(product, language)
    description = " ".join(str(description or "").split())
    if not description:
        raise ValidationError({"description": [_("A line needs a description.")]})
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(
            {
                "description": [
                    _("A line's description is at most %(n)d characters (this one has %(len)d).")
                    % {"n": MAX_DESCRIPTION, "len": len(description)}
                ]
            }
        )
    if data.get("quantity") in (None, ""):
        raise ValidationError({"quantity": [_("A line needs a quantity.")]})
    quantity = _decimal(data["quantity"], "quantity", 3, MAX_QUANTITY, _("The quantity"))
    if quantity == 0:
        raise ValidationError({"quantity": [_("The quantity cannot be zero.")]})
    if credit and quantity > 0:
        raise ValidationError({"quantity": [_("A credit note line takes a negative quantity.")]})
    if not credit and quantity < 0:
        raise ValidationError(
            {
                "quantity": [
                    _("The quantity must be positive; correct an invoice with a credit note.")
                ]
            }
        )
    price_in = data.get("unit_price")
    if price_in in (None, ""):
        if product is None:
            raise ValidationError({"unit_price": [_("A line needs a unit price.")]})
        price_in = product.unit_price
    unit_price = _decimal(price_in, "unit_price", 4, MAX_PRICE, _("The unit price"))
    if unit_price < 0:
        raise ValidationError({"unit_price": [_("The unit price cannot be negative.")]})
    category = str(
        data.get("vat_category") or (product.vat_category if product else VatCategory.STANDARD)
    )
    if category not in VatCategory.values:
        raise ValidationError(
            {"vat_category": [_("“%(value)s” is not a VAT category.") % {"value": category[:10]}]}
        )
    rate_in = data.get("vat_rate")
    if rate_in in (None, ""):
        rate_in = product.vat_rate if product else (None if category == "S" else "0")
    if rate_in is None:
        raise ValidationError({"vat_rate": [_("A line needs a VAT rate.")]})
    vat_rate = _decimal(rate_in, "vat_rate", 2, Decimal(100), _("The VAT rate"))
    if category == VatCategory.STANDARD:
        if vat_rate not in IVA_RATES:
            raise ValidationError(
                {
                    "vat_rate": [
                        _("The VAT rate must be 21, 10 or 4 %% (or the line exempt), not %(rate)s.")
                        % {"rate": vat_rate}
                    ]
                }
            )
    else:
        # Exempt and reverse-charge lines carry no tax whatever rate they were given.
        vat_rate = Decimal("0.00")
    net = money.line_net(quantity, unit_price)
    if abs(net) > MAX_AMOUNT:
        raise ValidationError({"quantity": [_("The line's amount is out of range.")]})
    start, end = data.get("period_start"), data.get("period_end")
    for name, value in (("period_start", start), ("period_end", end)):
        if value is not None and not isinstance(value, date):
            raise ValidationError({name: [_("Enter a valid date.")]})
    if start and end and end < start:
        raise ValidationError({"period_end": [_("The period ends before it starts.")]})
    unit = str(data.get("unit") or (product.unit if product else ""))[:10]
    agreement_line = data.get("agreement_line")
    agreement_line_id = getattr(agreement_line, "pk", None) or data.get("agreement_line_id")
    return CleanLine(
        product=product,
        description=description,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        vat_category=category,
        vat_rate=vat_rate,
        net_amount=net,
        period_start=start,
        period_end=end,
        agreement_line_id=agreement_line_id,
    )


def clean_lines(
    lines: Iterable[Mapping[str, Any]], *, currency: str, language: str, credit: bool
) -> list[CleanLine]:
    cleaned = []
    for index, data in enumerate(lines):
        if index >= MAX_LINES:
            raise ValidationError(
                {"lines": [_("An invoice has at most %(n)d lines.") % {"n": MAX_LINES}]}
            )
        try:
            cleaned.append(clean_line(data, currency=currency, language=language, credit=credit))
        except ValidationError as exc:
            if len(cleaned) or index:
                # Say which line: the field keeps its name so a form can still show it.
                raise ValidationError(
                    {
                        field: [
                            _("Line %(n)d: %(error)s") % {"n": index + 1, "error": message}
                            for message in messages
                        ]
                        for field, messages in exc.message_dict.items()
                    }
                ) from None
            raise
    return cleaned


def line_rows(invoice: Invoice, lines: Sequence[CleanLine], first: int) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            invoice=invoice,
            position=first + offset,
            product=line.product,
            agreement_line_id=line.agreement_line_id,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            net_amount=line.net_amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for offset, line in enumerate(lines)
    ]


def check_range(result: money.Totals) -> None:
    for value in (result.net, result.vat, result.total):
        if abs(value) > MAX_AMOUNT:
            raise ValidationError({"lines": [_("The invoice's total is out of range.")]})
