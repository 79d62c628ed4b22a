"""The portal's invoices: billing contacts see their companies' issued invoices, nobody else."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from atalaya.billing.models import Payment, PaymentAllocation
from atalaya.billing.services import invoices
from atalaya.billing.tests.factories import (
    billing_ready,
    credit_series,
    draft_invoice,
    issued_invoice,
    make_billing_contacts,
    series,
)


@pytest.fixture
def a_invoices(world):
    series()
    credit_series()
    billing_ready(world.client_a)
    paid = issued_invoice(world.client_a, [("alfa-secret paid", "1", "100.00", "21")])
    payment = Payment.objects.create(
        client=world.client_a, method="transfer", amount=paid.total, received_on=date.today()
    )
    PaymentAllocation.objects.create(payment=payment, invoice=paid, amount=paid.total)
    open_one = issued_invoice(world.client_a, [("alfa-secret open", "2", "50.00", "21")])
    note = invoices.issue_invoice(
        actor=None,
        invoice=invoices.create_credit_note(
            actor=None,
            invoice=open_one,
            reason="Una licencia menos",
            lines=[{"description": "x", "quantity": "-1", "unit_price": "50.00", "vat_rate": "21"}],
        ),
    )
    draft = draft_invoice(world.client_a, [("alfa-secret draft", "1", "1.00", "21")])
    return paid, open_one, note, draft


def test_a_billing_contact_sees_issued_invoices_with_balances(
    world, a_invoices, django_assert_max_num_queries
):
    paid, open_one, note, draft = a_invoices
    make_billing_contacts(world)
    http = world.http(world.portal_a)
    http.get(reverse("portal:invoice_list"))
    with django_assert_max_num_queries(8):
        response = http.get(reverse("portal:invoice_list"))
    assert response.status_code == 200
    text = response.content.decode()
    assert paid.code in text and open_one.code in text and note.code in text
    assert str(draft.public_id) not in text
    # 121.00 − the credit note's 60.50 is open on the second invoice.
    assert "60.50" in text or "60,50" in text
    detail = http.get(reverse("portal:invoice_detail", args=[open_one.public_id]))
    assert detail.status_code == 200 and note.code in detail.content.decode()
    pdf = http.get(reverse("portal:invoice_pdf", args=[open_one.public_id]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert http.get(reverse("portal:invoice_detail", args=[draft.public_id])).status_code == 404
    assert http.post(reverse("portal:invoice_list")).status_code == 405


def test_other_clients_and_ordinary_users_get_nothing(world, a_invoices):
    paid, *_rest = a_invoices
    detail = reverse("portal:invoice_detail", args=[paid.public_id])
    pdf = reverse("portal:invoice_pdf", args=[paid.public_id])
    # Client A's portal user is not (yet) a billing contact: an ordinary user.
    ordinary = world.http(world.portal_a)
    assert ordinary.get(detail).status_code == 404
    assert "alfa-secret" not in ordinary.get(reverse("portal:invoice_list")).content.decode()
    make_billing_contacts(world)
    other = world.http(world.portal_b)
    assert other.get(detail).status_code == 404 and other.get(pdf).status_code == 404
    assert paid.code not in other.get(reverse("portal:invoice_list")).content.decode()
    # Staff use the staff pages; the portal's are 404 for them.
    assert world.http(world.billing).get(detail).status_code == 404
