"""Mailbox settings pages (mail/views/mailboxes.py) and their services (mail/services.py).

Administrators only: every other user gets 404, as if the pages did not exist. The IMAP
password is write-only: never rendered back, blank keeps it, never in an audit event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from atalaya.conftest import World
from atalaya.core.models import AuditEvent
from atalaya.mail import services
from atalaya.mail.models import Mailbox
from atalaya.mail.tests import mails
from atalaya.mail.tests.imap_server import Dovecot
from atalaya.tickets.models import Queue, Ticket

pytestmark = pytest.mark.django_db

SECRET = "Very-Secret-Imap-Pw-1"


@pytest.fixture
def mailbox(world: World) -> Mailbox:
    return services.create_mailbox(
        actor=world.admin,
        address="support@atalaya.test",
        name="Support",
        imap_host="imap.example.com",
        imap_username="support",
        imap_password=SECRET,
    )


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "address": "help@atalaya.test",
        "name": "Help",
        "queue": "",
        "is_active": "on",
        "imap_host": "",
        "imap_port": "",
        "imap_security": "imaps",
        "imap_username": "",
        "imap_password": "",
        "imap_folder": "INBOX",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def urls(mailbox: Mailbox) -> list[str]:
    return [
        reverse("mail:mailboxes"),
        reverse("mail:mailbox_create"),
        reverse("mail:mailbox_edit", args=[mailbox.pk]),
    ]


# --- who may see the pages ----------------------------------------------------------------


def test_the_admin_sees_the_pages(world: World, mailbox: Mailbox) -> None:
    http = world.http(world.admin)
    for url in urls(mailbox):
        assert http.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["tech", "readonly", "billing", "portal_a", "portal_b"])
def test_everyone_else_gets_404(world: World, mailbox: Mailbox, who: str) -> None:
    http = world.http(getattr(world, who))
    for url in urls(mailbox):
        assert http.get(url).status_code == 404, url
    for url in urls(mailbox)[1:]:  # the list takes no POST from anyone (405)
        assert http.post(url, form_data(address="x@atalaya.test")).status_code == 404, url
    fetch = reverse("mail:mailbox_fetch", args=[mailbox.pk])
    assert http.post(fetch).status_code == 404
    assert Mailbox.objects.count() == 1
    mailbox.refresh_from_db()
    assert mailbox.last_fetched_at is None and mailbox.last_error == ""


def test_anonymous_visitors_are_sent_to_sign_in(world: World, mailbox: Mailbox) -> None:
    response = world.http(None).get(reverse("mail:mailboxes"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_wrong_methods_get_405(world: World, mailbox: Mailbox) -> None:
    http = world.http(world.admin)
    assert http.post(reverse("mail:mailboxes")).status_code == 405
    assert http.get(reverse("mail:mailbox_fetch", args=[mailbox.pk])).status_code == 405
    assert http.delete(reverse("mail:mailbox_edit", args=[mailbox.pk])).status_code == 405


def test_a_missing_mailbox_is_404(world: World) -> None:
    http = world.http(world.admin)
    assert http.get(reverse("mail:mailbox_edit", args=[987654])).status_code == 404
    assert http.post(reverse("mail:mailbox_fetch", args=[987654])).status_code == 404


# --- the list -----------------------------------------------------------------------------


def test_the_list_shows_each_mailbox(world: World, mailbox: Mailbox) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(last_error="The IMAP server refused the login")
    services.create_mailbox(
        actor=None,
        address="internal@atalaya.test",
        queue="projects" if Queue.objects.filter(slug="projects").exists() else "",
        is_trusted_for_staff=True,
    )

    html = world.http(world.admin).get(reverse("mail:mailboxes")).content.decode()

    assert "support@atalaya.test" in html and "internal@atalaya.test" in html
    assert "imap.example.com" in html
    assert "The IMAP server refused the login" in html
    assert reverse("mail:mailbox_fetch", args=[mailbox.pk]) in html
    assert SECRET not in html


def test_the_list_costs_the_same_queries_for_many_mailboxes(world: World) -> None:
    http = world.http(world.admin)
    queue = Queue.objects.first()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert http.get(reverse("mail:mailboxes")).status_code == 200
        return len(captured.captured_queries)

    services.create_mailbox(actor=None, address="one@atalaya.test", queue=queue)
    few = queries()
    for n in range(6):
        services.create_mailbox(actor=None, address=f"m{n}@atalaya.test", queue=queue)
    assert queries() == few


# --- new and edited mailboxes -------------------------------------------------------------


def test_the_admin_adds_a_mailbox(world: World) -> None:
    queue = Queue.objects.first()
    assert queue is not None
    response = world.http(world.admin).post(
        reverse("mail:mailbox_create"),
        form_data(
            address=" Help@Atalaya.TEST ",
            queue=queue.slug,
            is_trusted_for_staff="on",
            imap_host="imap.example.com",
            imap_port="993",
            imap_username="help",
            imap_password=SECRET,
        ),
    )

    assert response.status_code == 302
    created = Mailbox.objects.get(address="help@atalaya.test")
    assert (created.queue, created.is_trusted_for_staff, created.imap_port) == (queue, True, 993)
    assert created.imap_password == SECRET
    event = AuditEvent.objects.get(object_type="mailbox", action="created")
    assert event.actor == world.admin
    assert SECRET not in json.dumps([event.before, event.after])
    assert event.after["imap_password_changed"] is True


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"address": "not an address"}, "address", "valid mail address"),
        ({"address": "support@atalaya.test"}, "address", "already exists"),
        ({"imap_host": "imap.example.com", "imap_password": "x"}, "imap_username", "user name"),
        ({"imap_host": "imap.example.com", "imap_username": "u"}, "imap_password", "password"),
        (
            {
                "imap_host": "h.example",
                "imap_username": "u",
                "imap_password": "p",
                "imap_port": "0",
            },
            "imap_port",
            "1 to 65535",
        ),
        (
            {
                "imap_host": "h.example",
                "imap_username": "u",
                "imap_password": "p",
                "imap_port": "70000",
            },
            "imap_port",
            "1 to 65535",
        ),
        (
            {"imap_host": "imaps://h.example/", "imap_username": "u", "imap_password": "p"},
            "imap_host",
            "host name",
        ),
        ({"imap_security": "telnet"}, "imap_security", ""),
        ({"queue": "no-such-queue"}, "queue", ""),
        ({"imap_port": "nine"}, "imap_port", ""),
    ],
)
def test_bad_input_names_the_field(
    world: World, mailbox: Mailbox, overrides: dict[str, str], field: str, words: str
) -> None:
    response = world.http(world.admin).post(reverse("mail:mailbox_create"), form_data(**overrides))

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert Mailbox.objects.count() == 1
    # Not even a password typed into a refused form comes back.
    assert 'value="p"' not in response.content.decode()


def test_the_password_is_never_rendered_and_blank_keeps_it(world: World, mailbox: Mailbox) -> None:
    http = world.http(world.admin)
    url = reverse("mail:mailbox_edit", args=[mailbox.pk])

    page = http.get(url).content.decode()
    assert SECRET not in page
    assert "A password is saved" in page
    assert 'value="support"' in page  # the user name is shown, the password not

    response = http.post(
        url,
        form_data(
            address="support@atalaya.test",
            name="Support desk",
            imap_host="imap.example.com",
            imap_username="support",
            imap_password="",
        ),
    )
    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.name, mailbox.imap_password) == ("Support desk", SECRET)

    # A refused change with a new password: the page does not echo it.
    refused = http.post(
        url,
        form_data(
            address="support@atalaya.test",
            imap_host="imap.example.com",
            imap_username="support",
            imap_password="Another-Secret-9",
            imap_port="99999",
        ),
    )
    assert refused.status_code == 400
    assert "Another-Secret-9" not in refused.content.decode()
    assert SECRET not in refused.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.imap_password == SECRET and mailbox.imap_port is None

    # A new one replaces it; the audit events never hold either.
    assert (
        http.post(
            url,
            form_data(
                address="support@atalaya.test",
                imap_host="imap.example.com",
                imap_username="support",
                imap_password="Another-Secret-9",
            ),
        ).status_code
        == 302
    )
    mailbox.refresh_from_db()
    assert mailbox.imap_password == "Another-Secret-9"
    events = AuditEvent.objects.filter(object_type="mailbox")
    dumped = json.dumps([[e.before, e.after] for e in events])
    assert SECRET not in dumped and "Another-Secret-9" not in dumped
    assert events.filter(action="updated").count() == 2


def test_services_are_for_admins_only(world: World, mailbox: Mailbox) -> None:
    with pytest.raises(PermissionDenied):
        services.create_mailbox(actor=world.tech, address="x@atalaya.test")
    with pytest.raises(PermissionDenied):
        services.update_mailbox(actor=world.tech, mailbox=mailbox, name="No")
    with pytest.raises(ValidationError) as unknown:
        services.update_mailbox(actor=world.admin, mailbox=mailbox, colour="red")
    assert "colour" in unknown.value.error_dict


# --- fetch now ----------------------------------------------------------------------------


def test_fetch_now_fetches_and_says_what_came_in(
    world: World, imap: Dovecot, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    user = imap.add_user()
    imap.append(user, mails.build(subject="Fetched from the settings page"))
    box = services.create_mailbox(
        actor=None, address="desk@atalaya.test", **imap.mailbox_settings(user)
    )
    http = world.http(world.admin)

    response = http.post(reverse("mail:mailbox_fetch", args=[box.pk]), follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert "desk@atalaya.test: 1 fetched, 1 new tickets" in html
    assert Ticket.objects.filter(subject="Fetched from the settings page").exists()
    assert imap.unseen(user) == []


def test_fetch_now_shows_a_failure_on_the_page(world: World, imap: Dovecot) -> None:
    user = imap.add_user()
    box = services.create_mailbox(
        actor=None,
        address="desk@atalaya.test",
        **{**imap.mailbox_settings(user), "imap_password": "wrong-one"},
    )
    http = world.http(world.admin)

    response = http.post(reverse("mail:mailbox_fetch", args=[box.pk]), follow=True)

    html = response.content.decode()
    assert "refused the login" in html
    box.refresh_from_db()
    assert "refused the login" in box.last_error
    assert "wrong-one" not in html
