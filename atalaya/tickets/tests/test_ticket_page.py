"""The ticket page: access, header, typed timeline, merged and linked tickets, in-place actions."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from atalaya.conftest import World
from atalaya.tickets import services as ts
from atalaya.tickets.models import (
    Category,
    EventKind,
    Queue,
    Status,
    Ticket,
    TicketEvent,
    TicketLink,
    TimeEntry,
    WorkType,
)

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "ticket-page"}


@pytest.fixture(autouse=True)
def fast_passwords_and_media(settings, tmp_path) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path


def page(ticket: Ticket) -> str:
    return f"/tickets/{ticket.number}/"


def action(ticket: Ticket, name: str) -> str:
    return f"/tickets/{ticket.number}/{name}/"


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


# Every action with a valid body, so access rules can be checked for all of them at once.
def valid_posts(world: World) -> dict[str, dict[str, object]]:
    other = ts.create_ticket(actor=world.tech, client=world.client_a, subject="Other")
    return {
        "reply": {"body": "Hello"},
        "note": {"note-body": "Internal"},
        "time": {"minutes": "15", "is_billable": "on"},
        "status": {"status": "open"},
        "assignee": {"assignee": str(world.tech.pk)},
        "priority": {"priority": "high"},
        "classify": {"queue": "", "category": ""},
        "link": {"other": str(other.number)},
        "merge": {"target": str(other.number)},
    }


# --- access -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "tech", "readonly", "billing"])
def test_staff_see_the_page(world: World, role: str) -> None:
    response = world.http(getattr(world, role)).get(page(world.ticket_b))
    assert response.status_code == 200
    assert b"Printer jammed" in response.content
    can_write = role in ("admin", "tech")
    assert (b"Send reply" in response.content) is can_write


@pytest.mark.parametrize("role", ["portal_a", "portal_b"])
def test_portal_users_get_404_even_for_their_own_clients_ticket(world: World, role: str) -> None:
    assert world.http(getattr(world, role)).get(page(world.ticket_a)).status_code == 404


def test_unknown_ticket_is_404(world: World) -> None:
    assert world.http(world.tech).get("/tickets/999999/").status_code == 404


def test_wrong_methods_are_405(world: World) -> None:
    http = world.http(world.tech)
    assert http.post(page(world.ticket_a)).status_code == 405
    for name in valid_posts(world):
        assert http.get(action(world.ticket_a, name)).status_code == 405, name


@pytest.mark.parametrize("role", ["readonly", "billing"])
def test_read_only_roles_get_403_on_every_action(world: World, role: str) -> None:
    http = world.http(getattr(world, role))
    posts = valid_posts(world)
    events = TicketEvent.objects.count()
    for name, data in posts.items():
        assert http.post(action(world.ticket_a, name), data).status_code == 403, name
    assert TicketEvent.objects.count() == events


@pytest.mark.parametrize("role", ["portal_a", "portal_b"])
def test_portal_users_get_404_on_every_action(world: World, role: str) -> None:
    http = world.http(getattr(world, role))
    for name, data in valid_posts(world).items():
        assert http.post(action(world.ticket_a, name), data).status_code == 404, name


# --- header and timeline ----------------------------------------------------------------


def test_header_shows_the_ticket_facts(world: World) -> None:
    ts.assign_ticket(world.ticket_a, actor=world.tech, assignee=world.admin)
    ts.update_ticket(
        world.ticket_a,
        actor=world.tech,
        queue=Queue.objects.get(slug="helpdesk"),
        category=Category.objects.get(slug="remote-access"),
    )
    content = world.http(world.tech).get(page(world.ticket_a)).content.decode()
    for text in (
        "Alfa Asesores",
        "HQ",
        "Contact of Alfa Asesores",
        "Help desk",
        "Remote access / VPN",
        "prio-normal",
        "Admin",
        "First response due",
        "Resolution due",
        "sla-",
    ):
        assert text in content, text
    assert f"/clients/{world.client_a.public_id}/" in content


def test_category_is_shown_in_the_viewers_language(world: World) -> None:
    ts.update_ticket(
        world.ticket_a, actor=world.tech, category=Category.objects.get(slug="printing")
    )
    world.tech.language = "es"
    world.tech.save()
    assert "Impresión" in world.http(world.tech).get(page(world.ticket_a)).content.decode()


def test_timeline_shows_each_kind_of_event(world: World) -> None:
    t = world.ticket_a
    ts.add_reply(t, actor=world.tech, body="Public words")
    ts.add_note(t, actor=world.tech, body="Secret words")
    ts.change_status(t, actor=world.tech, status=Status.RESOLVED)
    ts.change_priority(t, actor=world.tech, priority="urgent")
    ts.assign_ticket(t, actor=world.tech, assignee=world.tech)
    ts.update_ticket(t, actor=world.tech, subject="VPN broken")
    ts.log_time(
        t,
        actor=world.tech,
        minutes=45,
        is_billable=False,
        work_type=WorkType.objects.get(slug="remote"),
        note="Rebooted router",
    )
    content = world.http(world.tech).get(page(t)).content.decode()
    assert '<li class="event reply"' in content and "Public words" in content
    assert '<li class="event note"' in content and "Internal — not shown to the client" in content
    assert '<span class="before">Open</span> → <span class="after">Resolved</span>' in content
    assert '<span class="before">Normal</span> → <span class="after">Urgent</span>' in content
    assert '<span class="before">—</span> → <span class="after">tech</span>' in content
    assert (
        '<span class="before">VPN does not connect</span> → <span class="after">VPN broken</span>'
        in content
    )
    assert "45 minutes" in content and "not billable" in content and "Remote support" in content
    assert "Rebooted router" in content


def test_merged_tickets_events_are_folded_in_with_their_origin(world: World) -> None:
    dup = ts.create_ticket(
        actor=world.tech, client=world.client_a, subject="VPN again", body="Same VPN problem"
    )
    ts.merge_tickets(dup, world.ticket_a, actor=world.tech)
    content = world.http(world.tech).get(page(world.ticket_a)).content.decode()
    assert "Same VPN problem" in content
    assert f"from #{dup.number}" in content and "merged-in" in content
    assert f"#{dup.number}</a> was merged into this ticket" in content
    source = world.http(world.tech).get(page(dup)).content.decode()
    assert 'class="merged-pointer"' in source and f"/tickets/{world.ticket_a.number}/" in source


def test_linked_tickets_are_listed_on_both(world: World) -> None:
    other = ts.create_ticket(actor=world.tech, client=world.client_b, subject="Related outage")
    ts.link_tickets(world.ticket_a, other, actor=world.tech)
    http = world.http(world.tech)
    assert "Related outage" in http.get(page(world.ticket_a)).content.decode()
    assert "VPN does not connect" in http.get(page(other)).content.decode()


def test_page_query_count_does_not_grow_with_the_timeline(
    world: World, django_assert_max_num_queries
) -> None:
    t = world.ticket_a
    dup = ts.create_ticket(actor=world.tech, client=world.client_a, subject="dup")
    ts.merge_tickets(dup, t, actor=world.tech)
    ts.link_tickets(t, world.ticket_b, actor=world.tech)
    http = world.http(world.tech)
    http.get(page(t))
    # 12: the page's 11 and the mail panel's one query for the ticket's outgoing mail.
    with django_assert_max_num_queries(12) as small:
        http.get(page(t))
    for i in range(15):
        ts.add_reply(
            t,
            actor=world.admin,
            body=f"reply {i}",
            attachments=[SimpleUploadedFile(f"r{i}.txt", b"x", "text/plain")],
        )
        ts.add_note(t, actor=world.tech, body=f"note {i}")
        ts.log_time(t, actor=world.tech, minutes=5)
    with django_assert_max_num_queries(12) as big:
        response = http.get(page(t))
    assert len(response.context["events"]) > 45
    assert len(big.captured_queries) == len(small.captured_queries)


def test_text_is_escaped(world: World) -> None:
    t = ts.create_ticket(
        actor=world.tech,
        client=world.client_a,
        subject="<script>alert(1)</script>",
        body="<script>alert(1)</script><img src=x onerror=alert(2)>",
    )
    ts.add_note(t, actor=world.tech, body="<b>bold</b>")
    content = world.http(world.tech).get(page(t)).content.decode()
    assert "<script>alert(1)</script>" not in content and "<img src=x" not in content
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;" in content and "&lt;b&gt;bold&lt;/b&gt;" in content
    )


# --- actions ----------------------------------------------------------------------------


def test_reply_plain_post_redirects_and_records(world: World) -> None:
    response = world.http(world.tech).post(
        action(world.ticket_a, "reply"), {"body": "We are on it"}
    )
    assert response.status_code == 302 and response["Location"] == page(world.ticket_a)
    event = TicketEvent.objects.filter(ticket=world.ticket_a, kind=EventKind.REPLY).get()
    assert event.body == "We are on it" and event.is_public and event.actor == world.tech
    assert fresh(world.ticket_a).first_responded_at is not None


def test_reply_under_htmx_returns_the_fragment(world: World) -> None:
    response = world.http(world.tech).post(
        action(world.ticket_a, "reply"), {"body": "Swapped in"}, **HTMX
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="ticket-page"') and "<html" not in content
    assert "Swapped in" in content
    assert '<textarea name="body"' in content and "Swapped in</textarea>" not in content


def test_empty_reply_is_a_field_error(world: World) -> None:
    http = world.http(world.tech)
    response = http.post(action(world.ticket_a, "reply"), {"body": "   "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    htmx = http.post(action(world.ticket_a, "reply"), {"body": ""}, **HTMX)
    assert htmx.status_code == 200 and "This field is required." in htmx.content.decode()
    assert not TicketEvent.objects.filter(kind=EventKind.REPLY).exists()


def test_internal_note(world: World) -> None:
    response = world.http(world.tech).post(
        action(world.ticket_a, "note"), {"note-body": "Check logs"}
    )
    assert response.status_code == 302
    event = TicketEvent.objects.get(ticket=world.ticket_a, kind=EventKind.NOTE)
    assert event.body == "Check logs" and not event.is_public


def test_time_entry(world: World) -> None:
    work = WorkType.objects.get(slug="onsite")
    data = {
        "minutes": "90",
        "work_type": str(work.pk),
        "note": "Replaced switch",
        "worked_on": "2026-03-02",
    }
    response = world.http(world.tech).post(action(world.ticket_a, "time"), data)
    assert response.status_code == 302
    entry = TimeEntry.objects.get(ticket=world.ticket_a)
    assert (entry.minutes, entry.is_billable, entry.work_type, entry.note, entry.worked_on) == (
        90,
        False,
        work,
        "Replaced switch",
        date(2026, 3, 2),
    )
    assert "90 minutes" in world.http(world.tech).get(page(world.ticket_a)).content.decode()


@pytest.mark.parametrize("minutes", ["0", "-5", "1441", "abc", ""])
def test_bad_minutes_are_a_field_error(world: World, minutes: str) -> None:
    response = world.http(world.tech).post(action(world.ticket_a, "time"), {"minutes": minutes})
    assert response.status_code == 400
    assert not TimeEntry.objects.exists()


def test_status_assignee_priority_and_classify(world: World) -> None:
    http = world.http(world.tech)
    t = world.ticket_a
    assert http.post(action(t, "status"), {"status": "waiting_client"}).status_code == 302
    assert fresh(t).status == Status.WAITING_CLIENT and fresh(t).sla_paused_at is not None
    assert http.post(action(t, "assignee"), {"assignee": str(world.admin.pk)}).status_code == 302
    assert fresh(t).assignee == world.admin
    assert http.post(action(t, "assignee"), {"assignee": ""}).status_code == 302
    assert fresh(t).assignee is None
    assert http.post(action(t, "priority"), {"priority": "urgent"}).status_code == 302
    assert fresh(t).priority == "urgent"
    queue, category = Queue.objects.get(slug="projects"), Category.objects.get(slug="backup")
    data = {"queue": str(queue.pk), "category": str(category.pk)}
    assert http.post(action(t, "classify"), data).status_code == 302
    assert (fresh(t).queue, fresh(t).category) == (queue, category)
    kinds = set(TicketEvent.objects.filter(ticket=t).values_list("kind", flat=True))
    assert {"status", "assignment", "priority", "fields"} <= kinds


@pytest.mark.parametrize(
    ("name", "data", "field_text"),
    [
        ("status", {"status": "done"}, "Select a valid choice"),
        ("priority", {"priority": "<script>"}, "Select a valid choice"),
        ("assignee", {"assignee": "999999"}, "Select a valid choice"),
        ("classify", {"queue": "abc"}, "Select a valid choice"),
        ("merge", {"target": "x"}, "Enter a whole number"),
        ("link", {"other": ""}, "This field is required"),
    ],
)
def test_bad_values_are_field_errors_not_500(
    world: World, name: str, data: dict[str, str], field_text: str
) -> None:
    response = world.http(world.tech).post(action(world.ticket_a, name), data)
    assert response.status_code == 400
    assert field_text in response.content.decode()


def test_assigning_a_read_only_user_is_refused(world: World) -> None:
    response = world.http(world.tech).post(
        action(world.ticket_a, "assignee"), {"assignee": str(world.readonly.pk)}
    )
    assert response.status_code == 400 and fresh(world.ticket_a).assignee is None


def test_merge_into_another_ticket(world: World) -> None:
    dup = ts.create_ticket(actor=world.tech, client=world.client_a, subject="dup")
    http = world.http(world.tech)
    response = http.post(action(dup, "merge"), {"target": str(world.ticket_a.number)})
    assert response.status_code == 302 and response["Location"] == page(world.ticket_a)
    assert fresh(dup).merged_into == world.ticket_a and fresh(dup).status == Status.CLOSED
    # A merged ticket cannot be reopened: the service's error shows next to the field.
    reopened = http.post(action(dup, "status"), {"status": "open"})
    assert reopened.status_code == 400
    assert "A merged ticket stays closed" in reopened.content.decode()


def test_merge_under_htmx_redirects_the_browser(world: World) -> None:
    dup = ts.create_ticket(actor=world.tech, client=world.client_a, subject="dup")
    response = world.http(world.tech).post(
        action(dup, "merge"), {"target": str(world.ticket_a.number)}, **HTMX
    )
    assert response.status_code == 200 and response["HX-Redirect"] == page(world.ticket_a)


@pytest.mark.parametrize("target", ["other_client", "unknown", "self"])
def test_merge_refusals_are_field_errors(world: World, target: str) -> None:
    number = {
        "other_client": world.ticket_b.number,
        "unknown": 987654,
        "self": world.ticket_a.number,
    }[target]
    response = world.http(world.tech).post(action(world.ticket_a, "merge"), {"target": str(number)})
    assert response.status_code == 400
    assert 'id="merge-form"' in response.content.decode()
    assert response.context["merge_form"].errors["target"]
    assert fresh(world.ticket_a).merged_into is None


def test_link_and_its_refusals(world: World) -> None:
    http = world.http(world.tech)
    response = http.post(action(world.ticket_a, "link"), {"other": str(world.ticket_b.number)})
    assert response.status_code == 302
    assert TicketLink.objects.filter(from_ticket=world.ticket_a, to_ticket=world.ticket_b).exists()
    itself = http.post(action(world.ticket_a, "link"), {"other": str(world.ticket_a.number)})
    assert itself.status_code == 400 and "cannot be linked to itself" in itself.content.decode()
    unknown = http.post(action(world.ticket_a, "link"), {"other": "987654"})
    assert unknown.status_code == 400 and "There is no ticket #987654" in unknown.content.decode()
