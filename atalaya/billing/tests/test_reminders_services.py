"""Humane reminders: the decision, a run's life (propose, approve, send) and its refusals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from atalaya.billing.models import (
    ItemStatus,
    ReminderItem,
    ReminderLevel,
    ReminderPause,
    ReminderRun,
    RunStatus,
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
    submit,
)
from atalaya.core.models import AuditEvent
from atalaya.mail.models import OutboundMessage
from atalaya.tickets.models import Ticket


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def setup(world, now):
    make_billing_contacts(world)
    fresh_bank_data(now.date())
    return world


def overdue(world, now, days=20, **fields):
    return issued_invoice(
        world.client_a,
        issue_date=(now - timedelta(days=days + 30)).date(),
        due_date=(now - timedelta(days=days)).date(),
        **fields,
    )


def codes(reasons):
    return [r.code for r in reasons]


def send_all(actor, now):
    fresh_bank_data(now.date())
    run = reminders.propose_run(actor=actor, now=now)
    if run.items.exists():
        reminders.approve_all(actor=actor, run=run, now=now)
        reminders.send_approved(actor=actor, run=run, now=now)
    return run


# --- the decision -------------------------------------------------------------------------


def test_an_overdue_invoice_gets_the_friendly_notice_first_however_late(setup, now):
    invoice = overdue(setup, now, days=60)
    reasons = reminders.explain(invoice, now)
    assert codes(reasons) == ["proposed"]
    assert reasons[0].params["step"] == 1 and reasons[0].params["kind"] == "friendly"
    assert "60 days overdue" in reasons[0].text


def test_not_yet_due_and_too_early(setup, now):
    soon = overdue(setup, now, days=-5)
    assert "not_due" in codes(reminders.explain(soon, now))
    early = overdue(setup, now, days=2)
    assert "too_early" in codes(reminders.explain(early, now))
    assert "proposed" in codes(reminders.explain(early, now + timedelta(days=1)))


def test_paid_credited_or_being_debited_is_never_chased(setup, now):
    paid = overdue(setup, now)
    pay(paid)
    assert codes(reminders.explain(paid, now)) == ["settled"]

    credited = overdue(setup, now)
    credit_note(credited)
    assert "settled" in codes(reminders.explain(credited, now))

    debited = debit_invoice(
        setup.client_a,
        issue_date=(now - timedelta(days=50)).date(),
        due_date=(now - timedelta(days=20)).date(),
    )
    collection = collection_of(debited)  # issuing scheduled it
    assert "settled" in codes(reminders.explain(debited, now))
    submit(collection)
    assert "settled" in codes(reminders.explain(debited, now))
    settle(collection)  # provisional: a payment now
    assert "settled" in codes(reminders.explain(debited, now))


def test_a_partly_paid_invoice_asks_only_for_the_rest(setup, now):
    invoice = overdue(setup, now)
    pay(invoice, "40.75")
    reasons = reminders.explain(invoice, now)
    assert codes(reasons) == ["partly_covered", "proposed"]
    assert reasons[1].params["balance"] == "50.00"
    run = reminders.propose_run(actor=setup.billing, now=now)
    item = run.items.get()
    assert item.open_balance == Decimal("50.00")
    assert "50.00 EUR" in item.body or "50,00 EUR" in item.body


def test_pauses_and_disputes_hold_reminders(setup, now):
    invoice = overdue(setup, now)
    pause = reminders.pause_reminders(
        actor=setup.billing,
        reason="Lockdown: everyone works from home",
        expires_at=now + timedelta(days=30),
        now=now,
    )
    assert "global_pause" in codes(reminders.explain(invoice, now))
    reminders.lift_pause(actor=setup.billing, pause=pause, now=now)
    assert codes(reminders.explain(invoice, now)) == ["proposed"]

    reminders.pause_reminders(
        actor=setup.billing,
        client=setup.client_a,
        reason="Flood at their office",
        expires_at=now + timedelta(days=10),
        now=now,
    )
    assert "client_pause" in codes(reminders.explain(invoice, now))
    # Expired on its own: reminders resume.
    assert "client_pause" not in codes(reminders.explain(invoice, now + timedelta(days=11)))

    other = issued_invoice(setup.client_b, due_date=(now - timedelta(days=20)).date())
    reminders.set_dispute(actor=setup.billing, invoice=other, reason="Hours not agreed")
    reasons = reminders.explain(other, now)
    assert "disputed" in codes(reasons)
    assert "Hours not agreed" in next(r.text for r in reasons if r.code == "disputed")
    reminders.clear_dispute(actor=setup.billing, invoice=other)
    assert "disputed" not in codes(reminders.explain(other, now))
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "reminders_paused",
        "reminders_pause_lifted",
        "dispute_set",
        "dispute_cleared",
    } <= actions


def test_stale_bank_data_stops_reminders_unless_someone_overrides(world, now):
    make_billing_contacts(world)
    invoice = overdue(world, now)
    assert "no_bank_data" in codes(reminders.explain(invoice, now))
    fresh_bank_data((now - timedelta(days=5)).date())
    assert "bank_stale" in codes(reminders.explain(invoice, now))
    run = reminders.propose_run(actor=world.billing, now=now)
    assert run.items.count() == 0
    assert run.summary["excluded_by_reason"] == {"bank_stale": 1}
    with pytest.raises(ValidationError) as exc:
        reminders.propose_run(actor=world.billing, now=now, override_bank_data="   ")
    assert "override_reason" in exc.value.message_dict
    assert ReminderRun.objects.count() == 1
    run = reminders.propose_run(
        actor=world.billing, now=now, override_bank_data="Bank portal down; checked by phone"
    )
    assert run.bank_data_override_by == world.billing
    assert run.bank_data_override_reason == "Bank portal down; checked by phone"
    item = run.items.get()
    assert "bank_override" in [r["code"] for r in item.reasons]
    reminders.approve_all(actor=world.billing, run=run, now=now)
    result = reminders.send_approved(actor=world.billing, run=run, now=now)
    assert len(result.sent) == 1


def test_escalation_goes_one_step_at_a_time(setup, now):
    invoice = overdue(setup, now, days=100)
    send_all(setup.billing, now)
    assert list(SentReminder.objects.values_list("step", flat=True)) == [1]
    # The next step waits 7 days after the previous one, however late the invoice is.
    reasons = reminders.explain(invoice, now + timedelta(days=3))
    assert "too_soon" in codes(reasons)
    send_all(setup.billing, now + timedelta(days=3))
    assert SentReminder.objects.count() == 1
    for step, day in ((2, 7), (3, 14), (4, 21)):
        send_all(setup.billing, now + timedelta(days=day))
        assert max(SentReminder.objects.values_list("step", flat=True)) == step
    assert "all_sent" in codes(reminders.explain(invoice, now + timedelta(days=40)))
    # The call step is a task for a person, not a mail.
    ticket = Ticket.objects.get(category__slug="billing")
    assert invoice.code in ticket.subject
    assert OutboundMessage.objects.filter(kind="billing").count() == 3


def test_a_clients_own_policy_overrides_the_default(setup, now):
    from atalaya.billing.models import BillingProfile, ReminderPolicy

    gentle = ReminderPolicy.objects.create(name="Gentle")
    ReminderLevel.objects.create(policy=gentle, step=1, kind="friendly", days_after_due=30)
    BillingProfile.objects.create(client=setup.client_a, reminder_policy=gentle)
    invoice = overdue(setup, now, days=20)
    assert "too_early" in codes(reminders.explain(invoice, now))
    level = ReminderLevel.objects.get(policy=gentle)
    reminders.update_level(
        actor=setup.billing, level=level, days_after_due=10, min_days_since_previous=7
    )
    assert codes(reminders.explain(invoice, now)) == ["proposed"]
    default = reminders.default_policy()
    first = default.levels.get(step=1)
    with pytest.raises(ValidationError):
        reminders.update_level(
            actor=setup.billing, level=first, days_after_due=20, min_days_since_previous=7
        )


def test_a_returned_debit_brings_the_friendly_notice_never_a_higher_level(setup, now):
    import time_machine

    with time_machine.travel(now - timedelta(days=60), tick=False):
        invoice = debit_invoice(
            setup.client_a,
            issue_date=(now - timedelta(days=60)).date(),
            due_date=(now - timedelta(days=40)).date(),
        )
    with time_machine.travel(now - timedelta(days=10), tick=False):
        settle(collection_of(invoice))
        return_debit(collection_of(invoice))
    reasons = reminders.explain(invoice, now)
    assert codes(reasons)[:1] == ["returned_debit"] and "proposed" in codes(reasons)
    assert next(r for r in reasons if r.code == "proposed").params["step"] == 1
    # The return's own notice went out then: the friendly reminder waits a week after it.
    assert "too_soon_after_return" in codes(reminders.explain(invoice, now - timedelta(days=8)))
    # The person's task exists (collections' mark_returned opened it).
    assert Ticket.objects.filter(category__slug="billing").count() == 1
    run = reminders.propose_run(actor=setup.billing, now=now)
    item = run.items.get()
    # In the billing contact's language (Spanish here): the return's own wording.
    assert item.step == 1 and item.language == "es"
    assert "devuelto por su banco" in item.body or "came back from your bank" in item.body


def test_a_second_return_after_the_friendly_notice_holds_for_a_person(setup, now):
    import time_machine

    with time_machine.travel(now - timedelta(days=60), tick=False):
        invoice = debit_invoice(
            setup.client_a,
            issue_date=(now - timedelta(days=60)).date(),
            due_date=(now - timedelta(days=40)).date(),
        )
    with time_machine.travel(now - timedelta(days=40), tick=False):
        return_debit(collection_of(invoice))
    with time_machine.travel(now - timedelta(days=30), tick=False):
        send_all(setup.billing, now - timedelta(days=30))
        assert list(SentReminder.objects.values_list("step", flat=True)) == [1]
        schedule(invoice)
    with time_machine.travel(now - timedelta(days=5), tick=False):
        return_debit(collection_of(invoice))
    fresh_bank_data(now.date())
    reasons = reminders.explain(invoice, now)
    assert "returned_debit_hold" in codes(reasons)
    assert reminders.propose_run(actor=setup.billing, now=now).items.count() == 0


# --- a run's life ---------------------------------------------------------------------------


def test_propose_approve_send_queues_one_mail_per_reminder(setup, now):
    invoice = overdue(setup, now)
    pay(overdue(setup, now))  # paid: excluded
    run = reminders.propose_run(actor=setup.billing, now=now)
    assert run.summary["considered"] == 2
    assert run.summary["proposed"] == 1
    assert run.summary["excluded_by_reason"] == {"settled": 1}
    item = run.items.get()
    assert (item.step, item.kind, item.channel) == (1, "friendly", "email")
    assert invoice.code in item.subject and invoice.code in item.body
    assert item.to_address == "ana@alfa.example"
    assert not OutboundMessage.objects.exists()  # a proposal sends nothing

    reminders.approve_item(actor=setup.billing, item=item, now=now)
    with pytest.raises(ValidationError, match="already approved"):
        reminders.approve_item(actor=setup.billing, item=item, now=now)
    result = reminders.send_approved(actor=setup.billing, run=run, now=now)
    assert result.sent == [item.pk] and not result.dropped
    mail = OutboundMessage.objects.get()
    assert mail.idempotency_key == f"reminder:{invoice.public_id}:1:email"
    assert mail.to_address == "ana@alfa.example" and mail.subject == item.subject
    run.refresh_from_db()
    assert run.status == RunStatus.SENT and run.sent_by == setup.billing
    with pytest.raises(ValidationError, match="sent already"):
        reminders.send_approved(actor=setup.billing, run=run, now=now)
    assert OutboundMessage.objects.count() == 1
    assert AuditEvent.objects.filter(action="reminder_sent").count() == 1


@pytest.mark.parametrize(
    "change", ["payment", "debit", "pause", "client_pause", "dispute", "credit"]
)
def test_anything_changed_after_approval_drops_the_item(setup, now, change):
    if change == "debit":
        import time_machine

        with time_machine.travel(now - timedelta(days=30), tick=False):
            invoice = debit_invoice(
                setup.client_a,
                issue_date=(now - timedelta(days=50)).date(),
                due_date=(now - timedelta(days=20)).date(),
            )
            return_debit(collection_of(invoice))
    else:
        invoice = overdue(setup, now)
    run = reminders.propose_run(actor=setup.billing, now=now)
    reminders.approve_all(actor=setup.billing, run=run, now=now)
    if change == "payment":
        pay(invoice, "10.00")
    elif change == "debit":
        schedule(invoice)
    elif change == "pause":
        reminders.pause_reminders(
            actor=setup.billing, reason="Crisis", expires_at=now + timedelta(days=3), now=now
        )
    elif change == "client_pause":
        reminders.pause_reminders(
            actor=setup.billing,
            client=setup.client_a,
            reason="Talks",
            expires_at=now + timedelta(days=3),
            now=now,
        )
    elif change == "dispute":
        reminders.set_dispute(actor=setup.billing, invoice=invoice, reason="Wrong hours")
    else:
        credit_note(invoice, "10.00")
    result = reminders.send_approved(actor=setup.billing, run=run, now=now)
    assert result.sent == []
    item = run.items.get()
    assert item.status == ItemStatus.DROPPED and item.dropped_reason
    assert not SentReminder.objects.exists()
    assert not OutboundMessage.objects.filter(kind="billing", subject=item.subject).exists()


def test_approving_a_run_that_changed_is_refused_and_writes_nothing(setup, now):
    first, second = overdue(setup, now), overdue(setup, now)
    run = reminders.propose_run(actor=setup.billing, now=now)
    pay(first, "5.00")
    with pytest.raises(ValidationError, match="changed since the proposal") as exc:
        reminders.approve_all(actor=setup.billing, run=run, now=now)
    assert first.code in str(exc.value)
    assert not run.items.filter(status=ItemStatus.APPROVED).exists()
    changed = run.items.get(invoice=first)
    with pytest.raises(ValidationError, match="changed since the proposal"):
        reminders.approve_item(actor=setup.billing, item=changed, now=now)
    reminders.skip_item(
        actor=setup.billing, item=changed, reason="Paid part; call instead", now=now
    )
    with pytest.raises(ValidationError, match="already skipped"):
        reminders.skip_item(actor=setup.billing, item=changed, now=now)
    assert reminders.approve_all(actor=setup.billing, run=run, now=now) == 1
    result = reminders.send_approved(actor=setup.billing, run=run, now=now)
    assert result.sent == [run.items.get(invoice=second).pk]


def test_sending_without_approval_or_twice_across_runs(setup, now):
    overdue(setup, now)
    one = reminders.propose_run(actor=setup.billing, now=now)
    two = reminders.propose_run(actor=setup.billing, now=now)
    with pytest.raises(ValidationError, match="Nothing is approved"):
        reminders.send_approved(actor=setup.billing, run=one, now=now)
    reminders.approve_all(actor=setup.billing, run=one, now=now)
    reminders.approve_all(actor=setup.billing, run=two, now=now)
    assert len(reminders.send_approved(actor=setup.billing, run=one, now=now).sent) == 1
    result = reminders.send_approved(actor=setup.billing, run=two, now=now)
    assert result.sent == [] and len(result.dropped) == 1
    assert SentReminder.objects.count() == 1 and OutboundMessage.objects.count() == 1


def test_a_client_without_a_billing_address_is_not_proposed(world, now):
    fresh_bank_data(now.date())
    invoice = overdue(world, now)
    assert "no_recipient" in codes(reminders.explain(invoice, now))
    assert reminders.propose_run(actor=world.billing, now=now).items.count() == 0


# --- refusals -------------------------------------------------------------------------------


def test_bad_pauses_are_refused_and_nothing_is_written(setup, now):
    for kwargs, field in (
        ({"reason": "", "expires_at": now + timedelta(days=1)}, "reason"),
        ({"reason": "x", "expires_at": None}, "expires_at"),
        ({"reason": "x", "expires_at": now - timedelta(minutes=1)}, "expires_at"),
        ({"reason": "x", "expires_at": now + timedelta(days=400)}, "expires_at"),
    ):
        with pytest.raises(ValidationError) as exc:
            reminders.pause_reminders(actor=setup.billing, now=now, **kwargs)
        assert field in exc.value.message_dict
    assert not ReminderPause.objects.exists()
    pause = reminders.pause_reminders(
        actor=setup.billing, reason="ok", expires_at=now + timedelta(days=1), now=now
    )
    reminders.lift_pause(actor=setup.billing, pause=pause, now=now)
    with pytest.raises(ValidationError, match="already over"):
        reminders.lift_pause(actor=setup.billing, pause=pause, now=now)


def test_disputes_need_an_issued_invoice_and_a_reason(setup, now):
    from atalaya.billing.tests.factories import draft_invoice

    invoice = overdue(setup, now)
    with pytest.raises(ValidationError):
        reminders.set_dispute(actor=setup.billing, invoice=invoice, reason=" ")
    with pytest.raises(ValidationError):
        reminders.set_dispute(
            actor=setup.billing, invoice=draft_invoice(setup.client_a), reason="x"
        )
    with pytest.raises(ValidationError, match="not disputed"):
        reminders.clear_dispute(actor=setup.billing, invoice=invoice)
    reminders.set_dispute(actor=setup.billing, invoice=invoice, reason="x")
    with pytest.raises(ValidationError, match="already disputed"):
        reminders.set_dispute(actor=setup.billing, invoice=invoice, reason="y")


def test_only_billing_writers_may_act(setup, now):
    invoice = overdue(setup, now)
    for actor in (setup.readonly, setup.tech):
        with pytest.raises(PermissionDenied):
            reminders.propose_run(actor=actor, now=now)
        with pytest.raises(PermissionDenied):
            reminders.set_dispute(actor=actor, invoice=invoice, reason="x")
        with pytest.raises(PermissionDenied):
            reminders.pause_reminders(actor=actor, reason="x", expires_at=now + timedelta(days=1))
    assert not ReminderRun.objects.exists() and not ReminderItem.objects.exists()


def test_the_decisions_balance_is_balance_py_s(setup, now):
    """load_facts sums the parts with_balances annotates; it must agree with balance.py."""
    from atalaya.billing import balance
    from atalaya.billing.models import Invoice
    from atalaya.billing.services.reminders.decision import load_facts

    plain, part, credited = overdue(setup, now), overdue(setup, now), overdue(setup, now)
    pay(part, "12.34")
    credit_note(credited, "10.00")
    debited = debit_invoice(
        setup.client_b,
        issue_date=(now - timedelta(days=50)).date(),
        due_date=(now - timedelta(days=20)).date(),
    )
    ids = [plain.pk, part.pk, credited.pk, debited.pk]
    facts = load_facts(Invoice.objects.filter(pk__in=ids))
    expected = balance.open_balances(ids)
    assert {pk: facts[pk].open_balance for pk in ids} == expected
    assert expected[part.pk] == Decimal("78.41") and expected[debited.pk] == Decimal("0.00")
