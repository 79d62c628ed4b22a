"""SEPA direct debits: schedule (with the client's pre-notification), batch, and follow each
collection through its life.

scheduled → submitted → provisional (settled, still refundable) → final, or returned
with the bank's reason code (from submitted or provisional; from final only for an
unauthorised debit, MD01, which the debtor may claim back for 13 months), or cancelled
while still only scheduled. Every move is a compare-and-set on the status the caller
read (``filter(pk=…, status=old).update(status=new)``), so two workers can never both
move one collection, and writes a ``CollectionEvent``. Nothing but a real return moves
a settled debit back: a bank file that no longer lists it, or a timeout, changes
nothing here.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from atalaya.billing import balance, sepa
from atalaya.billing.models import (
    BillingSettings,
    Collection,
    CollectionBatch,
    CollectionEvent,
    CollectionStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Mandate,
    MandateSequence,
    Payment,
    PaymentMethod,
)
from atalaya.billing.models.common import require_billing_writer
from atalaya.billing.services import payments as payment_services
from atalaya.billing.services.recipients import billing_recipients
from atalaya.core.models import AuditEvent, User
from atalaya.core.services import record_audit
from atalaya.mail.outbox import queue_mail

S = CollectionStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.SCHEDULED: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.PROVISIONAL, S.RETURNED}),
    S.PROVISIONAL: frozenset({S.FINAL, S.RETURNED}),
    S.FINAL: frozenset({S.RETURNED}),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
}
# SEPA Core: the debtor may ask for an authorised debit back for 8 weeks after the
# debit date, for an unauthorised one (no valid mandate, MD01) for 13 months.
REFUND_WINDOW = timedelta(weeks=8)
UNAUTHORISED_WINDOW = timedelta(days=396)
BILLING_CATEGORY = {"slug": "billing", "name": "Billing", "name_es": "Facturación"}
MAIL_KIND = "billing"


class IllegalTransition(ValidationError):
    """A collection cannot move from where it is to where it was asked to go."""


class NothingToBatch(ValidationError):
    """No scheduled collection matches the batch asked for."""


# ---------------------------------------------------------------------------------------
# Moves
# ---------------------------------------------------------------------------------------


def _check_move(collection: Collection, to: str) -> None:
    if to not in TRANSITIONS.get(collection.status, frozenset()):
        raise IllegalTransition(
            _("A collection that is %(from)s cannot become %(to)s.")
            % {"from": S(collection.status).label.lower(), "to": S(to).label.lower()}
        )


def _move(
    collection: Collection,
    to: str,
    *,
    actor: User | None,
    reason: str = "",
    bank_entry: Any = None,
    **fields: Any,
) -> None:
    """Compare-and-set the status and write the event; a clear error if it lost the race."""
    _check_move(collection, to)
    old = collection.status
    if not Collection.objects.filter(pk=collection.pk, status=old).update(status=to, **fields):
        current = Collection.objects.filter(pk=collection.pk).values_list("status", flat=True)
        raise IllegalTransition(
            _("The collection changed meanwhile (it is now %(status)s); reload and try again.")
            % {"status": S(current.first() or old).label.lower()}
        )
    collection.status = to
    for name, value in fields.items():
        setattr(collection, name, value)
    CollectionEvent.objects.create(
        collection=collection,
        from_status=old,
        to_status=to,
        reason=reason[:300],
        bank_entry=bank_entry,
        actor=actor if actor is not None and actor.pk else None,
    )
    record_audit(
        actor,
        collection,
        f"collection.{to}",
        client=collection.client,
        before={"status": old},
        after={"status": to, "reason": reason[:300]},
    )


# ---------------------------------------------------------------------------------------
# Mail and tasks
# ---------------------------------------------------------------------------------------


def _money(amount: Decimal, currency: str) -> str:
    return f"{formats.number_format(amount, 2, use_l10n=True, force_grouping=True)} {currency}"


def _mail_client(collection: Collection, *, key: str, subject: Any, body: Any) -> int:
    """Queue one mail per billing recipient; ``subject``/``body`` are called inside the
    recipient's language so every word and date is theirs."""
    sent = 0
    for recipient in billing_recipients(collection.client):
        with translation.override(recipient.language):
            queued = queue_mail(
                key=f"{key}:{recipient.address}",
                kind=MAIL_KIND,
                client=collection.client,
                to_address=recipient.address,
                subject=subject(),
                body_text=body(),
                language=recipient.language,
                contact=recipient.contact,
            )
        sent += queued is not None
    return sent


