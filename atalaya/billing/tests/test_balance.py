"""The open balance every part of billing reads: payments, credit notes, debits on their way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from atalaya.billing import balance
from atalaya.billing.models import (
    Collection,
    CollectionStatus,
    IssuedInvoiceChanged,
    Mandate,
    Payment,
    PaymentAllocation,
)
from atalaya.billing.tests.factories import draft_invoice, issued_invoice


@pytest.fixture
def invoice(world):
    # 3 × 25.00 at 21 %: 75.00 + 15.75 = 90.75
    return issued_invoice(world.client_a)


def test_an_unpaid_invoice_owes_its_total(invoice):
    assert invoice.total == Decimal("90.75")
    assert balance.open_balance(invoice) == Decimal("90.75")


def test_payments_reduce_the_balance_until_a_return(world, invoice):
    payment = Payment.objects.create(
        client=world.client_a, method="transfer", amount=Decimal("50.00"), received_on=date.today()
    )
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("50.00"))
    assert balance.open_balance(invoice) == Decimal("40.75")
    payment.returned_at = timezone.now()
    payment.save()
    assert balance.open_balance(invoice) == Decimal("90.75")


def test_a_debit_on_its_way_counts_as_paid(world, invoice):
    mandate = Mandate.objects.create(
        client=world.client_a,
        reference="ALFA-1",
        signed_on=date(2026, 1, 1),
        debtor_name="Alfa",
        iban="ES9121000418450200051332",
    )
    debit = Collection.objects.create(
        client=world.client_a,
        invoice=invoice,
        mandate=mandate,
        amount=invoice.total,
        end_to_end_id="E2E-1",
        due_on=date(2026, 12, 1),
        sequence="FRST",
    )
    assert balance.open_balance(invoice) == Decimal("0.00")
    debit.status = CollectionStatus.RETURNED
    debit.return_reason = "AM04"
    debit.save()
    assert balance.open_balance(invoice) == Decimal("90.75")


def test_a_credit_note_reduces_and_its_excess_is_credit(world, invoice):
    payment = Payment.objects.create(
        client=world.client_a, method="transfer", amount=invoice.total, received_on=date.today()
    )
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=invoice.total)
    from atalaya.billing.services import invoices
    from atalaya.billing.tests.factories import credit_series

    credit_series()
    credit = invoices.create_credit_note(
        actor=None,
        invoice=invoice,
        reason="Refund",
        lines=[
            {"description": "Refund", "quantity": "-1", "unit_price": "10.00", "vat_rate": "21"}
        ],
    )
    credit = invoices.issue_invoice(actor=None, invoice=credit, issue_date=date(2026, 11, 2))
    assert credit.total == Decimal("-12.10")
    assert balance.open_balance(invoice) == Decimal("-12.10")
    assert balance.credit_balance(world.client_a.pk) == Decimal("12.10")
    assert balance.open_balances([invoice.pk, credit.pk]) == {
        invoice.pk: Decimal("-12.10"),
        credit.pk: Decimal("0.00"),
    }


def test_an_issued_invoice_never_changes(world, invoice):
    invoice.notes = "changed"
    with pytest.raises(IssuedInvoiceChanged):
        invoice.save()
    line = invoice.lines.first()
    line.description = "changed"
    with pytest.raises(IssuedInvoiceChanged):
        line.save()
    invoice.sent_at = timezone.now()
    invoice.save(update_fields=["sent_at"])


def test_a_draft_owes_nothing(world):
    assert balance.open_balance(draft_invoice(world.client_a)) == Decimal("0.00")
