"""Billable ticket time: approval burns the oldest block first (split when it does not
fit), else invoices at the agreement's or catalogue's rate; once per entry; low balance
alerts once by mail to the billing contacts."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections

from atalaya.billing.models import HourBlock, TimeCharge
from atalaya.billing.services import agreements, time
from atalaya.billing.tests import factories
from atalaya.billing.tests.agreements_fixtures import shop
from atalaya.core.models import AuditEvent
from atalaya.mail.models import OutboundMessage
from atalaya.tickets import services as ticket_services
from atalaya.tickets.tests.test_services import threads_use_a_file_database

pytestmark = pytest.mark.django_db


def _entry(world, minutes, work_type=None, ticket=None):  # type: ignore[no-untyped-def]
    return ticket_services.log_time(
        ticket or world.ticket_a,
        actor=world.tech,
        minutes=minutes,
        work_type=work_type,
        worked_on=date(2026, 12, 1),
    )


def _block(world, minutes, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("purchased_on", date(2026, 11, 1))
    return time.create_hour_block(
        actor=world.billing,
        client=fields.pop("client", world.client_a),
        name=fields.pop("name", "alfa-secret 10 h"),
        minutes_total=minutes,
        **fields,
    )


def test_pending_entries_are_the_billable_undecided_ones(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    billable = _entry(world, 30, s.remote)
    ticket_services.log_time(world.ticket_a, actor=world.tech, minutes=15, is_billable=False)
    assert list(time.pending_entries()) == [billable]
    time.write_off_time(actor=world.billing, entry=billable, note="goodwill")
    assert not time.pending_entries().exists()
    assert AuditEvent.objects.filter(action="time.written_off").count() == 1


def test_rate_from_the_agreement_beats_the_catalogue(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    entry = _entry(world, 45, s.remote)
    assert time.rate_for(entry) == (Decimal("60"), "remote-hour")
    agreement = agreements.create_agreement(
        actor=world.billing,
        client=world.client_a,
        name="alfa-secret",
        starts_on=date(2026, 1, 1),
        series=s.series,
    )
    agreements.set_rate(
        actor=world.billing, agreement=agreement, work_type=s.remote, hourly_rate="50"
    )
    charge = time.approve_time(actor=world.billing, entry=entry)
    assert (charge.status, charge.hourly_rate, charge.amount) == (
        "approved",
        Decimal("50"),
        Decimal("37.50"),
    )


def test_no_rate_asks_for_one_and_writes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    entry = _entry(world, 20, s.onsite)
    with pytest.raises(ValidationError, match="No hourly rate") as caught:
        time.approve_time(actor=world.billing, entry=entry)
    assert "hourly_rate" in caught.value.message_dict
    assert not TimeCharge.objects.exists()
    charge = time.approve_time(actor=world.billing, entry=entry, hourly_rate="70")
    assert charge.amount == Decimal("23.33")  # 20 × 70 / 60 = 23.333…


def test_approving_twice_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    entry = _entry(world, 60, s.remote)
    time.approve_time(actor=world.billing, entry=entry)
    with pytest.raises(ValidationError, match="already"):
        time.approve_time(actor=world.billing, entry=entry)
    with pytest.raises(ValidationError, match="already"):
        time.write_off_time(actor=world.billing, entry=entry)
    assert TimeCharge.objects.count() == 1


def test_the_oldest_usable_block_burns_and_a_big_entry_splits(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    expired = _block(world, 600, name="old", expires_on=date(2026, 11, 30))
    older = _block(world, 120, name="older", purchased_on=date(2026, 10, 1), low_balance_minutes=0)
    newer = _block(world, 600, name="newer", low_balance_minutes=0)
    first = time.approve_time(actor=world.billing, entry=_entry(world, 90, s.remote))
    assert (first.status, first.block, first.block_minutes, first.amount) == (
        "burned",
        older,
        90,
        Decimal("0.00"),
    )
    split = time.approve_time(actor=world.billing, entry=_entry(world, 50, s.remote))
    # 30 minutes were left: they burn, the other 20 are invoiced at 60/h.
    assert (split.status, split.block, split.block_minutes, split.amount) == (
        "approved",
        older,
        30,
        Decimal("20.00"),
    )
    third = time.approve_time(actor=world.billing, entry=_entry(world, 30, s.onsite))
    assert (third.block, third.block_minutes) == (newer, 30)  # no rate needed: all burned
    older.refresh_from_db()
    expired.refresh_from_db()
    assert older.minutes_left == 0 and expired.minutes_used == 0
    invoiced = time.approve_time(
        actor=world.billing, entry=_entry(world, 30, s.remote), use_block=False
    )
    assert invoiced.block is None and invoiced.amount == Decimal("30.00")


def test_a_split_without_a_rate_for_the_rest_writes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    block = _block(world, 30, low_balance_minutes=0)
    with pytest.raises(ValidationError, match="No hourly rate"):
        time.approve_time(actor=world.billing, entry=_entry(world, 60, s.onsite))
    block.refresh_from_db()
    assert block.minutes_used == 0
    assert not TimeCharge.objects.exists()


def test_another_clients_block_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    theirs = _block(world, 600, client=world.client_b, name="Beta block")
    with pytest.raises(ValidationError, match="another client"):
        time.approve_time(actor=world.billing, entry=_entry(world, 30, s.remote), block=theirs)


def test_low_balance_alerts_once_to_the_billing_contacts_in_their_language(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    factories.make_billing_contacts(world)
    world.contact_a.language = "en"
    world.contact_a.save()
    block = _block(world, 600, low_balance_minutes=120)
    time.approve_time(actor=world.billing, entry=_entry(world, 400, s.remote))
    assert not OutboundMessage.objects.exists()
    time.approve_time(actor=world.billing, entry=_entry(world, 90, s.remote))  # 110 left
    time.approve_time(actor=world.billing, entry=_entry(world, 60, s.remote))  # 50 left
    (mail,) = OutboundMessage.objects.all()
    assert mail.to_address == world.contact_a.email
    assert mail.language == "en" and "running low" in mail.subject
    assert "1 h 50 min" in mail.body_text
    block.refresh_from_db()
    assert block.low_balance_alerted_at is not None


def test_blocks_are_validated_and_can_be_invoiced(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    for fields in (
        {"minutes_total": 0},
        {"minutes_total": -60},
        {"minutes_total": 10**9},
        {"minutes_total": 600, "expires_on": date(2026, 10, 1)},
        {"minutes_total": 600, "price": "-10"},
    ):
        minutes = fields.pop("minutes_total")
        with pytest.raises(ValidationError):
            _block(world, minutes, **fields)
    assert not HourBlock.objects.exists()
    block = _block(world, 600, price="500", series=s.series)
    assert block.invoice is not None and block.invoice.status == "draft"
    line = block.invoice.lines.get()
    assert line.net_amount == Decimal("500.00") and "10 h" in line.description
    assert block.invoice.total == Decimal("605.00")


def test_only_billing_staff_decide(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    entry = _entry(world, 30, s.remote)
    for user in (world.tech, world.readonly, world.portal_a):
        with pytest.raises(PermissionDenied):
            time.approve_time(actor=user, entry=entry)
    assert not TimeCharge.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_cannot_overdraw_a_block(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two threads approve 45 minutes each against a 60-minute block, at once."""
    s = shop(world)
    block = _block(world, 60, low_balance_minutes=0)
    entries = [_entry(world, 45, s.remote), _entry(world, 45, s.remote)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    seen: dict[str, object] = {}

    def approve(entry):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            time.approve_time(actor=world.billing, entry=entry)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    def read_back() -> None:
        try:
            seen["used"] = HourBlock.objects.get(pk=block.pk).minutes_used
            seen["burned"] = sorted(TimeCharge.objects.values_list("block_minutes", flat=True))
            seen["amounts"] = sum(TimeCharge.objects.values_list("amount", flat=True))
        finally:
            connections.close_all()

    with threads_use_a_file_database(tmp_path):
        threads = [threading.Thread(target=approve, args=(e,)) for e in entries]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        reader = threading.Thread(target=read_back)
        reader.start()
        reader.join(timeout=60)
    assert not errors, f"{connection.vendor}: {errors!r}"
    assert seen == {"used": 60, "burned": [15, 45], "amounts": Decimal("30.00")}
