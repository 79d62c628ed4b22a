"""Who may open which portal page: the permission matrix of the portal's routes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient

from atalaya.conftest import World
from atalaya.tickets import services
from atalaya.tickets.models import Attachment, TicketEvent

pytestmark = pytest.mark.django_db


def _attachment_of(world: World, ticket_name: str = "ticket_a") -> Attachment:
    ticket = getattr(world, ticket_name)
    event = services.add_reply(
        ticket,
        actor=world.tech,
        body="Here is the log.",
        attachments=[SimpleUploadedFile("vpn.log", b"log line\n")],
    )
    return Attachment.objects.get(event=event)


def _pages(world: World) -> dict[str, str]:
    att = _attachment_of(world)
    return {
        "list": "/portal/",
        "new": "/portal/tickets/new/",
        "detail": f"/portal/tickets/{world.ticket_a.number}/",
        "download": f"/portal/tickets/{world.ticket_a.number}/attachments/{att.pk}/",
    }


def test_portal_user_of_client_a_opens_every_page(world: World) -> None:
    http = world.http(world.portal_a)
    for name, url in _pages(world).items():
        assert http.get(url).status_code == 200, name


def test_portal_user_of_client_b_gets_404_on_client_a_ticket_and_file(world: World) -> None:
    pages = _pages(world)
    http = world.http(world.portal_b)
    assert http.get(pages["detail"]).status_code == 404
    assert http.get(pages["download"]).status_code == 404
    # Their own pages still work.
    assert http.get("/portal/").status_code == 200
    assert http.get(f"/portal/tickets/{world.ticket_b.number}/").status_code == 200


def test_portal_user_of_client_a_gets_404_on_ticket_b(world: World) -> None:
    http = world.http(world.portal_a)
    assert http.get(f"/portal/tickets/{world.ticket_b.number}/").status_code == 404


def test_unknown_ticket_number_is_404(world: World) -> None:
    http = world.http(world.portal_a)
    assert http.get("/portal/tickets/999999/").status_code == 404
    missing_file = f"/portal/tickets/{world.ticket_a.number}/attachments/999999/"
    assert http.get(missing_file).status_code == 404


def test_reply_to_another_clients_ticket_is_404_and_writes_nothing(world: World) -> None:
    before = TicketEvent.objects.filter(ticket=world.ticket_b).count()
    response = world.http(world.portal_a).post(
        f"/portal/tickets/{world.ticket_b.number}/", {"body": "sneaky"}
    )
    assert response.status_code == 404
    assert TicketEvent.objects.filter(ticket=world.ticket_b).count() == before


@pytest.mark.parametrize("role", ["admin", "tech", "readonly", "billing"])
def test_staff_are_sent_from_portal_front_page_to_the_ticket_list(world: World, role: str) -> None:
    response = world.http(getattr(world, role)).get("/portal/")
    assert response.status_code == 302
    assert response["Location"] == "/tickets/"


@pytest.mark.parametrize("role", ["admin", "tech", "readonly", "billing"])
@pytest.mark.parametrize("page", ["new", "detail", "download"])
def test_staff_get_404_on_portal_pages(world: World, role: str, page: str) -> None:
    url = _pages(world)[page]
    assert world.http(getattr(world, role)).get(url).status_code == 404


def test_staff_cannot_post_through_the_portal(world: World) -> None:
    before = TicketEvent.objects.count()
    http = world.http(world.tech)
    assert http.post(f"/portal/tickets/{world.ticket_a.number}/", {"body": "x"}).status_code == 404
    new = {"subject": "x", "priority": "normal"}
    assert http.post("/portal/tickets/new/", new).status_code == 404
    assert TicketEvent.objects.count() == before


def test_anonymous_is_sent_to_sign_in(world: World) -> None:
    http = HttpClient()
    for name, url in _pages(world).items():
        response = http.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/login/"), name


def test_inactive_portal_user_gets_nothing(world: World) -> None:
    http = world.http(world.portal_a)
    world.portal_a.is_active = False
    world.portal_a.save(update_fields=["is_active"])
    response = http.get(f"/portal/tickets/{world.ticket_a.number}/")
    assert response.status_code in (302, 404)
    assert b"VPN does not connect" not in response.content


@pytest.mark.parametrize(
    ("page", "method"),
    [
        ("list", "post"),
        ("list", "delete"),
        ("new", "put"),
        ("detail", "put"),
        ("detail", "delete"),
        ("detail", "patch"),
        ("download", "post"),
        ("download", "delete"),
    ],
)
def test_wrong_method_is_405(world: World, page: str, method: str) -> None:
    url = _pages(world)[page]
    response = getattr(world.http(world.portal_a), method)(url)
    assert response.status_code == 405
