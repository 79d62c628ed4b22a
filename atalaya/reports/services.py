"""Every write of the reports app: generate, the monthly run, review (approve, skip), recipients.

Nothing is mailed without a person's approval (unless ``REPORTS_AUTO_APPROVE`` is on,
default off). Approving queues one outbox mail per chosen recipient, in the contact's
language, with the PDF attached, in the same transaction that marks the report sent;
the idempotency key is client + month + contact, so approving twice (a double click,
two technicians at once) mails each person once, and a recipient added later gets the
report when it is approved again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from atalaya.core.models import Client, Contact, ContactMembership, User
from atalaya.core.services import record_audit
from atalaya.reports import render, workdays
from atalaya.reports.figures import MonthlyFigures, monthly_figures
from atalaya.reports.models import MonthlyReport, ReportRecipient, ReportStatus

logger = logging.getLogger(__name__)

MAIL_KIND = "report"


def can_review(user: Any) -> bool:
    """Technicians and administrators review and send reports."""
    return bool(user is not None and getattr(user, "can_write_tickets", False))


def _require_reviewer(actor: User | None) -> None:
    # None is Atalaya itself (the monthly run with auto-approval, the CLI).
    if actor is not None and not can_review(actor):
        raise PermissionDenied(_("Your role may not review or send reports."))


def _check_month(year: int, month: int) -> None:
    if not 1 <= month <= 12:
        raise ValidationError({"month": _("The month must be between 1 and 12.")})
    if not 2000 <= year <= 9999:
        raise ValidationError({"year": _("The year is out of range.")})


def _month_is_over(client: Client, year: int, month: int, now: datetime) -> bool:
    from atalaya.reports.figures import month_bounds

    return month_bounds(client, year, month)[1] <= now


def figures_of(report: MonthlyReport) -> MonthlyFigures:
    return MonthlyFigures.from_dict(report.figures)


def generate_report(
    *,
    actor: User | None,
    client: Client,
    year: int,
    month: int,
    now: datetime | None = None,
    only_missing: bool = False,
) -> MonthlyReport:
    """Take (or retake) the snapshot of ``client``'s month and render its body.

    One report per client and month (a unique constraint; a concurrent generator's row
    is reused). Regenerating replaces the figures and the body until the report is
    sent; an approved (or skipped) one goes back to proposed, since what was reviewed
    changed. With
    ``only_missing`` (the monthly run) an existing report is left as it is.
    """
    _require_reviewer(actor)
    _check_month(year, month)
    now = now or timezone.now()
    if not _month_is_over(client, year, month, now):
        raise ValidationError({"month": _("That month is not over yet.")})
    existing = MonthlyReport.objects.filter(client=client, year=year, month=month).first()
    if existing is not None and (only_missing or existing.is_sent):
        if existing.is_sent and not only_missing:
            raise ValidationError({"status": _("This report was sent; it can no longer change.")})
        return existing
    figures = monthly_figures(client, year, month, now=now)
    language = client.language or "es"
    body = str(render.render_body(figures, language))
    with transaction.atomic():
        report = (
            MonthlyReport.objects.select_for_update()
            .filter(client=client, year=year, month=month)
            .first()
        )
        created = report is None
        if report is None:
            report = MonthlyReport(client=client, year=year, month=month)
        elif report.is_sent:
            raise ValidationError({"status": _("This report was sent; it can no longer change.")})
        before = {"status": report.status, "generated_at": _iso(report.generated_at)}
        report.figures = figures.as_dict()
        report.html = body
        report.language = language
        report.generated_at = now
        if report.status in (ReportStatus.APPROVED, ReportStatus.SKIPPED):
            report.status = ReportStatus.PROPOSED
            report.reviewed_by, report.reviewed_at = None, None
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError:
            # Another generator created it meanwhile: its snapshot is as good as ours.
            found = MonthlyReport.objects.get(client=client, year=year, month=month)
            return found
        record_audit(
            actor,
            report,
            "report.generated" if created else "report.regenerated",
            client=client,
            before={} if created else before,
            after={"period": report.period, "status": report.status},
        )
    return report


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


@dataclass
class RunResult:
    """What one monthly run did."""

    year: int
    month: int
    ran: bool
    generated: int = 0
    existing: int = 0
    approved: int = 0
    mails: int = 0
    failed: list[str] = field(default_factory=list)


def monthly_run(*, today: date | None = None, now: datetime | None = None) -> RunResult:
    """On the MSP's first working day of a month, propose last month's report of every
    active client (those that have one already are left alone, so the run may repeat).

    On any other day it does nothing. With ``REPORTS_AUTO_APPROVE`` the proposals are
    approved (and mailed) at once; by default a person reviews them first.
    """
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    year, month = workdays.previous_month(today)
    result = RunResult(year=year, month=month, ran=False)
    if today != workdays.first_working_day(today.year, today.month):
        return result
    result.ran = True
    auto = bool(getattr(settings, "REPORTS_AUTO_APPROVE", False))
    known = set(
        MonthlyReport.objects.filter(year=year, month=month).values_list("client_id", flat=True)
    )
    for client in Client.objects.filter(is_active=True).order_by("name"):
        try:
            if client.pk in known:
                result.existing += 1
                continue
            report = generate_report(
                actor=None, client=client, year=year, month=month, now=now, only_missing=True
            )
            result.generated += 1
            if auto and report.status == ReportStatus.PROPOSED:
                result.mails += len(approve_report(actor=None, report=report, now=now))
                result.approved += 1
        except Exception:
            # One client's bad data must not stop the others' reports; it is logged
            # and the next run (or a person) tries again.
            logger.exception("monthly report of client %s failed", client.pk)
            result.failed.append(client.name)
    return result


def recipients_of(client: Client) -> list[Contact]:
    """The contacts chosen to receive ``client``'s report, who still belong to it and
    have an address."""
    members = ContactMembership.objects.filter(client=client).values("contact_id")
    return list(
        Contact.objects.filter(
            pk__in=ReportRecipient.objects.filter(client=client, contact_id__in=members).values(
                "contact_id"
            ),
            email__gt="",
        ).order_by("name", "pk")
    )


@transaction.atomic
def set_recipients(*, actor: User | None, client: Client, contacts: Iterable[Contact]) -> None:
    """Choose who receives ``client``'s monthly report: exactly these contacts of it."""
    _require_reviewer(actor)
    wanted = {c.pk for c in contacts}
    members = set(
        ContactMembership.objects.filter(client=client, contact_id__in=wanted).values_list(
            "contact_id", flat=True
        )
    )
    if wanted - members:
        raise ValidationError({"contacts": _("Choose contacts of this client only.")})
    current = set(
        ReportRecipient.objects.filter(client=client).values_list("contact_id", flat=True)
    )
    if current == wanted:
        return
    ReportRecipient.objects.filter(client=client).exclude(contact_id__in=wanted).delete()
    ReportRecipient.objects.bulk_create(
        [ReportRecipient(client=client, contact_id=pk) for pk in sorted(wanted - current)]
    )
    record_audit(
        actor,
        client,
        "report.recipients",
        client=client,
        before={"contacts": sorted(current)},
        after={"contacts": sorted(wanted)},
    )


