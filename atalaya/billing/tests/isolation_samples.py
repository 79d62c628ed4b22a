"""Client A's quote for the isolation test (merged into its SAMPLES)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone


def _a_quote_of_a(a: Any) -> Any:
    """A sent quote of client A (its title carries the marker), drafted by the service and
    marked sent directly: sending would render a PDF for every route walked."""
    if "quote" in a.extra:
        return a.extra["quote"]
    from atalaya.billing.models import Product, Quote, QuoteStatus
    from atalaya.billing.services import quotes

    product = Product.objects.filter(code="alfa-secret-bundle").first() or Product.objects.create(
        code="alfa-secret-bundle",
        name_en="alfa-secret bundle",
        name_es="alfa-secret pack",
        unit="user",
        unit_price=Decimal(19),
    )
    quote = quotes.create_quote(
        actor=None,
        client=a.world.client_a,
        title="alfa-secret quote",
        valid_until=timezone.localdate() + timedelta(days=30),
        lines=[{"product": product, "quantity": 12}],
    )
    Quote.objects.filter(pk=quote.pk).update(
        status=QuoteStatus.SENT, year=2026, number=9001, code="Q-2026-9001"
    )
    quote.refresh_from_db()
    a.extra["quote"] = quote
    return quote


SAMPLES: dict[str, Callable[[Any], Any]] = {
    "quote_id": lambda a: _a_quote_of_a(a).public_id,
    "quote_line_id": lambda a: _a_quote_of_a(a).lines.first().pk,
}
