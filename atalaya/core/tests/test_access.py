"""Scoped lookups (access.py): the only way views and the API load client-owned objects.

Each helper answers 404 for what the user may not see, exactly as for what does not
exist, and fails closed for any user it does not recognise.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from atalaya.core import access as core_access
from atalaya.core import services as core_services
from atalaya.tickets import access as ticket_access
from atalaya.tickets import services as ticket_services
from atalaya.tickets.models import EventKind


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


LOOKUPS = {
    "client": (
        core_access.get_client_or_404,
        lambda w, side: getattr(w, f"client_{side}").public_id,
    ),
    "site": (core_access.get_site_or_404, lambda w, side: getattr(w, f"site_{side}").public_id),
    "contact": (
        core_access.get_contact_or_404,
        lambda w, side: getattr(w, f"contact_{side}").public_id,
    ),
    "ticket": (
        ticket_access.get_ticket_or_404,
        lambda w, side: getattr(w, f"ticket_{side}").number,
    ),
}


@pytest.mark.parametrize("kind", LOOKUPS)
def test_portal_user_reaches_own_client_objects_only(world, kind: str) -> None:
    lookup, ident = LOOKUPS[kind]
    assert lookup(world.portal_a, ident(world, "a")) is not None
    with pytest.raises(Http404):
        lookup(world.portal_a, ident(world, "b"))
    with pytest.raises(Http404):
        lookup(world.portal_b, ident(world, "a"))


@pytest.mark.parametrize("kind", LOOKUPS)
@pytest.mark.parametrize("role", ["admin", "tech", "readonly", "billing"])
def test_staff_reach_every_client(world, kind: str, role: str) -> None:
    lookup, ident = LOOKUPS[kind]
    user = getattr(world, role)
    assert lookup(user, ident(world, "a")) is not None
    assert lookup(user, ident(world, "b")) is not None


@pytest.mark.parametrize("kind", LOOKUPS)
@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-a-uuid",
        "1 OR 1=1",
        "../../etc",
        None,
        10**30,
        "٣",
        "\x00",
        "8f20eff2-7207-4987-a8ae-aba5e2027fcf",
    ],
)
def test_garbage_and_unknown_ids_are_404(world, kind: str, bad: object) -> None:
    lookup, _ident = LOOKUPS[kind]
    with pytest.raises(Http404):
        lookup(world.admin, bad)


@pytest.mark.parametrize("kind", LOOKUPS)
def test_strangers_and_deactivated_users_reach_nothing(world, kind: str) -> None:
    lookup, ident = LOOKUPS[kind]
    for user in (world.tech, world.portal_a):
        user.is_active = False
        user.save(update_fields=["is_active"])
    for user in (AnonymousUser(), world.tech, world.portal_a):
        with pytest.raises(Http404):
            lookup(user, ident(world, "a"))


@pytest.mark.parametrize("kind", LOOKUPS)
def test_unknown_role_fails_closed(world, kind: str) -> None:
    lookup, ident = LOOKUPS[kind]
    world.readonly.role = "auditor"  # a role this version does not know
    with pytest.raises(Http404):
        lookup(world.readonly, ident(world, "a"))


def test_contact_of_two_clients_sees_both(world) -> None:
    core_services.add_contact_to_client(actor=None, contact=world.contact_a, client=world.client_b)
    world.portal_a.refresh_from_db()
    assert ticket_access.get_ticket_or_404(world.portal_a, world.ticket_b.number) == world.ticket_b
    assert core_access.get_client_or_404(world.portal_a, world.client_b.public_id) == world.client_b
    # Client B's own portal user still does not see A.
    with pytest.raises(Http404):
        ticket_access.get_ticket_or_404(world.portal_b, world.ticket_a.number)


def test_portal_user_sees_contacts_of_own_client_only(world) -> None:
    visible = set(
        core_access.Contact.objects.visible_to(world.portal_a).values_list("pk", flat=True)
    )
    assert visible == {world.contact_a.pk}


def test_ticket_numbers_as_text_are_accepted(world) -> None:
    number = world.ticket_a.number
    assert ticket_access.get_ticket_or_404(world.portal_a, str(number)) == world.ticket_a
    with pytest.raises(Http404):
        ticket_access.get_ticket_or_404(world.portal_a, f"{number}abc")


def test_timeline_hides_internal_events_from_clients(world) -> None:
    ticket = world.ticket_a
    ticket_services.add_note(ticket, actor=world.tech, body="internal")
    ticket_services.assign_ticket(ticket, actor=world.tech, assignee=world.tech)
    ticket_services.log_time(ticket, actor=world.tech, minutes=5, note="time note")
    ticket_services.add_reply(ticket, actor=world.tech, body="public")
    staff = {e.kind for e in ticket_access.timeline_of(ticket, world.readonly)}
    client = {e.kind for e in ticket_access.timeline_of(ticket, world.portal_a)}
    assert {EventKind.NOTE, EventKind.ASSIGNMENT, EventKind.TIME, EventKind.REPLY} <= staff
    assert client == {EventKind.CREATED, EventKind.REPLY, EventKind.STATUS}
    # The queryset rule agrees with the helper.
    from atalaya.tickets.models import TicketEvent

    assert {e.kind for e in TicketEvent.objects.visible_to(world.portal_a)} == client


def test_timeline_fails_closed_for_users_who_are_not_staff(world) -> None:
    ticket_services.add_note(world.ticket_a, actor=world.tech, body="internal")
    world.readonly.role = "auditor"
    kinds = {e.kind for e in ticket_access.timeline_of(world.ticket_a, world.readonly)}
    assert EventKind.NOTE not in kinds