def _details(collection: Collection, settings: BillingSettings) -> str:
    return "\n".join(
        [
            _("Invoice: %(code)s") % {"code": collection.invoice.code},
            _("Amount: %(amount)s") % {"amount": _money(collection.amount, settings.currency)},
            _("Debit date: %(date)s")
            % {"date": formats.date_format(collection.due_on, "DATE_FORMAT")},
            _("Mandate reference: %(ref)s") % {"ref": collection.mandate.reference},
            _("Creditor identifier: %(id)s") % {"id": settings.creditor_id or "-"},
            _("Account: %(iban)s")
            % {"iban": "…" + collection.mandate.iban[-4:] if collection.mandate.iban else "-"},
        ]
    )


def _prenotify(collection: Collection, settings: BillingSettings) -> int:
    seller = settings.legal_name or _("your IT provider")

    def subject() -> str:
        return _("Direct debit of invoice %(code)s on %(date)s") % {
            "code": collection.invoice.code,
            "date": formats.date_format(collection.due_on, "SHORT_DATE_FORMAT"),
        }

    def body() -> str:
        return "\n\n".join(
            [
                _("Hello,"),
                _(
                    "%(seller)s will collect the following amount from your account by SEPA "
                    "direct debit. You do not need to do anything."
                )
                % {"seller": seller},
                _details(collection, settings),
                _("If anything is wrong, just reply to this mail before the debit date."),
            ]
        )

    return _mail_client(
        collection,
        key=f"billing:prenotification:{collection.public_id}",
        subject=subject,
        body=body,
    )


def _billing_category() -> Any:
    from atalaya.tickets.models import Category

    category, _created = Category.objects.get_or_create(
        slug=BILLING_CATEGORY["slug"],
        defaults={"name": BILLING_CATEGORY["name"], "name_es": BILLING_CATEGORY["name_es"]},
    )
    return category


def _notify_return(collection: Collection, settings: BillingSettings) -> None:
    """A friendly notice to the client and a task for a person: never a dunning step."""
    from atalaya.tickets.services import create_system_ticket

    seller = settings.legal_name or _("your IT provider")

    def subject() -> str:
        return _("Your direct debit for invoice %(code)s came back") % {
            "code": collection.invoice.code
        }

    def body() -> str:
        return "\n\n".join(
            [
                _("Hello,"),
                _(
                    "The direct debit for the invoice below was returned by your bank "
                    "(%(reason)s). This happens, and there is no charge from us for it."
                )
                % {"reason": sepa.describe_reason(collection.return_reason)},
                _details(collection, settings),
                _(
                    "%(seller)s will contact you to agree how to settle it; you may also "
                    "reply to this mail or pay by bank transfer quoting the invoice number."
                )
                % {"seller": seller},
            ]
        )

    _mail_client(
        collection, key=f"billing:returned:{collection.public_id}", subject=subject, body=body
    )
    with translation.override("en"):
        create_system_ticket(
            client=collection.client,
            subject=_("Returned direct debit: %(code)s (%(reason)s)")
            % {"code": collection.invoice.code, "reason": collection.return_reason},
            body="\n".join(
                [
                    sepa.describe_reason(collection.return_reason),
                    _details(collection, settings),
                    _(
                        "The client has had a friendly notice. Please call them and agree how "
                        "the invoice is settled; no reminder level was raised."
                    ),
                ]
            ),
            category=_billing_category(),
            data={"collection": str(collection.public_id), "reason": collection.return_reason},
        )


