"""Scoped lookups for clients, sites and contacts; 404 for what the user may not see."""

from __future__ import annotations

import uuid

from django.http import Http404

from atalaya.core.models import Client, Contact, Site, User


def _uuid(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise Http404("Not found") from None


def get_client_or_404(user: User, public_id: object) -> Client:
    client = Client.objects.visible_to(user).filter(public_id=_uuid(public_id)).first()
    if client is None:
        raise Http404("No such client")
    return client


def get_site_or_404(user: User, public_id: object) -> Site:
    site = (
        Site.objects.visible_to(user)
        .select_related("client")
        .filter(public_id=_uuid(public_id))
        .first()
    )
    if site is None:
        raise Http404("No such site")
    return site


def get_contact_or_404(user: User, public_id: object) -> Contact:
    contact = Contact.objects.visible_to(user).filter(public_id=_uuid(public_id)).first()
    if contact is None:
        raise Http404("No such contact")
    return contact
