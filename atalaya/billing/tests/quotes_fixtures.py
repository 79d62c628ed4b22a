"""Shared set-up of the quote tests: the catalogue of the agreement tests, A's portal
contact as decision maker, and a quote for the remote worker bundle × 12 users."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from atalaya.billing.models import Quote
from atalaya.billing.services import quotes
from atalaya.billing.tests.agreements_fixtures import Shop, shop
from atalaya.core.models import ContactMembership, User


def ready(world: Any) -> Shop:
    """The catalogue, the invoice series, and A's and B's contacts as decision makers
    (made once per world: later calls return the same shop)."""
    if getattr(world, "_quote_shop", None) is not None:
        return world._quote_shop  # type: ignore[no-any-return]
    found = shop(world)
    world._quote_shop = found
    ContactMembership.objects.filter(contact__in=[world.contact_a, world.contact_b]).update(
        is_decision_maker=True
    )
    world.tech.email = "tech@atalaya-msp.example"
    world.tech.save(update_fields=["email"])
    return found


def draft(world: Any, the_shop: Shop, *, client: Any = None, title: str = "Remote work") -> Quote:
    return quotes.create_quote(
        actor=world.tech,
        client=client or world.client_a,
        title=title,
        intro="Everyone working from home, safely.",
        valid_until=timezone.localdate() + timedelta(days=30),
        proposed_start=timezone.localdate() + timedelta(days=7),
        lines=[
            {"product": the_shop.bundle, "quantity": Decimal(12), "discount_percent": "10"},
            {"product": the_shop.fee, "quantity": 1},
        ],
    )


def sent(world: Any, the_shop: Shop, **kwargs: Any) -> Quote:
    quote = draft(world, the_shop, **kwargs)
    quotes.send_quote(actor=world.tech, quote=quote)
    return Quote.objects.select_related("client").get(pk=quote.pk)


def plain_user_of_a(world: Any) -> User:
    """A portal user of client A who is neither decision maker nor billing contact."""
    from atalaya.conftest import PASSWORD
    from atalaya.core import services as core_services

    contact = core_services.create_contact(
        actor=None, clients=[world.client_a], name="Pablo", email="pablo@alfa.example"
    )
    return core_services.create_portal_user(
        actor=None, contact=contact, username="pablo@alfa.example", password=PASSWORD
    )
