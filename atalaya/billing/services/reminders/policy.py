"""Reminder policies and their levels, pauses and dispute flags: the settings a decision reads.

Every change here is audited. The default policy is created on first use (a transactional
test or a fresh install may have none yet): friendly notice 3 days after the due date,
reminder 15, firm reminder 30, a call-the-client task 45, at least 7 days between steps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    ReminderChannel,
    ReminderKind,
    ReminderLevel,
    ReminderPause,
    ReminderPolicy,
)
from atalaya.billing.models.common import require_billing_writer
from atalaya.core.models import Client, User
from atalaya.core.services import record_audit

DEFAULT_POLICY_NAME = "Default"
# (step, kind, channel, days after due); min 7 days between steps.
DEFAULT_LEVELS = (
    (1, ReminderKind.FRIENDLY, ReminderChannel.EMAIL, 3),
    (2, ReminderKind.REMINDER, ReminderChannel.EMAIL, 15),
    (3, ReminderKind.FIRM, ReminderChannel.EMAIL, 30),
    (4, ReminderKind.CALL, ReminderChannel.TASK, 45),
)
DEFAULT_MIN_DAYS = 7
MAX_PAUSE = timedelta(days=366)
REASON_LIMIT = 300


def default_policy() -> ReminderPolicy:
    """The install's default policy, created with its four levels on first use."""
    found = ReminderPolicy.objects.filter(is_default=True).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            policy = ReminderPolicy.objects.create(name=DEFAULT_POLICY_NAME, is_default=True)
            ReminderLevel.objects.bulk_create(
                ReminderLevel(
                    policy=policy,
                    step=step,
                    kind=kind,
                    channel=channel,
                    days_after_due=days,
                    min_days_since_previous=DEFAULT_MIN_DAYS,
                )
                for step, kind, channel, days in DEFAULT_LEVELS
            )
    except IntegrityError:
        # Another process created it first (the one-default constraint).
        return ReminderPolicy.objects.get(is_default=True)
    return policy


@transaction.atomic
def update_level(
    *,
    actor: User | None,
    level: ReminderLevel,
    days_after_due: int,
    min_days_since_previous: int,
    kind: str | None = None,
    channel: str | None = None,
) -> ReminderLevel:
    """Edit one step of a policy; the days after the due date must keep rising step by step."""
    require_billing_writer(actor)
    errors: dict[str, str] = {}
    if not 0 <= days_after_due <= 3650:
        errors["days_after_due"] = _("Days after the due date must be between 0 and 3650.")
    if not 0 <= min_days_since_previous <= 365:
        errors["min_days_since_previous"] = _(
            "Days since the previous step must be between 0 and 365."
        )
    if kind is not None and kind not in ReminderKind.values:
        errors["kind"] = _("Unknown reminder kind: %(kind)s.") % {"kind": kind}
    if channel is not None and channel not in ReminderChannel.values:
        errors["channel"] = _("Unknown channel: %(channel)s.") % {"channel": channel}
    siblings = {
        other.step: other.days_after_due
        for other in ReminderLevel.objects.filter(policy_id=level.policy_id).exclude(pk=level.pk)
    }
    before_days = [d for s, d in siblings.items() if s < level.step]
    after_days = [d for s, d in siblings.items() if s > level.step]
    if (before_days and days_after_due <= max(before_days)) or (
        after_days and days_after_due >= min(after_days)
    ):
        errors.setdefault(
            "days_after_due",
            _("Each step must come later after the due date than the step before it."),
        )
    if errors:
        raise ValidationError(errors)
    before = _level_snapshot(level)
    level.days_after_due = days_after_due
    level.min_days_since_previous = min_days_since_previous
    if kind is not None:
        level.kind = kind
    if channel is not None:
        level.channel = channel
    level.save()
    record_audit(actor, level.policy, "level_changed", before=before, after=_level_snapshot(level))
    return level


def _level_snapshot(level: ReminderLevel) -> dict[str, Any]:
    return {
        "step": level.step,
        "kind": level.kind,
        "channel": level.channel,
        "days_after_due": level.days_after_due,
        "min_days_since_previous": level.min_days_since_previous,
    }


# --- pauses ---------------------------------------------------------------------------------


def active_pauses(now: datetime) -> Any:
    """Pauses in force at ``now``: started, not expired, not lifted."""
    return ReminderPause.objects.filter(
        starts_at__lte=now, expires_at__gt=now, lifted_at__isnull=True
    )


