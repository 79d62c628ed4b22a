"""Demo quotes for the remote worker bundle: one waiting for the client, one accepted
(with the agreement it became), one declined, one expired.

Written through the quote services, with the clock at the demo's NOW; mail is paused
while the demo loads (``notifications_paused``), so no quote reaches anyone.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q

from atalaya.billing.models import Product, Quote
from atalaya.billing.services import quotes
from atalaya.core.models import ContactMembership, Role


def _deciders(loader: Any) -> list[tuple[Any, Any]]:
    """(client, portal user) pairs, one per client, the user made a decision maker there."""
    found: dict[int, tuple[Any, Any]] = {}
    for user in loader.users.values():
        if user.role != Role.PORTAL or user.contact_id is None:
            continue
        membership = (
            ContactMembership.objects.filter(contact_id=user.contact_id)
            .select_related("client")
            .order_by("id")
            .first()
        )
        if membership is None or membership.client_id in found:
            continue
        if not (membership.is_decision_maker or membership.is_billing):
            ContactMembership.objects.filter(pk=membership.pk).update(is_decision_maker=True)
        found[membership.client_id] = (membership.client, user)
    return list(found.values())


def load_quotes(loader: Any, seed: int) -> None:
    """A sent quote for the remote worker bundle × 12, one accepted, one declined, one expired."""
    bundle = Product.objects.filter(code="remote-worker").first()
    if bundle is None:
        return
    extras = list(
        Product.objects.filter(is_active=True, is_package=False)
        .exclude(Q(unit="hour") | Q(code="remote-worker"))
        .order_by("code")[:1]
    )
    author = next(
        (u for u in loader.users.values() if u.role == Role.TECHNICIAN),
        loader.users["admin"],
    )
    pairs = _deciders(loader)[:4]
    if not pairs:
        return
    today = loader.plan.now.date()

    def quote(client: Any, users: int, title_en: str, title_es: str) -> Quote:
        lines: list[dict[str, Any]] = [
            {"product": bundle, "quantity": Decimal(users), "discount_percent": Decimal(5)}
        ]
        lines += [{"product": p, "quantity": Decimal(1)} for p in extras]
        made = quotes.create_quote(
            actor=author,
            client=client,
            title=title_es if client.language == "es" else title_en,
            intro=(
                "Todo su equipo trabajando desde casa con seguridad: VPN, doble factor, "
                "antivirus y copia de seguridad por persona."
                if client.language == "es"
                else "Your whole team working from home safely: VPN, MFA, antivirus and "
                "backup for each person."
            ),
            valid_until=today + timedelta(days=30),
            proposed_start=today + timedelta(days=7),
            lines=lines,
        )
        quotes.send_quote(actor=author, quote=made)
        return Quote.objects.select_related("client").get(pk=made.pk)

    client, _user = pairs[0]
    quote(client, 12, "Remote worker bundle for 12 people", "Pack teletrabajo para 12 personas")
    if len(pairs) > 1:
        client, user = pairs[1]
        accepted = quote(client, 8, "Remote work for the office", "Teletrabajo para la oficina")
        quotes.accept_quote(quote=accepted, user=user, start_date=today + timedelta(days=7))
    if len(pairs) > 2:
        client, user = pairs[2]
        declined = quote(client, 5, "Remote worker bundle", "Pack teletrabajo")
        quotes.decline_quote(
            quote=declined,
            user=user,
            reason="Lo haremos más adelante, tras el verano."
            if user.language == "es"
            else "We will do it later, after the summer.",
        )
    if len(pairs) > 3:
        client, _user = pairs[3]
        late = quote(client, 20, "Remote worker bundle", "Pack teletrabajo")
        Quote.objects.filter(pk=late.pk).update(valid_until=today - timedelta(days=3))
        quotes.expire_due(today=today)
    loader.progress(f"{min(len(pairs), 4)} quotes")
