"""The catalogue service: products and packages, units, prices, VAT; every write audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from atalaya.billing.models import Product
from atalaya.billing.services import agreements, catalog
from atalaya.billing.tests.agreements_fixtures import shop
from atalaya.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _product(world, **fields):  # type: ignore[no-untyped-def]
    values = {
        "code": "cloud-mail",
        "name_en": "Cloud mail",
        "name_es": "Correo en la nube",
        "unit": "user",
        "unit_price": Decimal("6.50"),
    }
    values.update(fields)
    actor = values.pop("actor", world.billing)
    return catalog.create_product(actor=actor, **values)


def test_a_product_is_created_and_audited(world) -> None:  # type: ignore[no-untyped-def]
    product = _product(world)
    assert product.unit_price == Decimal("6.5")
    assert (product.vat_category, product.vat_rate) == ("S", Decimal("21.00"))
    event = AuditEvent.objects.get(object_id=str(product.public_id), action="product.created")
    assert event.actor == world.billing
    assert event.after["unit_price"] == "6.50"


def test_a_package_lists_its_components_in_the_clients_language(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    assert s.bundle.is_package
    assert catalog.line_text(s.bundle, "en") == (
        "Remote worker bundle: VPN, Multi-factor sign-in, Antivirus, Backup"
    )
    assert catalog.line_text(s.bundle, "es") == (
        "Pack teletrabajo: VPN, Doble factor, Antivirus, Copia de seguridad"
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"unit_price": Decimal("-1")}, "unit_price"),
        ({"unit_price": Decimal("99999999")}, "unit_price"),
        ({"unit_price": "abc"}, "unit_price"),
        ({"unit_price": 1.1}, "unit_price"),
        ({"unit_price": Decimal("1.00001")}, "unit_price"),
        ({"vat_rate": "7"}, "vat_rate"),
        ({"vat_category": "E", "vat_rate": "21"}, "vat_rate"),
        ({"vat_category": "Z"}, "vat_category"),
        ({"unit": "litre"}, "unit"),
        ({"code": "no spaces please"}, "code"),
        ({"name_en": " "}, "name_en"),
    ],
)
def test_bad_product_input_names_the_field_and_writes_nothing(world, fields, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        _product(world, **fields)
    assert field in caught.value.message_dict
    assert not Product.objects.filter(code="cloud-mail").exists()
    assert not AuditEvent.objects.filter(action="product.created").exists()


def test_iva_rates_and_exempt(world) -> None:  # type: ignore[no-untyped-def]
    for n, rate in enumerate(("21", "10", "4")):
        assert _product(world, code=f"p{n}", vat_rate=rate).vat_rate == Decimal(rate)
    exempt = _product(world, code="training", vat_category="E", vat_rate="0")
    assert (exempt.vat_category, exempt.vat_rate) == ("E", Decimal("0.00"))


def test_an_hourly_product_sets_the_rate_of_one_work_type(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    assert catalog.hourly_product_for(s.remote) == s.remote_hour
    with pytest.raises(ValidationError) as caught:
        _product(world, code="remote-2", unit="hour", work_type=s.remote)
    assert "work_type" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        _product(world, code="per-user", unit="user", work_type=s.onsite)
    assert "work_type" in caught.value.message_dict


def test_a_package_cannot_hold_itself_a_package_or_a_retired_product(world) -> None:  # type: ignore[no-untyped-def]
    s = shop(world)
    with pytest.raises(ValidationError):
        catalog.update_product(actor=world.billing, product=s.bundle, components=[(s.bundle, 1)])
    with pytest.raises(ValidationError):
        _product(world, code="mega", components=[(s.bundle, 1)])
    with pytest.raises(ValidationError):
        _product(world, code="twice", components=[(s.vpn, 1), (s.vpn, 2)])
    lonely = _product(world, code="lonely")
    catalog.retire_product(actor=world.billing, product=lonely)
    with pytest.raises(ValidationError):
        _product(world, code="with-retired", components=[(lonely, 1)])


def test_update_is_audited_with_before_and_after(world) -> None:  # type: ignore[no-untyped-def]
    product = _product(world)
    catalog.update_product(actor=world.billing, product=product, unit_price=Decimal("7"))
    product.refresh_from_db()
    assert product.unit_price == Decimal("7")
    event = AuditEvent.objects.get(action="product.updated")
    assert (event.before["unit_price"], event.after["unit_price"]) == ("6.5000", "7")


def test_retiring_is_refused_while_an_agreement_bills_the_product(world) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    s = shop(world)
    agreement = agreements.create_agreement(
        actor=world.billing,
        client=world.client_a,
        name="alfa-secret support",
        starts_on=date(2026, 1, 1),
        series=s.series,
    )
    line = agreements.add_line(actor=world.billing, agreement=agreement, product=s.fee)
    with pytest.raises(ValidationError, match="alfa-secret support"):
        catalog.retire_product(actor=world.billing, product=s.fee)
    with pytest.raises(ValidationError, match="package"):
        catalog.retire_product(actor=world.billing, product=s.vpn)
    agreements.update_line(actor=world.billing, line=line, ends_on=date(2026, 1, 31))
    retired = catalog.retire_product(actor=world.billing, product=s.fee)
    assert not retired.is_active
    assert AuditEvent.objects.filter(action="product.retired").count() == 1


def test_only_billing_staff_write_the_catalogue(world) -> None:  # type: ignore[no-untyped-def]
    for user in (world.tech, world.readonly, world.portal_a):
        with pytest.raises(PermissionDenied):
            _product(world, code="by-someone", actor=user)
    assert _product(world, code="by-admin", actor=world.admin).pk  # admins write billing too
