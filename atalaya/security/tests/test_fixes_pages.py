"""The register's pages and API: staff only, writers only, the report as HTML and PDF."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from atalaya.core.tests.apiclient import Api
from atalaya.security.fixes import services
from atalaya.security.models import FixStatus, TemporaryFix


@pytest.fixture
def fix(world: Any) -> TemporaryFix:
    return services.create_fix(
        actor=world.tech,
        client=world.client_a,
        kind="mfa_exception",
        title="MFA off for the CEO's old phone",
        reason="New phone arrives next week",
        owner=world.tech,
        revert_by=timezone.localdate() + timedelta(days=5),
    )


def test_the_list_shows_open_fixes_to_staff_only(
    world: Any, fix: TemporaryFix, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        services.create_fix(
            actor=world.tech,
            client=world.client_b,
            title=f"Shared account {n}",
            reason="Temp staff",
            owner=world.admin,
            revert_by=timezone.localdate() + timedelta(days=n),
        )
    staff = world.http(world.readonly)
    with django_assert_max_num_queries(8):
        page = staff.get("/security/fixes/")
    assert page.status_code == 200
    assert (
        "MFA off for the CEO" in page.content.decode()
        and "Shared account 4" in page.content.decode()
    )
    assert world.http(world.portal_a).get("/security/fixes/").status_code == 404
    assert world.http(world.readonly).post("/security/fixes/").status_code == 405


def test_recording_through_the_form(world: Any) -> None:
    http = world.http(world.tech)
    revert_by = (timezone.localdate() + timedelta(days=10)).isoformat()
    form = {
        "client": str(world.client_a.public_id),
        "kind": "firewall",
        "title": "Port 3389 forwarded",
        "reason": "Remote accounting",
        "owner": world.tech.pk,
        "revert_by": revert_by,
        "evidence_port": "3389",
        "tickets": f"#{world.ticket_a.number}",
    }
    response = http.post("/security/fixes/new/", form)
    assert response.status_code == 302
    fix = TemporaryFix.objects.get()
    assert list(fix.tickets.all()) == [world.ticket_a] and fix.evidence_port == 3389
    # Without a revert-by date, or with another client's ticket: the form says why.
    missing = http.post("/security/fixes/new/", {**form, "revert_by": ""})
    assert missing.status_code == 400
    foreign = http.post("/security/fixes/new/", {**form, "tickets": str(world.ticket_b.number)})
    assert foreign.status_code == 400 and "No ticket" in foreign.content.decode()
    assert TemporaryFix.objects.count() == 1
    assert world.http(world.readonly).post("/security/fixes/new/", form).status_code == 403


def test_renew_close_and_link_from_the_page(world: Any, fix: TemporaryFix) -> None:
    http = world.http(world.tech)
    url = f"/security/fixes/{fix.public_id}/"
    assert http.get(url).status_code == 200
    later = (fix.revert_by + timedelta(days=7)).isoformat()
    assert http.post(url + "renew/", {"revert_by": later, "reason": ""}).status_code == 400
    assert http.post(url + "renew/", {"revert_by": later, "reason": "Delayed"}).status_code == 302
    assert http.post(url + "link/", {"tickets": str(world.ticket_a.number)}).status_code == 302
    assert world.http(world.readonly).post(url + "close/", {"undo_note": "x"}).status_code == 403
    assert http.post(url + "close/", {"undo_note": "MFA back on"}).status_code == 302
    fix.refresh_from_db()
    assert fix.status == FixStatus.CLOSED and fix.renewals.count() == 1
    assert list(fix.tickets.all()) == [world.ticket_a]
    assert world.http(world.portal_a).get(url).status_code == 404


def test_the_client_report_as_page_and_pdf(world: Any, fix: TemporaryFix) -> None:
    http = world.http(world.readonly)
    page = http.get(f"/security/fixes/report/{world.client_a.public_id}/")
    assert page.status_code == 200 and "MFA off for the CEO" in page.content.decode()
    other = http.get(f"/security/fixes/report/{world.client_b.public_id}/")
    assert "MFA off for the CEO" not in other.content.decode()
    pdf = http.get(f"/security/fixes/report/{world.client_a.public_id}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    portal = world.http(world.portal_a)
    assert portal.get(f"/security/fixes/report/{world.client_a.public_id}/").status_code == 404


def test_the_api_records_renews_and_closes(world: Any) -> None:
    api = Api(world.tech)
    revert_by = (timezone.localdate() + timedelta(days=3)).isoformat()
    body = {
        "client": str(world.client_a.public_id),
        "title": "Personal laptop on the VPN",
        "reason": "Company laptop in repair",
        "owner": "tech",
        "revert_by": revert_by,
        "kind": "personal_device",
        "tickets": [world.ticket_a.number],
    }
    created = api.post("/fixes", body)
    assert created.status_code == 201, created.content
    fix_id = created.json()["public_id"]
    assert created.json()["tickets"] == [world.ticket_a.number]
    bad = api.post("/fixes", {**body, "revert_by": "2001-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "revert_by"
    foreign = api.post("/fixes", {**body, "tickets": [world.ticket_b.number]})
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "tickets"
    assert (
        api.post("/fixes", {**body, "client": str(world.client_b.public_id) + "x"}).status_code
        == 422
    )
    later = (timezone.localdate() + timedelta(days=9)).isoformat()
    renewed = api.post(f"/fixes/{fix_id}/renew", {"revert_by": later, "reason": "Repair delayed"})
    assert renewed.status_code == 200 and renewed.json()["revert_by"] == later
    closed = api.post(f"/fixes/{fix_id}/close", {"undo_note": "Laptop back, access removed"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert api.get("/fixes").json()["count"] == 0
    assert api.get("/fixes", {"status": "all"}).json()["count"] == 1
    assert Api(world.readonly).post(f"/fixes/{fix_id}/close", {"undo_note": "x"}).status_code == 403
    assert Api(world.portal_a).get(f"/fixes/{fix_id}").status_code == 404
