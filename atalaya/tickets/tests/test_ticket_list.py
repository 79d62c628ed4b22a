"""The technician ticket list: who may see it, filters, SLA states, sort, search, pages, queries."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaya.conftest import World
from atalaya.tickets import forms
from atalaya.tickets import services as ts
from atalaya.tickets.models import Category, Queue, Status, Ticket

URL = "/tickets/"


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    # The world's six users are hashed with Argon2 otherwise: seconds per test for nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def numbers_in(response) -> set[int]:
    return {t.number for t in response.context["tickets"]}


def make(world: World, subject: str, client=None, **kwargs) -> Ticket:
    return ts.create_ticket(
        actor=world.tech, client=client or world.client_a, subject=subject, **kwargs
    )


# --- access -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "tech", "readonly", "billing"])
def test_every_staff_role_sees_all_clients_tickets(world: World, role: str) -> None:
    response = world.http(getattr(world, role)).get(URL)
    assert response.status_code == 200
    assert numbers_in(response) == {world.ticket_a.number, world.ticket_b.number}
    assert b"VPN does not connect" in response.content and b"Printer jammed" in response.content


@pytest.mark.parametrize("role", ["portal_a", "portal_b"])
def test_portal_users_get_404(world: World, role: str) -> None:
    assert world.http(getattr(world, role)).get(URL).status_code == 404


def test_anonymous_is_sent_to_sign_in(world: World) -> None:
    response = world.http(None).get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_wrong_method_is_405(world: World) -> None:
    assert world.http(world.tech).post(URL).status_code == 405


# --- filters ----------------------------------------------------------------------------


def test_default_is_open_tickets_and_status_filters(world: World) -> None:
    ts.change_status(world.ticket_b, actor=world.tech, status=Status.RESOLVED)
    http = world.http(world.tech)
    assert numbers_in(http.get(URL)) == {world.ticket_a.number}
    assert numbers_in(http.get(URL, {"status": "open"})) == {world.ticket_a.number}
    assert numbers_in(http.get(URL, {"status": "all"})) == {
        world.ticket_a.number,
        world.ticket_b.number,
    }
    assert numbers_in(http.get(URL, {"status": "resolved"})) == {world.ticket_b.number}
    assert numbers_in(http.get(URL, {"status": "new"})) == {world.ticket_a.number}


def test_client_assignee_queue_category_priority_filters(world: World) -> None:
    vpn = Category.objects.get(slug="remote-access")
    helpdesk = Queue.objects.get(slug="helpdesk")
    mine = make(world, "Mine", assignee=world.tech, category=vpn, queue=helpdesk, priority="urgent")
    admins = make(world, "Admin's", client=world.client_b, assignee=world.admin, priority="high")
    http = world.http(world.tech)
    a, b = world.ticket_a.number, world.ticket_b.number

    assert numbers_in(http.get(URL, {"client": str(world.client_a.public_id)})) == {a, mine.number}
    assert numbers_in(http.get(URL, {"assignee": "me"})) == {mine.number}
    assert numbers_in(http.get(URL, {"assignee": "unassigned"})) == {a, b}
    assert numbers_in(http.get(URL, {"assignee": str(world.admin.pk)})) == {admins.number}
    assert numbers_in(http.get(URL, {"queue": "helpdesk"})) == {mine.number}
    assert numbers_in(http.get(URL, {"category": "remote-access"})) == {mine.number}
    assert numbers_in(http.get(URL, {"priority": "high"})) == {admins.number}
    combined = {"client": str(world.client_b.public_id), "priority": "urgent"}
    assert numbers_in(http.get(URL, combined)) == set()


def test_full_text_search(world: World) -> None:
    http = world.http(world.tech)
    assert numbers_in(http.get(URL, {"q": "printer"})) == {world.ticket_b.number}
    assert numbers_in(http.get(URL, {"q": "vpn"})) == {world.ticket_a.number}
    # Search syntax in the query is inert, never an error.
    assert http.get(URL, {"q": '"NEAR( * ^ OR'}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"client": "not-a-uuid"},
        {"assignee": "999999"},
        {"priority": "<script>"},
        {"sla": "late"},
        {"sort": "subject"},
        {"page": "abc"},
        {"page": "0"},
        {"q": "x" * 500},
    ],
)
def test_bad_filter_values_are_a_400_with_a_message(world: World, params: dict[str, str]) -> None:
    response = world.http(world.tech).get(URL, params)
    assert response.status_code == 400
    assert b"not understood" in response.content
    assert response.context["tickets"] == []


# --- SLA states -------------------------------------------------------------------------

NOW = datetime(2026, 3, 11, 11, 0, tzinfo=UTC)  # a Wednesday, inside Madrid business hours


@pytest.fixture
def sla_tickets(world: World) -> list[Ticket]:
    """Tickets in every SLA situation: fresh to old, each priority, answered, paused, resolved."""
    offsets = [
        timedelta(minutes=20),
        timedelta(hours=2),
        timedelta(hours=7),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=12),
    ]
    made = []
    for offset, priority, variant in itertools.product(
        offsets, ["urgent", "high", "normal", "low"], ["new", "answered", "paused", "resolved"]
    ):
        created = NOW - offset
        ticket = make(world, f"{priority} {variant} {offset}", priority=priority, now=created)
        step = created + offset / 2
        if variant == "answered":
            ts.add_reply(ticket, actor=world.tech, body="On it", now=step)
        elif variant == "paused":
            ts.add_reply(ticket, actor=world.tech, body="Need info", now=step)
            ts.change_status(ticket, actor=world.tech, status=Status.WAITING_CLIENT, now=step)
        elif variant == "resolved":
            ts.add_reply(ticket, actor=world.tech, body="Fixed", now=step)
            ts.change_status(ticket, actor=world.tech, status=Status.RESOLVED, now=step)
        made.append(ticket)
    return made


@pytest.mark.parametrize("state", ["breached", "due_soon"])
def test_sla_filter_agrees_with_sla_state(
    world: World, sla_tickets: list[Ticket], state: str
) -> None:
    ids = [t.pk for t in sla_tickets]
    expected = {t.number for t in Ticket.objects.filter(pk__in=ids) if t.sla_state(NOW) == state}
    found = set(
        forms.filter_sla(Ticket.objects.filter(pk__in=ids), state, NOW).values_list(
            "number", flat=True
        )
    )
    assert expected, f"the fixture should produce some {state} tickets"
    assert found == expected


def test_sla_filter_in_the_view(world: World) -> None:
    late = make(world, "Old urgent", priority="urgent", now=datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    http = world.http(world.tech)
    response = http.get(URL, {"sla": "breached"})
    assert numbers_in(response) == {late.number}
    assert b"sla-breached" in response.content
    assert late.number not in numbers_in(http.get(URL, {"sla": "due_soon"}))


# --- sort and pages ---------------------------------------------------------------------


def test_sort_orders(world: World) -> None:
    base = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
    low = make(world, "low", priority="low", now=base)
    urgent = make(world, "urgent", priority="urgent", now=base + timedelta(hours=1))
    high = make(world, "high", priority="high", now=base + timedelta(hours=2))
    ids = [low.number, urgent.number, high.number]
    http = world.http(world.tech)

    def order(**params: str) -> list[int]:
        numbers = [t.number for t in http.get(URL, params).context["tickets"]]
        return [n for n in numbers if n in ids]

    assert order(sort="created", dir="asc") == [low.number, urgent.number, high.number]
    assert order(sort="created", dir="desc") == [high.number, urgent.number, low.number]
    assert order(sort="priority", dir="desc") == [urgent.number, high.number, low.number]
    assert order(sort="priority", dir="asc") == [low.number, high.number, urgent.number]
    # Due date: the clock that matters now (first response here), soonest first.
    assert order(sort="due", dir="asc") == [urgent.number, high.number, low.number]
    ts.add_note(low, actor=world.tech, body="touch")
    assert order() == [low.number, high.number, urgent.number]  # default: last updated first


def walk(http, params: dict[str, str], key: str) -> list[list[int]]:
    """Follow the pager's ``key`` links ('next_query' or 'previous_query') to the end."""
    pages = []
    response = http.get(URL, params)
    while True:
        assert response.status_code == 200
        pages.append([t.number for t in response.context["tickets"]])
        query = response.context[key]
        if not query:
            return pages
        assert f'href="?{query}"'.replace("&", "&amp;") in response.content.decode()
        response = http.get(f"{URL}?{query}")


