"""New ticket form: access, client-scoped sites and contacts, service validation, attachments."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from atalaya.conftest import World
from atalaya.tickets.models import (
    Attachment,
    Category,
    EventKind,
    Queue,
    Status,
    Ticket,
    TicketEvent,
)

URL = "/tickets/new/"
OPTIONS = "/tickets/new/client-options/"


@pytest.fixture(autouse=True)
def fast_passwords_and_media(settings, tmp_path) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path


def form_data(world: World, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "client": str(world.client_a.public_id),
        "site": str(world.site_a.public_id),
        "contact": str(world.contact_a.public_id),
        "queue": str(Queue.objects.get(slug="helpdesk").pk),
        "category": str(Category.objects.get(slug="security").pk),
        "priority": "high",
        "assignee": str(world.tech.pk),
        "subject": "Phishing mail received",
        "body": "A user clicked a link.",
    }
    data.update(overrides)
    return data


# --- access -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "tech", "readonly", "billing"])
def test_staff_may_open_the_form(world: World, role: str) -> None:
    response = world.http(getattr(world, role)).get(URL)
    assert response.status_code == 200
    assert b"Create ticket" in response.content
    read_only = role in ("readonly", "billing")
    assert (b"Your role can look at this form" in response.content) is read_only


@pytest.mark.parametrize("role", ["portal_a", "portal_b"])
def test_portal_users_get_404(world: World, role: str) -> None:
    http = world.http(getattr(world, role))
    assert http.get(URL).status_code == 404
    assert http.post(URL, form_data(world)).status_code == 404
    assert http.get(OPTIONS, {"client": str(world.client_a.public_id)}).status_code == 404


@pytest.mark.parametrize("role", ["readonly", "billing"])
def test_read_only_roles_get_403_on_submit(world: World, role: str) -> None:
    before = Ticket.objects.count()
    assert world.http(getattr(world, role)).post(URL, form_data(world)).status_code == 403
    assert Ticket.objects.count() == before


def test_wrong_methods_are_405(world: World) -> None:
    http = world.http(world.tech)
    assert http.put(URL).status_code == 405
    assert http.delete(URL).status_code == 405
    assert http.post(OPTIONS).status_code == 405


# --- creating ---------------------------------------------------------------------------


def test_create_ticket_and_go_to_its_page(world: World) -> None:
    response = world.http(world.tech).post(URL, form_data(world))
    ticket = Ticket.objects.get(subject="Phishing mail received")
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.number}/"
    assert (ticket.client, ticket.site, ticket.contact, ticket.assignee) == (
        world.client_a,
        world.site_a,
        world.contact_a,
        world.tech,
    )
    assert (ticket.queue.slug, ticket.category.slug, ticket.priority) == (
        "helpdesk",
        "security",
        "high",
    )
    assert ticket.status == Status.OPEN  # assigned on creation
    created = TicketEvent.objects.get(ticket=ticket, kind=EventKind.CREATED)
    assert created.body == "A user clicked a link." and created.actor == world.tech


def test_minimal_ticket(world: World) -> None:
    data = {
        "client": str(world.client_b.public_id),
        "priority": "normal",
        "subject": "Just a subject",
    }
    response = world.http(world.admin).post(URL, data)
    assert response.status_code == 302
    ticket = Ticket.objects.get(subject="Just a subject")
    assert ticket.client == world.client_b and ticket.site is None and ticket.assignee is None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"site": "SITE_B"}, "site", "This site belongs to another client."),
        ({"contact": "CONTACT_B"}, "contact", "This contact is not a contact of the client."),
        ({"subject": ""}, "subject", "This field is required."),
        ({"subject": "   "}, "subject", "This field is required."),
        ({"client": ""}, "client", "This field is required."),
        ({"client": "not-a-uuid"}, "client", "is not a valid UUID."),
        ({"priority": "extreme"}, "priority", "Select a valid choice."),
        ({"assignee": "READONLY"}, "assignee", "Select a valid choice."),
        ({"subject": "x" * 300}, "subject", "at most 250 characters"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_saved(
    world: World, overrides: dict[str, str], field: str, message: str
) -> None:
    swaps = {
        "SITE_B": str(world.site_b.public_id),
        "CONTACT_B": str(world.contact_b.public_id),
        "READONLY": str(world.readonly.pk),
    }
    overrides = {k: swaps.get(v, v) for k, v in overrides.items()}
    before = Ticket.objects.count()
    response = world.http(world.tech).post(URL, form_data(world, **overrides))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert Ticket.objects.count() == before


def test_text_is_stored_raw_and_rendered_escaped(world: World) -> None:
    script = "<script>alert(1)</script>"
    response = world.http(world.tech).post(
        URL, form_data(world, subject=script, body=script), follow=True
    )
    assert Ticket.objects.filter(subject=script).exists()
    content = response.content.decode()
    assert script not in content and "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_rejected_form_redisplays_escaped_input(world: World) -> None:
    response = world.http(world.tech).post(
        URL, form_data(world, client="", subject="<script>x</script>")
    )
    assert response.status_code == 400
    assert b"<script>x</script>" not in response.content


# --- sites and contacts of the chosen client ------------------------------------------


def test_client_options_lists_only_that_clients_sites_and_contacts(world: World) -> None:
    response = world.http(world.tech).get(
        OPTIONS, {"client": str(world.client_a.public_id)}, HTTP_HX_REQUEST="true"
    )
    content = response.content.decode()
    assert response.status_code == 200 and content.lstrip().startswith('<div id="client-fields"')
    assert str(world.site_a.public_id) in content and str(world.contact_a.public_id) in content
    assert (
        str(world.site_b.public_id) not in content and str(world.contact_b.public_id) not in content
    )


@pytest.mark.parametrize("value", ["", "nonsense", "00000000-0000-0000-0000-000000000000"])
def test_client_options_for_unknown_clients_is_empty_not_an_error(world: World, value: str) -> None:
    response = world.http(world.tech).get(OPTIONS, {"client": value})
    assert response.status_code == 200
    assert "Choose a client to see its sites and contacts." in response.content.decode()
    assert str(world.site_a.public_id) not in response.content.decode()


def test_without_javascript_the_client_can_be_chosen_first(world: World) -> None:
    http = world.http(world.tech)
    blank = http.get(URL).content.decode()
    assert str(world.site_a.public_id) not in blank and "<noscript>" in blank
    chosen = http.get(URL, {"client": str(world.client_b.public_id)}).content.decode()
    assert f'<option value="{world.client_b.public_id}" selected>' in chosen
    assert str(world.site_b.public_id) in chosen and str(world.site_a.public_id) not in chosen


def test_form_is_wired_for_htmx(world: World) -> None:
    content = world.http(world.tech).get(URL).content.decode()
    assert f'hx-get="{OPTIONS}"' in content and 'hx-target="#client-fields"' in content
    for name in (
        "client",
        "site",
        "contact",
        "queue",
        "category",
        "priority",
        "assignee",
        "subject",
        "body",
        "attachments",
    ):
        assert f'name="{name}"' in content, name


# --- attachments ------------------------------------------------------------------------


def test_several_attachments(world: World) -> None:
    files = [
        SimpleUploadedFile("log.txt", b"error at 10:00", "text/plain"),
        SimpleUploadedFile("shot.png", b"\x89PNG fake", "image/png"),
    ]
    response = world.http(world.tech).post(URL, {**form_data(world), "attachments": files})
    assert response.status_code == 302
    ticket = Ticket.objects.get(subject="Phishing mail received")
    assert sorted(ticket.attachments.values_list("filename", flat=True)) == ["log.txt", "shot.png"]


def test_disallowed_type_is_a_form_error_and_nothing_is_saved(world: World) -> None:
    files = [
        SimpleUploadedFile("ok.txt", b"fine", "text/plain"),
        SimpleUploadedFile("run.exe", b"MZ", "application/octet-stream"),
    ]
    before = (Ticket.objects.count(), TicketEvent.objects.count(), Attachment.objects.count())
    response = world.http(world.tech).post(URL, {**form_data(world), "attachments": files})
    assert response.status_code == 400
    assert "are not accepted" in " ".join(response.context["form"].errors["attachments"])
    assert (
        Ticket.objects.count(),
        TicketEvent.objects.count(),
        Attachment.objects.count(),
    ) == before


def test_oversized_file_is_a_form_error_and_nothing_is_saved(world: World, settings) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    big = SimpleUploadedFile("big.pdf", b"x" * (1024 * 1024 + 1), "application/pdf")
    before = (Ticket.objects.count(), Attachment.objects.count())
    response = world.http(world.tech).post(URL, {**form_data(world), "attachments": [big]})
    assert response.status_code == 400
    assert "larger than the limit of 1 MB" in response.content.decode()
    assert (Ticket.objects.count(), Attachment.objects.count()) == before
