"""Search narrows the list in one of two query shapes; both must give the same tickets.

A search with few matches filters by the list of their ids; one with many (more than
search.ID_LIST_LIMIT) keeps the full-text query as a subquery that the database tests
each ticket against while it walks the list's order (on SQLite written so the planner
does exactly that). The tests force each shape by moving the limit and compare them,
with the list's other filters and orders, on whichever database the suite runs on.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaya.tickets import search, services
from atalaya.tickets.models import OPEN_STATUSES, Ticket


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tickets(world) -> list[Ticket]:
    made = []
    for i in range(12):
        ticket = services.create_ticket(
            actor=world.tech,
            client=world.client_a if i % 3 else world.client_b,
            subject=f"VPN drops {i}" if i % 2 else f"Printer jam {i}",
            body="Desde casa la conexión falla." if i % 4 == 0 else "The office printer is jammed.",
        )
        if i % 5 == 0:
            services.change_status(ticket, actor=world.tech, status="closed")
        made.append(ticket)
    return made


def page(queryset, query: str) -> list[int]:
    found = search.filter_tickets(queryset, query)
    return list(found.order_by("-updated_at", "-id").values_list("number", flat=True)[:5])


QUERIES = ["vpn", "printer", "conexión", "casa vpn", "jam", "nothing", "vp"]


@pytest.mark.parametrize("query", QUERIES)
def test_both_shapes_find_the_same_tickets(world, tickets, monkeypatch, query) -> None:
    querysets = [
        Ticket.objects.all(),
        Ticket.objects.filter(status__in=OPEN_STATUSES),
        Ticket.objects.filter(client=world.client_a),
        Ticket.objects.select_related("client", "assignee").filter(priority="normal"),
    ]
    by_ids = [page(qs, query) for qs in querysets]
    monkeypatch.setattr(search, "ID_LIST_LIMIT", 0)
    by_subquery = [page(qs, query) for qs in querysets]
    assert by_ids == by_subquery
    every = set(search.filter_tickets(Ticket.objects.all(), query).values_list("number", flat=True))
    assert every <= {t.number for t in tickets} | {world.ticket_a.number, world.ticket_b.number}


def test_many_matches_keep_the_search_in_the_list_query(world, tickets, monkeypatch) -> None:
    monkeypatch.setattr(search, "ID_LIST_LIMIT", 2)
    with CaptureQueriesContext(connection) as ctx:
        rows = page(Ticket.objects.all(), "printer")
    assert len(rows) == 5
    list_query = ctx.captured_queries[-1]["sql"]
    if connection.vendor == "sqlite":
        assert "likely(+" in list_query and "tickets_search_fts" in list_query
    else:
        assert "search_vector" in list_query


def test_few_matches_filter_by_ids(world, tickets) -> None:
    with CaptureQueriesContext(connection) as ctx:
        rows = page(Ticket.objects.all(), "conexión")
    assert rows
    list_query = ctx.captured_queries[-1]["sql"]
    assert "tickets_search_fts" not in list_query and "search_vector" not in list_query
