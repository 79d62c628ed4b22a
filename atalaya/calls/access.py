"""Scoped lookups of calls, rings and phone systems: 404 for what the user may not see."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from atalaya.calls.models import Call, PhoneSystem, Ring


def public_id_or_404(value: object) -> uuid.UUID:
    """A public id from a URL or a field; anything that is not a UUID is simply not found."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found") from None


def visible_calls(user: Any) -> QuerySet[Call]:
    return Call.objects.visible_to(user).select_related("client", "contact", "technician", "ticket")


def get_call_or_404(user: Any, public_id: object) -> Call:
    call = visible_calls(user).filter(public_id=public_id_or_404(public_id)).first()
    if call is None:
        raise Http404("No such call")
    return call


def get_phone_system_or_404(user: Any, public_id: object) -> PhoneSystem:
    system = PhoneSystem.objects.visible_to(user).filter(public_id=public_id_or_404(public_id))
    found = system.first()
    if found is None:
        raise Http404("No such phone system")
    return found


def get_ring_or_none(user: Any, pk: object) -> Ring | None:
    """A ring named in a query string (?ring=12) for prefilling the form; None if not seen."""
    try:
        number = int(str(pk))
    except (TypeError, ValueError):
        return None
    return (
        Ring.objects.visible_to(user)
        .select_related("contact", "call", "call__client", "phone_system")
        .filter(pk=number)
        .first()
    )
