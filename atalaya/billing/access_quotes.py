"""Scoped lookups of quotes: the only way views and the API load them.

Staff see every quote; a portal user sees the quotes of their companies once sent
(never drafts). Anything else is a 404, exactly as for a quote that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404

from atalaya.billing.models import Quote, QuoteLine


def _uuid(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found") from None


def get_quote_or_404(user: Any, public_id: object) -> Quote:
    quote = (
        Quote.objects.visible_to(user)
        .select_related("client", "created_by", "decided_by", "agreement")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if quote is None:
        raise Http404("No such quote")
    return quote


def get_quote_line_or_404(quote: Quote, line_id: object) -> QuoteLine:
    try:
        pk = int(str(line_id))
    except ValueError:
        raise Http404("No such line") from None
    line = QuoteLine.objects.select_related("product").filter(quote=quote, pk=pk).first()
    if line is None:
        raise Http404("No such line")
    return line
