"""Reminder runs: propose (a dry run with every message previewed), approve, skip, send.

Sending checks each approved item again, in its own transaction with the item and the
invoice row-locked (where the database can): the decision is recomputed and its
fingerprint compared with the approved one; anything changed (a payment, a debit, a
pause, a dispute, a credit note, the balance) drops the item with its reason. The
SentReminder row is unique per (invoice, step, channel), so a second worker or a second
run that gets there later finds the row taken and drops its item instead of sending.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.billing.models import (
    BillingSettings,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    ItemStatus,
    ReminderChannel,
    ReminderItem,
    ReminderRun,
    RunStatus,
    SentReminder,
)
from atalaya.billing.models.common import require_billing_writer
from atalaya.billing.services.reminders import messages
from atalaya.billing.services.reminders.decision import (
    Context,
    Decision,
    Reason,
    decide,
    first_due_date,
    load_context,
    load_facts,
    load_recipients,
)
from atalaya.billing.services.reminders.policy import _clean_reason
from atalaya.comms.webhooks.outbox import emit_event
from atalaya.core.models import Client, User
from atalaya.core.services import record_audit
from atalaya.mail.outbox import queue_mail

BILLING_CATEGORY = {"slug": "billing", "name": "Billing", "name_es": "Facturación"}
BATCH = 2000
# The outbox kind of every billing mail (collections use it too).
MAIL_KIND = "billing"


def billing_category() -> Any:
    """The tickets' category for billing tasks (a call, a returned debit), made on first use."""
    from atalaya.tickets.models import Category

    category, _created = Category.objects.get_or_create(
        slug=BILLING_CATEGORY["slug"],
        defaults={"name": BILLING_CATEGORY["name"], "name_es": BILLING_CATEGORY["name_es"]},
    )
    return category


def _actor_name(actor: User | None) -> str:
    if actor is None:
        return _("the system")
    return str(actor.get_full_name() or actor.username)


def _override_of(run: ReminderRun) -> tuple[str, str]:
    if not run.bank_data_override_reason:
        return "", ""
    return _actor_name(run.bank_data_override_by), run.bank_data_override_reason


def _candidates(ctx: Context) -> Any:
    return Invoice.objects.filter(
        status=InvoiceStatus.ISSUED, kind=InvoiceKind.INVOICE, due_date__lte=first_due_date(ctx)
    )


# --- proposing ------------------------------------------------------------------------------


@transaction.atomic
def propose_run(
    *, actor: User | None, now: datetime | None = None, override_bank_data: str | None = None
) -> ReminderRun:
    """Propose the reminders due now: a run of items, each with its message previewed.

    Nothing is sent. ``override_bank_data`` is the reason a person gives for going ahead
    on bank data older than the configured age (recorded with who gave it); an empty
    reason is refused.
    """
    require_billing_writer(actor)
    now = now or timezone.now()
    override = ""
    if override_bank_data is not None:
        override = _clean_reason(override_bank_data, "override_reason")
    ctx = load_context(now, with_recipients=False)
    stale = ctx.bank_is_stale
    if stale and override:
        ctx.override_by, ctx.override_reason = _actor_name(actor), override
    facts = load_facts(_candidates(ctx))
    ctx.recipients = load_recipients({f.client_id for f in facts.values()})
    proposed: list[Decision] = []
    excluded: Counter[str] = Counter()
    for f in facts.values():
        decision = decide(f, ctx)
        if decision.proposed:
            proposed.append(decision)
        else:
            for reason in decision.blocking:
                excluded[reason.code] += 1
    not_yet_due = (
        Invoice.objects.filter(status=InvoiceStatus.ISSUED, kind=InvoiceKind.INVOICE)
        .filter(due_date__gt=first_due_date(ctx))
        .count()
    )
    run = ReminderRun.objects.create(
        as_of=now,
        bank_data_until=ctx.bank_until,
        bank_data_override_by=actor if (stale and override and actor and actor.pk) else None,
        bank_data_override_reason=override if stale else "",
        created_by=actor if actor is not None and actor.pk else None,
        created_at=now,
        summary={
            "considered": len(facts),
            "not_yet_due": not_yet_due,
            "proposed": len(proposed),
            "excluded": len(facts) - len(proposed),
            "excluded_by_reason": dict(excluded),
            "bank_data_stale": stale,
        },
    )
    _insert_items(_items(run, proposed, ctx))
    record_audit(
        actor,
        run,
        "reminder_run_proposed",
        after={
            "proposed": len(proposed),
            "excluded": len(facts) - len(proposed),
            "bank_data_until": ctx.bank_until.isoformat() if ctx.bank_until else None,
            "bank_data_override": override if stale else "",
        },
    )
    return run


