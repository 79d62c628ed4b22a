"""Shared set-up of the catalogue, agreements, recurring-run and time tests: a small
catalogue (a package of four services, a per-device product, an hourly product of the
remote work type), the MSP's seller data and a valid tax id for A and B."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from atalaya.billing.models import (
    BillingProfile,
    BillingSettings,
    InvoiceSeries,
    Mandate,
    Product,
)
from atalaya.billing.services import catalog
from atalaya.billing.tests import factories
from atalaya.core.models import Client, ContactMembership
from atalaya.monitoring.models import Device
from atalaya.tickets.models import WorkType

CLIENT_IBAN = "ES7921000813610123456789"


@dataclass
class Shop:
    series: InvoiceSeries
    vpn: Product
    mfa: Product
    antivirus: Product
    backup: Product
    bundle: Product
    device: Product
    fee: Product
    remote_hour: Product
    remote: WorkType
    onsite: WorkType


def seller() -> BillingSettings:
    settings = BillingSettings.load()
    settings.legal_name = "Atalaya Servicios SL"
    settings.tax_id = "B65410011"
    settings.address = "Calle Mayor 1, Madrid"
    settings.save()
    return settings


def profile(client: Client, tax_id: str, **fields: Any) -> BillingProfile:
    found, _created = BillingProfile.objects.update_or_create(
        client=client, defaults={"tax_id": tax_id, **fields}
    )
    return found


def shop(world: Any) -> Shop:
    """The catalogue every test here uses, made through the catalogue service."""
    seller()
    profile(world.client_a, "A58818501")
    profile(world.client_b, "B12345674")

    def simple(code: str, en: str, es: str, unit: str, price: str, **more: Any) -> Product:
        return catalog.create_product(
            actor=world.billing,
            code=code,
            name_en=en,
            name_es=es,
            unit=unit,
            unit_price=Decimal(price),
            **more,
        )

    vpn = simple("vpn", "VPN", "VPN", "user", "5")
    mfa = simple("mfa", "Multi-factor sign-in", "Doble factor", "user", "3")
    antivirus = simple("antivirus", "Antivirus", "Antivirus", "device", "4")
    backup = simple("backup", "Backup", "Copia de seguridad", "user", "8")
    bundle = catalog.create_product(
        actor=world.billing,
        code="remote-worker",
        name_en="Remote worker bundle",
        name_es="Pack teletrabajo",
        unit="user",
        unit_price=Decimal("25.00"),
        components=[(vpn, 1), (mfa, 1), (antivirus, 1), (backup, 1)],
    )
    device = simple("monitoring", "Device monitoring", "Monitorización de equipo", "device", "7.50")
    fee = simple("fee", "Service fee", "Cuota de servicio", "fixed", "100", vat_rate="21")
    remote = WorkType.objects.get(slug="remote")
    onsite = WorkType.objects.get(slug="onsite")
    remote_hour = simple(
        "remote-hour", "Remote support", "Soporte remoto", "hour", "60", work_type=remote
    )
    return Shop(
        series=factories.series(),
        vpn=vpn,
        mfa=mfa,
        antivirus=antivirus,
        backup=backup,
        bundle=bundle,
        device=device,
        fee=fee,
        remote_hour=remote_hour,
        remote=remote,
        onsite=onsite,
    )


def devices(client: Client, count: int, *, retired: int = 0) -> None:
    """``count`` monitored devices of the client's first site, ``retired`` more retired."""
    from django.utils import timezone

    site = client.sites.first()
    start = Device.objects.count()
    for n in range(count + retired):
        Device.objects.create(
            client=client,
            site=site,
            hostname=f"{client.pk}-pc-{start + n}",
            token_hash=f"{client.pk:08d}{start + n:056d}",
            token_hint="abcd",
            retired_at=timezone.now() if n >= count else None,
        )


def users(client: Client, count: int) -> None:
    """``count`` more contacts of the client flagged as users."""
    from atalaya.core import services as core_services

    start = ContactMembership.objects.filter(client=client).count()
    for n in range(count):
        core_services.create_contact(
            actor=None,
            clients=[client],
            name=f"User {start + n}",
            email=f"user{start + n}@{client.pk}.example",
        )


def mandate(client: Client, reference: str = "ALFA-0001") -> Mandate:
    return Mandate.objects.create(
        client=client,
        reference=reference,
        signed_on=date(2026, 1, 15),
        debtor_name=client.name,
        iban=CLIENT_IBAN,
    )
