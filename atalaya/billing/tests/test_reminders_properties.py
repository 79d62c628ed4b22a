"""Property tests of humane reminders: random sequences of what happens to invoices.

A hypothesis state machine issues invoices (by transfer or direct debit), pays them in
part or in full, schedules, settles and returns debits, issues credit notes, pauses
(globally, per client) and lifts pauses, disputes, imports bank data, lets days pass,
and proposes, approves, skips and sends reminder runs. After every send, each reminder
that went out is checked against the state at that moment, computed here independently
of the decision code (the balance from the rows, pauses and bank age from their tables):

* never for an invoice whose open balance was zero or less;
* never while a global pause, a client pause or a dispute held;
* never on stale bank data unless the run carries a person's override;
* at most one per (invoice, step, channel);
* steps only ever go up by one, at least the policy's days apart and after the due date;
* after a returned debit the next reminder is the friendly notice, never a higher level.

Plus two workers sending the same approved run at once (threads with their own
connections): every reminder exactly once.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from atalaya.billing.models import (
    BankStatement,
    BillingSettings,
    Collection,
    Invoice,
    InvoiceKind,
    ItemStatus,
    PaymentAllocation,
    ReminderItem,
    ReminderLevel,
    ReminderPause,
    ReminderRun,
    SentReminder,
)
from atalaya.billing.services import reminders
from atalaya.billing.tests.factories import issued_invoice, make_billing_contacts
from atalaya.billing.tests.reminders_fixtures import (
    collection_of,
    credit_note,
    debit_invoice,
    fresh_bank_data,
    pay,
    return_debit,
    schedule,
    settle,
)
from atalaya.mail.models import OutboundMessage

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def independent_balance(invoice_id: int) -> Decimal:
    """What is owed, from the rows: total − live allocations + credit notes − debits on
    their way (scheduled or submitted; a settled one is a payment already)."""
    invoice = Invoice.objects.get(pk=invoice_id)
    paid = PaymentAllocation.objects.filter(
        invoice_id=invoice_id, payment__returned_at__isnull=True
    ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    credited = Invoice.objects.filter(
        corrects_id=invoice_id, kind=InvoiceKind.CREDIT_NOTE, status="issued"
    ).aggregate(s=Sum("total"))["s"] or Decimal(0)
    in_flight = Collection.objects.filter(
        invoice_id=invoice_id, status__in=["scheduled", "submitted"]
    ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    return invoice.total - paid + credited - in_flight


def paused(client_id: int, now: datetime) -> bool:
    return any(
        p.starts_at <= now < p.expires_at
        and p.lifted_at is None
        and p.client_id in (None, client_id)
        for p in ReminderPause.objects.all()
    )


def bank_is_stale(now: datetime) -> bool:
    newest = BankStatement.objects.aggregate(m=Max("covers_until"))["m"]
    if newest is None:
        return True
    hours = BillingSettings.load().bank_data_max_age_hours
    return now - datetime.combine(newest + timedelta(days=1), time.min, tzinfo=UTC) > timedelta(
        hours=hours
    )


# Across all examples: reminders sent and items dropped, so the test proves it got there.
SEEN: dict[str, int] = {"sent": 0, "dropped": 0}


class ReminderMachine(RuleBasedStateMachine):
    world: Any = None

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now = START
        self.invoices: list[int] = []
        self.runs: list[int] = []
        self.sends = 0
        make_billing_contacts(self.world)
        fresh_bank_data(START.date())

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _clock(self) -> Any:
        return time_machine.travel(self.now, tick=False)

    def _invoice(self, index: int) -> Invoice:
        return Invoice.objects.get(pk=self.invoices[index % len(self.invoices)])

    # --- what happens to invoices -------------------------------------------------------

    @initialize(days=st.lists(st.integers(3, 60), min_size=2, max_size=3))
    def some_overdue_invoices(self, days: list[int]) -> None:
        """Start with a few overdue transfer invoices, so that reminders are due early."""
        for i, overdue in enumerate(days):
            self.issue(overdue, False, bool(i % 2))

    @precondition(lambda self: len(self.invoices) < 6)
    @rule(
        days_overdue=st.integers(-5, 60),
        by_debit=st.sampled_from([False, False, True]),
        client_b=st.booleans(),
    )
    def issue(self, days_overdue: int, by_debit: bool, client_b: bool) -> None:
        client = self.world.client_b if client_b else self.world.client_a
        due = (self.now - timedelta(days=days_overdue)).date()
        with self._clock():
            make = debit_invoice if by_debit else issued_invoice
            invoice = make(client, issue_date=min(due, self.now.date()), due_date=due)
        self.invoices.append(invoice.pk)

    @precondition(lambda self: self.invoices)
    @rule(index=st.integers(0, 10), full=st.booleans())
    def pay(self, index: int, full: bool) -> None:
        invoice = self._invoice(index)
        owed = independent_balance(invoice.pk)
        if owed <= 0:
            return
        with self._clock():
            pay(invoice, None if full else (owed / 2).quantize(Decimal("0.01")))

    @precondition(lambda self: self.invoices)
    @rule(index=st.integers(0, 10))
    def schedule_debit(self, index: int) -> None:
        invoice = self._invoice(index)
        if invoice.payment_method != "direct_debit":
            return
        # Refused when nothing is open or a debit is already on its way.
        with self._clock(), contextlib.suppress(ValidationError):
            schedule(invoice)

    @precondition(lambda self: self.invoices)
    @rule(index=st.integers(0, 10))
    def settle_debit(self, index: int) -> None:
        invoice = self._invoice(index)
        found = Collection.objects.filter(invoice=invoice, status__in=["scheduled", "submitted"])
        if not found.exists():
            return
        with self._clock():
            settle(collection_of(invoice))

    @precondition(lambda self: self.invoices)
    @rule(index=st.integers(0, 10), code=st.sampled_from(["AM04", "MD06", "MS02"]))
    def return_debit(self, index: int, code: str) -> None:
        invoice = self._invoice(index)
        found = Collection.objects.filter(
            invoice=invoice, status__in=["scheduled", "submitted", "provisional"]
        )
        if not found.exists():
            return
        with self._clock():
            return_debit(collection_of(invoice), code)

    @precondition(lambda self: self.invoices)
    @rule(index=st.integers(0, 10), whole=st.booleans())
    def credit(self, index: int, whole: bool) -> None:
        invoice = self._invoice(index)
        # Refused when it would credit more than is left.
        with self._clock(), contextlib.suppress(ValidationError):
            credit_note(invoice, None if whole else "10.00")

    @precondition(lambda self: self.invoices)
    @rule(index=st.integers(0, 10), on=st.booleans())
    def dispute(self, index: int, on: bool) -> None:
        invoice = self._invoice(index)
        with self._clock():
            if on and not invoice.is_disputed:
                reminders.set_dispute(actor=self.world.billing, invoice=invoice, reason="Hours")
            elif not on and invoice.is_disputed:
                reminders.clear_dispute(actor=self.world.billing, invoice=invoice)

    @rule(days=st.integers(1, 10), scope=st.sampled_from(["global", "a", "b"]))
    def pause(self, days: int, scope: str) -> None:
        client = {"global": None, "a": self.world.client_a, "b": self.world.client_b}[scope]
        with self._clock():
            reminders.pause_reminders(
                actor=self.world.billing,
                client=client,
                reason="Crisis: everyone at home",
                expires_at=self.now + timedelta(days=days),
                now=self.now,
            )

    @rule(which=st.integers(0, 10))
    def lift(self, which: int) -> None:
        live = list(reminders.active_pauses(self.now).order_by("pk"))
        if live:
            with self._clock():
                reminders.lift_pause(
                    actor=self.world.billing, pause=live[which % len(live)], now=self.now
                )

    @rule(days_old=st.integers(0, 6))
    def import_bank_data(self, days_old: int) -> None:
        fresh_bank_data((self.now - timedelta(days=days_old)).date())

    @rule(days=st.integers(1, 20))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)

    # --- runs ---------------------------------------------------------------------------

    @rule(override=st.booleans())
    def propose(self, override: bool) -> None:
        with self._clock():
            run = reminders.propose_run(
                actor=self.world.billing,
                now=self.now,
                override_bank_data="Checked the bank by phone" if override else None,
            )
        self.runs.append(run.pk)
        for code, n in run.summary["excluded_by_reason"].items():
            SEEN[code] = SEEN.get(code, 0) + n
        SEEN["proposed"] = SEEN.get("proposed", 0) + run.summary["proposed"]

    @precondition(lambda self: self.runs)
    @rule(index=st.integers(0, 10), everything=st.booleans(), item=st.integers(0, 10))
    def approve(self, index: int, everything: bool, item: int) -> None:
        run = ReminderRun.objects.get(pk=self.runs[index % len(self.runs)])
        with self._clock():
            try:
                if everything:
                    reminders.approve_all(actor=self.world.billing, run=run, now=self.now)
                else:
                    items = list(run.items.order_by("pk"))
                    if items:
                        reminders.approve_item(
                            actor=self.world.billing, item=items[item % len(items)], now=self.now
                        )
            except ValidationError:
                pass  # changed since the proposal, already approved, or sent

    @precondition(lambda self: self.runs)
    @rule(index=st.integers(0, 10), item=st.integers(0, 10))
    def skip(self, index: int, item: int) -> None:
        run = ReminderRun.objects.get(pk=self.runs[index % len(self.runs)])
        items = list(run.items.order_by("pk"))
        if not items:
            return
        with self._clock(), contextlib.suppress(ValidationError):
            reminders.skip_item(
                actor=self.world.billing, item=items[item % len(items)], now=self.now
            )

    @rule(override=st.booleans(), one_by_one=st.booleans(), import_first=st.booleans())
    def a_whole_round(self, override: bool, one_by_one: bool, import_first: bool) -> None:
        """Propose, approve (all at once or each item) and send, as a person would (often
        just after importing the day's statement)."""
        if import_first:
            fresh_bank_data(self.now.date())
        self.propose(override)
        run = ReminderRun.objects.get(pk=self.runs[-1])
        with self._clock(), contextlib.suppress(ValidationError):
            if one_by_one:
                for item in run.items.order_by("pk"):
                    reminders.approve_item(actor=self.world.billing, item=item, now=self.now)
            else:
                reminders.approve_all(actor=self.world.billing, run=run, now=self.now)
        self._send(run)

    @precondition(lambda self: self.invoices)
    @rule(
        change=st.sampled_from(["pay", "part", "pause", "client_pause", "dispute", "credit"]),
        index=st.integers(0, 10),
    )
    def a_round_changed_before_sending(self, change: str, index: int) -> None:
        """Approved, then something happens before the send: the re-check must see it."""
        fresh_bank_data(self.now.date())
        self.propose(False)
        run = ReminderRun.objects.get(pk=self.runs[-1])
        with self._clock(), contextlib.suppress(ValidationError):
            reminders.approve_all(actor=self.world.billing, run=run, now=self.now)
        item = run.items.filter(status="approved").order_by("pk").first()
        if item is not None:
            index = self.invoices.index(item.invoice_id)
        if change in ("pay", "part"):
            self.pay(index, change == "pay")
        elif change == "pause":
            self.pause(3, "global")
        elif change == "client_pause":
            self.pause(3, "a" if self._invoice(index).client_id == self.world.client_a.pk else "b")
        elif change == "dispute":
            self.dispute(index, True)
        else:
            self.credit(index, False)
        self._send(run)

    @precondition(lambda self: self.runs)
    @rule(index=st.integers(0, 10))
    def send(self, index: int) -> None:
        self._send(ReminderRun.objects.get(pk=self.runs[index % len(self.runs)]))

    def _send(self, run: ReminderRun) -> None:
        # The state at the moment of sending, read independently of the decision code.
        before_max = {
            row["invoice_id"]: (row["h"], row["last"])
            for row in SentReminder.objects.values("invoice_id").annotate(
                h=Max("step"), last=Max("sent_at")
            )
        }
        last_id = SentReminder.objects.aggregate(m=Max("pk"))["m"] or 0
        state = {
            pk: {
                "balance": independent_balance(pk),
                "invoice": Invoice.objects.get(pk=pk),
                "returned_at": Collection.objects.filter(
                    invoice_id=pk, status="returned"
                ).aggregate(m=Max("returned_at"))["m"],
            }
            for pk in self.invoices
        }
        stale = bank_is_stale(self.now)
        levels = {lv.step: lv for lv in ReminderLevel.objects.filter(policy__is_default=True)}
        # Refused when nothing is approved or the run was sent already.
        with self._clock(), contextlib.suppress(ValidationError):
            reminders.send_approved(actor=self.world.billing, run=run, now=self.now)
        self.sends += 1
        SEEN["dropped"] += run.items.filter(status="dropped", dropped_reason__gt="").count()
        for sent in SentReminder.objects.filter(pk__gt=last_id).select_related("item__run"):
            SEEN["sent"] += 1
            facts = state[sent.invoice_id]
            invoice = facts["invoice"]
            assert sent.sent_at == self.now
            assert facts["balance"] > 0, "a reminder for an invoice that owes nothing"
            assert not paused(invoice.client_id, self.now), "a reminder during a pause"
            assert not invoice.is_disputed, "a reminder for a disputed invoice"
            if stale:
                assert sent.item.run.bank_data_override_reason, "stale bank data, no override"
            highest, last = before_max.get(sent.invoice_id, (0, None))
            assert sent.step == highest + 1, "escalation skipped or repeated a step"
            level = levels[sent.step]
            assert (self.now.date() - invoice.due_date).days >= level.days_after_due
            returned_at = facts["returned_at"]
            if returned_at is not None and (last is None or last < returned_at):
                assert sent.step == min(levels), "a returned debit led to a higher level"
            if last is not None and not returned_at:
                assert (self.now.date() - last.date()).days >= level.min_days_since_previous

    # --- always -------------------------------------------------------------------------

    @invariant()
    def one_reminder_per_invoice_step_channel(self) -> None:
        doubles = (
            SentReminder.objects.values("invoice_id", "step", "channel")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
        )
        assert not doubles.exists()
        keys = OutboundMessage.objects.filter(idempotency_key__startswith="reminder:")
        assert keys.count() == SentReminder.objects.filter(channel="email").count()

    @invariant()
    def sent_items_match_the_ledger(self) -> None:
        assert ReminderItem.objects.filter(status=ItemStatus.SENT).count() == (
            SentReminder.objects.count()
        )


@pytest.mark.django_db
def test_reminders_never_chase_what_is_paid_paused_disputed_or_unknown(world: Any) -> None:
    ReminderMachine.world = world
    machine = ReminderMachine.TestCase
    machine.settings = settings(
        max_examples=30,
        stateful_step_count=30,
        deadline=None,
        # The same sequences on every run: CI stays predictable (the checks are the same).
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()
    # The sequences reached the interesting part: reminders went out, others were dropped.
    assert SEEN["sent"] >= 10 and SEEN["dropped"] >= 1, SEEN


# --- two workers at once ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_one_run_send_each_reminder_once(world: Any, tmp_path: Any) -> None:
    """Both workers call send_approved on the same approved run at the same moment (on
    PostgreSQL with real concurrent transactions; on SQLite on a file database, whose
    IMMEDIATE transactions make them take turns): one reminder per item, no duplicates."""
    from atalaya.monitoring.tests.agent_helpers import threads_use_a_file_database

    make_billing_contacts(world)
    now = timezone.now().replace(microsecond=0)
    fresh_bank_data(now.date())
    invoices = [
        issued_invoice(
            world.client_a if i % 2 else world.client_b,
            issue_date=(now - timedelta(days=40)).date(),
            due_date=(now - timedelta(days=20 + i)).date(),
        )
        for i in range(12)
    ]
    run = reminders.propose_run(actor=world.billing, now=now)
    assert run.items.count() == len(invoices)
    reminders.approve_all(actor=world.billing, run=run, now=now)
    start = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            results.append(
                reminders.send_approved(
                    actor=world.billing, run=ReminderRun.objects.get(pk=run.pk), now=now
                )
            )
        except ValidationError as exc:  # the run was closed by the other worker first
            results.append(exc)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    counts: list[int] = []

    def read_back() -> None:
        counts.append(SentReminder.objects.count())
        counts.append(OutboundMessage.objects.filter(kind="billing").count())
        counts.append(ReminderItem.objects.filter(run_id=run.pk, status="sent").count())
        counts.append(ReminderItem.objects.filter(run_id=run.pk, status="dropped").count())
        connections.close_all()

    with threads_use_a_file_database(tmp_path):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        reader = threading.Thread(target=read_back)
        reader.start()
        reader.join(timeout=60)
    assert not errors, repr(errors)
    sent = [r for r in results if isinstance(r, reminders.SendResult)]
    assert sum(len(r.sent) for r in sent) == len(invoices)
    assert counts == [len(invoices), len(invoices), len(invoices), 0]