ITEM_FIELDS = (
    "run",
    "client",
    "invoice",
    "step",
    "kind",
    "channel",
    "open_balance",
    "fingerprint",
    "reasons",
    "to_address",
    "language",
    "subject",
    "body",
    "status",
    "dropped_reason",
)


def _insert_items(rows: list[tuple[Any, ...]]) -> None:
    """Insert the run's items with executemany: tens of thousands of rows, whose value
    preparation in bulk_create took longer than the whole decision (profiled)."""
    meta = ReminderItem._meta
    quote = connection.ops.quote_name
    columns = [str(cast(Any, meta.get_field(name)).column) for name in ITEM_FIELDS]
    json_value = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    values = ", ".join(json_value if name == "reasons" else "%s" for name in ITEM_FIELDS)
    # Only the model's own table and column names go into the text; values are bound.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({values})"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])


def _items(run: ReminderRun, decisions: list[Decision], ctx: Context) -> list[tuple[Any, ...]]:
    """The run's items with their previews, rendered one language at a time."""
    client_names = dict(
        Client.objects.filter(pk__in={d.facts.client_id for d in decisions}).values_list(
            "pk", "name"
        )
    )
    sender = BillingSettings.load().legal_name
    by_language: dict[str, list[Decision]] = defaultdict(list)
    for d in decisions:
        assert d.level is not None
        if d.level.channel == ReminderChannel.TASK:
            by_language[messages.staff_language()].append(d)
        else:
            recipient = ctx.recipients.get(d.facts.client_id)
            by_language[recipient.language if recipient else "es"].append(d)
    items: list[tuple[Any, ...]] = []
    proposed_status = str(ItemStatus.PROPOSED)
    for language, group in by_language.items():
        with messages.rendering(language):
            for d in group:
                f, level = d.facts, d.level
                assert level is not None and f.due_date is not None
                recipient = ctx.recipients.get(f.client_id)
                subject, body = messages.render(
                    level,
                    messages.MessageFacts(
                        code=f.code,
                        client_name=client_names.get(f.client_id, ""),
                        total=f.total,
                        open_balance=f.open_balance,
                        currency=f.currency,
                        due_date=f.due_date,
                        days_overdue=(ctx.today - f.due_date).days,
                        sender=sender,
                        after_return=any(r.code == "returned_debit" for r in d.reasons),
                    ),
                )
                is_mail = level.channel == ReminderChannel.EMAIL
                items.append(
                    (
                        run.pk,
                        f.client_id,
                        f.id,
                        level.step,
                        level.kind,
                        level.channel,
                        f.open_balance,
                        d.fingerprint,
                        json.dumps([r.as_json() for r in d.reasons]),
                        recipient.address if (recipient and is_mail) else "",
                        language,
                        subject[:250],
                        body,
                        proposed_status,
                        "",
                    )
                )
    return items


# --- the re-check ---------------------------------------------------------------------------


def recheck(item: ReminderItem, run: ReminderRun, now: datetime) -> Decision:
    """The decision for the item's invoice as things stand now, with the run's override."""
    who, why = _override_of(run)
    ctx = load_context(
        now,
        client_ids=[item.client_id],
        override_by=who,
        override_reason=why,
        with_recipients=False,
    )
    facts = load_facts(Invoice.objects.filter(pk=item.invoice_id))
    return decide(facts[item.invoice_id], ctx)


def _changed(item: ReminderItem, decision: Decision) -> list[Reason]:
    """Why the item may not go ahead: blocking reasons, or a fingerprint that moved."""
    reasons = decision.blocking
    if not reasons and decision.fingerprint != item.fingerprint:
        what = []
        before = {r["code"]: r.get("params", {}) for r in item.reasons if isinstance(r, dict)}
        f = decision.facts
        old = before.get("proposed", {})
        if old.get("balance") not in (None, str(f.open_balance)):
            what.append(_("the open balance is now %(b)s") % {"b": f.open_balance})
        if decision.level is None or decision.level.step != item.step:
            what.append(_("another step is due now"))
        if not what:
            what.append(_("a payment, debit, credit note or reminder was recorded"))
        reasons = [Reason("changed", {"what": "; ".join(what)})]
    return reasons


def _locked_run(run: ReminderRun) -> ReminderRun:
    locked = ReminderRun.objects.select_for_update().get(pk=run.pk)
    if locked.status == RunStatus.SENT:
        raise ValidationError(_("This run has been sent already; propose a new run."))
    if locked.status != RunStatus.PROPOSED:
        raise ValidationError(_("This run was discarded; propose a new run."))
    return locked


def _text(reasons: list[Reason]) -> str:
    return " ".join(r.text for r in reasons)[:300]


# --- approving and skipping -----------------------------------------------------------------


