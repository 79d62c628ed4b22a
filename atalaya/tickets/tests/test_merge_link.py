"""Merging duplicate tickets and linking related ones.

A merge keeps both histories: the merged ticket closes and points to the survivor,
whose timeline folds the merged one's events in. Links are symmetric and idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from atalaya.tickets import services, sla
from atalaya.tickets.access import timeline_of
from atalaya.tickets.models import EventKind, Status, Ticket, TicketEvent, TicketLink

T0 = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def duplicate(world) -> Ticket:
    ticket = services.create_ticket(
        actor=world.portal_a,
        client=world.client_a,
        subject="VPN again",
        body="Same problem",
        now=T0 - timedelta(hours=1),
    )
    note = "Duplicate of the VPN ticket"
    services.add_note(ticket, actor=world.tech, body=note, now=T0 - timedelta(minutes=30))
    return ticket


def merge(world, source: Ticket, target: Ticket, at: datetime = T0) -> Ticket:
    return services.merge_tickets(source, target, actor=world.tech, now=at)


def test_merge_keeps_both_histories_and_points_to_the_survivor(world, duplicate: Ticket) -> None:
    survivor = world.ticket_a
    source_events_before = list(
        TicketEvent.objects.filter(ticket=duplicate).values_list("pk", flat=True)
    )
    merge(world, duplicate, survivor)
    duplicate.refresh_from_db()
    survivor.refresh_from_db()

    assert duplicate.merged_into == survivor
    assert duplicate.status == Status.CLOSED
    assert duplicate.closed_at == T0
    assert survivor.merged_into is None
    assert survivor.status == Status.NEW  # the survivor is not touched otherwise
    # The merged ticket keeps every event it had, plus its closing and the merge.
    source_events = list(TicketEvent.objects.filter(ticket=duplicate))
    assert [e.pk for e in source_events[: len(source_events_before)]] == source_events_before
    assert [e.kind for e in source_events[len(source_events_before) :]] == [
        EventKind.STATUS,
        EventKind.MERGE,
    ]
    assert source_events[-1].data == {"merged_into": survivor.number}
    assert source_events[-1].actor == world.tech and source_events[-1].created_at == T0
    target_merge = TicketEvent.objects.get(ticket=survivor, kind=EventKind.MERGE)
    assert target_merge.data == {"merged_from": duplicate.number}
    assert target_merge.actor == world.tech


def test_survivor_timeline_folds_in_the_merged_tickets_events(world, duplicate: Ticket) -> None:
    merge(world, duplicate, world.ticket_a)
    staff_view = list(timeline_of(world.ticket_a, world.tech))
    bodies = [e.body for e in staff_view]
    assert "Same problem" in bodies
    assert "Duplicate of the VPN ticket" in bodies
    assert "Since this morning the VPN fails." in bodies
    portal_view = [e.body for e in timeline_of(world.ticket_a, world.portal_a)]
    assert "Same problem" in portal_view
    assert "Duplicate of the VPN ticket" not in portal_view  # internal note stays internal


def test_earlier_merges_follow_the_survivor(world, duplicate: Ticket) -> None:
    third = services.create_ticket(actor=world.tech, client=world.client_a, subject="VPN #3")
    merge(world, third, duplicate)
    merge(world, duplicate, world.ticket_a, at=T0 + timedelta(minutes=1))
    third.refresh_from_db()
    assert third.merged_into == world.ticket_a
    assert set(world.ticket_a.merged_tickets.all()) == {duplicate, third}


def refused(world, source: Ticket, target: Ticket, field: str) -> None:
    before = (
        TicketEvent.objects.count(),
        list(Ticket.objects.order_by("pk").values_list("status", "merged_into")),
    )
    with pytest.raises(ValidationError) as exc:
        merge(world, source, target)
    assert set(exc.value.message_dict) == {field}
    after = (
        TicketEvent.objects.count(),
        list(Ticket.objects.order_by("pk").values_list("status", "merged_into")),
    )
    assert after == before


def test_merging_into_a_merged_ticket_is_refused(world, duplicate: Ticket) -> None:
    merge(world, duplicate, world.ticket_a)
    third = services.create_ticket(actor=world.tech, client=world.client_a, subject="VPN #3")
    refused(world, third, duplicate, "target")


def test_merging_a_merged_ticket_again_is_refused(world, duplicate: Ticket) -> None:
    merge(world, duplicate, world.ticket_a)
    third = services.create_ticket(actor=world.tech, client=world.client_a, subject="VPN #3")
    duplicate.refresh_from_db()
    refused(world, duplicate, third, "source")


def test_merging_into_itself_or_across_clients_is_refused(world, duplicate: Ticket) -> None:
    refused(world, duplicate, duplicate, "target")
    refused(world, duplicate, world.ticket_b, "target")


def test_a_survivor_cannot_be_merged_into_its_own_merged_ticket(world, duplicate: Ticket) -> None:
    merge(world, duplicate, world.ticket_a)
    duplicate.refresh_from_db()
    refused(world, world.ticket_a, duplicate, "target")


def test_merged_ticket_stays_closed(world, duplicate: Ticket) -> None:
    merge(world, duplicate, world.ticket_a)
    duplicate.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        services.change_status(duplicate, actor=world.tech, status=Status.OPEN)
    assert set(exc.value.message_dict) == {"status"}


def test_a_clients_reply_to_a_merged_ticket_does_not_reopen_it(world, duplicate: Ticket) -> None:
    merge(world, duplicate, world.ticket_a)
    duplicate.refresh_from_db()
    events = TicketEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.add_reply(duplicate, actor=world.portal_a, body="Any news?")
    assert set(exc.value.message_dict) == {"ticket"}
    assert str(world.ticket_a.number) in str(exc.value)
    duplicate.refresh_from_db()
    assert duplicate.status == Status.CLOSED
    assert TicketEvent.objects.count() == events


def test_merging_a_ticket_that_waits_on_the_client_saves_its_clock(
    world, duplicate: Ticket
) -> None:
    due = duplicate.first_response_due_at
    services.change_status(duplicate, actor=world.tech, status=Status.WAITING_CLIENT, now=T0)
    later = T0 + timedelta(hours=2)  # 10:00 → 12:00 in Madrid: 120 business minutes
    merge(world, Ticket.objects.get(pk=duplicate.pk), world.ticket_a, at=later)
    duplicate.refresh_from_db()
    assert duplicate.sla_paused_at is None
    assert duplicate.sla_paused_minutes == 120
    calendar = sla.BusinessCalendar.for_client(world.client_a)
    assert duplicate.first_response_due_at == sla.add_business_minutes(due, 120, calendar)


# --- links ------------------------------------------------------------------------------


def test_link_is_symmetric_and_idempotent(world, duplicate: Ticket) -> None:
    link = services.link_tickets(world.ticket_a, duplicate, actor=world.tech, now=T0)
    events = TicketEvent.objects.count()
    again = services.link_tickets(world.ticket_a, duplicate, actor=world.tech)
    reverse = services.link_tickets(duplicate, world.ticket_a, actor=world.admin)
    assert again.pk == reverse.pk == link.pk
    assert TicketLink.objects.count() == 1
    assert TicketEvent.objects.count() == events
    a_event = TicketEvent.objects.filter(ticket=world.ticket_a, kind=EventKind.LINK).get()
    d_event = TicketEvent.objects.filter(ticket=duplicate, kind=EventKind.LINK).get()
    assert a_event.data == {"linked": duplicate.number}
    assert d_event.data == {"linked": world.ticket_a.number}
    assert a_event.actor == d_event.actor == world.tech
    assert a_event.created_at == d_event.created_at == T0
    assert not a_event.is_public


def test_a_ticket_cannot_be_linked_to_itself(world) -> None:
    with pytest.raises(ValidationError) as exc:
        services.link_tickets(world.ticket_a, world.ticket_a, actor=world.tech)
    assert set(exc.value.message_dict) == {"other"}
    assert not TicketLink.objects.exists()


def test_links_are_not_shown_to_the_client(world, duplicate: Ticket) -> None:
    services.link_tickets(world.ticket_a, duplicate, actor=world.tech)
    kinds = {e.kind for e in TicketEvent.objects.visible_to(world.portal_a)}
    assert EventKind.LINK not in kinds
    assert EventKind.LINK not in {e.kind for e in timeline_of(world.ticket_a, world.portal_a)}
