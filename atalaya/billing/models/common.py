"""What every billing model shares: who may see it, money fields, the VAT categories."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, Client, Role

# Writes to billing data: catalogue, agreements, invoices, payments, reminders.
BILLING_WRITER_ROLES = frozenset({Role.ADMIN, Role.BILLING})

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def can_write_billing(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.role in BILLING_WRITER_ROLES)


def require_billing_writer(actor: Any) -> None:
    """Every billing write's check: a person needs the billing role or to be an
    administrator; ``None`` is Atalaya itself (the recurring run, an import, the CLI)."""
    if actor is not None and not can_write_billing(actor):
        raise PermissionDenied(_("Your role may not change billing."))


def billing_clients_of(user: Any) -> models.QuerySet[Client]:
    """Clients whose billing the user may see; fails closed like ``Client.visible_to``.

    Staff see every client. A portal user sees the clients where their contact is
    flagged as billing or decision maker: an ordinary user of the client company does
    not see its invoices.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Client.objects.none()
    if user.role in STAFF_ROLES:
        return Client.objects.all()
    if user.role == Role.PORTAL and user.contact_id:
        return Client.objects.filter(
            Q(memberships__is_billing=True) | Q(memberships__is_decision_maker=True),
            memberships__contact_id=user.contact_id,
        ).distinct()
    return Client.objects.none()


class ClientOwnedQuerySet(models.QuerySet[Any]):
    """A queryset of rows with a non-null ``client``; ``visible_to`` fails closed."""

    def visible_to(self, user: Any) -> Any:
        return self.filter(client__in=billing_clients_of(user))


def money_field(**kwargs: Any) -> models.DecimalField:
    """An amount in euros (or the invoice's currency) with cents: NUMERIC(14, 2)."""
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    return models.DecimalField(**kwargs)


def price_field(**kwargs: Any) -> models.DecimalField:
    """A unit price: four decimals, since per-unit prices are often fractions of a cent."""
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 4)
    return models.DecimalField(**kwargs)


def quantity_field(**kwargs: Any) -> models.DecimalField:
    kwargs.setdefault("max_digits", 12)
    kwargs.setdefault("decimal_places", 3)
    return models.DecimalField(**kwargs)


class VatCategory(models.TextChoices):
    """EN 16931 VAT category codes (UNCL5305) Atalaya bills with."""

    STANDARD = "S", _("Standard rate")
    EXEMPT = "E", _("Exempt")
    REVERSE_CHARGE = "AE", _("Reverse charge")


# Spanish IVA rates a line may carry under the standard category.
IVA_RATES = (Decimal("21.00"), Decimal("10.00"), Decimal("4.00"))


class Unit(models.TextChoices):
    PER_USER = "user", _("per user")
    PER_DEVICE = "device", _("per device")
    FIXED = "fixed", _("fixed")
    PER_HOUR = "hour", _("per hour")


class BillingPeriod(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    YEARLY = "yearly", _("Yearly")


class PaymentMethod(models.TextChoices):
    TRANSFER = "transfer", _("Bank transfer")
    DIRECT_DEBIT = "direct_debit", _("Direct debit")
    CARD = "card", _("Card")
    CASH = "cash", _("Cash")
