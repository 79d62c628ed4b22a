"""The invoice API: drafts, lines, issue, credit notes, PDF; errors name the field; isolation."""

from __future__ import annotations

import pytest

from atalaya.billing.models import Invoice, InvoiceLine
from atalaya.billing.tests.factories import (
    billing_ready,
    credit_series,
    issued_invoice,
    make_billing_contacts,
    product,
    series,
)
from atalaya.core.tests.apiclient import Api


@pytest.fixture
def ready(world):
    series()
    credit_series()
    billing_ready(world.client_a)
    return world


def line(**more):
    return {
        "description": "Support",
        "quantity": "2",
        "unit_price": "40.00",
        "vat_rate": "21",
        **more,
    }


def test_draft_lines_issue_credit_and_pdf(ready):
    api = Api(ready.billing)
    bundle = product()
    response = api.post(
        "/billing/invoices",
        {
            "client": str(ready.client_a.public_id),
            "lines": [line(), {"product": bundle.code, "quantity": "3"}],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["total"] == "187.55"  # (80 + 75) × 1.21
    assert [b["tax"] for b in body["vat_totals"]] == ["32.55"]
    pid = body["public_id"]
    added = api.post(
        f"/billing/invoices/{pid}/lines", {"lines": [line(vat_category="E", vat_rate="0")]}
    )
    assert added.status_code == 200 and added.json()["total"] == "267.55"
    issued = api.post(f"/billing/invoices/{pid}/issue", {"issue_date": "2026-11-01"})
    assert issued.status_code == 200
    assert (issued.json()["code"], issued.json()["open_balance"]) == ("F2026-00001", "267.55")
    again = api.post(f"/billing/invoices/{pid}/issue", {})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "status"
    late = api.post(f"/billing/invoices/{pid}/lines", {"lines": [line()]})
    assert late.status_code == 422
    note = api.post(
        f"/billing/invoices/{pid}/credit-notes",
        {"reason": "Wrong hours", "lines": [line(quantity="-1")]},
    )
    assert note.status_code == 201 and note.json()["total"] == "-48.40"
    assert note.json()["corrects"] == pid
    pdf = api.get(f"/billing/invoices/{pid}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    listed = api.get(
        "/billing/invoices", {"client": str(ready.client_a.public_id), "kind": "invoice"}
    )
    assert [i["code"] for i in listed.json()["items"]] == ["F2026-00001"]
    assert (
        api.get("/billing/invoices", {"overdue": "true"}).json()["items"][0]["code"]
        == "F2026-00001"
    )


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "1e15"}, "quantity"),
        ({"unit_price": "-3"}, "unit_price"),
        ({"vat_rate": "7"}, "vat_rate"),
        ({"currency": "GBP"}, "currency"),
        ({"description": "x" * 600}, "description"),
        ({"product": "no-such-product"}, "product"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(ready, bad, field):
    response = Api(ready.billing).post(
        "/billing/invoices",
        {"client": str(ready.client_a.public_id), "lines": [line(), line(**bad)]},
    )
    assert response.status_code in (404, 422), response.content
    assert field in [e["field"] for e in response.json()["errors"]] or response.json()["detail"]
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists()


def test_a_float_is_refused(ready):
    response = Api(ready.billing).post(
        "/billing/invoices",
        {"client": str(ready.client_a.public_id), "lines": [line(quantity=1.5)]},
    )
    assert response.status_code == 422
    assert not Invoice.objects.exists()


def test_isolation_and_roles(ready):
    issued = issued_invoice(ready.client_a, [("alfa-secret", "1", "10.00", "21")])
    path = f"/billing/invoices/{issued.public_id}"
    # Read-only staff read, and may not write.
    readonly = Api(ready.readonly)
    assert readonly.get(path).status_code == 200
    assert readonly.post(f"{path}/credit-notes", {"reason": "x"}).status_code == 403
    create = {"client": str(ready.client_a.public_id), "lines": [line()]}
    assert readonly.post("/billing/invoices", create).status_code == 403
    # Client B's portal user: A's invoice does not exist.
    make_billing_contacts(ready)
    other = Api(ready.portal_b)
    assert other.get(path).status_code == 404
    assert other.get(f"{path}/pdf").status_code == 404
    assert other.post(f"{path}/credit-notes", {"reason": "x"}).status_code == 404
    assert other.post("/billing/invoices", create).status_code == 404
    assert other.get("/billing/invoices").json()["items"] == []
    # Client A's billing contact reads their issued invoices but may not write.
    mine = Api(ready.portal_a)
    assert mine.get(path).status_code == 200
    assert [i["code"] for i in mine.get("/billing/invoices").json()["items"]] == [issued.code]
    assert mine.post(f"{path}/credit-notes", {"reason": "x"}).status_code == 403
    assert Invoice.objects.count() == 1
