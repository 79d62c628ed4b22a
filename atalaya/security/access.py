"""Scoped lookups shared by security's pages and API: 404 for what the user may not see."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404

from atalaya.core.models import Client
from atalaya.security.models import is_security_reader


def public_id_or_404(value: object) -> uuid.UUID:
    """A public id from a URL or a field; anything that is not a UUID is simply not found."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found") from None


def client_or_404(user: Any, public_id: object) -> Client:
    """A client by public id for MSP staff (security is theirs), else 404."""
    if not is_security_reader(user):
        raise Http404("Not found")
    found = Client.objects.visible_to(user).filter(public_id=public_id_or_404(public_id)).first()
    if found is None:
        raise Http404("No such client")
    return found
