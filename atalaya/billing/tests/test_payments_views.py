"""The payments, direct debit and bank pages: the three-user test for each (200 for
billing staff, 404 for a client's user, 403 for a read-only write, 405 for a wrong
method), the flows behind their forms, and the list pages' query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from atalaya.billing import balance
from atalaya.billing.models import BankEntry, BankStatement, Collection, Mandate, Payment
from atalaya.billing.services import bank, collections, payments
from atalaya.billing.tests import factories
from atalaya.billing.tests.payments_fixtures import (
    MSP_IBAN,
    creditor_settings,
    dd_invoice,
    issued_directly,
    mandate_of,
    scheduled,
)
from atalaya.billing.tests.statement_files import Line, camt053


@pytest.fixture
def books(world):
    factories.make_billing_contacts(world)
    creditor_settings()
    mandate = mandate_of(world.client_a)
    collection = scheduled(dd_invoice(world.client_a, mandate))
    batch = collections.create_batch(
        actor=None, due_on=collection.due_on, sequence=collection.sequence
    )
    invoice = issued_directly(world.client_a)
    payment = payments.record_payment(
        actor=None,
        client=world.client_a,
        method="transfer",
        amount="10.00",
        received_on=timezone.localdate(),
        allocations=[(invoice, None)],
    )
    statement = bank.import_statement(
        actor=None, data=camt053([Line("5.55", remittance="who?", bank_ref="Q1")], iban=MSP_IBAN)
    )
    entry = BankEntry.objects.get()
    return {
        "world": world,
        "mandate": mandate,
        "collection": collection,
        "batch": batch,
        "invoice": invoice,
        "payment": payment,
        "statement": statement,
        "entry": entry,
    }


def _pages(b):
    a = b["world"].client_a.public_id
    return [
        ("billing:payment_list", {}),
        ("billing:payment_detail", {"payment_id": b["payment"].public_id}),
        ("billing:invoice_pay", {"invoice_id": b["invoice"].public_id}),
        ("billing:client_credit", {"client_id": a}),
        ("billing:client_payment_new", {"client_id": a}),
        ("billing:mandate_list", {"client_id": a}),
        ("billing:collection_list", {}),
        ("billing:collection_detail", {"collection_id": b["collection"].public_id}),
        ("billing:batch_list", {}),
        ("billing:batch_detail", {"batch_id": b["batch"].public_id}),
        ("billing:batch_download", {"batch_id": b["batch"].public_id}),
        ("billing:statement_list", {}),
        ("billing:statement_detail", {"statement_id": b["statement"].public_id}),
        ("billing:unmatched_list", {}),
    ]


def _writes(b):
    return [
        ("billing:payment_reverse", {"payment_id": b["payment"].public_id}, {"reason": "x"}),
        ("billing:invoice_pay", {"invoice_id": b["invoice"].public_id}, {}),
        ("billing:invoice_apply_credit", {"invoice_id": b["invoice"].public_id}, {}),
        ("billing:client_payment_new", {"client_id": b["world"].client_a.public_id}, {}),
        ("billing:mandate_list", {"client_id": b["world"].client_a.public_id}, {}),
        ("billing:mandate_revoke", {"mandate_id": b["mandate"].public_id}, {}),
        ("billing:collection_submit", {"collection_id": b["collection"].public_id}, {}),
        ("billing:collection_settle", {"collection_id": b["collection"].public_id}, {}),
        ("billing:collection_final", {"collection_id": b["collection"].public_id}, {}),
        ("billing:collection_return", {"collection_id": b["collection"].public_id}, {}),
        ("billing:collection_cancel", {"collection_id": b["collection"].public_id}, {}),
        ("billing:batch_new", {}, {}),
        ("billing:batch_submit", {"batch_id": b["batch"].public_id}, {}),
        ("billing:statement_list", {}, {}),
        ("billing:entry_match", {"bank_entry_id": b["entry"].pk}, {}),
        ("billing:entry_ignore", {"bank_entry_id": b["entry"].pk}, {"reason": "x"}),
    ]


def test_pages_for_billing_staff_and_readonly(books):
    world = books["world"]
    for user in (world.billing, world.readonly):
        http = world.http(user)
        for name, kwargs in _pages(books):
            response = http.get(reverse(name, kwargs=kwargs))
            assert response.status_code == 200, (user, name, response.status_code)


def test_client_users_get_404(books):
    world = books["world"]
    for user in (world.portal_a, world.portal_b):
        http = world.http(user)
        for name, kwargs in _pages(books):
            assert http.get(reverse(name, kwargs=kwargs)).status_code == 404, (user, name)
        for name, kwargs, data in _writes(books):
            assert http.post(reverse(name, kwargs=kwargs), data).status_code == 404, name


def test_readonly_writes_are_403_and_change_nothing(books):
    world = books["world"]
    http = world.http(world.readonly)
    for name, kwargs, data in _writes(books):
        assert http.post(reverse(name, kwargs=kwargs), data).status_code == 403, name
    assert Payment.objects.get(pk=books["payment"].pk).returned_at is None
    assert Collection.objects.get(pk=books["collection"].pk).status == "scheduled"
    assert BankEntry.objects.get().status == "unmatched"


def test_wrong_methods_are_405(books):
    world = books["world"]
    http = world.http(world.billing)
    for name, kwargs, _data in _writes(books):
        if name in (
            "billing:invoice_pay",
            "billing:client_payment_new",
            "billing:mandate_list",
            "billing:statement_list",
        ):
            continue  # these pages are a form: GET shows it
        assert http.get(reverse(name, kwargs=kwargs)).status_code == 405, name
    for name in ("billing:payment_list", "billing:collection_list", "billing:unmatched_list"):
        assert http.post(reverse(name)).status_code == 405, name
    assert (
        http.post(
            reverse("billing:batch_download", kwargs={"batch_id": books["batch"].public_id})
        ).status_code
        == 405
    )


def test_record_a_partial_payment_then_reverse(books):
    world = books["world"]
    http = world.http(world.billing)
    invoice = books["invoice"]
    url = reverse("billing:invoice_pay", kwargs={"invoice_id": invoice.public_id})
    bad = http.post(url, {"method": "cash", "amount": "-3", "received_on": timezone.localdate()})
    assert bad.status_code == 400 and "greater than zero" in bad.content.decode()
    response = http.post(
        url,
        {
            "method": "cash",
            "amount": "20.75",
            "received_on": timezone.localdate(),
            "reference": "caja",
        },
    )
    assert response.status_code == 302
    assert balance.open_balance(invoice) == Decimal("60.00")
    payment = Payment.objects.get(reference="caja")
    response = http.post(
        reverse("billing:payment_reverse", kwargs={"payment_id": payment.public_id}),
        {"reason": "Typed twice"},
    )
    assert response.status_code == 302
    assert balance.open_balance(invoice) == Decimal("80.75")


def test_mandate_form_shows_the_services_errors(books):
    world = books["world"]
    http = world.http(world.billing)
    url = reverse("billing:mandate_list", kwargs={"client_id": world.client_b.public_id})
    response = http.post(
        url,
        {"reference": "BETA_1", "signed_on": "2026-01-10", "debtor_name": "Beta", "iban": "ES00"},
    )
    assert response.status_code == 400
    assert "only letters" in response.content.decode()
    assert not Mandate.objects.filter(client=world.client_b).exists()


def test_batch_submit_settle_and_return_from_the_pages(books):
    world = books["world"]
    http = world.http(world.billing)
    batch, collection = books["batch"], books["collection"]
    download = http.get(reverse("billing:batch_download", kwargs={"batch_id": batch.public_id}))
    assert download["Content-Type"] == "application/xml"
    assert collection.end_to_end_id.encode() in download.content
    http.post(reverse("billing:batch_submit", kwargs={"batch_id": batch.public_id}))
    kwargs = {"collection_id": collection.public_id}
    response = http.post(reverse("billing:collection_final", kwargs=kwargs), follow=True)
    assert "may still ask for a refund" in response.content.decode()
    http.post(reverse("billing:collection_settle", kwargs=kwargs))
    collection.refresh_from_db()
    assert collection.status == "provisional"
    http.post(reverse("billing:collection_return", kwargs=kwargs), {"reason_code": "MD06"})
    collection.refresh_from_db()
    assert collection.status == "returned" and collection.return_reason == "MD06"
    page = http.get(reverse("billing:collection_detail", kwargs=kwargs)).content.decode()
    assert "Refund requested by the debtor" in page


def test_statement_upload_and_manual_queue(books):
    world = books["world"]
    http = world.http(world.billing)
    invoice = books["invoice"]
    data = camt053([Line("80.75", remittance="sin referencia", bank_ref="Q2")], iban=MSP_IBAN)
    response = http.post(
        reverse("billing:statement_list"),
        {"file": SimpleUploadedFile("day.xml", data, content_type="application/xml")},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 new entries" in response.content.decode()
    again = http.post(
        reverse("billing:statement_list"),
        {"file": SimpleUploadedFile("day.xml", data)},
        follow=True,
    )
    assert "imported before" in again.content.decode()
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Document/>'
    response = http.post(
        reverse("billing:statement_list"), {"file": SimpleUploadedFile("e.xml", evil)}
    )
    assert response.status_code == 400 and "DTD or entities" in response.content.decode()
    assert BankStatement.objects.count() == 2
    entry = BankEntry.objects.get(amount=Decimal("80.75"))
    http.post(
        reverse("billing:entry_match", kwargs={"bank_entry_id": entry.pk}),
        {"invoice": invoice.code},
    )
    assert balance.open_balance(invoice) == 0
    other = books["entry"]
    http.post(
        reverse("billing:entry_ignore", kwargs={"bank_entry_id": other.pk}), {"reason": "Interest"}
    )
    other.refresh_from_db()
    assert other.status == "ignored"


def _count(http, url):
    with CaptureQueriesContext(connection) as queries:
        assert http.get(url).status_code == 200
    return len(queries)


def test_list_pages_query_counts_do_not_grow(books):
    world = books["world"]
    http = world.http(world.billing)
    urls = [
        reverse("billing:payment_list"),
        reverse("billing:collection_list"),
        reverse("billing:statement_list"),
        reverse("billing:unmatched_list"),
        reverse("billing:client_credit", kwargs={"client_id": world.client_a.public_id}),
    ]
    before = [_count(http, url) for url in urls]
    mandate = books["mandate"]
    for n in range(4):
        invoice = dd_invoice(world.client_a, mandate)
        scheduled(invoice, due_on=timezone.localdate() + timedelta(days=20 + n))
        payments.record_payment(
            actor=None,
            client=world.client_a,
            method="card",
            amount="1.00",
            received_on=timezone.localdate(),
            allocations=[(invoice, None)] if n % 2 else None,
        )
    bank.import_statement(
        actor=None,
        data=camt053([Line(f"{n + 1}.01", bank_ref=f"N{n}") for n in range(4)], iban=MSP_IBAN),
    )
    after = [_count(http, url) for url in urls]
    assert after == before
    assert max(after) <= 12
