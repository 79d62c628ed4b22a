"""The recurring run: drafts the next period for review (idempotent), issue moves
``billed_until`` on, a discarded draft is drafted again; approved time goes on it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from atalaya.billing.models import Agreement, Invoice, InvoiceStatus, TimeCharge
from atalaya.billing.services import agreements, time
from atalaya.billing.tests.agreements_fixtures import devices, mandate, shop, users
from atalaya.core.models import AuditEvent
from atalaya.tickets import services as ticket_services

pytestmark = pytest.mark.django_db

DEC = date(2026, 12, 1)


def _setup(world):  # type: ignore[no-untyped-def]
    s = shop(world)
    devices(world.client_a, 4, retired=1)
    users(world.client_a, 2)  # 3 users with the world's contact
    a = agreements.create_agreement(
        actor=world.billing,
        client=world.client_a,
        name="alfa-secret managed",
        starts_on=DEC,
        series=s.series,
    )
    agreements.add_line(actor=world.billing, agreement=a, product=s.bundle, quantity_mode="users")
    agreements.add_line(actor=world.billing, agreement=a, product=s.device, quantity_mode="devices")
    agreements.add_line(actor=world.billing, agreement=a, product=s.fee)
    b = agreements.create_agreement(
        actor=world.billing,
        client=world.client_b,
        name="Beta basics",
        starts_on=date(2026, 12, 10),
        series=s.series,
        billing_period="quarterly",
    )
    agreements.add_line(actor=world.billing, agreement=b, product=s.vpn, quantity=10)
    return s, a, b


def test_the_run_drafts_each_due_agreement_once(world) -> None:  # type: ignore[no-untyped-def]
    s, a, b = _setup(world)
    drafted = agreements.draft_due_invoices(actor=world.billing, as_of=date(2026, 12, 2))
    assert len(drafted) == 1  # B starts on the 10th: not due yet
    invoice = Invoice.objects.get(agreement=a)
    assert invoice.status == InvoiceStatus.DRAFT
    assert (invoice.period_start, invoice.period_end) == (DEC, date(2026, 12, 31))
    lines = list(invoice.lines.order_by("position"))
    assert [ln.quantity for ln in lines] == [Decimal(3), Decimal(4), Decimal(1)]
    assert [ln.net_amount for ln in lines] == [
        Decimal("75.00"),
        Decimal("30.00"),
        Decimal("100.00"),
    ]
    assert lines[0].description.startswith("Pack teletrabajo: VPN, Doble factor, Antivirus")
    assert (invoice.net_total, invoice.vat_total, invoice.total) == (
        Decimal("205.00"),
        Decimal("43.05"),
        Decimal("248.05"),
    )
    bucket = invoice.vat_totals.get()
    assert (bucket.vat_rate, bucket.base, bucket.tax) == (
        Decimal("21"),
        Decimal("205"),
        Decimal("43.05"),
    )
    assert AuditEvent.objects.filter(
        action="invoice.drafted", object_id=str(invoice.public_id)
    ).exists()

    # Idempotent: the second run drafts nothing, the database refuses a second draft.
    assert agreements.draft_due_invoices(actor=world.billing, as_of=date(2026, 12, 3)) == []
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            client=world.client_a, series=s.series, agreement=a, period_start=DEC
        )
    assert Invoice.objects.filter(agreement=a).count() == 1

    drafted = agreements.draft_due_invoices(actor=world.billing, as_of=date(2026, 12, 10))
    assert [i.agreement_id for i in drafted] == [b.pk]
    beta = drafted[0]
    assert (beta.period_start, beta.period_end) == (date(2026, 12, 10), date(2026, 12, 31))
    # 22 of the quarter's 92 days of 10 × 5.00.
    assert beta.lines.get().net_amount == Decimal("11.96")


def test_issuing_moves_billed_until_and_the_next_run_drafts_the_next_period(world) -> None:  # type: ignore[no-untyped-def]
    s, a, _b = _setup(world)
    (draft,) = agreements.draft_due_invoices(actor=world.billing, as_of=DEC)
    (issued,) = agreements.issue_drafts(
        actor=world.billing, invoices=[draft], issue_date=date(2026, 12, 2)
    )
    assert issued.status == InvoiceStatus.ISSUED and issued.code
    a.refresh_from_db()
    assert a.billed_until == date(2027, 1, 1)
    assert issued.due_date == date(2027, 1, 1)  # 30 days of the agreement's terms
    late = agreements.draft_due_invoices(actor=world.billing, as_of=date(2026, 12, 31))
    assert [i.agreement_id for i in late] == [_b.pk]  # only B, due since the 10th
    (january,) = agreements.draft_due_invoices(actor=world.billing, as_of=date(2027, 1, 1))
    assert (january.agreement_id, january.period_start) == (a.pk, date(2027, 1, 1))

    # The December draft cannot be issued again, nor a stale draft of a billed period.
    with pytest.raises(ValidationError, match="not a draft"):
        agreements.issue_drafts(actor=world.billing, invoices=[issued])
    # (The database refuses a second invoice of December 1st; one from January 15th is
    # a stale draft: issued after January's, it no longer starts where billing stands.)
    stale = Invoice.objects.create(
        client=world.client_a,
        series=s.series,
        agreement=a,
        period_start=date(2027, 1, 15),
        period_end=date(2027, 1, 31),
        status=InvoiceStatus.DRAFT,
    )
    with pytest.raises(ValidationError, match="already billed"):
        agreements.issue_drafts(actor=world.billing, invoices=[january, stale])
    january.refresh_from_db()
    assert january.status == InvoiceStatus.DRAFT  # nothing half-written
    a.refresh_from_db()
    assert a.billed_until == date(2027, 1, 1)


def test_a_discarded_draft_is_drafted_again(world) -> None:  # type: ignore[no-untyped-def]
    _s, a, _b = _setup(world)
    (draft,) = agreements.draft_due_invoices(actor=world.billing, as_of=DEC)
    assert agreements.discard_drafts(actor=world.billing, invoices=[draft]) == 1
    a.refresh_from_db()
    assert a.billed_until == DEC
    (again,) = agreements.draft_due_invoices(actor=world.billing, as_of=DEC)
    assert again.pk != draft.pk and again.period_start == DEC
    draft.refresh_from_db()
    assert draft.status == InvoiceStatus.DISCARDED


def test_approved_time_goes_on_the_next_draft_once(world) -> None:  # type: ignore[no-untyped-def]
    s, a, _b = _setup(world)
    entry = ticket_services.log_time(
        world.ticket_a, actor=world.tech, minutes=90, work_type=s.remote, note="VPN"
    )
    charge = time.approve_time(actor=world.billing, entry=entry)
    assert charge.amount == Decimal("90.00")  # 1.5 h at the catalogue's 60
    (draft,) = agreements.draft_due_invoices(actor=world.billing, as_of=DEC)
    hourly = draft.lines.get(unit="hour")
    assert (hourly.quantity, hourly.unit_price, hourly.net_amount) == (
        Decimal("1.5"),
        Decimal("60"),
        Decimal("90.00"),
    )
    assert "#" + str(world.ticket_a.number) in hourly.description
    assert draft.net_total == Decimal("295.00")
    # Discarded: the time waits again and goes on the next draft.
    agreements.discard_drafts(actor=world.billing, invoices=[draft])
    (again,) = agreements.draft_due_invoices(actor=world.billing, as_of=DEC)
    assert again.lines.filter(unit="hour").count() == 1
    agreements.issue_drafts(actor=world.billing, invoices=[again])
    charge.refresh_from_db()
    assert charge.status == "invoiced"
    assert charge.invoice_line.invoice_id == again.pk


def test_nothing_to_bill_moves_past_the_period_without_an_invoice(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    empty = agreements.create_agreement(
        actor=world.billing,
        client=world.client_b,
        name="Beta devices",
        starts_on=DEC,
        series=s.series,
    )
    agreements.add_line(
        actor=world.billing, agreement=empty, product=s.device, quantity_mode="devices"
    )
    assert agreements.draft_due_invoices(actor=world.billing, as_of=DEC) == []
    empty.refresh_from_db()
    assert empty.billed_until == date(2027, 1, 1)
    assert AuditEvent.objects.filter(action="agreement.nothing_to_bill").count() == 1


def test_an_ended_agreement_is_prorated_then_never_due(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    short = agreements.create_agreement(
        actor=world.billing,
        client=world.client_b,
        name="Beta project",
        starts_on=DEC,
        ends_on=date(2026, 12, 10),
        series=s.series,
    )
    agreements.add_line(actor=world.billing, agreement=short, product=s.fee)
    (draft,) = agreements.draft_due_invoices(actor=world.billing, as_of=DEC)
    assert draft.period_end == date(2026, 12, 10)
    assert draft.net_total == Decimal("32.26")  # 100 × 10/31
    agreements.issue_drafts(actor=world.billing, invoices=[draft])
    assert agreements.draft_due_invoices(actor=world.billing, as_of=date(2027, 6, 1)) == []


def test_direct_debit_with_a_mandate_revoked_meanwhile_is_not_issued(world) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    s = shop(world)
    m = mandate(world.client_a)
    dd = agreements.create_agreement(
        actor=world.billing,
        client=world.client_a,
        name="alfa-secret debit",
        starts_on=DEC,
        series=s.series,
        payment_method="direct_debit",
        mandate=m,
    )
    agreements.add_line(actor=world.billing, agreement=dd, product=s.fee)
    (draft,) = agreements.draft_due_invoices(actor=world.billing, as_of=DEC)
    assert (draft.payment_method, draft.mandate_id) == ("direct_debit", m.pk)
    m.revoked_at = timezone.now()
    m.save()
    with pytest.raises(ValidationError, match="revoked"):
        agreements.issue_drafts(actor=world.billing, invoices=[draft])
    dd.refresh_from_db()
    assert dd.billed_until == DEC


def test_only_billing_staff_run_and_issue(world) -> None:  # type: ignore[no-untyped-def]
    _setup(world)
    with pytest.raises(PermissionDenied):
        agreements.draft_due_invoices(actor=world.readonly, as_of=DEC)
    drafted = agreements.draft_due_invoices(actor=None, as_of=DEC)  # the daily task
    with pytest.raises(PermissionDenied):
        agreements.issue_drafts(actor=world.tech, invoices=drafted)
    with pytest.raises(PermissionDenied):
        agreements.issue_drafts(actor=None, invoices=drafted)  # type: ignore[arg-type]
    assert Agreement.objects.get(client=world.client_a).billed_until == DEC
    assert not TimeCharge.objects.exists()


def test_the_daily_task_drafts(world) -> None:  # type: ignore[no-untyped-def]
    from atalaya.billing import tasks

    _setup(world)
    assert tasks.draft_recurring_invoices.call_local(as_of=DEC) == 1