# ---------------------------------------------------------------------------------------
# Scheduling and batches
# ---------------------------------------------------------------------------------------


def _active_mandate(invoice: Invoice) -> Mandate:
    if invoice.mandate_id is not None:
        mandate = Mandate.objects.filter(pk=invoice.mandate_id).first()
        if mandate is None or mandate.client_id != invoice.client_id:
            raise ValidationError(_("The invoice's mandate belongs to another client."))
        if not mandate.is_active:
            raise ValidationError(
                _("The mandate %(ref)s was revoked.") % {"ref": mandate.reference}
            )
        return mandate
    found = (
        Mandate.objects.filter(client_id=invoice.client_id, revoked_at__isnull=True)
        .order_by("-signed_on", "-id")
        .first()
    )
    if found is None:
        raise ValidationError(_("The client has no active direct debit mandate."))
    return found


def new_end_to_end_id() -> str:
    # 32 characters of [A-Z0-9]: unique, within the 35 allowed, and unambiguous when a
    # bank statement quotes it back.
    return "ATA" + uuid.uuid4().hex[:29].upper()


@transaction.atomic
def schedule_collection(
    *, actor: User | None, invoice: Invoice, due_on: date | None = None
) -> Collection:
    """Schedule the direct debit of an issued invoice's open balance and mail the client
    the pre-notification (in this transaction), at least ``prenotification_days`` ahead.

    Without ``due_on`` the debit falls on the invoice's due date, or on the first day
    the pre-notification period allows if that is later.
    """
    require_billing_writer(actor)
    settings = BillingSettings.load()
    locked = Invoice.objects.select_for_update().filter(pk=invoice.pk).first()
    if (
        locked is None
        or locked.status != InvoiceStatus.ISSUED
        or locked.kind != InvoiceKind.INVOICE
    ):
        raise ValidationError(_("Only an issued invoice can be collected."))
    if locked.payment_method != PaymentMethod.DIRECT_DEBIT:
        raise ValidationError(_("%(code)s is not paid by direct debit.") % {"code": locked.code})
    if locked.currency != (settings.currency or "EUR"):
        raise ValidationError(
            _("SEPA direct debits are in %(currency)s.") % {"currency": settings.currency}
        )
    mandate = _active_mandate(locked)
    amount = balance.open_balance(locked)
    if amount <= 0:
        raise ValidationError(
            _("%(code)s has nothing open to collect (paid, credited or already being collected).")
            % {"code": locked.code}
        )
    today = timezone.localdate()
    earliest = today + timedelta(days=settings.prenotification_days)
    if due_on is None:
        due_on = max(locked.due_date or earliest, earliest)
    elif due_on < earliest:
        raise ValidationError(
            {
                "due_on": _(
                    "The debit date must be at least %(days)d days after the pre-notification "
                    "(on or after %(date)s)."
                )
                % {"days": settings.prenotification_days, "date": earliest.isoformat()}
            }
        )
    now = timezone.now()
    collection = Collection.objects.create(
        client_id=locked.client_id,
        invoice=locked,
        mandate=mandate,
        amount=amount,
        end_to_end_id=new_end_to_end_id(),
        due_on=due_on,
        sequence=mandate.sequence,
        status=S.SCHEDULED,
        prenotified_at=now,
        created_at=now,
    )
    CollectionEvent.objects.create(
        collection=collection,
        from_status="",
        to_status=S.SCHEDULED,
        reason=_("Pre-notification mailed."),
        actor=actor if actor is not None and actor.pk else None,
    )
    _prenotify(collection, settings)
    record_audit(
        actor,
        collection,
        "collection.scheduled",
        client=collection.client,
        after={
            "invoice": locked.code,
            "amount": str(amount),
            "due_on": due_on.isoformat(),
            "mandate": mandate.reference,
            "sequence": collection.sequence,
        },
    )
    return collection


