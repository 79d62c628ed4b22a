"""Agreements: validation of terms, payment method and lines; periods and proration."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from atalaya.billing.models import Agreement, AgreementLine, InvoiceSeries
from atalaya.billing.services import agreements, catalog
from atalaya.billing.tests.agreements_fixtures import devices, mandate, shop, users
from atalaya.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _agreement(world, s, **fields):  # type: ignore[no-untyped-def]
    values = {
        "name": "alfa-secret managed services",
        "starts_on": date(2026, 12, 1),
        "series": s.series,
    }
    values.update(fields)
    return agreements.create_agreement(
        actor=world.billing, client=fields.pop("client", world.client_a), **values
    )


def test_calendar_periods() -> None:
    assert agreements.calendar_period(date(2026, 2, 14), "monthly") == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    assert agreements.calendar_period(date(2026, 5, 31), "quarterly") == (
        date(2026, 4, 1),
        date(2026, 6, 30),
    )
    assert agreements.calendar_period(date(2028, 12, 31), "yearly") == (
        date(2028, 1, 1),
        date(2028, 12, 31),
    )


def test_an_agreement_is_billed_from_its_start_and_audited(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    agreement = _agreement(world, s, starts_on=date(2026, 12, 15), billing_period="quarterly")
    assert agreement.billed_until == date(2026, 12, 15)
    assert agreements.next_period(agreement) == (date(2026, 12, 15), date(2026, 12, 31))
    assert AuditEvent.objects.filter(
        action="agreement.created", object_id=str(agreement.public_id), actor=world.billing
    ).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ends_on": date(2026, 11, 30)}, "ends_on"),
        ({"name": ""}, "name"),
        ({"billing_period": "weekly"}, "billing_period"),
        ({"payment_method": "direct_debit"}, "mandate"),
        ({"payment_method": "bitcoin"}, "payment_method"),
        ({"payment_terms_days": -3}, "payment_terms_days"),
        ({"payment_terms_days": 4000}, "payment_terms_days"),
    ],
)
def test_bad_agreements_are_refused(world, fields, field) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    with pytest.raises(ValidationError) as caught:
        _agreement(world, s, **fields)
    assert field in caught.value.message_dict
    assert not Agreement.objects.exists()


def test_direct_debit_needs_an_active_mandate_of_the_same_client(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    theirs = mandate(world.client_b, "BETA-0001")
    with pytest.raises(ValidationError, match="another client"):
        _agreement(world, s, payment_method="direct_debit", mandate=theirs)
    ours = mandate(world.client_a)
    ours.revoked_at = timezone.now()
    ours.save()
    with pytest.raises(ValidationError, match="revoked"):
        _agreement(world, s, payment_method="direct_debit", mandate=ours)
    fresh = mandate(world.client_a, "ALFA-0002")
    agreement = _agreement(world, s, payment_method="direct_debit", mandate=fresh)
    assert agreement.mandate == fresh


def test_a_credit_note_series_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    credit = InvoiceSeries.objects.create(code="R2026", prefix="R-", is_for_credit_notes=True)
    with pytest.raises(ValidationError) as caught:
        _agreement(world, s, series=credit)
    assert "series" in caught.value.message_dict


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"quantity": Decimal("-1")}, "quantity"),
        ({"quantity": Decimal("10000000")}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"unit_price": Decimal("-5")}, "unit_price"),
        ({"unit_price": Decimal("1e12")}, "unit_price"),
        ({"quantity_mode": "devices"}, "quantity_mode"),  # the fee is not per device
        ({"starts_on": date(2026, 11, 1)}, "starts_on"),
        ({"starts_on": date(2026, 12, 10), "ends_on": date(2026, 12, 5)}, "ends_on"),
    ],
)
def test_bad_lines_are_refused(world, fields, field) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    agreement = _agreement(world, s)
    with pytest.raises(ValidationError) as caught:
        agreements.add_line(actor=world.billing, agreement=agreement, product=s.fee, **fields)
    assert field in caught.value.message_dict
    assert not AgreementLine.objects.exists()


def test_a_product_retired_meanwhile_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    agreement = _agreement(world, s)
    stale = catalog.Product.objects.get(pk=s.fee.pk)
    catalog.retire_product(actor=world.billing, product=s.fee)
    with pytest.raises(ValidationError, match="retired"):
        agreements.add_line(actor=world.billing, agreement=agreement, product=stale)


def test_the_preview_counts_devices_and_users_and_prorates(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    devices(world.client_a, 3, retired=2)
    users(world.client_a, 4)  # and the world's own contact of A: 5 users
    agreement = _agreement(world, s, starts_on=date(2026, 12, 15))
    agreements.add_line(
        actor=world.billing, agreement=agreement, product=s.bundle, quantity_mode="users"
    )
    agreements.add_line(
        actor=world.billing,
        agreement=agreement,
        product=s.device,
        quantity_mode="devices",
        unit_price=Decimal("6"),
    )
    agreements.add_line(
        actor=world.billing, agreement=agreement, product=s.fee, quantity=Decimal("1.5")
    )
    preview = agreements.preview_next_period(agreement)
    assert preview is not None
    assert (preview.period_start, preview.period_end) == (date(2026, 12, 15), date(2026, 12, 31))
    bundle, device, fee = preview.lines
    # 17 of December's 31 days: quantity × price × 17/31, rounded once per line.
    assert (bundle.quantity, bundle.net_amount) == (Decimal(5), Decimal("68.55"))  # 125×17/31
    assert (device.quantity, device.unit_price, device.net_amount) == (
        Decimal(3),
        Decimal("6"),
        Decimal("9.87"),  # 18 × 17/31 = 9.870…
    )
    assert fee.net_amount == Decimal("82.26")  # 150 × 17/31 = 82.258…
    assert bundle.days == (17, 31)
    assert bundle.description.startswith("Pack teletrabajo: VPN, Doble factor")
    assert "15/12/2026" in bundle.description and "17" in bundle.description
    assert preview.totals.net == Decimal("160.68")


def test_a_line_ending_inside_the_period_is_prorated_and_then_left_out(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    agreement = _agreement(world, s, billing_period="quarterly", starts_on=date(2027, 1, 1))
    agreements.add_line(
        actor=world.billing, agreement=agreement, product=s.fee, ends_on=date(2027, 2, 14)
    )
    agreements.add_line(actor=world.billing, agreement=agreement, product=s.vpn, quantity=2)
    preview = agreements.preview_next_period(agreement)
    assert preview is not None
    fee, vpn = preview.lines
    assert fee.days == (45, 90)
    assert fee.net_amount == Decimal("50.00")
    assert vpn.days is None and vpn.net_amount == Decimal("10.00")


def test_the_start_cannot_move_once_billed_nor_end_before_what_is_billed(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    agreement = _agreement(world, s)
    agreements.update_agreement(
        actor=world.billing, agreement=agreement, starts_on=date(2026, 12, 5)
    )
    agreement.refresh_from_db()
    assert agreement.billed_until == date(2026, 12, 5)
    Agreement.objects.filter(pk=agreement.pk).update(billed_until=date(2027, 1, 1))
    with pytest.raises(ValidationError) as caught:
        agreements.update_agreement(
            actor=world.billing, agreement=agreement, starts_on=date(2026, 12, 1)
        )
    assert "starts_on" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        agreements.update_agreement(
            actor=world.billing, agreement=agreement, ends_on=date(2026, 12, 20)
        )
    assert "ends_on" in caught.value.message_dict
    done = agreements.update_agreement(
        actor=world.billing, agreement=agreement, ends_on=date(2026, 12, 31)
    )
    assert done.ends_on == date(2026, 12, 31)
    assert agreements.next_period(done) is None


def test_rates_per_work_type(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    agreement = _agreement(world, s)
    rate = agreements.set_rate(
        actor=world.billing, agreement=agreement, work_type=s.remote, hourly_rate="45"
    )
    again = agreements.set_rate(
        actor=world.billing, agreement=agreement, work_type=s.remote, hourly_rate="50"
    )
    assert rate.pk == again.pk and again.hourly_rate == Decimal("50")
    with pytest.raises(ValidationError):
        agreements.set_rate(
            actor=world.billing, agreement=agreement, work_type=s.remote, hourly_rate="-1"
        )
