"""Money arithmetic of invoices: Decimal only, half-up to cents, VAT once per rate bucket.

EN 16931: a line's net amount is quantity × price rounded to cents (BR-LIN); the VAT
of each (category, rate) bucket is its taxable base × rate, rounded half-up once
(BR-CO-17), never the sum of per-line VAT; the invoice totals are sums of those
(BR-CO-10, BR-CO-13, BR-CO-15). A float never enters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def round_money(value: Decimal) -> Decimal:
    """Half-up to cents: 0.125 → 0.13, -0.125 → -0.13 (away from zero on a tie)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_net(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return round_money(quantity * unit_price)


@dataclass(frozen=True)
class VatBucket:
    category: str
    rate: Decimal
    base: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    net: Decimal
    vat: Decimal
    total: Decimal
    buckets: tuple[VatBucket, ...]


def vat_buckets(lines: Iterable[tuple[str, Decimal, Decimal]]) -> tuple[VatBucket, ...]:
    """Group (category, rate, net amount) lines into buckets, highest rate first.

    Exempt and reverse-charge buckets carry no tax whatever rate a line names.
    """
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for category, rate, net in lines:
        rate = Decimal(rate).quantize(CENT)
        key = (category, rate if category == "S" else Decimal("0.00"))
        bases[key] = bases.get(key, Decimal("0.00")) + net
    buckets = [
        VatBucket(category, rate, base, round_money(base * rate / HUNDRED))
        for (category, rate), base in bases.items()
    ]
    return tuple(sorted(buckets, key=lambda b: (-b.rate, b.category)))


def totals(lines: Iterable[tuple[str, Decimal, Decimal]]) -> Totals:
    buckets = vat_buckets(lines)
    net = sum((b.base for b in buckets), Decimal("0.00"))
    vat = sum((b.tax for b in buckets), Decimal("0.00"))
    return Totals(net=net, vat=vat, total=net + vat, buckets=buckets)