def _message_id(due_on: date, sequence: str) -> str:
    return f"ATA-{due_on:%Y%m%d}-{sequence}-{uuid.uuid4().hex[:16].upper()}"


def _creditor(settings: BillingSettings) -> None:
    missing = [
        label
        for label, value in (
            (_("legal name"), settings.legal_name),
            (_("IBAN"), settings.iban),
            (_("creditor identifier"), settings.creditor_id),
        )
        if not value
    ]
    if missing:
        raise ValidationError(
            _("The billing settings lack the %(fields)s needed for a direct debit file.")
            % {"fields": ", ".join(missing)}
        )


def _render_batch(batch: CollectionBatch, settings: BillingSettings) -> str:
    members = list(
        batch.collections.filter(status__in=(S.SCHEDULED, S.SUBMITTED))
        .select_related("mandate", "invoice")
        .order_by("id")
    )
    if not members:
        return ""
    return sepa.build_pain008(
        message_id=batch.message_id,
        creditor_name=settings.legal_name,
        creditor_iban=settings.iban,
        creditor_bic=settings.bic,
        creditor_id=settings.creditor_id,
        currency=settings.currency or "EUR",
        collections=members,
    ).decode("utf-8")


@transaction.atomic
def create_batch(*, actor: User | None, due_on: date, sequence: str) -> CollectionBatch:
    """Gather the scheduled, not yet batched collections of one due date and sequence type
    into a batch with its pain.008 file (one message id per batch)."""
    require_billing_writer(actor)
    if sequence not in MandateSequence.values:
        raise ValidationError({"sequence": _("Unknown sequence type.")})
    settings = BillingSettings.load()
    _creditor(settings)
    candidates = list(
        Collection.objects.select_for_update()
        .filter(status=S.SCHEDULED, batch__isnull=True, due_on=due_on)
        .select_related("mandate")
        .order_by("id")
    )
    # A mandate whose first debit was submitted meanwhile is recurring now.
    for collection in candidates:
        wanted = (
            MandateSequence.RECURRING
            if collection.mandate.sequence == MandateSequence.RECURRING
            else collection.sequence
        )
        if wanted != collection.sequence:
            Collection.objects.filter(pk=collection.pk).update(sequence=wanted)
            collection.sequence = wanted
    chosen = [c.pk for c in candidates if c.sequence == sequence]
    if not chosen:
        raise NothingToBatch(
            _("No %(sequence)s collection is scheduled for %(date)s.")
            % {"sequence": sequence, "date": due_on.isoformat()}
        )
    batch = CollectionBatch.objects.create(
        message_id=_message_id(due_on, sequence),
        due_on=due_on,
        sequence=sequence,
        created_by=actor if actor is not None and actor.pk else None,
    )
    Collection.objects.filter(pk__in=chosen, status=S.SCHEDULED, batch__isnull=True).update(
        batch=batch
    )
    batch.xml = _render_batch(batch, settings)
    batch.exported_at = timezone.now()
    batch.save(update_fields=["xml", "exported_at"])
    record_audit(
        actor,
        batch,
        "collection_batch.created",
        after={"due_on": due_on.isoformat(), "sequence": sequence, "collections": len(chosen)},
    )
    return batch


def create_batches(*, actor: User | None, due_on: date) -> list[CollectionBatch]:
    """One batch per sequence type that has scheduled collections on ``due_on``."""
    _creditor(BillingSettings.load())
    made = []
    for sequence in (MandateSequence.FIRST, MandateSequence.RECURRING, MandateSequence.ONE_OFF):
        try:
            made.append(create_batch(actor=actor, due_on=due_on, sequence=sequence))
        except NothingToBatch:
            continue
    if not made:
        raise NothingToBatch(
            _("No collection is scheduled for %(date)s.") % {"date": due_on.isoformat()}
        )
    return made


