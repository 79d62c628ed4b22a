"""/api/v1/billing reminder routes: propose, inspect, approve, skip, send, pauses, disputes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from atalaya.billing.models import SentReminder
from atalaya.billing.tests.factories import issued_invoice, make_billing_contacts
from atalaya.billing.tests.reminders_fixtures import fresh_bank_data, pay
from atalaya.core.tests.apiclient import Api, fields_of


@pytest.fixture
def setup(world):
    make_billing_contacts(world)
    fresh_bank_data()
    now = timezone.now()
    world.invoice = issued_invoice(
        world.client_a,
        issue_date=(now - timedelta(days=50)).date(),
        due_date=(now - timedelta(days=20)).date(),
    )
    return world


def test_a_run_through_the_api(setup):
    api = Api(setup.billing)
    response = api.post("/billing/reminder-runs", {})
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["summary"]["proposed"] == 1
    item = run["items"][0]
    assert item["invoice_code"] == setup.invoice.code and item["step"] == 1
    assert [r["code"] for r in item["reasons"]] == ["proposed"]
    path = f"/billing/reminder-runs/{run['public_id']}"
    assert Api(setup.readonly).post(path + "/approve").status_code == 403
    assert Api(setup.portal_b).get(path).status_code == 404
    assert Api(setup.portal_a).get(path).status_code == 404
    assert api.post(path + f"/items/{item['id']}/approve").json()["status"] == "approved"
    again = api.post(path + f"/items/{item['id']}/approve")
    assert again.status_code == 422 and "already approved" in again.content.decode()
    sent = api.post(path + "/send")
    assert sent.status_code == 200 and sent.json()["sent"] == [item["id"]]
    twice = api.post(path + "/send")
    assert twice.status_code == 422 and SentReminder.objects.count() == 1
    assert len(api.get("/billing/reminder-runs").json()) == 1


def test_a_run_that_changed_is_not_approved(setup):
    api = Api(setup.billing)
    run = api.post("/billing/reminder-runs", {}).json()
    pay(setup.invoice, "1.00")
    response = api.post(f"/billing/reminder-runs/{run['public_id']}/approve")
    assert response.status_code == 422 and "changed since the proposal" in response.content.decode()


def test_pauses_disputes_and_the_why(setup):
    api = Api(setup.billing)
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = api.post("/billing/reminder-pauses", {"reason": "Crisis", "expires_at": past})
    assert response.status_code == 422 and fields_of(response) == {"expires_at"}
    response = api.post("/billing/reminder-pauses", {"reason": " ", "expires_at": past})
    assert response.status_code == 422 and "reason" in fields_of(response)
    until = (timezone.now() + timedelta(days=3)).isoformat()
    response = api.post(
        "/billing/reminder-pauses",
        {"reason": "Flood", "expires_at": until, "client": str(setup.client_a.public_id)},
    )
    assert response.status_code == 201
    pause = response.json()
    why = api.get(f"/billing/invoices/{setup.invoice.public_id}/reminders").json()
    assert not why["proposed"] and "client_pause" in [r["code"] for r in why["reasons"]]
    assert (
        Api(setup.readonly).post(f"/billing/reminder-pauses/{pause['id']}/lift").status_code == 403
    )
    assert api.post(f"/billing/reminder-pauses/{pause['id']}/lift").json()["lifted_at"]
    response = api.post(f"/billing/invoices/{setup.invoice.public_id}/dispute", {"reason": "Hours"})
    assert response.status_code == 200
    assert "disputed" in [r["code"] for r in response.json()["reasons"]]
    assert (
        Api(setup.portal_b)
        .get(f"/billing/invoices/{setup.invoice.public_id}/reminders")
        .status_code
        == 404
    )
    response = api.post(f"/billing/invoices/{setup.invoice.public_id}/undispute")
    assert response.json()["proposed"] is True
