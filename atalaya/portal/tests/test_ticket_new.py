"""Opening a ticket in the portal: as the contact, for their own companies, nothing half-saved."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from atalaya.conftest import World
from atalaya.portal.tests.conftest import TwoClientContact
from atalaya.tickets.models import Attachment, Ticket, TicketEvent

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, int, int]:
    return Ticket.objects.count(), TicketEvent.objects.count(), Attachment.objects.count()


def test_form_has_no_company_field_for_a_single_company_contact(english: World) -> None:
    response = english.http(english.portal_a).get("/portal/tickets/new/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="client"' not in content
    assert 'name="subject"' in content and 'name="site"' in content
    # Only client A's sites are offered, and urgent is not a client's choice.
    assert str(english.site_a.public_id) in content
    assert str(english.site_b.public_id) not in content
    assert 'value="urgent"' not in content


def test_opens_a_ticket_as_the_contact(english: World) -> None:
    world = english
    response = world.http(world.portal_a).post(
        "/portal/tickets/new/",
        {
            "subject": "Cannot print to the plotter",
            "body": "It says offline.",
            "priority": "high",
            "site": str(world.site_a.public_id),
        },
    )
    ticket = Ticket.objects.get(subject="Cannot print to the plotter")
    assert response.status_code == 302
    assert response["Location"] == f"/portal/tickets/{ticket.number}/"
    assert ticket.client == world.client_a
    assert ticket.contact == world.contact_a
    assert ticket.site == world.site_a
    assert ticket.priority == "high"
    assert ticket.assignee is None
    created = ticket.events.get(kind="created")
    assert created.body == "It says offline." and created.is_public
    assert created.actor is None and created.actor_contact == world.contact_a
    page = world.http(world.portal_a).get(response["Location"]).content.decode()
    assert "Cannot print to the plotter" in page and "It says offline." in page


def test_attachments_are_stored_with_the_ticket(english: World) -> None:
    world = english
    files = [
        SimpleUploadedFile("error.png", b"\x89PNG fake", content_type="image/png"),
        SimpleUploadedFile("notes.txt", b"tried rebooting"),
    ]
    response = world.http(world.portal_a).post(
        "/portal/tickets/new/",
        {
            "subject": "Screen flickers",
            "priority": "normal",
            "attachments": files,
        },
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(subject="Screen flickers")
    names = sorted(ticket.attachments.values_list("filename", flat=True))
    assert names == ["error.png", "notes.txt"]


@pytest.mark.parametrize(
    "data,field",
    [
        ({"subject": "", "priority": "normal"}, "subject"),
        ({"subject": "   ", "priority": "normal"}, "subject"),
        ({"subject": "x" * 251, "priority": "normal"}, "subject"),
        ({"subject": "Urgent!", "priority": "urgent"}, "priority"),
        ({"subject": "Bad site", "priority": "normal", "site": "not-a-uuid"}, "site"),
    ],
)
def test_bad_input_is_a_form_error_and_saves_nothing(
    english: World, data: dict, field: str
) -> None:
    before = _counts()
    response = english.http(english.portal_a).post("/portal/tickets/new/", data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert _counts() == before


def test_site_of_another_client_is_refused(english: World) -> None:
    world = english
    before = _counts()
    response = world.http(world.portal_a).post(
        "/portal/tickets/new/",
        {
            "subject": "Wrong site",
            "priority": "normal",
            "site": str(world.site_b.public_id),
        },
    )
    assert response.status_code == 400
    assert "site" in response.context["form"].errors
    assert _counts() == before


def test_wrong_file_type_saves_nothing(english: World) -> None:
    before = _counts()
    response = english.http(english.portal_a).post(
        "/portal/tickets/new/",
        {
            "subject": "Run this",
            "priority": "normal",
            "attachments": [
                SimpleUploadedFile("ok.txt", b"fine"),
                SimpleUploadedFile("setup.exe", b"MZ..."),
            ],
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors["attachments"]
    assert any("exe" in e for e in errors)
    assert _counts() == before


def test_oversized_file_saves_nothing(english: World, settings) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024
    before = _counts()
    response = english.http(english.portal_a).post(
        "/portal/tickets/new/",
        {
            "subject": "Big log",
            "priority": "normal",
            "attachments": [SimpleUploadedFile("big.log", b"x" * 4096)],
        },
    )
    assert response.status_code == 400
    assert any("big.log" in e for e in response.context["form"].errors["attachments"])
    assert _counts() == before


def test_script_in_subject_and_body_is_escaped(english: World) -> None:
    world = english
    response = world.http(world.portal_a).post(
        "/portal/tickets/new/",
        {
            "subject": "<script>alert('s')</script>",
            "body": "<b onmouseover=x>hi</b>",
            "priority": "normal",
        },
    )
    assert response.status_code == 302
    page = world.http(world.portal_a).get(response["Location"]).content.decode()
    assert "<script>alert('s')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;s&#x27;)&lt;/script&gt;" in page
    assert "<b onmouseover=x>" not in page
    assert "&lt;b onmouseover=x&gt;hi&lt;/b&gt;" in page


def test_contact_of_several_clients_chooses_the_company(
    world: World, two_client_contact: TwoClientContact
) -> None:
    dual = two_client_contact
    http = dual.http()
    form = http.get("/portal/tickets/new/").content.decode()
    assert 'name="client"' in form
    assert str(world.client_a.public_id) in form and str(dual.client_c.public_id) in form
    assert str(world.client_b.public_id) not in form

    site_c = dual.client_c.sites.get()
    response = http.post(
        "/portal/tickets/new/",
        {
            "client": str(dual.client_c.public_id),
            "site": str(site_c.public_id),
            "subject": "Castro NAS full",
            "priority": "low",
        },
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(subject="Castro NAS full")
    assert ticket.client == dual.client_c and ticket.contact == dual.contact


def test_contact_of_several_clients_cannot_mix_company_and_site(
    world: World, two_client_contact: TwoClientContact
) -> None:
    before = _counts()
    response = two_client_contact.http().post(
        "/portal/tickets/new/",
        {
            "client": str(two_client_contact.client_c.public_id),
            "site": str(world.site_a.public_id),
            "subject": "Mixed",
            "priority": "normal",
        },
    )
    assert response.status_code == 400
    assert "site" in response.context["form"].errors
    assert _counts() == before


def test_contact_of_several_clients_cannot_open_for_a_foreign_client(
    world: World, two_client_contact: TwoClientContact
) -> None:
    before = _counts()
    response = two_client_contact.http().post(
        "/portal/tickets/new/",
        {
            "client": str(world.client_b.public_id),
            "subject": "For B",
            "priority": "normal",
        },
    )
    assert response.status_code == 400
    assert "client" in response.context["form"].errors
    assert _counts() == before
