"""The catalogue, agreement, recurring-run, time and hour-block pages: the three users,
writes through the services, list pages' query counts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from atalaya.billing.models import Agreement, HourBlock, Invoice, Product, TimeCharge
from atalaya.billing.services import agreements, time
from atalaya.billing.tests.agreements_fixtures import devices, shop
from atalaya.tickets import services as ticket_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(world):  # type: ignore[no-untyped-def]
    s = shop(world)
    devices(world.client_a, 2)
    agreement = agreements.create_agreement(
        actor=world.billing,
        client=world.client_a,
        name="alfa-secret managed",
        starts_on=timezone.localdate().replace(day=1),
        series=s.series,
    )
    line = agreements.add_line(
        actor=world.billing, agreement=agreement, product=s.device, quantity_mode="devices"
    )
    entry = ticket_services.log_time(
        world.ticket_a, actor=world.tech, minutes=45, work_type=s.remote, note="alfa-secret"
    )
    block = time.create_hour_block(
        actor=world.billing, client=world.client_a, name="alfa-secret 10 h", minutes_total=600
    )
    return {"shop": s, "agreement": agreement, "line": line, "entry": entry, "block": block}


def _pages(setup):  # type: ignore[no-untyped-def]
    a = setup["agreement"]
    return [
        reverse("billing:product_list"),
        reverse("billing:product_new"),
        reverse("billing:product_edit", args=[setup["shop"].fee.public_id]),
        reverse("billing:agreement_list"),
        reverse("billing:agreement_new"),
        reverse("billing:agreement_detail", args=[a.public_id]),
        reverse("billing:agreement_edit", args=[a.public_id]),
        reverse("billing:recurring_run"),
        reverse("billing:time_queue"),
        reverse("billing:hour_block_list"),
        reverse("billing:hour_block_new"),
    ]


def test_staff_see_the_pages_clients_get_404(world, setup) -> None:  # type: ignore[no-untyped-def]
    for url in _pages(setup):
        assert world.http(world.readonly).get(url).status_code == 200, url
        assert world.http(world.portal_a).get(url).status_code == 404, url
        assert world.http(world.portal_b).get(url).status_code == 404, url
        assert world.http(None).get(url).status_code == 302, url


def test_read_only_staff_may_not_write(world, setup) -> None:  # type: ignore[no-untyped-def]
    a = setup["agreement"]
    posts = [
        reverse("billing:product_new"),
        reverse("billing:product_retire", args=[setup["shop"].fee.public_id]),
        reverse("billing:agreement_new"),
        reverse("billing:agreement_line_add", args=[a.public_id]),
        reverse("billing:agreement_line_remove", args=[a.public_id, setup["line"].pk]),
        reverse("billing:agreement_rate_set", args=[a.public_id]),
        reverse("billing:recurring_run"),
        reverse("billing:time_queue"),
        reverse("billing:time_decide", args=[setup["entry"].pk]),
        reverse("billing:hour_block_new"),
    ]
    for url in posts:
        assert world.http(world.readonly).post(url, {"action": "draft"}).status_code == 403, url
        assert world.http(world.tech).post(url, {"action": "draft"}).status_code == 403, url
        assert world.http(world.portal_b).post(url, {"action": "draft"}).status_code == 404, url
    assert not Invoice.objects.exists() and not TimeCharge.objects.exists()
    assert Product.objects.get(pk=setup["shop"].fee.pk).is_active


def test_post_only_pages_refuse_get(world, setup) -> None:  # type: ignore[no-untyped-def]
    a = setup["agreement"]
    for url in (
        reverse("billing:product_retire", args=[setup["shop"].fee.public_id]),
        reverse("billing:agreement_line_add", args=[a.public_id]),
        reverse("billing:time_decide", args=[setup["entry"].pk]),
    ):
        assert world.http(world.billing).get(url).status_code == 405, url
    assert world.http(world.billing).delete(reverse("billing:agreement_list")).status_code == 405


def test_the_detail_shows_counted_quantities_and_the_preview(world, setup) -> None:  # type: ignore[no-untyped-def]
    a = setup["agreement"]
    page = world.http(world.billing).get(reverse("billing:agreement_detail", args=[a.public_id]))
    text = page.content.decode()
    assert "counted today" in text and "Next period" in text
    assert "15.00" in text  # 2 devices × 7.50


def test_a_product_is_added_and_a_bad_price_named(world, setup) -> None:  # type: ignore[no-untyped-def]
    http = world.http(world.billing)
    fields = {
        "code": "cloud",
        "name_en": "Cloud",
        "name_es": "Nube",
        "unit": "user",
        "unit_price": "-3",
        "vat": "S:21",
    }
    bad = http.post(reverse("billing:product_new"), fields)
    assert bad.status_code == 400 and not Product.objects.filter(code="cloud").exists()
    fields["unit_price"] = "3"
    fields["components"] = [str(setup["shop"].vpn.pk)]
    assert http.post(reverse("billing:product_new"), fields).status_code == 302
    assert Product.objects.get(code="cloud").is_package


def test_an_agreement_without_mandate_for_direct_debit_is_refused(world, setup) -> None:  # type: ignore[no-untyped-def]
    http = world.http(world.billing)
    fields = {
        "client": str(world.client_b.public_id),
        "name": "Beta",
        "billing_period": "monthly",
        "starts_on": "2026-12-01",
        "series": setup["shop"].series.pk,
        "payment_method": "direct_debit",
        "payment_terms_days": "30",
    }
    answer = http.post(reverse("billing:agreement_new"), fields)
    assert answer.status_code == 400
    assert "mandate" in answer.content.decode()
    assert not Agreement.objects.filter(client=world.client_b).exists()
    fields["payment_method"] = "transfer"
    assert http.post(reverse("billing:agreement_new"), fields).status_code == 302


def test_the_run_page_drafts_issues_and_discards(world, setup) -> None:  # type: ignore[no-untyped-def]
    from atalaya.billing.tests.agreements_fixtures import profile

    profile(world.client_a, "A58818501")
    http = world.http(world.billing)
    url = reverse("billing:recurring_run")
    assert http.post(url, {"action": "draft"}).status_code == 302
    draft = Invoice.objects.get(agreement=setup["agreement"])
    page = http.get(url).content.decode()
    assert "alfa-secret managed" in page and "18.15" in page  # 15.00 + 21 % VAT
    assert http.post(url, {"action": "issue"}).status_code == 400  # nothing selected
    assert (
        http.post(url, {"action": "discard", "invoice": [str(draft.public_id)]}).status_code == 302
    )
    assert http.post(url, {"action": "draft"}).status_code == 302
    again = Invoice.objects.get(agreement=setup["agreement"], status="draft")
    assert http.post(url, {"action": "issue", "invoice": [str(again.public_id)]}).status_code == 302
    again.refresh_from_db()
    assert again.status == "issued"


def test_time_is_decided_one_by_one_and_in_bulk(world, setup) -> None:  # type: ignore[no-untyped-def]
    http = world.http(world.billing)
    page = http.get(reverse("billing:time_queue")).content.decode()
    assert "alfa-secret 10 h" in page  # the suggested block
    answer = http.post(
        reverse("billing:time_decide", args=[setup["entry"].pk]), {"action": "invoice"}
    )
    assert answer.status_code == 302
    charge = TimeCharge.objects.get(time_entry=setup["entry"])
    assert (charge.status, charge.amount) == ("approved", Decimal("45.00"))
    assert (
        http.post(
            reverse("billing:time_decide", args=[setup["entry"].pk]), {"action": "invoice"}
        ).status_code
        == 404
    )  # decided: no longer pending
    more = [
        ticket_services.log_time(
            world.ticket_a, actor=world.tech, minutes=30, work_type=setup["shop"].remote
        )
        for _n in range(2)
    ]
    answer = http.post(
        reverse("billing:time_queue"), {"action": "approve", "entry": [str(e.pk) for e in more]}
    )
    assert answer.status_code == 302
    block = HourBlock.objects.get(pk=setup["block"].pk)
    assert block.minutes_used == 60


def test_list_pages_count_their_queries(world, setup, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    s = setup["shop"]
    for n in range(15):
        extra = agreements.create_agreement(
            actor=world.billing,
            client=world.client_b,
            name=f"Beta {n}",
            starts_on=date(2026, 1, 1),
            series=s.series,
        )
        agreements.add_line(actor=world.billing, agreement=extra, product=s.fee)
        ticket_services.log_time(
            world.ticket_b, actor=world.tech, minutes=10 + n, work_type=s.remote
        )
        time.create_hour_block(
            actor=world.billing, client=world.client_b, name=f"B {n}", minutes_total=60
        )
    agreements.draft_due_invoices(actor=world.billing, as_of=timezone.localdate())
    http = world.http(world.billing)
    for name, limit in (
        ("billing:product_list", 8),
        ("billing:agreement_list", 8),
        ("billing:recurring_run", 9),
        ("billing:time_queue", 10),
        ("billing:hour_block_list", 8),
    ):
        with django_assert_max_num_queries(limit):
            assert http.get(reverse(name)).status_code == 200
