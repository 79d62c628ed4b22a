"""Reminders of the revert-by date, and the escalation of what is overdue.

The daily run looks at every open fix and at how many days are left (in the client's
calendar): 14 days before, 3 days before and on the day, the owner gets a mail in
their language; once overdue, the owner and every administrator are told once and the
fix is marked escalated (the security overview lists it). Each stage is a
``TemporaryFixReminder`` row unique per fix, stage and revert-by date, written in the
same transaction as the outbox row: a run that crashes or runs twice sends nothing
twice, and a renewal (a new date) starts a fresh set. A run that missed days sends the
latest stage that applies, not every stage it missed.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaya.comms.webhooks.outbox import emit_event
from atalaya.core.models import Role, User
from atalaya.mail.models import OutboundKind
from atalaya.mail.outbox import queue_mail
from atalaya.security.models import (
    FixStatus,
    ReminderStage,
    TemporaryFix,
    TemporaryFixReminder,
)


def stage_for(days_left: int) -> str | None:
    """The reminder stage that applies with ``days_left`` until the revert-by date."""
    if days_left < 0:
        return ReminderStage.OVERDUE
    if days_left == 0:
        return ReminderStage.DUE
    if days_left <= 3:
        return ReminderStage.DAYS_3
    if days_left <= 14:
        return ReminderStage.DAYS_14
    return None


def _today_of(fix: TemporaryFix, now: datetime) -> date:
    try:
        zone = zoneinfo.ZoneInfo(fix.client.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return now.astimezone(zone).date()


def _message(fix: TemporaryFix, stage: str, days_left: int, language: str) -> tuple[str, str]:
    with translation.override(language):
        if stage == ReminderStage.OVERDUE:
            subject = _("Overdue temporary fix at %(client)s: %(title)s")
            lead = _("This temporary fix should have been undone on %(date)s.")
        elif stage == ReminderStage.DUE:
            subject = _("Undo today at %(client)s: %(title)s")
            lead = _("This temporary fix must be undone today, %(date)s.")
        else:
            subject = _("Temporary fix at %(client)s due in %(days)d days: %(title)s")
            lead = _("This temporary fix must be undone by %(date)s (in %(days)d days).")
        values = {
            "client": fix.client.name,
            "title": fix.title,
            "date": fix.revert_by.isoformat(),
            "days": days_left,
        }
        body = "\n\n".join(
            [
                lead % values,
                f"{fix.title}\n{_('Why')}: {fix.reason}",
                _("Undo it and close the entry saying how, or renew it with a new reason:"),
                reverse("security:fix_detail", args=[fix.public_id]),
            ]
        )
        return subject % values, body + "\n"


def _recipients(fix: TemporaryFix, stage: str) -> list[User]:
    people = [fix.owner]
    if stage == ReminderStage.OVERDUE:
        admins = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk")
        people += [a for a in admins if a.pk != fix.owner_id]
    return [p for p in people if p.is_active and p.email]


@dataclass
class ReminderRun:
    sent: int = 0
    escalated: int = 0


def send_due_reminders(*, now: datetime | None = None) -> ReminderRun:
    """Send every reminder that is due now; safe to run as often as wanted."""
    now = now or timezone.now()
    run = ReminderRun()
    fixes = TemporaryFix.objects.filter(status=FixStatus.OPEN).select_related("client", "owner")
    for fix in fixes.order_by("revert_by", "pk"):
        days_left = (fix.revert_by - _today_of(fix, now)).days
        stage = stage_for(days_left)
        if stage is None:
            continue
        try:
            with transaction.atomic():
                reminder = TemporaryFixReminder.objects.create(
                    fix=fix, stage=stage, revert_by=fix.revert_by, sent_at=now
                )
                for person in _recipients(fix, stage):
                    subject, body = _message(fix, stage, days_left, person.language)
                    queued = queue_mail(
                        key=f"fix-reminder:{fix.public_id}:{stage}:{fix.revert_by}:{person.pk}",
                        kind=OutboundKind.SECURITY,
                        client=fix.client,
                        to_address=person.email,
                        to_name=person.display_name(),
                        user=person,
                        language=person.language,
                        subject=subject,
                        body_text=body,
                        now=now,
                    )
                    if person.pk == fix.owner_id and queued is not None:
                        reminder.outbound = queued
                        reminder.save(update_fields=["outbound"])
                emit_event(
                    "fix_reminder.sent", reminder, key=f"fix_reminder:{reminder.pk}", now=now
                )
                if stage == ReminderStage.OVERDUE:
                    TemporaryFix.objects.filter(pk=fix.pk).update(escalated_at=now)
                    run.escalated += 1
        except IntegrityError:
            continue  # this stage of this date was handled by an earlier run
        run.sent += 1
    return run