@transaction.atomic
def approve_item(
    *, actor: User | None, item: ReminderItem, now: datetime | None = None
) -> ReminderItem:
    """Approve one item, after checking that its invoice has not changed since the proposal."""
    require_billing_writer(actor)
    now = now or timezone.now()
    run = _locked_run(item.run)
    locked = ReminderItem.objects.select_for_update().get(pk=item.pk)
    if locked.status == ItemStatus.APPROVED:
        raise ValidationError(_("This reminder is already approved."))
    if locked.status != ItemStatus.PROPOSED:
        raise ValidationError(
            _("This reminder can no longer be approved (it is %(status)s).")
            % {"status": locked.get_status_display().lower()}
        )
    reasons = _changed(locked, recheck(locked, run, now))
    if reasons:
        raise ValidationError(
            _("Invoice %(code)s changed since the proposal: %(why)s Skip it or propose a new run.")
            % {"code": locked.invoice.code, "why": _text(reasons)}
        )
    locked.status, locked.decided_by, locked.decided_at = (
        ItemStatus.APPROVED,
        actor if actor is not None and actor.pk else None,
        now,
    )
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    record_audit(
        actor,
        run,
        "reminder_item_approved",
        client=locked.client,
        after={"item": locked.pk, "invoice": locked.invoice.code, "step": locked.step},
    )
    return locked


@transaction.atomic
def approve_all(*, actor: User | None, run: ReminderRun, now: datetime | None = None) -> int:
    """Approve every proposed item of the run, or none: if any invoice changed since the
    proposal, the error names them and nothing is approved (skip them, or propose anew)."""
    require_billing_writer(actor)
    now = now or timezone.now()
    run = _locked_run(run)
    items = list(
        ReminderItem.objects.select_for_update()
        .filter(run=run, status=ItemStatus.PROPOSED)
        .select_related("invoice")
    )
    if not items:
        raise ValidationError(_("There is nothing left to approve in this run."))
    who, why = _override_of(run)
    client_ids = {i.client_id for i in items}
    ctx = load_context(
        now, client_ids=client_ids, override_by=who, override_reason=why, with_recipients=False
    )
    facts = load_facts(Invoice.objects.filter(pk__in=[i.invoice_id for i in items]))
    changed = [i for i in items if _changed(i, decide(facts[i.invoice_id], ctx))]
    if changed:
        codes = ", ".join(i.invoice.code for i in changed[:10])
        raise ValidationError(
            _(
                "%(n)d invoices changed since the proposal (%(codes)s): nothing was approved. "
                "Skip them or propose a new run."
            )
            % {"n": len(changed), "codes": codes + ("…" if len(changed) > 10 else "")}
        )
    count = ReminderItem.objects.filter(
        pk__in=[i.pk for i in items], status=ItemStatus.PROPOSED
    ).update(
        status=ItemStatus.APPROVED,
        decided_by=actor if actor is not None and actor.pk else None,
        decided_at=now,
    )
    record_audit(actor, run, "reminder_run_approved", after={"approved": count})
    return count


@transaction.atomic
def skip_item(
    *, actor: User | None, item: ReminderItem, reason: str = "", now: datetime | None = None
) -> ReminderItem:
    """Leave one reminder out of the run (an approved one too, until the run is sent)."""
    require_billing_writer(actor)
    now = now or timezone.now()
    run = _locked_run(item.run)
    locked = ReminderItem.objects.select_for_update().get(pk=item.pk)
    if locked.status == ItemStatus.SKIPPED:
        raise ValidationError(_("This reminder is already skipped."))
    if locked.status not in (ItemStatus.PROPOSED, ItemStatus.APPROVED):
        raise ValidationError(_("This reminder can no longer be skipped."))
    text = " ".join(str(reason or "").split())[:300]
    locked.status = ItemStatus.SKIPPED
    locked.decided_by = actor if actor is not None and actor.pk else None
    locked.decided_at = now
    locked.dropped_reason = text
    locked.save(update_fields=["status", "decided_by", "decided_at", "dropped_reason"])
    record_audit(
        actor,
        run,
        "reminder_item_skipped",
        client=locked.client,
        after={"item": locked.pk, "invoice": locked.invoice.code, "reason": text},
    )
    return locked


@transaction.atomic
def discard_run(*, actor: User | None, run: ReminderRun) -> ReminderRun:
    """Throw a proposal away (nothing was sent); its items stay for the record."""
    require_billing_writer(actor)
    locked = _locked_run(run)
    locked.status = RunStatus.DISCARDED
    locked.save(update_fields=["status"])
    record_audit(actor, locked, "reminder_run_discarded")
    return locked


# --- sending --------------------------------------------------------------------------------


@dataclass
class SendResult:
    sent: list[int] = field(default_factory=list)
    dropped: dict[int, str] = field(default_factory=dict)


