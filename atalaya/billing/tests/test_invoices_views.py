"""The staff invoice pages: the three-user rule, the list's queries, drafting to issuing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from atalaya.billing.models import BillingProfile, BillingSettings, Invoice, InvoiceSeries
from atalaya.billing.services import invoices
from atalaya.billing.tests.factories import (
    billing_ready,
    credit_series,
    draft_invoice,
    issued_invoice,
    product,
    series,
)


@pytest.fixture
def issued(world):
    series()
    credit_series()
    billing_ready(world.client_a)
    return issued_invoice(world.client_a, [("alfa-secret bundle", "3", "25.00", "21")])


@pytest.fixture
def draft(world):
    series()
    billing_ready(world.client_a)
    return draft_invoice(world.client_a)


def url(name, invoice=None, **kw):
    if invoice is not None:
        kw["invoice_id"] = invoice.public_id
    return reverse(f"billing:{name}", kwargs=kw)


# --- the three users on every page ------------------------------------------------------


READ_PAGES = ["invoice_detail", "invoice_pdf", "invoice_issue", "credit_note_new"]


@pytest.mark.parametrize("name", READ_PAGES)
def test_pages_staff_yes_clients_no(world, issued, name):
    assert world.http(world.readonly).get(url(name, issued)).status_code == 200
    assert world.http(world.portal_b).get(url(name, issued)).status_code == 404
    assert world.http(world.portal_a).get(url(name, issued)).status_code == 404


@pytest.mark.parametrize(
    "name", ["draft_edit", "line_add", "invoice_issue", "invoice_discard", "credit_note_new"]
)
def test_writes_need_the_billing_role(world, draft, name):
    before = Invoice.objects.values().get(pk=draft.pk)
    for user in (world.readonly, world.tech):
        assert world.http(user).post(url(name, draft), {"reason": "x"}).status_code == 403
    assert world.http(world.portal_b).post(url(name, draft)).status_code == 404
    assert Invoice.objects.values().get(pk=draft.pk) == before


@pytest.mark.parametrize("name", ["draft_edit", "line_add", "invoice_discard", "invoice_send"])
def test_post_only_pages_refuse_get(world, draft, name):
    assert world.http(world.billing).get(url(name, draft)).status_code == 405


def test_the_pdf_download(world, issued):
    response = world.http(world.billing).get(url("invoice_pdf", issued))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert "F2026-00001.pdf" in response["Content-Disposition"]


def test_the_list_filters_and_counts_its_queries(world, issued, django_assert_max_num_queries):
    billing_ready(world.client_b, tax_id="12345678Z")
    for _ in range(5):
        issued_invoice(world.client_b, issue_date=date(2026, 11, 2), due_date=date(2026, 11, 20))
    http = world.http(world.readonly)
    http.get(url("invoice_list"))  # warm the session
    with django_assert_max_num_queries(8):
        response = http.get(url("invoice_list"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "F2026-00001" in text and "F2026-00006" in text
    only_a = http.get(url("invoice_list"), {"client": world.client_a.public_id}).content.decode()
    assert "F2026-00001" in only_a and "F2026-00006" not in only_a
    overdue = http.get(url("invoice_list"), {"overdue": "on"}).content.decode()
    assert "F2026-00006" in overdue  # due on 20 November, unpaid
    drafts = http.get(url("invoice_list"), {"status": "draft"}).content.decode()
    assert "F2026-00006" not in drafts
    assert world.http(world.portal_a).get(url("invoice_list")).status_code == 404
    assert world.http(world.billing).post(url("invoice_list")).status_code == 405


def test_the_nav_links_billing_for_staff_only(world, issued):
    page = world.http(world.tech).get(reverse("tickets:list")).content.decode()
    assert reverse("billing:invoice_list") in page
    portal = world.http(world.portal_a).get(reverse("portal:ticket_list")).content.decode()
    assert reverse("billing:invoice_list") not in portal


# --- drafting, issuing, correcting through the pages -------------------------------------


def test_draft_lines_issue_send_and_credit(world):
    series()
    credit_series()
    billing_ready(world.client_a)
    BillingProfile.objects.filter(client=world.client_a).update(
        invoice_email="facturas@alfa.example"
    )
    bundle = product(price="25.00")
    http = world.http(world.billing)
    response = http.post(
        url("invoice_new"), {"client": world.client_a.public_id, "series": "F2026"}
    )
    assert response.status_code == 302
    invoice = Invoice.objects.get(client=world.client_a)
    assert http.get(url("invoice_detail", invoice)).status_code == 200
    http.post(url("line_add", invoice), {"product": bundle.code, "quantity": "2"})
    response = http.post(
        url("line_add", invoice),
        {"description": "Setup", "quantity": "1", "unit_price": "100", "vat": "S:21"},
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.total == Decimal("181.50")
    # Bad input: shown on the field, nothing written.
    response = http.post(
        url("line_add", invoice),
        {"description": "x", "quantity": "-1", "unit_price": "1", "vat": "S:21"},
    )
    assert response.status_code == 400 and "must be positive" in response.content.decode()
    setup = invoice.lines.get(description="Setup")
    http.post(url("line_remove", invoice, line_id=setup.pk))
    invoice.refresh_from_db()
    assert invoice.total == Decimal("60.50")
    page = http.get(url("invoice_issue", invoice)).content.decode()
    assert "never change" in page
    assert http.post(url("invoice_issue", invoice), {"issue_date": "2026-11-10"}).status_code == 302
    invoice.refresh_from_db()
    assert (invoice.code, invoice.issue_date) == ("F2026-00001", date(2026, 11, 10))
    again = http.post(url("invoice_issue", invoice))
    assert again.status_code == 400 and "already issued" in again.content.decode()
    assert http.post(url("invoice_send", invoice)).status_code == 302
    invoice.refresh_from_db()
    assert invoice.sent_at is not None
    response = http.post(
        url("credit_note_new", invoice),
        {"reason": "One user less", f"qty_{invoice.lines.get().pk}": "1"},
    )
    assert response.status_code == 302
    note = Invoice.objects.get(kind="credit_note")
    assert note.total == Decimal("-30.25") and note.corrects == invoice
    detail = http.get(url("invoice_detail", invoice)).content.decode()
    assert str(note.public_id) in detail


def test_issuing_without_a_tax_id_says_so(world, draft):
    BillingProfile.objects.filter(client=world.client_a).update(tax_id="")
    response = world.http(world.billing).post(url("invoice_issue", draft))
    assert response.status_code == 400
    assert "has no tax id" in response.content.decode()
    assert Invoice.objects.get(pk=draft.pk).status == "draft"


# --- billing profile, settings, series ---------------------------------------------------


def test_billing_profile_edit(world):
    page = reverse("billing:profile_edit", kwargs={"client_id": world.client_a.public_id})
    assert world.http(world.readonly).get(page).status_code == 200
    assert world.http(world.portal_a).get(page).status_code == 404
    assert world.http(world.readonly).post(page, {"tax_id": "B12345674"}).status_code == 403
    http = world.http(world.billing)
    bad = http.post(page, {"tax_id": "B12345670", "country": "ES", "payment_terms_days": "30"})
    assert bad.status_code == 400 and "is not a valid NIF" in bad.content.decode()
    assert not BillingProfile.objects.filter(client=world.client_a).exists()
    ok = http.post(
        page,
        {
            "tax_id": "b-12345674",
            "country": "es",
            "payment_terms_days": "45",
            "invoice_email": "Facturas@Alfa.example",
        },
    )
    assert ok.status_code == 302
    profile = BillingProfile.objects.get(client=world.client_a)
    assert (profile.tax_id, profile.country, profile.payment_terms_days, profile.invoice_email) == (
        "B12345674",
        "ES",
        45,
        "facturas@alfa.example",
    )


def test_billing_settings_for_admins(world):
    page = reverse("billing:settings")
    assert world.http(world.billing).get(page).status_code == 200
    assert world.http(world.billing).post(page, {"legal_name": "x"}).status_code == 403
    assert world.http(world.portal_a).get(page).status_code == 404
    http = world.http(world.admin)
    form = {
        "legal_name": "Atalaya MSP S.L.",
        "tax_id": "A58818501",
        "iban": "ES91 2100 0418 4502 0005 1333",
        "creditor_id": "ES00ZZZB12345674",
        "prenotification_days": "14",
        "bank_data_max_age_hours": "72",
    }
    bad = http.post(page, form).content.decode()
    assert "not a valid IBAN" in bad and "not a valid SEPA creditor identifier" in bad
    form.update(iban="ES91 2100 0418 4502 0005 1332", creditor_id="ES11ZZZB12345674")
    assert http.post(page, form).status_code == 302
    row = BillingSettings.load()
    assert (row.iban, row.creditor_id) == ("ES9121000418450200051332", "ES11ZZZB12345674")


def test_series_list_and_create(world):
    page = reverse("billing:series_list")
    assert world.http(world.readonly).get(page).status_code == 200
    assert world.http(world.readonly).post(page, {"code": "X"}).status_code == 403
    assert world.http(world.portal_a).get(page).status_code == 404
    http = world.http(world.billing)
    response = http.post(page, {"code": "F2027", "number_prefix": "F27-", "next_number": "1"})
    assert response.status_code == 302
    assert InvoiceSeries.objects.filter(code="F2027").exists()
    dup = http.post(page, {"code": "F2027", "number_prefix": "F27-", "next_number": "1"})
    assert dup.status_code == 400 and "exists" in dup.content.decode()


def test_services_are_what_the_pages_call(world, issued):
    # A credit note drafted through the service shows as a draft on the detail page.
    note = invoices.create_credit_note(actor=world.billing, invoice=issued, reason="x")
    page = world.http(world.billing).get(url("invoice_detail", note)).content.decode()
    assert "x" in page and issued.code in page
