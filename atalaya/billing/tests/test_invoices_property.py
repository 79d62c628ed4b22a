"""Property test: whatever the lines, the totals are the buckets' sums, VAT half-up per bucket."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atalaya.billing.models import InvoiceVatTotal
from atalaya.billing.services import invoices
from atalaya.billing.tests.factories import billing_ready, series

RATES = [("S", "21"), ("S", "10"), ("S", "4"), ("E", "0")]

lines_strategy = st.lists(
    st.tuples(
        st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5000"), places=3),
        st.decimals(min_value=Decimal("0"), max_value=Decimal("20000"), places=4),
        st.sampled_from(RATES),
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=lines_strategy)
def test_totals_are_the_sum_of_the_buckets(world, rows) -> None:
    series()
    billing_ready(world.client_a)
    invoice = invoices.create_draft(
        actor=None,
        client=world.client_a,
        lines=[
            {
                "description": f"line {i}",
                "quantity": quantity,
                "unit_price": price,
                "vat_category": category,
                "vat_rate": rate,
            }
            for i, (quantity, price, (category, rate)) in enumerate(rows)
        ],
    )
    invoice.refresh_from_db()
    expected: dict[tuple[str, Decimal], Decimal] = {}
    for quantity, price, (category, rate) in rows:
        net = (quantity * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        key = (category, Decimal(rate).quantize(Decimal("0.01")))
        expected[key] = expected.get(key, Decimal("0.00")) + net
    buckets = list(InvoiceVatTotal.objects.filter(invoice=invoice))
    assert {(b.vat_category, b.vat_rate): b.base for b in buckets} == expected
    for bucket in buckets:
        assert isinstance(bucket.tax, Decimal) and isinstance(bucket.base, Decimal)
        want = (bucket.base * bucket.vat_rate / 100).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        assert bucket.tax == want
    assert invoice.net_total == sum((b.base for b in buckets), Decimal("0.00"))
    assert invoice.vat_total == sum((b.tax for b in buckets), Decimal("0.00"))
    assert invoice.total == invoice.net_total + invoice.vat_total
    assert invoice.net_total == sum(row.net_amount for row in invoice.lines.all())
    invoice.delete()