@pytest.mark.parametrize("sort", ["updated", "created", "priority", "due"])
@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_pages_walk_forward_and_back_without_counting(
    world: World, monkeypatch: pytest.MonkeyPatch, sort: str, direction: str
) -> None:
    monkeypatch.setattr(forms, "PAGE_SIZE", 5)
    same_moment = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
    for i in range(10):
        # Half of them share one timestamp, so the id tie-break has to carry the pages.
        moment = same_moment if i % 2 else same_moment + timedelta(minutes=i)
        make(world, f"Paged {i}", now=moment, priority=["low", "high"][i % 2])
    http = world.http(world.tech)  # 12 open tickets: pages of 5, 5, 2
    params = {"sort": sort, "dir": direction}
    with CaptureQueriesContext(connection) as queries:
        http.get(URL, params)
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    forward = walk(http, params, "next_query")
    assert [len(p) for p in forward] == [5, 5, 2]
    everything = [n for p in forward for n in p]
    assert sorted(everything) == sorted(t.number for t in Ticket.objects.all())
    expected = [t.number for t in http.get(URL, {**params, "status": "open"}).context["tickets"]]
    assert everything[:5] == expected
    # From the last page back to the first, the same pages in reverse.
    last = http.get(URL, params)
    for _ in range(2):
        last = http.get(f"{URL}?{last.context['next_query']}")
    backward = []
    response = last
    while response.context["previous_query"]:
        response = http.get(f"{URL}?{response.context['previous_query']}")
        backward.append([t.number for t in response.context["tickets"]])
    assert backward == forward[:-1][::-1]


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_damaged_page_links_are_a_400(world: World, cursor: str) -> None:
    for value in ("abc", "1.x", "99999999999999999999999.1"):
        response = world.http(world.tech).get(URL, {cursor: value})
        assert response.status_code == 400
        assert b"This page link is damaged" in response.content


