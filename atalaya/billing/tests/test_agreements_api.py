"""The agreements API: products, agreements and lines, the recurring run, time approval,
hour blocks; staff only, writes need the billing role, errors name the field."""

from __future__ import annotations

from datetime import date

import pytest

from atalaya.billing.models import Agreement, Invoice, Product, TimeCharge
from atalaya.billing.tests.agreements_fixtures import mandate, shop
from atalaya.core.tests.apiclient import Api
from atalaya.tickets import services as ticket_services

pytestmark = pytest.mark.django_db


def test_products_agreements_run_and_issue(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    api = Api(world.billing)
    made = api.post(
        "/billing/products",
        {
            "code": "cloud-bundle",
            "name_en": "Cloud bundle",
            "name_es": "Pack nube",
            "unit": "user",
            "unit_price": "12.50",
            "components": [{"product": "vpn"}, {"product": "backup"}],
        },
    )
    assert made.status_code == 201, made.content
    assert made.json()["is_package"] and made.json()["components"] == ["vpn", "backup"]
    bad = api.post(
        "/billing/products",
        {"code": "x", "name_en": "X", "name_es": "X", "unit": "user", "unit_price": "-1"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "unit_price"
    assert "cloud-bundle" in [p["code"] for p in api.get("/billing/products").json()]

    created = api.post(
        "/billing/agreements",
        {
            "client": str(world.client_a.public_id),
            "name": "alfa-secret cloud",
            "starts_on": "2026-12-01",
            "series": s.series.code,
        },
    )
    assert created.status_code == 201, created.content
    agreement_id = created.json()["public_id"]
    line = api.post(
        f"/billing/agreements/{agreement_id}/lines",
        {"product": "cloud-bundle", "quantity": "4"},
    )
    assert line.status_code == 201 and line.json()["lines"][0]["quantity"] == "4.000"
    no_mandate = api.post(
        "/billing/agreements",
        {
            "client": str(world.client_a.public_id),
            "name": "debit",
            "starts_on": "2026-12-01",
            "series": s.series.code,
            "payment_method": "direct_debit",
        },
    )
    assert no_mandate.status_code == 422
    assert no_mandate.json()["errors"][0]["field"] == "mandate"
    mandate(world.client_a)
    with_mandate = api.post(
        "/billing/agreements",
        {
            "client": str(world.client_a.public_id),
            "name": "debit",
            "starts_on": "2026-12-01",
            "series": s.series.code,
            "payment_method": "direct_debit",
            "mandate_reference": "ALFA-0001",
        },
    )
    assert with_mandate.status_code == 201 and with_mandate.json()["mandate_reference"]
    end_first = api.post(
        "/billing/agreements",
        {
            "client": str(world.client_a.public_id),
            "name": "backwards",
            "starts_on": "2026-12-01",
            "ends_on": "2026-11-01",
            "series": s.series.code,
        },
    )
    assert end_first.status_code == 422 and end_first.json()["errors"][0]["field"] == "ends_on"

    drafted = api.post("/billing/recurring/draft", {"as_of": "2026-12-02"})
    assert drafted.status_code == 200, drafted.content
    (draft,) = drafted.json()  # the debit agreement has no lines: nothing to bill
    assert (draft["period_start"], draft["net_total"]) == ("2026-12-01", "50.00")
    assert api.post("/billing/recurring/draft", {"as_of": "2026-12-02"}).json() == []
    assert [d["public_id"] for d in api.get("/billing/recurring").json()] == [draft["public_id"]]
    issued = api.post(
        "/billing/recurring/issue", {"invoices": [draft["public_id"]], "issue_date": "2026-12-02"}
    )
    assert issued.status_code == 200, issued.content
    assert issued.json()[0]["status"] == "issued" and issued.json()[0]["code"]
    assert Agreement.objects.get(public_id=agreement_id).billed_until == date(2027, 1, 1)
    again = api.post("/billing/recurring/issue", {"invoices": [draft["public_id"]]})
    assert again.status_code == 404


def test_time_approval_and_blocks(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    api = Api(world.billing)
    block = api.post(
        "/billing/hour-blocks",
        {"client": str(world.client_a.public_id), "name": "alfa-secret", "minutes_total": 60},
    )
    assert block.status_code == 201 and block.json()["minutes_left"] == 60
    bad = api.post(
        "/billing/hour-blocks",
        {"client": str(world.client_a.public_id), "name": "zero", "minutes_total": 0},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "minutes_total"
    entry = ticket_services.log_time(
        world.ticket_a, actor=world.tech, minutes=90, work_type=s.remote
    )
    pending = api.get("/billing/time/pending").json()
    assert [p["id"] for p in pending] == [entry.pk]
    charge = api.post(f"/billing/time/{entry.pk}/approve", {})
    assert charge.status_code == 201, charge.content
    assert (charge.json()["block_minutes"], charge.json()["amount"]) == (60, "30.00")
    assert api.post(f"/billing/time/{entry.pk}/approve", {}).status_code == 404
    assert api.get("/billing/hour-blocks").json()[0]["minutes_left"] == 0


def test_staff_only_and_writers_only(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    entry = ticket_services.log_time(
        world.ticket_a, actor=world.tech, minutes=30, work_type=s.remote
    )
    for user in (world.portal_a, world.portal_b):
        api = Api(user)
        assert api.get("/billing/products").status_code == 404
        assert api.get("/billing/agreements").status_code == 404
        assert api.post(f"/billing/time/{entry.pk}/approve", {}).status_code == 404
    readonly = Api(world.readonly)
    assert readonly.get("/billing/agreements").status_code == 200
    assert readonly.post(f"/billing/time/{entry.pk}/approve", {}).status_code == 403
    assert readonly.post("/billing/recurring/draft", {}).status_code == 403
    assert (
        readonly.post(
            "/billing/products",
            {"code": "y", "name_en": "Y", "name_es": "Y", "unit": "user", "unit_price": "1"},
        ).status_code
        == 403
    )
    assert not TimeCharge.objects.exists() and not Invoice.objects.exists()
    assert not Product.objects.filter(code="y").exists()
