"""Logging a call: caller lookup, new ticket or note on an open ticket, no duplicates, pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from atalaya.calls import services
from atalaya.calls.models import Call
from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.core.models import AuditEvent
from atalaya.tickets.models import Category, EventKind, Ticket, TicketEvent


@pytest.fixture
def phoned(world: World) -> World:
    core_services.set_contact_phone(actor=None, contact=world.contact_a, phone="612 34 56 78")
    core_services.set_contact_phone(actor=None, contact=world.contact_b, phone="+34 699 11 22 33")
    world.contact_a.refresh_from_db()
    return world


@pytest.mark.parametrize("typed", ["612345678", "+34 612-34-56-78", "0034612345678", "345678"])
def test_find_callers_however_typed(phoned: World, typed: str) -> None:
    matches = services.find_callers(phoned.tech, typed)
    assert [(m.contact, m.client, m.open_tickets) for m in matches] == [
        (phoned.contact_a, phoned.client_a, 1)
    ]
    assert matches[0].by_phone


def test_find_callers_by_name_in_one_query(phoned: World, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        matches = services.find_callers(phoned.tech, "contact of")
    assert {m.client for m in matches} == {phoned.client_a, phoned.client_b}
    assert services.find_callers(phoned.portal_a, "contact of") == []
    assert services.find_callers(phoned.tech, "5678") == []  # too few digits


def test_log_call_as_new_ticket_and_as_note(phoned: World) -> None:
    call = services.log_call(
        actor=phoned.tech,
        client=phoned.client_a,
        contact=phoned.contact_a,
        note="Printer offline\nSince the power cut.",
        idempotency_key="k1",
    )
    ticket = call.ticket
    assert ticket is not None and ticket.subject == "Printer offline"
    assert ticket.contact == phoned.contact_a and call.number == "+34612345678"
    assert call.event is not None and call.event.kind == EventKind.CREATED
    assert AuditEvent.objects.filter(object_id=str(call.public_id), action="logged_as_ticket")
    # The same token again: the same call, no second ticket.
    again = services.log_call(
        actor=phoned.tech,
        client=phoned.client_a,
        contact=phoned.contact_a,
        note="x",
        idempotency_key="k1",
    )
    assert again.pk == call.pk and Call.objects.count() == 1
    note = services.log_call(
        actor=phoned.tech,
        client=phoned.client_a,
        contact=phoned.contact_a,
        note="Called back: fixed.",
        ticket=phoned.ticket_a,
    )
    assert note.event.kind == EventKind.NOTE and "Called back: fixed." in note.event.body
    assert note.ticket == phoned.ticket_a


def test_log_call_refuses_what_does_not_fit(phoned: World) -> None:
    with pytest.raises(ValidationError) as caught:
        services.log_call(
            actor=phoned.tech,
            client=phoned.client_a,
            contact=phoned.contact_a,
            note="x",
            ticket=phoned.ticket_b,
        )
    assert "ticket" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.log_call(
            actor=phoned.tech, client=phoned.client_a, contact=phoned.contact_b, note="x"
        )
    assert "contact" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.log_call(actor=phoned.tech, client=phoned.client_a, note="", number="12")
    assert "number" in caught.value.message_dict
    with pytest.raises(services.PermissionDenied):
        services.log_call(actor=phoned.readonly, client=phoned.client_a, note="x")
    assert not Call.objects.exists()


def _form(world: World, **extra: str) -> dict[str, str]:
    data = {
        "q": "612345678",
        "pick": f"{world.contact_a.public_id}:{world.client_a.public_id}",
        "note": "VPN down again",
        "file_as": "new",
        "direction": "in",
        "token": "a" * 32,
        "save": "1",
    }
    data.update(extra)
    return data


def test_form_logs_once_on_double_submit(phoned: World) -> None:
    http = phoned.http(phoned.tech)
    url = reverse("calls:new")
    assert http.get(url).status_code == 200
    first = http.post(url, _form(phoned))
    second = http.post(url, _form(phoned))
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Call.objects.count() == 1
    assert Ticket.objects.filter(subject="VPN down again").count() == 1


def test_form_files_a_new_ticket_in_the_chosen_category(phoned: World) -> None:
    """The category picked in the form is the new ticket's; one that does not exist is
    a form error and nothing is saved."""
    category = Category.objects.exclude(pk=phoned.ticket_a.category_id).first()
    assert category is not None
    http = phoned.http(phoned.tech)
    url = reverse("calls:new")
    bad = http.post(url, _form(phoned, category="no-such-area"))
    assert bad.status_code == 400 and not Call.objects.exists()
    assert http.post(url, _form(phoned, category=str(category.pk))).status_code == 302
    assert Ticket.objects.get(subject="VPN down again").category == category
    # On an open ticket the call is a note: the ticket keeps its own category.
    before = phoned.ticket_a.category_id
    on_ticket = _form(phoned, file_as=str(phoned.ticket_a.number), token="e" * 32)
    assert http.post(url, {**on_ticket, "category": str(category.pk)}).status_code == 302
    phoned.ticket_a.refresh_from_db()
    assert phoned.ticket_a.category_id == before


def test_form_on_an_open_ticket_and_unknown_caller(phoned: World) -> None:
    http = phoned.http(phoned.tech)
    url = reverse("calls:new")
    response = http.post(url, _form(phoned, file_as=str(phoned.ticket_a.number), token="b" * 32))
    assert response["Location"] == reverse("tickets:detail", args=[phoned.ticket_a.number])
    assert TicketEvent.objects.filter(ticket=phoned.ticket_a, kind="note").count() == 1
    unknown = _form(
        phoned, pick="", q="+34 911 22 33 44", number="+34 911 22 33 44", token="c" * 32
    )
    unknown["client"] = str(phoned.client_b.public_id)
    assert http.post(url, unknown).status_code == 302
    call = Call.objects.get(number="+34911223344")
    assert call.client == phoned.client_b and call.contact is None
    # Neither a caller nor a client: the form says so, nothing saved.
    bad = http.post(url, _form(phoned, pick="", token="d" * 32))
    assert bad.status_code == 400 and "Pick the caller" in bad.content.decode()


def test_page_permissions(phoned: World) -> None:
    url = reverse("calls:new")
    assert phoned.http(phoned.portal_a).get(url).status_code == 404
    assert phoned.http(phoned.portal_b).get(reverse("calls:list")).status_code == 404
    assert phoned.http(phoned.readonly).post(url, _form(phoned)).status_code == 403
    assert phoned.http(phoned.tech).delete(url).status_code == 405
    assert phoned.http(phoned.tech).put(reverse("calls:list")).status_code == 405
    assert not Call.objects.exists()


def test_lookup_fragment_auto_picks_one_match(phoned: World) -> None:
    http = phoned.http(phoned.tech)
    response = http.get(reverse("calls:lookup"), {"q": "612 34 56 78"})
    body = response.content.decode()
    assert response.status_code == 200 and "Contact of Alfa Asesores" in body
    assert "checked" in body and f'value="{phoned.ticket_a.number}"' in body
    assert "Beta" not in body


def test_call_list_query_count(phoned: World, django_assert_max_num_queries) -> None:
    for n in range(5):
        services.log_call(
            actor=phoned.tech, client=phoned.client_a, contact=phoned.contact_a, note=f"call {n}"
        )
    http = phoned.http(phoned.tech)
    with django_assert_max_num_queries(6):
        response = http.get(reverse("calls:list"))
    assert response.status_code == 200 and response.content.decode().count("call ") >= 5
    assert http.get(reverse("calls:list"), {"client": phoned.client_b.public_id}).status_code == 200