def _clean_reason(reason: Any, field: str = "reason") -> str:
    text = " ".join(str(reason or "").split())
    if not text:
        raise ValidationError({field: _("Give a reason.")})
    if len(text) > REASON_LIMIT:
        raise ValidationError(
            {field: _("The reason is too long (at most %(n)d characters).") % {"n": REASON_LIMIT}}
        )
    return text


@transaction.atomic
def pause_reminders(
    *,
    actor: User | None,
    client: Client | None = None,
    reason: str,
    expires_at: datetime | None,
    now: datetime | None = None,
) -> ReminderPause:
    """Stop every reminder (``client`` None) or one client's until ``expires_at``.

    A reason and an expiry are required: a pause that nobody remembers must end by
    itself, and at most a year ahead.
    """
    require_billing_writer(actor)
    now = now or timezone.now()
    text = _clean_reason(reason)
    if expires_at is None:
        raise ValidationError({"expires_at": _("Give the date the pause ends.")})
    if timezone.is_naive(expires_at):
        expires_at = timezone.make_aware(expires_at)
    if expires_at <= now:
        raise ValidationError({"expires_at": _("The pause must end in the future.")})
    if expires_at > now + MAX_PAUSE:
        raise ValidationError({"expires_at": _("A pause may last at most a year.")})
    pause = ReminderPause.objects.create(
        client=client,
        reason=text,
        starts_at=now,
        expires_at=expires_at,
        created_by=actor if actor is not None and actor.pk else None,
        created_at=now,
    )
    record_audit(
        actor,
        pause,
        "reminders_paused",
        client=client,
        after={
            "scope": "client" if client else "global",
            "reason": text,
            "expires_at": expires_at.isoformat(),
        },
    )
    return pause


@transaction.atomic
def lift_pause(
    *, actor: User | None, pause: ReminderPause, now: datetime | None = None
) -> ReminderPause:
    """End a pause early; the row stays, with who lifted it and when."""
    require_billing_writer(actor)
    now = now or timezone.now()
    updated = ReminderPause.objects.filter(
        pk=pause.pk, lifted_at__isnull=True, expires_at__gt=now
    ).update(lifted_at=now, lifted_by=actor if actor is not None and actor.pk else None)
    if not updated:
        raise ValidationError(_("This pause is already over."))
    pause.refresh_from_db()
    record_audit(
        actor,
        pause,
        "reminders_pause_lifted",
        client=pause.client,
        after={"lifted_at": now.isoformat()},
    )
    return pause


def pauses_for(client_id: int | None, now: datetime) -> list[ReminderPause]:
    """The pauses that hold for one client now (global ones first)."""
    return sorted(
        active_pauses(now).filter(Q(client__isnull=True) | Q(client_id=client_id)),
        key=lambda p: (p.client_id is not None, p.expires_at),
    )


# --- disputes -------------------------------------------------------------------------------


def _issued_invoice(invoice: Invoice) -> None:
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError(
            _("Only an issued invoice (not a draft or a credit note) can be disputed.")
        )


@transaction.atomic
def set_dispute(
    *, actor: User | None, invoice: Invoice, reason: str, now: datetime | None = None
) -> Invoice:
    """Flag an invoice as disputed by the client: no reminder while the flag holds."""
    require_billing_writer(actor)
    _issued_invoice(invoice)
    text = _clean_reason(reason)
    now = now or timezone.now()
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.is_disputed:
        raise ValidationError(_("This invoice is already disputed."))
    invoice.is_disputed, invoice.dispute_reason, invoice.disputed_at = True, text, now
    invoice.save(update_fields=["is_disputed", "dispute_reason", "disputed_at"])
    record_audit(
        actor, invoice, "dispute_set", client=invoice.client, after={"dispute_reason": text}
    )
    return invoice


@transaction.atomic
def clear_dispute(*, actor: User | None, invoice: Invoice) -> Invoice:
    """The dispute is settled: reminders may resume (from the step where they stopped)."""
    require_billing_writer(actor)
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not locked.is_disputed:
        raise ValidationError(_("This invoice is not disputed."))
    before = {"dispute_reason": locked.dispute_reason}
    invoice.is_disputed, invoice.dispute_reason, invoice.disputed_at = False, "", None
    invoice.save(update_fields=["is_disputed", "dispute_reason", "disputed_at"])
    record_audit(actor, invoice, "dispute_cleared", client=invoice.client, before=before)
    return invoice
