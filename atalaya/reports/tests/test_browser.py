"""In a real browser: a technician reviews the month, opens a report and approves it; the
client's portal user then reads it, charts included.

Playwright's sync API drives Debian's chromium against pytest-django's live server,
with the portal's browser-test fixtures.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from atalaya.conftest import World
from atalaya.mail.models import OutboundMessage
from atalaya.portal.tests.test_browser import _new_page, _sign_in, chromium, site
from atalaya.reports import services
from atalaya.reports.models import MonthlyReport, ReportStatus
from atalaya.reports.tests.month import MONTH, YEAR, build_march

pytestmark = pytest.mark.browser
__all__ = ["chromium", "site"]  # fixtures used by name


def test_review_approve_and_read_in_the_portal(chromium: Browser, site: str, world: World) -> None:
    build_march(world)
    services.set_recipients(actor=None, client=world.client_a, contacts=[world.contact_a])
    report = services.generate_report(actor=None, client=world.client_a, year=YEAR, month=MONTH)
    tech = _new_page(chromium)
    _sign_in(tech, site, world.tech)
    tech.goto(f"{site}/reports/?month=2026-03")
    tech.get_by_role("link", name="Proposed").first.click()
    expect(tech.locator("article.monthly-report svg").first).to_be_visible()
    with tech.expect_navigation():
        tech.get_by_role("button", name="Approve and send").click()
    expect(tech.locator("body")).to_contain_text("Sent")
    report.refresh_from_db()
    assert report.status == ReportStatus.SENT
    assert OutboundMessage.objects.filter(kind=services.MAIL_KIND).count() == 1

    client = _new_page(chromium)
    _sign_in(client, site, world.portal_a)
    client.goto(f"{site}/portal/reports/")
    client.get_by_role("link", name="PDF").first.wait_for()
    client.goto(f"{site}/portal/reports/{report.public_id}/")
    expect(client.locator("article.monthly-report h1")).to_have_text("Alfa Asesores")
    assert client.locator("article.monthly-report svg").count() >= 3
    assert MonthlyReport.objects.count() == 1
