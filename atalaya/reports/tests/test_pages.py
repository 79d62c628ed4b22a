"""The reports' pages and API with the three-user fixture: staff review, the client's own
approved reports in the portal, 404 for the other client, 403 for read-only, 405."""

from __future__ import annotations

from typing import Any

import pytest

from atalaya.mail.models import OutboundMessage
from atalaya.reports import services
from atalaya.reports.models import MonthlyReport, ReportRecipient, ReportStatus
from atalaya.reports.tests.month import MONTH, YEAR, build_march


@pytest.fixture
def reports(world: Any) -> dict[str, MonthlyReport]:
    build_march(world)
    a = services.generate_report(actor=None, client=world.client_a, year=YEAR, month=MONTH)
    b = services.generate_report(actor=None, client=world.client_b, year=YEAR, month=MONTH)
    return {"a": a, "b": b}


def test_the_review_page_lists_the_month(
    world: Any, reports: dict[str, MonthlyReport], django_assert_max_num_queries: Any
) -> None:
    staff = world.http(world.readonly)
    with django_assert_max_num_queries(10):
        page = staff.get("/reports/?month=2026-03")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Alfa Asesores" in text and "Beta Bodegas" in text and "Proposed" in text
    assert world.http(world.portal_a).get("/reports/").status_code == 404
    assert staff.post("/reports/").status_code == 405
    # A malformed month falls back to last month rather than failing.
    assert staff.get("/reports/?month=2026-13").status_code == 200


def test_preview_pdf_approve_and_skip(world: Any, reports: dict[str, MonthlyReport]) -> None:
    a = reports["a"]
    staff = world.http(world.tech)
    detail = staff.get(f"/reports/{a.public_id}/")
    assert detail.status_code == 200 and "<svg" in detail.content.decode()
    pdf = staff.get(f"/reports/{a.public_id}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Read-only staff may look but not approve.
    readonly = world.http(world.readonly)
    assert readonly.post(f"/reports/{a.public_id}/approve/").status_code == 403
    assert staff.get(f"/reports/{a.public_id}/approve/").status_code == 405
    ReportRecipient.objects.create(client=world.client_a, contact=world.contact_a)
    assert staff.post(f"/reports/{a.public_id}/approve/").status_code == 302
    assert staff.post(f"/reports/{a.public_id}/approve/").status_code == 302
    assert OutboundMessage.objects.filter(kind=services.MAIL_KIND).count() == 1
    assert staff.post(f"/reports/{reports['b'].public_id}/skip/").status_code == 302
    reports["b"].refresh_from_db()
    assert reports["b"].status == ReportStatus.SKIPPED


def test_the_client_settings_page_chooses_recipients(world: Any) -> None:
    staff = world.http(world.tech)
    url = f"/reports/clients/{world.client_a.public_id}/"
    assert staff.get(url).status_code == 200
    response = staff.post(url, {"contacts": [str(world.contact_a.public_id)]})
    assert response.status_code == 302
    assert list(ReportRecipient.objects.values_list("contact_id", flat=True)) == [
        world.contact_a.pk
    ]
    foreign = staff.post(url, {"contacts": [str(world.contact_b.public_id)]})
    assert foreign.status_code == 400
    assert world.http(world.readonly).post(url, {"contacts": []}).status_code == 403
    assert world.http(world.portal_a).get(url).status_code == 404


def test_the_portal_shows_the_clients_own_approved_reports(
    world: Any, reports: dict[str, MonthlyReport], django_assert_max_num_queries: Any
) -> None:
    a, b = reports["a"], reports["b"]
    portal_a, portal_b = world.http(world.portal_a), world.http(world.portal_b)
    # Proposed: not the client's to read yet.
    assert portal_a.get(f"/portal/reports/{a.public_id}/").status_code == 404
    services.approve_report(actor=world.tech, report=a)
    services.approve_report(actor=world.tech, report=b)
    with django_assert_max_num_queries(10):
        listing = portal_a.get("/portal/reports/")
    assert listing.status_code == 200 and str(a.public_id) in listing.content.decode()
    assert str(b.public_id) not in listing.content.decode()
    page = portal_a.get(f"/portal/reports/{a.public_id}/")
    assert page.status_code == 200 and "<svg" in page.content.decode()
    pdf = portal_a.get(f"/portal/reports/{a.public_id}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    for url in (f"/portal/reports/{a.public_id}/", f"/portal/reports/{a.public_id}/pdf/"):
        assert portal_b.get(url).status_code == 404
    assert portal_a.post("/portal/reports/").status_code == 405
    assert world.http(world.tech).get("/portal/reports/").status_code == 404


def test_the_api(world: Any, reports: dict[str, MonthlyReport]) -> None:
    from atalaya.core.tests.apiclient import Api

    a = reports["a"]
    staff = Api(world.tech)
    listing = staff.get("/reports", {"year": 2026, "month": 3})
    assert listing.status_code == 200 and listing.json()["count"] == 2
    one = staff.get(f"/reports/{a.public_id}")
    assert one.status_code == 200 and one.json()["figures"]["tickets_opened"] == 3
    assert Api(world.portal_b).get(f"/reports/{a.public_id}").status_code == 404
    assert Api(world.readonly).post(f"/reports/{a.public_id}/approve").status_code == 403
    approved = staff.post(f"/reports/{a.public_id}/approve")
    assert approved.status_code == 200 and approved.json()["report"]["status"] == "approved"