def send_approved(
    *, actor: User | None, run: ReminderRun, now: datetime | None = None
) -> SendResult:
    """Send the run's approved items, each checked again at this moment.

    Each item is its own transaction: a failure on one (or a worker that got there
    first) never sends or un-sends another. Items left unapproved are marked skipped
    and the run is closed.
    """
    require_billing_writer(actor)
    now = now or timezone.now()
    fresh = ReminderRun.objects.get(pk=run.pk)
    if fresh.status == RunStatus.SENT:
        raise ValidationError(_("This run has been sent already."))
    if fresh.status != RunStatus.PROPOSED:
        raise ValidationError(_("This run was discarded; propose a new run."))
    ids = list(
        ReminderItem.objects.filter(run=fresh, status=ItemStatus.APPROVED)
        .order_by("invoice_id")
        .values_list("pk", flat=True)
    )
    if not ids and not ReminderItem.objects.filter(run=fresh, status=ItemStatus.SENT).exists():
        raise ValidationError(_("Nothing is approved in this run: approve items first."))
    result = SendResult()
    category = billing_category()
    for item_id in ids:
        _send_one(item_id, fresh, actor, now, category, result)
    with transaction.atomic():
        ReminderItem.objects.filter(run=fresh, status=ItemStatus.PROPOSED).update(
            status=ItemStatus.SKIPPED, dropped_reason=Reason("not_approved").text[:300]
        )
        closed = ReminderRun.objects.filter(pk=fresh.pk, status=RunStatus.PROPOSED).update(
            status=RunStatus.SENT,
            sent_at=now,
            sent_by=actor if actor is not None and actor.pk else None,
        )
        if closed:
            record_audit(
                actor,
                fresh,
                "reminder_run_sent",
                after={"sent": len(result.sent), "dropped": len(result.dropped)},
            )
    run.refresh_from_db()
    return result


def _send_one(
    item_id: int,
    run: ReminderRun,
    actor: User | None,
    now: datetime,
    category: Any,
    result: SendResult,
) -> None:
    with transaction.atomic():
        item = (
            ReminderItem.objects.select_for_update()
            .select_related("client")
            .filter(pk=item_id)
            .first()
        )
        if item is None or item.status != ItemStatus.APPROVED:
            return  # another worker has dealt with it
        # Lock the invoice too: two runs sending the same invoice take turns, and what
        # the re-check reads below is what was committed before the lock.
        invoice = Invoice.objects.select_for_update().get(pk=item.invoice_id)
        reasons = _changed(item, recheck(item, run, now))
        if not reasons:
            try:
                with transaction.atomic():
                    SentReminder.objects.create(
                        invoice=invoice,
                        client_id=item.client_id,
                        step=item.step,
                        kind=item.kind,
                        channel=item.channel,
                        item=item,
                        sent_at=now,
                    )
            except IntegrityError:
                reasons = [Reason("already_sent")]
        if reasons:
            item.status = ItemStatus.DROPPED
            item.dropped_reason = _text(reasons)
            item.reasons = [*item.reasons, *({**r.as_json(), "at": "send"} for r in reasons)]
            item.save(update_fields=["status", "dropped_reason", "reasons"])
            result.dropped[item.pk] = item.dropped_reason
            return
        _deliver(item, invoice, now, category)
        item.status, item.sent_at = ItemStatus.SENT, now
        item.save(update_fields=["status", "sent_at"])
        record_audit(
            actor,
            invoice,
            "reminder_sent",
            client=item.client,
            after={
                "run": str(run.public_id),
                "step": item.step,
                "kind": item.kind,
                "channel": item.channel,
                "open_balance": str(item.open_balance),
            },
        )
        result.sent.append(item.pk)
        emit_event("reminder.sent", item, key=f"reminder.sent:{item.pk}", now=now)


def _deliver(item: ReminderItem, invoice: Invoice, now: datetime, category: Any) -> None:
    """The mail through the outbox, or the task ticket, in the sending transaction."""
    if item.channel == ReminderChannel.TASK:
        from atalaya.tickets.services import create_system_ticket

        create_system_ticket(
            client=item.client,
            subject=item.subject
            or _("Call the client about invoice %(code)s") % {"code": invoice.code},
            body=item.body,
            category=category,
            data={"invoice": str(invoice.public_id), "reminder_step": item.step},
            now=now,
        )
        return
    from atalaya.core.models import Contact

    recipient = load_recipients([item.client_id]).get(item.client_id)
    contact = None
    if recipient and recipient.contact_id and recipient.address == item.to_address:
        contact = Contact.objects.filter(pk=recipient.contact_id).first()
    queue_mail(
        key=f"reminder:{invoice.public_id}:{item.step}:{item.channel}",
        kind=MAIL_KIND,
        client=item.client,
        to_address=item.to_address,
        subject=item.subject,
        body_text=item.body,
        language=item.language,
        contact=contact,
        now=now,
    )
