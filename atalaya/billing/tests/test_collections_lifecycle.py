"""A direct debit's life: pre-notification, batch, submitted, provisional with its payment,
final after the refund window, or returned with a reason code (friendly notice and a
ticket, never a reminder level); illegal moves and lost races are clear errors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from atalaya.billing import balance
from atalaya.billing.models import (
    BillingProfile,
    BillingSettings,
    Collection,
    CollectionEvent,
    Payment,
    SentReminder,
)
from atalaya.billing.services import collections
from atalaya.billing.services.collections import IllegalTransition
from atalaya.billing.tests import factories
from atalaya.billing.tests.payments_fixtures import (
    creditor_settings,
    dd_invoice,
    issued_directly,
    mandate_of,
    scheduled,
)
from atalaya.mail.models import OutboundMessage
from atalaya.tickets.models import Ticket


@pytest.fixture
def setup(world):
    factories.make_billing_contacts(world)
    creditor_settings()
    mandate = mandate_of(world.client_a)
    invoice = dd_invoice(world.client_a, mandate)
    return world, mandate, invoice


def _submitted(invoice):
    collection = scheduled(invoice)
    batch = collections.create_batch(
        actor=None, due_on=collection.due_on, sequence=collection.sequence
    )
    collections.submit_batch(actor=None, batch=batch)
    collection.refresh_from_db()
    return collection


def test_schedule_prenotifies_in_the_clients_language(setup):
    world, mandate, _invoice = setup
    world.contact_a.language = "en"
    world.contact_a.save()
    invoice = dd_invoice(world.client_a, mandate)
    collection = scheduled(invoice)
    earliest = timezone.localdate() + timedelta(days=14)
    assert collection.due_on == max(invoice.due_date, earliest)
    assert collection.amount == Decimal("90.75")
    assert balance.open_balance(invoice) == 0  # on its way: nobody chases it
    mail = OutboundMessage.objects.get(idempotency_key__contains=str(collection.public_id))
    assert mail.to_address == "ana@alfa.example" and mail.language == "en"
    assert "90.75 EUR" in mail.body_text
    assert mandate.reference in mail.body_text
    assert "ES12ZZZB12345678" in mail.body_text
    assert invoice.code in mail.subject
    event = collection.events.get()
    assert (event.from_status, event.to_status) == ("", "scheduled")


def test_invoice_email_wins_and_days_are_configurable(setup):
    world, _mandate, invoice = setup
    BillingProfile.objects.create(client=world.client_a, invoice_email="facturas@alfa.example")
    settings = BillingSettings.load()
    settings.prenotification_days = 5
    settings.save()
    too_soon = timezone.localdate() + timedelta(days=4)
    with pytest.raises(ValidationError, match="at least 5 days"):
        collections.schedule_collection(actor=None, invoice=invoice, due_on=too_soon)
    collection = collections.schedule_collection(
        actor=None, invoice=invoice, due_on=timezone.localdate() + timedelta(days=5)
    )
    mail = OutboundMessage.objects.get(idempotency_key__contains=str(collection.public_id))
    assert mail.to_address == "facturas@alfa.example"


def test_nothing_to_collect_twice(setup):
    _world, _mandate, invoice = setup
    scheduled(invoice)
    with pytest.raises(ValidationError, match="nothing open"):
        collections.schedule_collection(actor=None, invoice=invoice)
    assert Collection.objects.count() == 1


def test_only_direct_debit_invoices_with_a_mandate(setup):
    world, _mandate, _invoice = setup
    transfer = issued_directly(world.client_a)
    with pytest.raises(ValidationError, match="not paid by direct debit"):
        collections.schedule_collection(actor=None, invoice=transfer)
    no_mandate = dd_invoice(world.client_b)
    with pytest.raises(ValidationError, match="no active direct debit mandate"):
        collections.schedule_collection(actor=None, invoice=no_mandate)
    draft = factories.draft_invoice(world.client_a, payment_method="direct_debit")
    with pytest.raises(ValidationError, match="issued invoice"):
        collections.schedule_collection(actor=None, invoice=draft)


def test_settle_creates_the_payment_then_final(setup):
    world, _mandate, invoice = setup
    collection = _submitted(invoice)
    assert collection.status == "submitted"
    payment = collections.mark_settled(actor=world.billing, collection=collection)
    assert payment.method == "direct_debit" and payment.collection_id == collection.pk
    assert payment.allocations.get().amount == Decimal("90.75")
    assert balance.open_balance(invoice) == 0
    with pytest.raises(IllegalTransition, match="refund"):
        collections.mark_final(actor=None, collection=collection)
    later = collection.due_on + timedelta(weeks=8)
    assert collections.finalize_due(today=later - timedelta(days=1)) == 0
    assert collections.finalize_due(today=later) == 1
    collection.refresh_from_db()
    assert collection.status == "final" and collection.final_at is not None
    steps = list(collection.events.values_list("from_status", "to_status"))
    assert steps == [
        ("", "scheduled"),
        ("scheduled", "submitted"),
        ("submitted", "provisional"),
        ("provisional", "final"),
    ]


def test_return_makes_the_invoice_owed_with_notice_and_ticket(setup):
    world, _mandate, invoice = setup
    collection = _submitted(invoice)
    collections.mark_settled(actor=None, collection=collection)
    returned = collections.mark_returned(
        actor=world.billing, collection=collection, reason_code="am04"
    )
    assert returned.status == "returned" and returned.return_reason == "AM04"
    payment = Payment.objects.get(collection=collection)
    assert payment.returned_at is not None
    assert balance.open_balance(invoice) == Decimal("90.75")
    notice = OutboundMessage.objects.get(idempotency_key__startswith="billing:returned:")
    assert "Insufficient funds" in notice.body_text or "AM04" in notice.body_text
    ticket = Ticket.objects.get(client=world.client_a, category__slug="billing")
    assert "AM04" in ticket.subject
    assert not SentReminder.objects.exists()  # a notice, not a dunning level
    with pytest.raises(IllegalTransition, match="cannot become"):
        collections.mark_returned(actor=None, collection=returned, reason_code="AM04")


def test_return_straight_from_submitted(setup):
    _world, _mandate, invoice = setup
    collection = _submitted(invoice)
    collections.mark_returned(actor=None, collection=collection, reason_code="MD06")
    assert balance.open_balance(invoice) == Decimal("90.75")
    assert not Payment.objects.exists()


def test_final_comes_back_only_as_unauthorised(setup):
    _world, _mandate, invoice = setup
    collection = _submitted(invoice)
    collections.mark_settled(actor=None, collection=collection)
    collections.finalize_due(today=collection.due_on + timedelta(weeks=9))
    collection.refresh_from_db()
    with pytest.raises(IllegalTransition, match="refund window"):
        collections.mark_returned(actor=None, collection=collection, reason_code="MD06")
    collections.mark_returned(
        actor=None,
        collection=collection,
        reason_code="MD01",
        today=collection.due_on + timedelta(days=100),
    )
    assert balance.open_balance(invoice) == Decimal("90.75")


def test_bad_reason_codes(setup):
    _world, _mandate, invoice = setup
    collection = _submitted(invoice)
    for bad in ("", "AM0", "AM04X", "<b>"):
        with pytest.raises(ValidationError, match="not a SEPA return reason"):
            collections.mark_returned(actor=None, collection=collection, reason_code=bad)
    collection.refresh_from_db()
    assert collection.status == "submitted"


def test_illegal_transitions(setup):
    _world, _mandate, invoice = setup
    collection = scheduled(invoice)
    with pytest.raises(IllegalTransition, match="scheduled cannot become settled"):
        collections.mark_settled(actor=None, collection=collection)
    with pytest.raises(IllegalTransition, match="batch"):
        collections.mark_submitted(actor=None, collection=collection)
    with pytest.raises(IllegalTransition, match="cannot become returned"):
        collections.mark_returned(actor=None, collection=collection, reason_code="AM04")
    collections.cancel_collection(actor=None, collection=collection, reason="Paid by transfer")
    assert balance.open_balance(invoice) == Decimal("90.75")
    with pytest.raises(IllegalTransition, match="cancelled cannot become"):
        collections.cancel_collection(actor=None, collection=collection, reason="again")


def test_a_lost_race_is_a_clear_error(setup):
    _world, _mandate, invoice = setup
    collection = _submitted(invoice)
    stale = Collection.objects.get(pk=collection.pk)
    collections.mark_settled(actor=None, collection=collection)
    # The second worker still holds the "submitted" row it read before.
    with pytest.raises(IllegalTransition, match="changed meanwhile"):
        collections.mark_settled(actor=None, collection=stale)
    assert Payment.objects.count() == 1
    assert CollectionEvent.objects.filter(to_status="provisional").count() == 1


def test_cancelling_a_batched_collection_rewrites_the_file(setup):
    world, mandate, invoice = setup
    one = scheduled(invoice)
    two = scheduled(dd_invoice(world.client_a, mandate), due_on=one.due_on)
    batch = collections.create_batch(actor=None, due_on=one.due_on, sequence="FRST")
    assert one.end_to_end_id in batch.xml and two.end_to_end_id in batch.xml
    collections.cancel_collection(actor=None, collection=one, reason="Paid in cash")
    batch.refresh_from_db()
    assert one.end_to_end_id not in batch.xml and two.end_to_end_id in batch.xml
    collections.submit_batch(actor=None, batch=batch)
    two.refresh_from_db()
    with pytest.raises(IllegalTransition):
        collections.cancel_collection(actor=None, collection=two, reason="too late")


def test_the_daily_task_finalizes(setup):
    from atalaya.billing.tasks import finalize_direct_debits

    _world, _mandate, invoice = setup
    collection = _submitted(invoice)
    collections.mark_settled(actor=None, collection=collection)
    assert finalize_direct_debits.call_local(today=collection.due_on + timedelta(weeks=8)) == 1
    collection.refresh_from_db()
    assert collection.status == "final"