def pdf_filename(report: MonthlyReport) -> str:
    return f"report-{report.period}.pdf"


def body_of(report: MonthlyReport, language: str | None = None) -> SafeString:
    """The report's body in ``language``: the cached one when it is the report's own."""
    language = language or report.language
    if report.html and language == report.language:
        # Our own rendering, stored when the report was generated: already escaped.
        return mark_safe(report.html)  # noqa: S308
    return render.render_body(figures_of(report), language)


def pdf_of(report: MonthlyReport, language: str | None = None) -> bytes:
    """The report's PDF in ``language`` (the cached body when it is the report's own)."""
    language = language or report.language
    return render.render_pdf(str(body_of(report, language)), figures_of(report), language)


def _mail_text(report: MonthlyReport) -> tuple[str, str]:
    period = render.period_label(report.year, report.month)
    subject = _("Your monthly report: %(period)s") % {"period": period}
    body = _(
        "Hello,\n\nAttached is %(client)s's report for %(period)s: the tickets we handled, "
        "how your devices did, security and billing.\n\nYou can also read it in the "
        "portal.\n\nKind regards"
    ) % {"client": report.client.name, "period": period}
    return subject, body


def approve_report(
    *, actor: User | None, report: MonthlyReport, now: datetime | None = None
) -> list[Any]:
    """Approve a report and mail it to the client's chosen recipients; returns the mails
    queued now (none for a recipient who already got it).

    A skipped report cannot be approved (regenerate it first). A report with no
    recipients is approved (the portal shows it) but not sent.
    """
    _require_reviewer(actor)
    from atalaya.mail.outbox import kick_delivery, queue_mail

    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            MonthlyReport.objects.select_for_update().select_related("client").get(pk=report.pk)
        )
        if locked.status == ReportStatus.SKIPPED:
            raise ValidationError({"status": _("This report was skipped; regenerate it first.")})
        recipients = recipients_of(locked.client)
        pdfs: dict[str, bytes] = {}
        messages = []
        for contact in recipients:
            language = contact.language or locked.client.language or "es"
            if language not in pdfs:
                pdfs[language] = pdf_of(locked, language)
            with translation.override(language):
                subject, body = _mail_text(locked)
            message = queue_mail(
                key=f"report:{locked.client.public_id}:{locked.period}:{contact.public_id}",
                kind=MAIL_KIND,
                client=locked.client,
                to_address=contact.email,
                to_name=contact.name,
                subject=subject,
                body_text=body,
                language=language,
                contact=contact,
                attachments=[(pdf_filename(locked), "application/pdf", pdfs[language])],
                now=now,
            )
            if message is not None:
                messages.append(message)
        before = locked.status
        if locked.status == ReportStatus.PROPOSED or actor is not None:
            locked.reviewed_by = actor if actor is not None and actor.pk else None
            locked.reviewed_at = now
        if recipients:
            locked.status = ReportStatus.SENT
            locked.sent_at = locked.sent_at or now
        elif locked.status == ReportStatus.PROPOSED:
            locked.status = ReportStatus.APPROVED
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "sent_at"])
        record_audit(
            actor,
            locked,
            "report.approved",
            client=locked.client,
            before={"status": before},
            after={
                "status": locked.status,
                "mailed": [m.to_address for m in messages],
            },
        )
    report.refresh_from_db()
    if messages:
        kick_delivery()
    return messages


