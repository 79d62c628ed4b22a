"""/api/v1/billing payments, mandates, debits and bank statements: staff only (404 for a
client's token), writes need the billing role (403), bad input names its field."""

from __future__ import annotations

from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from atalaya.billing import balance
from atalaya.billing.models import BankEntry, BankStatement
from atalaya.billing.tests import factories
from atalaya.billing.tests.payments_fixtures import (
    CLIENT_IBAN,
    MSP_IBAN,
    creditor_settings,
    dd_invoice,
    issued_directly,
    mandate_of,
    scheduled,
)
from atalaya.billing.tests.statement_files import Line, camt053
from atalaya.core.tests.apiclient import Api, fields_of

B = "/billing"


def test_payments_and_bad_input(world):
    invoice = issued_directly(world.client_a)
    api = Api(world.billing)
    body = {
        "client": str(world.client_a.public_id),
        "method": "transfer",
        "amount": "50.00",
        "received_on": timezone.localdate().isoformat(),
        "apply_to": str(invoice.public_id),
    }
    response = api.post(f"{B}/payments", body)
    assert response.status_code == 201, response.content
    payment = response.json()
    assert payment["allocations"][0]["amount"] == "50.00"
    assert balance.open_balance(invoice) == Decimal("40.75")
    for bad, field in (
        ({"amount": "-1"}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"method": "gold"}, "method"),
    ):
        response = api.post(f"{B}/payments", {**body, **bad})
        assert response.status_code == 422 and field in fields_of(response), response.content
    response = api.post(f"{B}/payments", {**body, "client": str(world.client_b.public_id)})
    assert response.status_code == 422  # the invoice belongs to client A
    listed = api.get(f"{B}/payments").json()
    assert [p["public_id"] for p in listed] == [payment["public_id"]]
    reversed_ = api.post(f"{B}/payments/{payment['public_id']}/reverse", {"reason": "typo"})
    assert reversed_.status_code == 200 and reversed_.json()["returned_at"]
    assert Api(world.readonly).post(f"{B}/payments", body).status_code == 403


def test_client_tokens_get_404(world):
    factories.make_billing_contacts(world)
    creditor_settings()
    mandate = mandate_of(world.client_a)
    collection = scheduled(dd_invoice(world.client_a, mandate))
    api = Api(world.portal_a)
    for path in (
        "/payments",
        "/mandates",
        f"/mandates/{mandate.public_id}/revoke",
        "/collections",
        f"/collections/{collection.public_id}",
        "/bank-statements",
        "/bank-entries/unmatched",
    ):
        response = (
            api.get(B + path) if "revoke" not in path else api.post(B + path, {"reason": "x"})
        )
        assert response.status_code == 404, path


def test_mandates_collections_and_statements(world):
    factories.make_billing_contacts(world)
    creditor_settings()
    api = Api(world.billing)
    response = api.post(
        f"{B}/mandates",
        {
            "client": str(world.client_a.public_id),
            "reference": "ALFA-API-1",
            "signed_on": "2026-02-01",
            "debtor_name": "Alfa",
            "iban": "ES00 0000",
        },
    )
    assert response.status_code == 422 and "iban" in fields_of(response)
    response = api.post(
        f"{B}/mandates",
        {
            "client": str(world.client_a.public_id),
            "reference": "ALFA-API-1",
            "signed_on": "2026-02-01",
            "debtor_name": "Alfa",
            "iban": CLIENT_IBAN,
        },
    )
    assert response.status_code == 201 and response.json()["sequence"] == "FRST"
    from atalaya.billing.models import Mandate

    collection = scheduled(dd_invoice(world.client_a, Mandate.objects.get()))
    path = f"{B}/collections/{collection.public_id}"
    assert api.get(path).json()["status"] == "scheduled"
    response = api.post(f"{path}/return", {"reason_code": "AM04"})
    assert response.status_code == 422 and "cannot become returned" in response.content.decode()
    response = api.post(f"{path}/cancel", {"reason": "paid in cash"})
    assert response.json()["status"] == "cancelled"
    invoice = issued_directly(world.client_a)
    data = camt053(
        [Line("90.75", remittance=invoice.code, bank_ref="API-1"), Line("3.00", bank_ref="API-2")],
        iban=MSP_IBAN,
    )
    upload = api.http.post(
        "/api/v1/billing/bank-statements", {"file": SimpleUploadedFile("day.xml", data)}
    )
    assert upload.status_code == 201, upload.content
    assert upload.json()["summary"]["by_reference"] == 1
    again = api.http.post(
        "/api/v1/billing/bank-statements", {"file": SimpleUploadedFile("day.xml", data)}
    )
    assert again.json()["duplicate_file"] is True
    evil = api.http.post(
        "/api/v1/billing/bank-statements",
        {"file": SimpleUploadedFile("e.xml", b'<!DOCTYPE a [<!ENTITY b "c">]><Document/>')},
    )
    assert evil.status_code == 422 and "DTD" in evil.content.decode()
    assert BankStatement.objects.count() == 1
    unmatched = api.get(f"{B}/bank-entries/unmatched").json()
    assert [e["amount"] for e in unmatched] == ["3.00"]
    entry = BankEntry.objects.get(amount=Decimal("3.00"))
    response = api.post(
        f"{B}/bank-entries/{entry.pk}/match", {"client": str(world.client_b.public_id)}
    )
    assert response.status_code == 200 and response.json()["status"] == "matched"
    assert balance.credit_balance(world.client_b.pk) == Decimal("3.00")
    response = api.post(f"{B}/bank-entries/{entry.pk}/ignore", {"reason": "x"})
    assert response.status_code == 422
