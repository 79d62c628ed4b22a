"""Quote pages, portal and API with the three-user fixture: staff 200, the other client
404, read-only 403 on a write, 405 on a wrong method; the portal flow; list query counts."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from atalaya.billing.models import Agreement, Quote, QuoteStatus
from atalaya.billing.tests.quotes_fixtures import draft, plain_user_of_a, ready, sent
from atalaya.core import services as core_services

pytestmark = pytest.mark.django_db


def _url(name: str, quote: Quote, ns: str = "billing") -> str:
    return reverse(f"{ns}:{name}", args=[quote.public_id])


def test_staff_list_filters_and_counts_queries(world, django_assert_max_num_queries):
    the_shop = ready(world)
    for n in range(6):
        draft(
            world, the_shop, title=f"Quote {n}", client=world.client_a if n % 2 else world.client_b
        )
    http = world.http(world.readonly)
    with django_assert_max_num_queries(12):
        answer = http.get(reverse("billing:quote_list"))
    assert answer.status_code == 200 and answer.content.count(b"Quote ") >= 6
    answer = http.get(reverse("billing:quote_list"), {"client": world.client_b.public_id})
    assert b"Quote 0" in answer.content and b"Quote 1" not in answer.content
    answer = http.get(reverse("billing:quote_list"), {"status": "sent"})
    assert b"Quote 0" not in answer.content
    assert world.http(world.portal_a).get(reverse("billing:quote_list")).status_code == 404
    assert world.http(world.tech).post(reverse("billing:quote_list")).status_code == 405


def test_technician_drafts_from_the_catalogue_adds_a_line_and_sends(world):
    the_shop = ready(world)
    http = world.http(world.tech)
    assert http.get(reverse("billing:quote_new")).status_code == 200
    answer = http.post(
        reverse("billing:quote_new"),
        {
            "client": world.client_a.public_id,
            "title": "Teletrabajo para 12",
            "valid_until": (timezone.localdate() + timedelta(days=30)).isoformat(),
            "product": the_shop.bundle.pk,
            "quantity": "12",
            "discount_percent": "",
            "language": "",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    quote = Quote.objects.get(title="Teletrabajo para 12")
    assert quote.language == "es" and quote.total == Decimal("363.00")
    answer = http.post(_url("quote_line_add", quote), {"product": the_shop.fee.pk, "quantity": "1"})
    assert answer.status_code == 302
    bad = http.post(_url("quote_line_add", quote), {"product": the_shop.fee.pk, "quantity": "-1"})
    assert bad.status_code == 400
    assert http.get(_url("quote_detail", quote)).status_code == 200
    assert http.post(_url("quote_send", quote)).status_code == 302
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT and quote.code.startswith("Q-")
    pdf = http.get(_url("quote_pdf", quote))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_readonly_may_read_but_not_write(world):
    quote = draft(world, ready(world))
    http = world.http(world.readonly)
    assert http.get(_url("quote_detail", quote)).status_code == 200
    assert http.post(_url("quote_send", quote)).status_code == 403
    assert http.post(_url("quote_withdraw", quote)).status_code == 403
    assert http.post(reverse("billing:quote_new"), {}).status_code == 403
    assert http.get(_url("quote_send", quote)).status_code == 405
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT


def test_portal_never_shows_drafts_and_never_another_clients(world):
    the_shop = ready(world)
    hidden = draft(world, the_shop, title="Not yet")
    shown = sent(world, the_shop, title="Ready for you")
    mine = world.http(world.portal_a)
    listing = mine.get(reverse("portal:quote_list"))
    assert listing.status_code == 200
    assert b"Ready for you" in listing.content and b"Not yet" not in listing.content
    assert mine.get(_url("quote_detail", hidden, "portal")).status_code == 404
    other = world.http(world.portal_b)
    assert other.get(_url("quote_detail", shown, "portal")).status_code == 404
    assert other.get(_url("quote_pdf", shown, "portal")).status_code == 404
    day = timezone.localdate().isoformat()
    assert other.post(_url("quote_accept", shown, "portal"), {"start_date": day}).status_code == 404
    assert b"Ready for you" not in other.get(reverse("portal:quote_list")).content
    assert mine.get(_url("quote_accept", shown, "portal")).status_code == 405
    assert world.http(world.tech).get(_url("quote_detail", shown, "portal")).status_code == 404


def test_portal_flow_accept_with_a_start_date(world):
    quote = sent(world, ready(world))
    http = world.http(world.portal_a)
    page = http.get(_url("quote_detail", quote, "portal"))
    assert page.status_code == 200 and b"accept-form" in page.content
    assert http.get(_url("quote_pdf", quote, "portal")).content.startswith(b"%PDF")
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    refused = http.post(_url("quote_accept", quote, "portal"), {"start_date": past})
    assert refused.status_code == 400 and b"id_start_date_error" in refused.content
    start = (timezone.localdate() + timedelta(days=5)).isoformat()
    done = http.post(_url("quote_accept", quote, "portal"), {"start_date": start})
    assert done.status_code == 302
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED and quote.decided_by == world.portal_a
    page = http.get(_url("quote_detail", quote, "portal"))
    assert b"accept-form" not in page.content and b"Contact of Alfa Asesores" in page.content
    again = http.post(_url("quote_accept", quote, "portal"), {"start_date": start})
    assert again.status_code == 400
    assert Agreement.objects.filter(client=world.client_a).count() == 1


def test_portal_decline_and_read_only_user(world):
    quote = sent(world, ready(world))
    plain = world.http(plain_user_of_a(world))
    page = plain.get(_url("quote_detail", quote, "portal"))
    assert page.status_code == 200 and b"accept-form" not in page.content
    assert plain.post(_url("quote_decline", quote, "portal"), {"reason": "no"}).status_code == 403
    http = world.http(world.portal_a)
    assert http.post(_url("quote_decline", quote, "portal"), {"reason": ""}).status_code == 400
    assert (
        http.post(_url("quote_decline", quote, "portal"), {"reason": "Budget"}).status_code == 302
    )
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DECLINED and quote.decision_note == "Budget"


def _api(world, user):
    _token, raw = core_services.create_api_token(actor=None, user=user, name="t")
    http = world.http(None)
    return lambda method, path, body=None: getattr(http, method)(
        "/api/v1/billing" + path,
        data=json.dumps(body) if body is not None else None,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )


def test_api_create_send_accept(world):
    ready(world)
    staff = _api(world, world.tech)
    body = {
        "client": str(world.client_a.public_id),
        "title": "API quote",
        "valid_until": (timezone.localdate() + timedelta(days=10)).isoformat(),
        "lines": [{"product": "remote-worker", "quantity": "12", "discount_percent": "10"}],
    }
    answer = staff("post", "/quotes", body)
    assert answer.status_code == 201, answer.content
    quote_id = answer.json()["public_id"]
    assert answer.json()["total"] == "326.70"
    bad = staff("post", "/quotes", {**body, "lines": [{"product": "nope", "quantity": "1"}]})
    assert bad.status_code == 404
    assert staff("post", f"/quotes/{quote_id}/send").json()["status"] == "sent"
    readonly = _api(world, world.readonly)
    assert readonly("post", "/quotes", body).status_code == 403
    other = _api(world, world.portal_b)
    assert other("get", f"/quotes/{quote_id}").status_code == 404
    start = {"start_date": (timezone.localdate() + timedelta(days=1)).isoformat()}
    assert other("post", f"/quotes/{quote_id}/accept", start).status_code == 404
    client = _api(world, world.portal_a)
    assert [q["public_id"] for q in client("get", "/quotes").json()["items"]] == [quote_id]
    accepted = client("post", f"/quotes/{quote_id}/accept", start)
    assert accepted.status_code == 200 and accepted.json()["agreement"]
    again = client("post", f"/quotes/{quote_id}/accept", start)
    assert again.status_code == 422 and "accepted" in again.content.decode()
    assert staff("get", f"/quotes/{quote_id}/pdf").content.startswith(b"%PDF")


def test_new_quote_from_the_client_page_preselects_the_client(world):
    ready(world)
    http = world.http(world.tech)
    page = http.get(reverse("billing:quote_new"), {"client": str(world.client_b.public_id)})
    assert page.status_code == 200
    assert f'value="{world.client_b.public_id}" selected'.encode() in page.content
    assert http.get(reverse("billing:quote_new"), {"client": "not-a-uuid"}).status_code == 200
    client_page = http.get(reverse("client_detail", args=[world.client_b.public_id]))
    assert reverse("billing:quote_new").encode() in client_page.content
