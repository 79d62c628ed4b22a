"""API routes for the signed-in token's user, clients, sites and contacts.

Objects are loaded only through core.access (404 for what the caller may not see)
and written only through core.services; ids are public UUIDs. Lists are paged by
limit and offset without counting rows: the page says whether another one follows.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router

from atalaya.apiutil import FieldNotFound, created, responses
from atalaya.core import services
from atalaya.core.access import get_client_or_404, get_contact_or_404, get_site_or_404
from atalaya.core.models import Client, Contact, ContactMembership, Site, User
from atalaya.core.schemas import (
    ClientOut,
    ClientPage,
    ContactIn,
    ContactOut,
    ContactPage,
    MeOut,
    SiteOut,
)

router = Router(tags=["clients"])

MAX_LIMIT = 200
MAX_OFFSET = 10_000_000


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # set by the bearer auth; every route requires it
    return user


def client_out(client: Client) -> dict[str, Any]:
    return {
        "public_id": client.public_id,
        "name": client.name,
        "legal_name": client.legal_name,
        "language": client.language,
        "time_zone": client.time_zone,
        "phone": client.phone,
        "is_active": client.is_active,
        "working_days": client.working_days,
        "workday_starts_at": client.workday_starts_at.strftime("%H:%M"),
        "workday_ends_at": client.workday_ends_at.strftime("%H:%M"),
        "created_at": client.created_at,
    }


def site_out(site: Site, client_public_id: uuid.UUID) -> dict[str, Any]:
    return {
        "public_id": site.public_id,
        "client": client_public_id,
        "name": site.name,
        "address": site.address,
        "time_zone": site.time_zone,
        "created_at": site.created_at,
    }


def contact_out(contact: Contact) -> dict[str, Any]:
    # ``visible_memberships`` is prefetched and already narrowed to the viewer's
    # clients, so a portal user never learns which other clients a shared contact has.
    return {
        "public_id": contact.public_id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "language": contact.language,
        "time_zone": contact.time_zone,
        "clients": [m.client.public_id for m in contact.visible_memberships],  # type: ignore[attr-defined]
        "created_at": contact.created_at,
    }


def _contacts_for(user: User) -> QuerySet[Contact]:
    memberships = ContactMembership.objects.select_related("client").order_by("client__name")
    if not user.is_msp_staff:
        memberships = memberships.filter(client__in=Client.objects.visible_to(user))
    return Contact.objects.visible_to(user).prefetch_related(
        Prefetch("memberships", queryset=memberships, to_attr="visible_memberships")
    )


def _page(rows: list[Any], limit: int, offset: int) -> tuple[list[Any], int | None]:
    # One extra row is fetched to learn whether a next page exists, instead of a COUNT.
    if len(rows) > limit:
        return rows[:limit], offset + limit
    return rows, None


@router.get("/me", response=responses(MeOut), tags=["account"], summary="The token's user")
def me(request: HttpRequest) -> dict[str, Any]:
    """Who this token acts as: role, language, time zone and, for portal users, their clients."""
    user = _user(request)
    clients = None
    if not user.is_msp_staff:
        clients = list(Client.objects.visible_to(user).values_list("public_id", flat=True))
    return {
        "username": user.username,
        "name": user.display_name(),
        "role": user.role,
        "language": user.language,
        "time_zone": user.time_zone,
        "clients": clients,
    }


@router.get("/clients", response=responses(ClientPage), summary="List clients")
def list_clients(
    request: HttpRequest,
    q: str = Query("", max_length=200, description="Part of the client's name."),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """The clients you may see (all for staff, your own for portal users), by name."""
    qs = Client.objects.visible_to(_user(request)).order_by("name", "id")
    if q.strip():
        qs = qs.filter(Q(name__icontains=q.strip()) | Q(legal_name__icontains=q.strip()))
    rows, next_offset = _page(list(qs[offset : offset + limit + 1]), limit, offset)
    return {"items": [client_out(c) for c in rows], "next_offset": next_offset}


@router.get("/clients/{public_id}", response=responses(ClientOut), summary="Get a client")
def get_client(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """One client by its public id; 404 when it does not exist or is not yours."""
    return client_out(get_client_or_404(_user(request), public_id))


@router.get(
    "/clients/{public_id}/sites", response=responses(list[SiteOut]), summary="List a client's sites"
)
def list_sites(request: HttpRequest, public_id: str) -> list[dict[str, Any]]:
    """The sites (offices, branches) of one client."""
    client = get_client_or_404(_user(request), public_id)
    return [
        site_out(s, client.public_id) for s in Site.objects.filter(client=client).order_by("name")
    ]


@router.get("/sites/{public_id}", response=responses(SiteOut), summary="Get a site")
def get_site(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """One site by its public id."""
    site = get_site_or_404(_user(request), public_id)
    return site_out(site, site.client.public_id)


@router.get("/contacts", response=responses(ContactPage), summary="List contacts")
def list_contacts(
    request: HttpRequest,
    client: uuid.UUID | None = Query(None, description="Only contacts of this client."),  # noqa: B008
    q: str = Query("", max_length=200, description="Part of the name or e-mail address."),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Contacts you may see, optionally of one client, by name."""
    user = _user(request)
    qs = _contacts_for(user)
    if client is not None:
        found = Client.objects.visible_to(user).filter(public_id=client).first()
        if found is None:
            raise FieldNotFound("client", _("No such client."))
        qs = qs.filter(memberships__client=found)
    if q.strip():
        qs = qs.filter(Q(name__icontains=q.strip()) | Q(email__icontains=q.strip()))
    rows, next_offset = _page(
        list(qs.order_by("name", "id")[offset : offset + limit + 1]), limit, offset
    )
    return {"items": [contact_out(c) for c in rows], "next_offset": next_offset}


@router.get("/contacts/{public_id}", response=responses(ContactOut), summary="Get a contact")
def get_contact(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """One contact by its public id."""
    user = _user(request)
    get_contact_or_404(user, public_id)  # the scoped lookup decides visibility
    return contact_out(_contacts_for(user).get(public_id=public_id))


@router.post("/contacts", response=responses(ContactOut, 201), summary="Create a contact")
def create_contact(request: HttpRequest, payload: ContactIn) -> Any:
    """Add a person at one or more clients (technicians and admins)."""
    user = _user(request)
    if not user.can_write_tickets:
        # Checked before the lookups so a read-only role learns nothing about ids.
        raise PermissionDenied(_("Your role may not add contacts."))
    wanted = list(dict.fromkeys(payload.clients))
    clients = list(Client.objects.visible_to(user).filter(public_id__in=wanted))
    if len(clients) != len(wanted):
        raise FieldNotFound("clients", _("No such client."))
    site = None
    if payload.site is not None:
        site = Site.objects.visible_to(user).filter(public_id=payload.site).first()
        if site is None:
            raise FieldNotFound("site", _("No such site."))
        if site.client_id not in {c.pk for c in clients}:
            raise ValidationError({"site": [_("This site belongs to another client.")]})
    contact = services.create_contact(
        actor=user,
        clients=clients,
        name=payload.name,
        email=payload.email,
        site=site,
        phone=payload.phone,
        language=payload.language,
        time_zone=payload.time_zone,
    )
    return created(contact_out(_contacts_for(user).get(pk=contact.pk)))
