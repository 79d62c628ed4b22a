"""Recording payments: methods, partial payments, allocations capped by the open balance,
credit, reversal, and the bad input that must be refused with nothing written."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from atalaya.billing import balance
from atalaya.billing.models import Payment, PaymentAllocation
from atalaya.billing.services import payments
from atalaya.billing.tests.payments_fixtures import issued_directly
from atalaya.core.models import AuditEvent

TODAY = date(2026, 11, 20)


@pytest.fixture
def invoice(world):  # 90.75 (3 × 25.00 + 21 %)
    return issued_directly(world.client_a)


def test_partial_payments_then_credit(world, invoice):
    first = payments.record_payment(
        actor=world.billing,
        client=world.client_a,
        method="transfer",
        amount="40.00",
        received_on=TODAY,
        reference="F2026 part",
        allocations=[(invoice, "40.00")],
    )
    assert balance.open_balance(invoice) == Decimal("50.75")
    # More than what is open: the invoice takes what it needs, the rest is credit.
    second = payments.record_payment(
        actor=world.billing,
        client=world.client_a,
        method="card",
        amount="60.00",
        received_on=TODAY,
        allocations=[(invoice, None)],
    )
    assert balance.open_balance(invoice) == Decimal("0.00")
    assert second.allocations.get().amount == Decimal("50.75")
    assert balance.credit_balance(world.client_a.pk) == Decimal("9.25")
    assert AuditEvent.objects.filter(action="payment.recorded", object_id=str(first.public_id))
    audit = AuditEvent.objects.get(action="payment.recorded", object_id=str(second.public_id))
    assert audit.after["credit"] == "9.25"
    assert audit.actor == world.billing


def test_allocation_above_open_balance_is_refused(world, invoice):
    with pytest.raises(ValidationError, match="90.75 open"):
        payments.record_payment(
            actor=None,
            client=world.client_a,
            method="cash",
            amount="100.00",
            received_on=TODAY,
            allocations=[(invoice, "95.00")],
        )
    assert not Payment.objects.exists()


def test_allocations_beyond_the_payment_are_refused(world, invoice):
    other = issued_directly(world.client_a)
    with pytest.raises(ValidationError, match="more than the payment"):
        payments.record_payment(
            actor=None,
            client=world.client_a,
            method="transfer",
            amount="100.00",
            received_on=TODAY,
            allocations=[(invoice, "90.75"), (other, "20.00")],
        )
    assert not Payment.objects.exists()


def test_another_clients_invoice_is_refused(world, invoice):
    with pytest.raises(ValidationError, match="another client"):
        payments.record_payment(
            actor=None,
            client=world.client_b,
            method="transfer",
            amount="10.00",
            received_on=TODAY,
            allocations=[(invoice, None)],
        )
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-5", "greater than zero"),
        ("0", "greater than zero"),
        ("1e30", "at most"),
        ("1000000000000.00", "at most"),
        ("12.345", "two decimals"),
        ("NaN", "must be a number"),
        ("twelve", "not an amount"),
    ],
)
def test_bad_amounts(world, amount, message):
    with pytest.raises(ValidationError, match=message):
        payments.record_payment(
            actor=None, client=world.client_a, method="cash", amount=amount, received_on=TODAY
        )
    assert not Payment.objects.exists()


def test_bad_method_currency_and_date(world):
    base = {"actor": None, "client": world.client_a, "amount": "10", "received_on": TODAY}
    with pytest.raises(ValidationError, match="not a payment method"):
        payments.record_payment(method="bitcoin", **base)
    with pytest.raises(ValidationError, match="USD but invoices are in EUR"):
        payments.record_payment(method="transfer", currency="USD", **base)
    with pytest.raises(ValidationError, match="future"):
        payments.record_payment(
            **{**base, "received_on": timezone.localdate() + timedelta(days=2)}, method="cash"
        )
    assert not Payment.objects.exists()


def test_read_only_role_may_not_record(world):
    with pytest.raises(PermissionDenied):
        payments.record_payment(
            actor=world.readonly,
            client=world.client_a,
            method="cash",
            amount="1",
            received_on=TODAY,
        )
    with pytest.raises(PermissionDenied):
        payments.record_payment(
            actor=world.tech, client=world.client_a, method="cash", amount="1", received_on=TODAY
        )


def test_allocate_credit_oldest_first(world, invoice):
    older = payments.record_payment(
        actor=None, client=world.client_a, method="transfer", amount="30.00", received_on=TODAY
    )
    newer = payments.record_payment(
        actor=None,
        client=world.client_a,
        method="transfer",
        amount="100.00",
        received_on=TODAY + timedelta(days=1),
    )
    rows = payments.allocate_credit(actor=world.billing, invoice=invoice)
    assert [(r.payment_id, r.amount) for r in rows] == [
        (older.pk, Decimal("30.00")),
        (newer.pk, Decimal("60.75")),
    ]
    assert balance.open_balance(invoice) == 0
    assert balance.credit_balance(world.client_a.pk) == Decimal("39.25")
    with pytest.raises(ValidationError, match="nothing open"):
        payments.allocate_credit(actor=None, invoice=invoice)


def test_allocate_credit_without_credit(world, invoice):
    with pytest.raises(ValidationError, match="no credit"):
        payments.allocate_credit(actor=None, invoice=invoice)
    payments.record_payment(
        actor=None, client=world.client_a, method="cash", amount="10.00", received_on=TODAY
    )
    with pytest.raises(ValidationError, match="credit is 10.00"):
        payments.allocate_credit(actor=None, invoice=invoice, amount="20.00")
    assert not PaymentAllocation.objects.exists()


def test_reverse_payment_keeps_the_record(world, invoice):
    paid = payments.record_payment(
        actor=None,
        client=world.client_a,
        method="card",
        amount="90.75",
        received_on=TODAY,
        allocations=[(invoice, None)],
    )
    assert balance.open_balance(invoice) == 0
    with pytest.raises(ValidationError, match="Say why"):
        payments.reverse_payment(actor=world.billing, payment=paid, reason=" ")
    payments.reverse_payment(actor=world.billing, payment=paid, reason="Card chargeback")
    paid.refresh_from_db()
    assert paid.returned_at is not None and paid.note == "Card chargeback"
    assert balance.open_balance(invoice) == Decimal("90.75")
    assert Payment.objects.filter(pk=paid.pk).exists()
    assert AuditEvent.objects.filter(action="payment.reversed", object_id=str(paid.public_id))
    with pytest.raises(ValidationError, match="already reversed"):
        payments.reverse_payment(actor=world.billing, payment=paid, reason="again")
