"""Humane reminders: a proposal a person approves, re-checked at the moment it is sent.

Never a reminder for an invoice whose open balance (net of payments, credit notes and
direct debits on their way) is zero or less, nor while a pause or a dispute holds, nor
on stale bank data unless a person overrides (recorded). Escalation goes one step at a
time; a returned debit brings the friendly notice, never a higher level. ``explain``
is the decision itself, so the invoice page shows exactly why.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from atalaya.billing.models import Invoice
from atalaya.billing.services.reminders.decision import (
    Decision,
    Reason,
    bank_data_until,
    decide,
    is_stale,
    load_context,
    load_facts,
)
from atalaya.billing.services.reminders.policy import (
    active_pauses,
    clear_dispute,
    default_policy,
    lift_pause,
    pause_reminders,
    set_dispute,
    update_level,
)
from atalaya.billing.services.reminders.runs import (
    SendResult,
    approve_all,
    approve_item,
    billing_category,
    discard_run,
    propose_run,
    send_approved,
    skip_item,
)

__all__ = [
    "Decision",
    "Reason",
    "SendResult",
    "active_pauses",
    "approve_all",
    "approve_item",
    "bank_data_until",
    "billing_category",
    "clear_dispute",
    "decide",
    "decision_for",
    "default_policy",
    "discard_run",
    "explain",
    "is_stale",
    "lift_pause",
    "pause_reminders",
    "propose_run",
    "send_approved",
    "set_dispute",
    "skip_item",
    "update_level",
]


def decision_for(invoice: Invoice, now: datetime | None = None) -> Decision:
    """The whole decision for one invoice now (no bank-data override)."""
    now = now or timezone.now()
    ctx = load_context(now, client_ids=[invoice.client_id])
    facts = load_facts(Invoice.objects.filter(pk=invoice.pk))
    return decide(facts[invoice.pk], ctx)


def explain(invoice: Invoice, now: datetime | None = None) -> list[Reason]:
    """Why this invoice would or would not get a reminder now: the reasons, in order."""
    return decision_for(invoice, now).reasons
