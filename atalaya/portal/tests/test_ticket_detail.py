"""A ticket in the portal: public timeline only, status in plain words, the client's reply."""

from __future__ import annotations

import pytest
from django.utils import translation

from atalaya.conftest import World
from atalaya.tickets import services
from atalaya.tickets.models import Status, TicketEvent

pytestmark = pytest.mark.django_db


def _url(ticket) -> str:
    return f"/portal/tickets/{ticket.number}/"


def test_internal_notes_time_and_assignment_never_show(english: World) -> None:
    world = english
    ticket = world.ticket_a
    services.add_note(ticket, actor=world.tech, body="SECRET-NOTE client owes us money")
    services.log_time(ticket, actor=world.tech, minutes=25, note="SECRET-TIME remote session")
    services.assign_ticket(ticket, actor=world.admin, assignee=world.tech)
    services.change_priority(ticket, actor=world.tech, priority="urgent")
    services.add_reply(ticket, actor=world.tech, body="PUBLIC-REPLY please restart the router")

    content = world.http(world.portal_a).get(_url(ticket)).content.decode()
    assert "PUBLIC-REPLY please restart the router" in content
    assert "Since this morning the VPN fails." in content
    assert "SECRET-NOTE" not in content
    assert "SECRET-TIME" not in content
    assert 'class="note"' not in content and 'class="time"' not in content
    assert 'class="assignment"' not in content and 'class="priority"' not in content
    # The staff page would show them: the events exist, the portal hides them.
    assert TicketEvent.objects.filter(ticket=ticket, kind="note").exists()


def test_event_wrongly_marked_public_of_a_private_kind_stays_hidden(english: World) -> None:
    world = english
    TicketEvent.objects.create(
        ticket=world.ticket_a, kind="note", is_public=True, body="MISFLAGGED-NOTE", actor=world.tech
    )
    content = world.http(world.portal_a).get(_url(world.ticket_a)).content.decode()
    assert "MISFLAGGED-NOTE" not in content


@pytest.mark.parametrize(
    "status,words",
    [
        (Status.OPEN, "We are working on it"),
        (Status.WAITING_CLIENT, "Waiting for your reply"),
        (Status.WAITING_THIRD_PARTY, "Waiting for a supplier"),
        (Status.RESOLVED, "Resolved"),
        (Status.CLOSED, "Closed"),
    ],
)
def test_status_in_plain_language(english: World, status: str, words: str) -> None:
    world = english
    services.change_status(world.ticket_a, actor=world.tech, status=status)
    content = world.http(world.portal_a).get(_url(world.ticket_a)).content.decode()
    assert f'status-{status}">{words}</span>' in content
    # The timeline says so too, without the technicians' code names.
    assert f"Status: {words}" in content
    assert f">{status}<" not in content


def test_new_ticket_reads_received(english: World) -> None:
    content = english.http(english.portal_a).get(_url(english.ticket_a)).content.decode()
    assert 'status-new">Received</span>' in content


def test_client_reply_is_saved_public_and_shown(english: World) -> None:
    world = english
    http = world.http(world.portal_a)
    response = http.post(_url(world.ticket_a), {"body": "It works again, thanks!"})
    assert response.status_code == 302
    assert response["Location"] == _url(world.ticket_a)
    event = TicketEvent.objects.get(ticket=world.ticket_a, kind="reply")
    assert event.is_public and event.actor is None and event.actor_contact == world.contact_a
    page = http.get(_url(world.ticket_a)).content.decode()
    assert "It works again, thanks!" in page
    assert "Your reply was sent." in page


def test_client_reply_reopens_a_resolved_ticket(english: World) -> None:
    world = english
    services.change_status(world.ticket_a, actor=world.tech, status="resolved")
    world.http(world.portal_a).post(_url(world.ticket_a), {"body": "Broken again."})
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.status == Status.OPEN


def test_reply_html_is_escaped(english: World) -> None:
    world = english
    http = world.http(world.portal_a)
    http.post(_url(world.ticket_a), {"body": "<script>alert(document.cookie)</script>"})
    services.add_reply(world.ticket_a, actor=world.tech, body='<a href="javascript:x()">click</a>')
    page = http.get(_url(world.ticket_a)).content.decode()
    assert "<script>alert(document.cookie)</script>" not in page
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in page
    assert '<a href="javascript:x()">' not in page
    assert "&lt;a href=&quot;javascript:x()&quot;&gt;click&lt;/a&gt;" in page


@pytest.mark.parametrize("body", ["", "   ", "\x00"])
def test_empty_reply_is_a_form_error_and_saves_nothing(english: World, body: str) -> None:
    world = english
    before = TicketEvent.objects.count()
    response = world.http(world.portal_a).post(_url(world.ticket_a), {"body": body})
    assert response.status_code == 400
    assert response.context["form"].errors
    assert TicketEvent.objects.count() == before


def test_reply_with_a_forbidden_file_saves_nothing(english: World) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    world = english
    before = TicketEvent.objects.count()
    response = world.http(world.portal_a).post(
        _url(world.ticket_a),
        {
            "body": "see attached",
            "attachments": [SimpleUploadedFile("evil.html", b"<script>")],
        },
    )
    assert response.status_code == 400
    assert "attachments" in response.context["form"].errors
    assert TicketEvent.objects.count() == before


def test_merged_ticket_points_to_the_survivor_and_takes_no_reply(english: World) -> None:
    world = english
    survivor = services.create_ticket(actor=world.tech, client=world.client_a, subject="VPN outage")
    services.merge_tickets(world.ticket_a, survivor, actor=world.tech)
    http = world.http(world.portal_a)
    page = http.get(_url(world.ticket_a)).content.decode()
    assert _url(survivor) in page
    assert 'name="body"' not in page
    before = TicketEvent.objects.count()
    assert http.post(_url(world.ticket_a), {"body": "hello?"}).status_code == 400
    assert TicketEvent.objects.count() == before
    # The survivor's page shows the merged ticket's public history.
    assert "Since this morning the VPN fails." in http.get(_url(survivor)).content.decode()


def test_page_is_in_the_contacts_language(world: World) -> None:
    world.portal_a.language = "es"
    world.portal_a.save(update_fields=["language"])
    response = world.http(world.portal_a).get(_url(world.ticket_a))
    assert response["Content-Language"] == "es"
    content = response.content.decode()
    assert '<html lang="es">' in content
    with translation.override("es"):
        assert translation.gettext("Send reply") in content
        assert translation.gettext("Received") in content


def test_page_query_count_does_not_grow_with_the_timeline(
    english: World, django_assert_max_num_queries
) -> None:
    world = english
    for i in range(20):
        services.add_reply(world.ticket_a, actor=world.tech, body=f"update {i}")
    http = world.http(world.portal_a)
    with django_assert_max_num_queries(7):
        response = http.get(_url(world.ticket_a))
    assert response.content.decode().count('<li class="reply"') == 20