def approve_all(
    *, actor: User | None, year: int, month: int, clients: Iterable[Client] | None = None
) -> tuple[int, int]:
    """Approve every proposed report of the month (or of ``clients``); (reports, mails)."""
    _require_reviewer(actor)
    reports = MonthlyReport.objects.filter(year=year, month=month, status=ReportStatus.PROPOSED)
    if clients is not None:
        reports = reports.filter(client__in=list(clients))
    count = mails = 0
    for report in reports.select_related("client").order_by("client__name"):
        mails += len(approve_report(actor=actor, report=report))
        count += 1
    return count, mails


@transaction.atomic
def skip_report(*, actor: User | None, report: MonthlyReport) -> MonthlyReport:
    """Decide not to send this month's report (it stays, marked skipped, and unseen by
    the client); regenerating it proposes it again."""
    _require_reviewer(actor)
    locked = MonthlyReport.objects.select_for_update().get(pk=report.pk)
    if locked.is_sent:
        raise ValidationError({"status": _("This report was sent already.")})
    before = locked.status
    locked.status = ReportStatus.SKIPPED
    locked.reviewed_by = actor if actor is not None and actor.pk else None
    locked.reviewed_at = timezone.now()
    locked.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    record_audit(
        actor,
        locked,
        "report.skipped",
        client=locked.client,
        before={"status": before},
        after={"status": locked.status},
    )
    report.refresh_from_db()
    return locked