@transaction.atomic
def mark_submitted(*, actor: User | None, collection: Collection) -> Collection:
    """The collection's file went to the bank: its mandate is recurring from now on."""
    require_billing_writer(actor)
    if collection.batch_id is None:
        raise IllegalTransition(_("Put the collection in a batch before submitting it."))
    now = timezone.now()
    _move(collection, S.SUBMITTED, actor=actor, submitted_at=now)
    Mandate.objects.filter(pk=collection.mandate_id, sequence=MandateSequence.FIRST).update(
        sequence=MandateSequence.RECURRING
    )
    return collection


@transaction.atomic
def submit_batch(*, actor: User | None, batch: CollectionBatch) -> int:
    """Mark every still scheduled collection of a batch submitted; returns how many."""
    require_billing_writer(actor)
    if not CollectionBatch.objects.filter(pk=batch.pk, submitted_at__isnull=True).update(
        submitted_at=timezone.now()
    ):
        raise IllegalTransition(_("This batch was submitted already."))
    moved = 0
    for collection in batch.collections.filter(status=S.SCHEDULED).select_related("client"):
        mark_submitted(actor=actor, collection=collection)
        moved += 1
    record_audit(actor, batch, "collection_batch.submitted", after={"collections": moved})
    return moved


@transaction.atomic
def cancel_collection(*, actor: User | None, collection: Collection, reason: str) -> Collection:
    """Withdraw a collection that has not gone to the bank; its invoice is owed again."""
    require_billing_writer(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": _("Say why the collection is cancelled.")})
    # The batch as stored: the caller's copy may predate the batch's creation.
    batch = CollectionBatch.objects.filter(collections__pk=collection.pk).first()
    if batch is not None and batch.submitted_at is not None:
        raise IllegalTransition(_("The batch was submitted already; wait for the return."))
    _move(collection, S.CANCELLED, actor=actor, reason=reason)
    if batch is not None:
        # The exported file must not debit it any more.
        batch.xml = _render_batch(batch, BillingSettings.load())
        batch.save(update_fields=["xml"])
    return collection


@transaction.atomic
def mark_settled(
    *,
    actor: User | None,
    collection: Collection,
    settled_on: date | None = None,
    bank_entry: Any = None,
) -> Payment:
    """The bank credited the debit: provisional, and a payment allocated to the invoice
    (still refundable for 8 weeks; ``mark_final`` closes that)."""
    require_billing_writer(actor)
    settled_on = settled_on or timezone.localdate()
    _move(
        collection,
        S.PROVISIONAL,
        actor=actor,
        bank_entry=bank_entry,
        reason=_("Settled by the bank."),
        settled_at=timezone.now(),
    )
    invoice = Invoice.objects.get(pk=collection.invoice_id)
    return payment_services.record_payment(
        actor=actor,
        client=collection.client,
        method=PaymentMethod.DIRECT_DEBIT,
        amount=collection.amount,
        received_on=min(settled_on, timezone.localdate()),
        reference=collection.end_to_end_id,
        allocations=[(invoice, None)],
        bank_entry=bank_entry,
        collection=collection,
    )


def settle_many(
    *,
    actor: User | None,
    items: list[tuple[Collection, int | None, date]],
    balances: dict[int, Decimal],
) -> set[int]:
    """Settle many submitted collections at once (a statement's batch booking): one
    compare-and-set UPDATE, then events, payments and allocations in bulk. Only the
    collections the UPDATE really moved get a payment. Runs in the caller's transaction;
    ``balances`` are the open balances of their invoices *as if* they were settled.
    Returns the ids of the collections it moved.
    """
    if not items:
        return set()
    now = timezone.now()
    ids = [c.pk for c, _e, _d in items]
    moved: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        locked = set(
            Collection.objects.select_for_update()
            .filter(pk__in=chunk, status=S.SUBMITTED)
            .values_list("pk", flat=True)
        )
        if locked:
            Collection.objects.filter(pk__in=locked, status=S.SUBMITTED).update(
                status=S.PROVISIONAL, settled_at=now
            )
        moved |= locked
    actor_id = actor.pk if actor is not None and actor.pk else None
    done = [(c, e, d) for c, e, d in items if c.pk in moved]
    reason = _("Settled by the bank.")
    payment_services.insert_rows(
        CollectionEvent,
        [
            {
                "collection_id": c.pk,
                "at": now,
                "from_status": S.SUBMITTED,
                "to_status": S.PROVISIONAL,
                "reason": reason,
                "bank_entry_id": e,
                "actor_id": actor_id,
            }
            for c, e, _d in done
        ],
    )
    payment_services.insert_rows(
        AuditEvent,
        [
            {
                "at": now,
                "actor_id": actor_id,
                "client_id": c.client_id,
                "object_type": "collection",
                "object_id": str(c.public_id),
                "action": "collection.provisional",
                "before": {"status": S.SUBMITTED},
                "after": {"status": S.PROVISIONAL, "bank_entry": e},
            }
            for c, e, _d in done
        ],
    )
    payment_services.record_payments_bulk(
        actor=actor,
        specs=[
            payment_services.PaymentSpec(
                client_id=c.client_id,
                amount=c.amount,
                received_on=min(d, timezone.localdate()),
                reference=c.end_to_end_id,
                bank_entry_id=e,
                invoice_ids=(c.invoice_id,),
                method=PaymentMethod.DIRECT_DEBIT,
                collection_id=c.pk,
            )
            for c, e, d in done
        ],
        balances=balances,
    )
    for c, _e, _d in done:
        c.status = S.PROVISIONAL
    return moved


@transaction.atomic
def mark_final(
    *, actor: User | None, collection: Collection, today: date | None = None
) -> Collection:
    """The refund window (8 weeks after the debit date) is over: the money is final."""
    require_billing_writer(actor)
    today = today or timezone.localdate()
    if today < collection.due_on + REFUND_WINDOW:
        raise IllegalTransition(
            _("The debtor may still ask for a refund until %(date)s.")
            % {"date": (collection.due_on + REFUND_WINDOW).isoformat()}
        )
    _move(collection, S.FINAL, actor=actor, final_at=timezone.now())
    return collection


def finalize_due(*, today: date | None = None) -> int:
    """The periodic check: every provisional collection past its refund window becomes
    final. Each is moved by compare-and-set, so parallel runs do not clash."""
    today = today or timezone.localdate()
    moved = 0
    for collection in Collection.objects.filter(
        status=S.PROVISIONAL, due_on__lte=today - REFUND_WINDOW
    ).select_related("client"):
        try:
            mark_final(actor=None, collection=collection, today=today)
        except IllegalTransition:
            continue  # another worker got there first
        moved += 1
    return moved


@transaction.atomic
def mark_returned(
    *,
    actor: User | None,
    collection: Collection,
    reason_code: str,
    bank_entry: Any = None,
    today: date | None = None,
) -> Collection:
    """The bank returned the debit with a reason code: the invoice is owed again.

    The payment the settlement created stops counting (``returned_at``); the client gets
    a friendly notice and a person gets a ticket to call them. No reminder level moves.
    """
    require_billing_writer(actor)
    code = sepa.clean_reason_code(reason_code)
    today = today or timezone.localdate()
    if collection.status == S.FINAL and (
        code != "MD01" or today > collection.due_on + UNAUTHORISED_WINDOW
    ):
        raise IllegalTransition(
            _(
                "The refund window of this debit is over; only an unauthorised debit "
                "(MD01) can come back within 13 months."
            )
        )
    now = timezone.now()
    _move(
        collection,
        S.RETURNED,
        actor=actor,
        bank_entry=bank_entry,
        reason=sepa.describe_reason(code),
        return_reason=code,
        returned_at=now,
    )
    Payment.objects.filter(collection=collection, returned_at__isnull=True).update(
        returned_at=now, note=sepa.describe_reason(code)[:300]
    )
    collection = Collection.objects.select_related("client", "invoice", "mandate").get(
        pk=collection.pk
    )
    _notify_return(collection, BillingSettings.load())
    return collection
