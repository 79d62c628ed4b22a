"""The ticket API: create, list (filters, search, pages), get, change, events, time.

Every route is tried with the three-user rule: staff 200, the ticket's own client's
portal user 200 (where allowed), the other client's portal user 404, a read-only
role 403 on writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from atalaya.conftest import World
from atalaya.core.tests.apiclient import Api, fields_of
from atalaya.tickets import services
from atalaya.tickets.models import (
    Category,
    EventKind,
    Priority,
    Queue,
    Status,
    Ticket,
    TicketEvent,
    TimeEntry,
)
from atalaya.tickets.schemas import PriorityValue, StatusValue


@dataclass
class Apis:
    admin: Api
    tech: Api
    readonly: Api
    billing: Api
    portal_a: Api
    portal_b: Api
    anonymous: Api


@pytest.fixture
def apis(world: World) -> Apis:
    return Apis(
        admin=Api(world.admin),
        tech=Api(world.tech),
        readonly=Api(world.readonly),
        billing=Api(world.billing),
        portal_a=Api(world.portal_a),
        portal_b=Api(world.portal_b),
        anonymous=Api(),
    )


def new_ticket_body(world: World, **extra: object) -> dict[str, object]:
    return {
        "client": str(world.client_a.public_id),
        "subject": "Mail server down",
        "body": "Nobody receives mail.",
        **extra,
    }


def test_schema_literals_match_the_models() -> None:
    assert set(PriorityValue.__args__) == set(Priority.values)
    assert set(StatusValue.__args__) == set(Status.values)


# --- create -----------------------------------------------------------------------------------


def test_technician_creates_a_ticket_with_every_field(world: World, apis: Apis) -> None:
    body = new_ticket_body(
        world,
        site=str(world.site_a.public_id),
        contact=str(world.contact_a.public_id),
        queue="helpdesk",
        category="email",
        priority="high",
        assignee="tech",
    )
    r = apis.tech.post("/tickets", body)
    assert r.status_code == 201, r.content
    data = r.json()
    ticket = Ticket.objects.get(number=data["number"])
    assert ticket.client == world.client_a and ticket.site == world.site_a
    assert ticket.contact == world.contact_a and ticket.assignee == world.tech
    assert ticket.queue.slug == "helpdesk" and ticket.category.slug == "email"
    assert data["priority"] == "high" and data["status"] == "open" and data["assignee"] == "tech"
    assert data["client"] == str(world.client_a.public_id) and data["site"] == str(
        world.site_a.public_id
    )
    assert data["sla_state"] in {"ok", "due_soon", "breached", "none"}
    assert list(ticket.events.values_list("kind", flat=True)) == [EventKind.CREATED]


def test_ticket_creation_is_lean(world: World, apis: Apis, django_assert_max_num_queries) -> None:
    apis.tech.post("/tickets", new_ticket_body(world))  # warm caches (counter row, etc.)
    with django_assert_max_num_queries(16):
        r = apis.tech.post("/tickets", new_ticket_body(world))
    assert r.status_code == 201


def test_portal_user_creates_for_own_client_as_themselves(world: World, apis: Apis) -> None:
    body = new_ticket_body(
        world,
        contact=str(world.contact_b.public_id),
        assignee="tech",
        queue="projects",
        priority="urgent",
    )
    r = apis.portal_a.post("/tickets", body)
    assert r.status_code == 201, r.content
    ticket = Ticket.objects.get(number=r.json()["number"])
    assert ticket.contact == world.contact_a
    assert ticket.assignee is None and ticket.queue is None
    assert ticket.priority == Priority.NORMAL


def test_portal_user_cannot_create_for_another_client(world: World, apis: Apis) -> None:
    r = apis.portal_b.post("/tickets", new_ticket_body(world))
    assert r.status_code == 404
    assert fields_of(r) == {"client"}
    assert not Ticket.objects.filter(subject="Mail server down").exists()


@pytest.mark.parametrize("who", ["readonly", "billing"])
def test_roles_that_may_not_write_get_403_on_create(world: World, apis: Apis, who: str) -> None:
    r = getattr(apis, who).post("/tickets", new_ticket_body(world))
    assert r.status_code == 403
    assert r.json()["detail"]


def test_site_of_another_client_is_refused(world: World, apis: Apis) -> None:
    r = apis.tech.post("/tickets", new_ticket_body(world, site=str(world.site_b.public_id)))
    assert r.status_code == 422 and fields_of(r) == {"site"}
    # For a portal user that site does not even exist.
    r = apis.portal_a.post("/tickets", new_ticket_body(world, site=str(world.site_b.public_id)))
    assert r.status_code == 404 and fields_of(r) == {"site"}
    assert not Ticket.objects.filter(subject="Mail server down").exists()


# --- read -------------------------------------------------------------------------------------


def test_get_ticket_three_user_rule(world: World, apis: Apis) -> None:
    path = f"/tickets/{world.ticket_a.number}"
    assert apis.tech.get(path).json()["subject"] == "VPN does not connect"
    assert apis.readonly.get(path).status_code == 200
    assert apis.portal_a.get(path).status_code == 200
    r = apis.portal_b.get(path)
    assert r.status_code == 404 and r["Content-Type"].startswith("application/json")
    assert apis.anonymous.get(path).status_code == 401


@pytest.mark.parametrize("number", ["999999", "abc", "12a", "0", "9" * 30, "-1", "１２"])
def test_unknown_ticket_numbers_are_404(world: World, apis: Apis, number: str) -> None:
    r = apis.tech.get(f"/tickets/{number}")
    assert r.status_code == 404
    assert r.json()["detail"]


def test_list_shows_only_what_the_user_may_see(world: World, apis: Apis) -> None:
    numbers = {t["number"] for t in apis.tech.get("/tickets").json()["items"]}
    assert numbers == {world.ticket_a.number, world.ticket_b.number}
    numbers = {t["number"] for t in apis.portal_a.get("/tickets").json()["items"]}
    assert numbers == {world.ticket_a.number}
    numbers = {t["number"] for t in apis.portal_b.get("/tickets").json()["items"]}
    assert numbers == {world.ticket_b.number}


def test_list_filters(world: World, apis: Apis) -> None:
    vpn = Category.objects.get(slug="remote-access")
    helpdesk = Queue.objects.get(slug="helpdesk")
    services.update_ticket(world.ticket_a, actor=world.tech, category=vpn, queue=helpdesk)
    services.assign_ticket(world.ticket_a, actor=world.tech, assignee=world.tech)
    services.change_priority(world.ticket_b, actor=world.tech, priority="urgent")
    services.change_status(world.ticket_b, actor=world.tech, status="resolved")

    def numbers(**params: str) -> set[int]:
        r = apis.tech.get("/tickets", params)
        assert r.status_code == 200, r.content
        return {t["number"] for t in r.json()["items"]}

    a, b = world.ticket_a.number, world.ticket_b.number
    assert numbers(status="open") == {a}
    assert numbers(status="done") == {b}
    assert numbers(status="resolved,new") == {b}
    assert numbers(client=str(world.client_b.public_id)) == {b}
    assert numbers(assignee="tech") == {a}
    assert numbers(assignee="me") == {a}
    assert numbers(assignee="none") == {b}
    assert numbers(priority="urgent") == {b}
    assert numbers(category="remote-access") == {a}
    assert numbers(queue="helpdesk") == {a}
    assert numbers(q="printer") == {b}
    assert numbers(q="vpn", status="open") == {a}
    assert numbers(q="nothing-matches-this") == set()


def test_portal_search_does_not_reveal_internal_notes(world: World, apis: Apis) -> None:
    services.add_note(world.ticket_a, actor=world.tech, body="password is hunter2")
    services.add_reply(world.ticket_a, actor=world.tech, body="We replaced the router")
    staff = {t["number"] for t in apis.tech.get("/tickets", {"q": "hunter2"}).json()["items"]}
    assert staff == {world.ticket_a.number}
    assert apis.portal_a.get("/tickets", {"q": "hunter2"}).json()["items"] == []
    portal = {t["number"] for t in apis.portal_a.get("/tickets", {"q": "router"}).json()["items"]}
    assert portal == {world.ticket_a.number}


def test_portal_filter_by_other_client_is_404(world: World, apis: Apis) -> None:
    r = apis.portal_a.get("/tickets", {"client": str(world.client_b.public_id)})
    assert r.status_code == 404 and fields_of(r) == {"client"}


@pytest.mark.parametrize(
    "sort", ["-updated_at", "updated_at", "-created_at", "created_at", "-number", "number"]
)
def test_cursor_pages_walk_every_ticket_once(world: World, apis: Apis, sort: str) -> None:
    for i in range(9):
        services.create_ticket(actor=world.tech, client=world.client_a, subject=f"Ticket {i}")
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "4", "sort": sort, **({"cursor": cursor} if cursor else {})}
        page = apis.tech.get("/tickets", params).json()
        seen += [t["number"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 11 and len(set(seen)) == 11
    expected = list(
        Ticket.objects.order_by(sort, "-id" if sort.startswith("-") else "id").values_list(
            "number", flat=True
        )
    )
    assert seen == expected


def test_cursor_is_stable_when_tickets_change_between_pages(world: World, apis: Apis) -> None:
    for i in range(5):
        services.create_ticket(actor=world.tech, client=world.client_a, subject=f"Ticket {i}")
    first = apis.tech.get("/tickets", {"limit": "3", "sort": "-number"}).json()
    # A ticket on the first page gets busy and a new one arrives: the next page neither
    # repeats nor skips anything.
    services.add_note(
        Ticket.objects.get(number=first["items"][0]["number"]), actor=world.tech, body="x"
    )
    services.create_ticket(actor=world.tech, client=world.client_a, subject="Newcomer")
    second = apis.tech.get(
        "/tickets", {"limit": "3", "sort": "-number", "cursor": first["next_cursor"]}
    ).json()
    got = [t["number"] for t in first["items"] + second["items"]]
    assert got == sorted(got, reverse=True) and len(set(got)) == 6


def test_offset_pages(world: World, apis: Apis) -> None:
    page = apis.tech.get("/tickets", {"limit": "1", "offset": "1", "sort": "number"}).json()
    assert [t["number"] for t in page["items"]] == [world.ticket_b.number]
    assert page["next_cursor"] is None


def test_list_query_count_does_not_grow_with_rows(
    world: World, apis: Apis, django_assert_max_num_queries
) -> None:
    vpn = Category.objects.get(slug="remote-access")
    for i in range(30):
        t = services.create_ticket(
            actor=world.tech,
            client=world.client_a,
            subject=f"T{i}",
            category=vpn,
            site=world.site_a,
            contact=world.contact_a,
            assignee=world.tech,
        )
        if i % 3 == 0:
            services.merge_tickets(t, world.ticket_a, actor=world.tech)
    with django_assert_max_num_queries(4):
        r = apis.tech.get("/tickets", {"limit": "200"})
    assert len(r.json()["items"]) == 32
    with django_assert_max_num_queries(6):
        apis.tech.get(
            "/tickets",
            {
                "limit": "200",
                "q": "T1",
                "category": "remote-access",
                "client": str(world.client_a.public_id),
            },
        )


# --- change -----------------------------------------------------------------------------------


def test_patch_each_field_through_its_service_one_event_each(world: World, apis: Apis) -> None:
    ticket = world.ticket_a
    services.change_status(ticket, actor=world.tech, status="open")
    before = ticket.events.count()
    r = apis.tech.patch(
        f"/tickets/{ticket.number}",
        {
            "status": "waiting_client",
            "assignee": "admin",
            "priority": "urgent",
            "category": "security",
            "queue": "projects",
            "subject": "VPN down for everyone",
        },
    )
    assert r.status_code == 200, r.content
    data = r.json()
    assert (data["status"], data["assignee"], data["priority"]) == (
        "waiting_client",
        "admin",
        "urgent",
    )
    assert (data["category"], data["queue"], data["subject"]) == (
        "security",
        "projects",
        "VPN down for everyone",
    )
    ticket.refresh_from_db()
    assert ticket.status == "waiting_client" and ticket.sla_paused_at is not None
    new = list(ticket.events.order_by("id")[before:])
    kinds = [e.kind for e in new]
    assert kinds.count(EventKind.FIELDS) == 3 and kinds.count(EventKind.PRIORITY) == 1
    assert kinds.count(EventKind.ASSIGNMENT) == 1 and kinds.count(EventKind.STATUS) == 1
    assert len(new) == 6
    assert all(len(e.changes) == 1 for e in new)


def test_patch_can_clear_and_unassign(world: World, apis: Apis) -> None:
    services.assign_ticket(world.ticket_a, actor=world.tech, assignee=world.tech)
    r = apis.tech.patch(f"/tickets/{world.ticket_a.number}", {"assignee": None, "site": None})
    assert r.status_code == 200
    assert r.json()["assignee"] is None and r.json()["site"] is None


def test_patch_with_a_bad_field_changes_nothing(world: World, apis: Apis) -> None:
    ticket = world.ticket_a
    before = ticket.events.count()
    r = apis.tech.patch(f"/tickets/{ticket.number}", {"priority": "urgent", "assignee": "nobody"})
    assert r.status_code == 422 and fields_of(r) == {"assignee"}
    r = apis.tech.patch(
        f"/tickets/{ticket.number}", {"priority": "urgent", "assignee": "portal@beta.example"}
    )
    assert r.status_code == 422 and fields_of(r) == {"assignee"}
    r = apis.tech.patch(f"/tickets/{ticket.number}", {"subject": "New", "status": None})
    assert r.status_code == 422 and fields_of(r) == {"status"}
    ticket.refresh_from_db()
    assert ticket.priority == "normal" and ticket.subject == "VPN does not connect"
    assert ticket.events.count() == before


def test_patch_permissions(world: World, apis: Apis) -> None:
    path = f"/tickets/{world.ticket_a.number}"
    assert apis.readonly.patch(path, {"status": "closed"}).status_code == 403
    assert apis.billing.patch(path, {}).status_code == 403
    assert apis.portal_a.patch(path, {"status": "closed"}).status_code == 403
    assert apis.portal_b.patch(path, {"status": "closed"}).status_code == 404
    assert apis.anonymous.patch(path, {"status": "closed"}).status_code == 401
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.status != "closed"


def test_wrong_method_is_405(world: World, apis: Apis) -> None:
    assert apis.tech.delete(f"/tickets/{world.ticket_a.number}").status_code == 405
    assert apis.tech.http.put(f"/api/v1/tickets/{world.ticket_a.number}").status_code == 405


# --- events -----------------------------------------------------------------------------------


def test_reply_and_note_and_who_sees_them(world: World, apis: Apis) -> None:
    path = f"/tickets/{world.ticket_a.number}/events"
    r = apis.tech.post(path, {"type": "note", "body": "Check the firewall <b>rules</b>"})
    assert r.status_code == 201 and r.json()["kind"] == "note" and not r.json()["is_public"]
    r = apis.tech.post(path, {"type": "reply", "body": "We are on it."})
    assert r.status_code == 201 and r.json()["is_public"] and r.json()["actor_username"] == "tech"
    r = apis.portal_a.post(path, {"type": "reply", "body": "Thanks!"})
    assert r.status_code == 201 and r.json()["actor_contact"] == str(world.contact_a.public_id)

    staff_kinds = [e["kind"] for e in apis.tech.get(path).json()["items"]]
    assert "note" in staff_kinds
    portal_items = apis.portal_a.get(path).json()["items"]
    assert "note" not in [e["kind"] for e in portal_items]
    assert all(e["is_public"] for e in portal_items)
    assert "firewall" not in str(portal_items)
    assert apis.portal_b.get(path).status_code == 404


def test_event_write_permissions(world: World, apis: Apis) -> None:
    path = f"/tickets/{world.ticket_a.number}/events"
    before = TicketEvent.objects.count()
    assert apis.portal_a.post(path, {"type": "note", "body": "sneaky"}).status_code == 403
    assert apis.readonly.post(path, {"type": "reply", "body": "x"}).status_code == 403
    assert apis.billing.post(path, {"type": "note", "body": "x"}).status_code == 403
    assert apis.portal_b.post(path, {"type": "reply", "body": "x"}).status_code == 404
    assert TicketEvent.objects.count() == before


def test_events_page(world: World, apis: Apis, django_assert_max_num_queries) -> None:
    for i in range(5):
        services.add_note(world.ticket_a, actor=world.tech, body=f"note {i}")
    path = f"/tickets/{world.ticket_a.number}/events"
    # token (+ its first-use stamp), ticket, merged tickets, events, attachments
    with django_assert_max_num_queries(6):
        page = apis.tech.get(path, {"limit": "4"}).json()
    assert len(page["items"]) == 4 and page["next_offset"] == 4
    rest = apis.tech.get(path, {"limit": "4", "offset": "4"}).json()
    assert len(rest["items"]) == 2 and rest["next_offset"] is None


# --- time -------------------------------------------------------------------------------------


def test_time_entries(world: World, apis: Apis) -> None:
    path = f"/tickets/{world.ticket_a.number}/time"
    r = apis.tech.post(
        path,
        {
            "minutes": 45,
            "work_type": "remote",
            "note": "Reset VPN",
            "is_billable": False,
            "worked_on": "2026-01-15",
        },
    )
    assert r.status_code == 201, r.content
    assert r.json()["minutes"] == 45 and r.json()["work_type"] == "remote"
    entry = TimeEntry.objects.get()
    assert (
        entry.user == world.tech and not entry.is_billable and str(entry.worked_on) == "2026-01-15"
    )
    assert world.ticket_a.events.filter(kind=EventKind.TIME).count() == 1
    items = apis.readonly.get(path).json()["items"]
    assert [i["minutes"] for i in items] == [45]
    assert apis.portal_a.get(path).status_code == 403
    assert apis.portal_b.get(path).status_code == 404
    assert apis.readonly.post(path, {"minutes": 5}).status_code == 403
    assert apis.portal_a.post(path, {"minutes": 5}).status_code == 403
    assert TimeEntry.objects.count() == 1


# --- auth -------------------------------------------------------------------------------------


def test_auth_header_variants(world: World, apis: Apis) -> None:
    from django.test import Client as HttpClient

    for header in [
        "",
        "Bearer",
        "Bearer nope",
        "Basic dGVjaDpwdw==",
        f"Token {apis.tech.raw}",
        f"Bearer {apis.tech.raw}x",
        "Bearer ata_" + "x" * 500,
    ]:
        r = HttpClient(headers={"authorization": header}).get("/api/v1/tickets")
        assert r.status_code == 401, header
        assert r.json()["detail"] and r["WWW-Authenticate"] == "Bearer"
    # A signed-in browser session is not an API credential.
    assert world.http(world.tech).get("/api/v1/tickets").status_code == 401


def test_inactive_users_token_is_rejected(world: World, apis: Apis) -> None:
    world.tech.is_active = False
    world.tech.save(update_fields=["is_active"])
    assert apis.tech.get("/tickets").status_code == 401


# --- the permission matrix --------------------------------------------------------------------

ROLES = ("admin", "tech", "readonly", "billing", "portal_a", "portal_b")
MATRIX = {
    # route: expected status per role, in ROLES order
    "create ticket": (201, 201, 403, 403, 201, 404),
    "change ticket": (200, 200, 403, 403, 403, 404),
    "reply": (201, 201, 403, 403, 201, 404),
    "note": (201, 201, 403, 403, 403, 404),
    "log time": (201, 201, 403, 403, 403, 404),
    "list time": (200, 200, 200, 200, 403, 404),
    "list events": (200, 200, 200, 200, 200, 404),
    "get ticket": (200, 200, 200, 200, 200, 404),
    "get client": (200, 200, 200, 200, 200, 404),
    "client sites": (200, 200, 200, 200, 200, 404),
    "get contact": (200, 200, 200, 200, 200, 404),
    "create contact": (201, 201, 403, 403, 403, 403),
}


def call(api: Api, route: str, world: World) -> int:
    n, a = world.ticket_a.number, world.client_a.public_id
    requests = {
        "create ticket": lambda: api.post("/tickets", new_ticket_body(world)),
        "change ticket": lambda: api.patch(f"/tickets/{n}", {"priority": "high"}),
        "reply": lambda: api.post(f"/tickets/{n}/events", {"type": "reply", "body": "hi"}),
        "note": lambda: api.post(f"/tickets/{n}/events", {"type": "note", "body": "hi"}),
        "log time": lambda: api.post(f"/tickets/{n}/time", {"minutes": 5}),
        "list time": lambda: api.get(f"/tickets/{n}/time"),
        "list events": lambda: api.get(f"/tickets/{n}/events"),
        "get ticket": lambda: api.get(f"/tickets/{n}"),
        "get client": lambda: api.get(f"/clients/{a}"),
        "client sites": lambda: api.get(f"/clients/{a}/sites"),
        "get contact": lambda: api.get(f"/contacts/{world.contact_a.public_id}"),
        "create contact": lambda: api.post("/contacts", {"name": "Eva", "clients": [str(a)]}),
    }
    response = requests[route]()
    assert response["Content-Type"].startswith("application/json")
    return response.status_code


@pytest.mark.parametrize("route", list(MATRIX))
def test_permission_matrix(world: World, apis: Apis, route: str) -> None:
    got = tuple(call(getattr(apis, role), route, world) for role in ROLES)
    assert dict(zip(ROLES, got, strict=True)) == dict(zip(ROLES, MATRIX[route], strict=True))
    assert call(apis.anonymous, route, world) == 401