def test_deep_offset_pages_are_capped(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "PAGE_SIZE", 1)
    monkeypatch.setattr(forms, "MAX_PAGE", 2)
    make(world, "Third")
    response = world.http(world.tech).get(URL, {"sort": "priority", "page": 99})
    assert response.status_code == 200
    assert response.context["next_query"] == "" and response.context["previous_query"]
    assert b"narrow the filters" in response.content


def test_list_is_a_handful_of_queries(world: World, django_assert_max_num_queries) -> None:
    categories = list(Category.objects.all())
    queues = list(Queue.objects.all())
    for i in range(30):
        make(
            world,
            f"Row {i}",
            client=world.client_a if i % 2 else world.client_b,
            assignee=world.tech if i % 3 else world.admin,
            category=categories[i % len(categories)],
            queue=queues[i % len(queues)],
        )
    http = world.http(world.tech)
    http.get(URL)  # warm the session
    # Search adds one bounded probe of the full-text index (it picks the query shape).
    with django_assert_max_num_queries(10):
        response = http.get(URL, {"sort": "due", "q": "row"})
    assert len(response.context["tickets"]) == 30


# --- rendering --------------------------------------------------------------------------


def test_updated_time_is_shown_in_the_viewers_zone(world: World) -> None:
    make(world, "Zoned", now=datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    world.tech.time_zone = "America/New_York"
    world.tech.save()
    content = world.http(world.tech).get(URL, {"q": "zoned"}).content.decode()
    assert "2026-07-01 08:00" in content and "2026-07-01 12:00" not in content


def test_subjects_are_escaped(world: World) -> None:
    make(world, "<script>alert(1)</script>")
    content = world.http(world.tech).get(URL).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_htmx_swaps_only_the_results(world: World) -> None:
    response = world.http(world.tech).get(
        URL, {"status": "all"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="ticket-results"
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="ticket-results">') and "<html" not in content
    assert 'value="status=all"' in content  # the save-view form follows the filters
