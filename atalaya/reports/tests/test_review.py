"""Review before sending: nothing is mailed until a report is approved; approving twice
mails each recipient once, in their language, with the PDF (real WeasyPrint, with its
SVG charts) over a real SMTP server; skipped and sent reports behave."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.core import services as core_services
from atalaya.mail import outbox
from atalaya.mail.models import OutboundMessage
from atalaya.mail.tests.smtp_server import SmtpServer, start_smtp_server
from atalaya.reports import render, services
from atalaya.reports.figures import monthly_figures
from atalaya.reports.models import MonthlyReport, ReportStatus
from atalaya.reports.tests.month import MONTH, YEAR, build_march


@pytest.fixture
def server(settings: Any) -> Iterator[SmtpServer]:
    smtp = start_smtp_server(query="?starttls=false")
    settings.SMTP_URL = smtp.url
    yield smtp
    smtp.stop()


@pytest.fixture
def report(world: Any) -> MonthlyReport:
    build_march(world)
    english = core_services.create_contact(
        actor=None, clients=[world.client_a], name="Eve English", email="eve@alfa.example"
    )
    english.language = "en"
    english.save(update_fields=["language"])
    services.set_recipients(
        actor=world.tech, client=world.client_a, contacts=[world.contact_a, english]
    )
    return services.generate_report(actor=world.tech, client=world.client_a, year=YEAR, month=MONTH)


def test_the_pdf_renders_with_its_svg_charts(world: Any) -> None:
    build_march(world)
    figures = monthly_figures(world.client_a, YEAR, MONTH)
    body = render.render_body(figures, "es")
    assert body.count("<svg") >= 3 and "marzo 2026" in body.lower()
    pdf = render.render_pdf(str(body), figures, "es")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    # The document fetches nothing: a URL in a client's name stays text.
    assert "http" not in render.render_document("", figures, "es").split("<body>")[1]


def test_approving_twice_mails_each_recipient_once(
    world: Any, report: MonthlyReport, server: SmtpServer
) -> None:
    assert report.status == ReportStatus.PROPOSED
    assert OutboundMessage.objects.filter(kind=services.MAIL_KIND).count() == 0
    first = services.approve_report(actor=world.tech, report=report)
    second = services.approve_report(actor=world.admin, report=report)
    assert len(first) == 2 and second == []
    report.refresh_from_db()
    assert report.status == ReportStatus.SENT and report.sent_at is not None
    mails = {m.to_address: m for m in OutboundMessage.objects.filter(kind=services.MAIL_KIND)}
    assert set(mails) == {"ana@alfa.example", "eve@alfa.example"}
    assert "Your monthly report" in mails["eve@alfa.example"].subject
    assert mails["ana@alfa.example"].language == "es"
    outbox.deliver_due()
    received = {r.message.get("To"): r.message for r in server.messages}
    assert len(server.messages) == 2
    for message in received.values():
        attachments = list(message.iter_attachments())
        assert [a.get_filename() for a in attachments] == ["report-2026-03.pdf"]
        assert attachments[0].get_content().startswith(b"%PDF")
    # Sent: the snapshot is final.
    with pytest.raises(ValidationError):
        services.generate_report(actor=world.tech, client=world.client_a, year=YEAR, month=MONTH)


def test_a_new_recipient_gets_it_on_the_next_approval(world: Any, report: MonthlyReport) -> None:
    services.approve_report(actor=world.tech, report=report)
    late = core_services.create_contact(
        actor=None, clients=[world.client_a], name="Late Larry", email="larry@alfa.example"
    )
    services.set_recipients(
        actor=world.tech, client=world.client_a, contacts=[world.contact_a, late]
    )
    again = services.approve_report(actor=world.tech, report=report)
    assert [m.to_address for m in again] == ["larry@alfa.example"]
    assert OutboundMessage.objects.filter(kind=services.MAIL_KIND).count() == 3


def test_skip_regenerate_and_who_may_review(world: Any, report: MonthlyReport) -> None:
    with pytest.raises(PermissionDenied):
        services.approve_report(actor=world.readonly, report=report)
    services.skip_report(actor=world.tech, report=report)
    with pytest.raises(ValidationError):
        services.approve_report(actor=world.tech, report=report)
    assert OutboundMessage.objects.filter(kind=services.MAIL_KIND).count() == 0
    again = services.generate_report(
        actor=world.tech, client=world.client_a, year=YEAR, month=MONTH
    )
    assert again.pk == report.pk and again.status == ReportStatus.PROPOSED
    assert MonthlyReport.objects.count() == 1
    with pytest.raises(ValidationError, match="not over"):
        services.generate_report(actor=world.tech, client=world.client_a, year=2099, month=1)
    # Another client's contact cannot be a recipient.
    with pytest.raises(ValidationError):
        services.set_recipients(actor=world.tech, client=world.client_a, contacts=[world.contact_b])


def test_auto_approval_is_off_unless_set(world: Any, settings: Any) -> None:
    from datetime import date

    services.set_recipients(actor=None, client=world.client_a, contacts=[world.contact_a])
    services.monthly_run(today=date(2026, 8, 3))
    assert OutboundMessage.objects.filter(kind=services.MAIL_KIND).count() == 0
    settings.REPORTS_AUTO_APPROVE = True
    result = services.monthly_run(today=date(2026, 9, 1))
    assert result.approved == 2 and result.mails == 1
