"""The portal's ticket list: only the contact's companies, filters, search, paging, query count."""

from __future__ import annotations

import pytest

from atalaya.conftest import World
from atalaya.portal.tests.conftest import TwoClientContact
from atalaya.tickets import services

pytestmark = pytest.mark.django_db


def test_lists_own_clients_tickets_only(english: World) -> None:
    world = english
    response = world.http(world.portal_a).get("/portal/")
    assert response.status_code == 200
    assert b"VPN does not connect" in response.content
    assert b"Printer jammed" not in response.content
    assert f"/portal/tickets/{world.ticket_a.number}/".encode() in response.content


def test_status_filter_open_resolved_all(english: World) -> None:
    world = english
    done = services.create_ticket(
        actor=world.tech, client=world.client_a, subject="Old mailbox quota"
    )
    services.change_status(done, actor=world.tech, status="resolved")
    http = world.http(world.portal_a)

    default = http.get("/portal/").content
    assert b"VPN does not connect" in default and b"Old mailbox quota" not in default
    resolved = http.get("/portal/?status=resolved").content
    assert b"Old mailbox quota" in resolved and b"VPN does not connect" not in resolved
    everything = http.get("/portal/?status=all").content
    assert b"Old mailbox quota" in everything and b"VPN does not connect" in everything
    assert b"Printer jammed" not in everything


def test_search_finds_by_subject_and_reply_text(english: World) -> None:
    world = english
    outlook = services.create_ticket(
        actor=world.tech, client=world.client_a, subject="Outlook crashes"
    )
    services.add_reply(outlook, actor=world.tech, body="Please reinstall the antivirus plugin.")
    http = world.http(world.portal_a)

    by_subject = http.get("/portal/?q=outlook").content
    assert b"Outlook crashes" in by_subject and b"VPN does not connect" not in by_subject
    by_reply = http.get("/portal/?q=antivirus").content
    assert b"Outlook crashes" in by_reply and b"VPN does not connect" not in by_reply


def test_search_never_reaches_another_client(english: World) -> None:
    world = english
    content = world.http(world.portal_a).get("/portal/?q=printer&status=all").content
    assert b"Printer jammed" not in content
    assert b"No tickets match your search." in content


def test_company_filter_for_a_contact_of_several_clients(
    world: World, two_client_contact: TwoClientContact
) -> None:
    dual = two_client_contact
    services.create_ticket(actor=world.tech, client=dual.client_c, subject="Castro backup failed")
    http = dual.http()

    everything = http.get("/portal/").content.decode()
    assert "VPN does not connect" in everything and "Castro backup failed" in everything
    assert 'name="client"' in everything
    assert "Printer jammed" not in everything

    only_c = http.get(f"/portal/?client={dual.client_c.public_id}").content.decode()
    assert "Castro backup failed" in only_c and "VPN does not connect" not in only_c


def test_single_client_contact_sees_no_company_filter(english: World) -> None:
    content = english.http(english.portal_a).get("/portal/").content.decode()
    assert 'name="client"' not in content


def test_filter_by_a_client_not_ones_own_shows_nothing_of_it(english: World) -> None:
    world = english
    content = (
        world.http(world.portal_a)
        .get(f"/portal/?client={world.client_b.public_id}&status=all")
        .content
    )
    assert b"Printer jammed" not in content


@pytest.mark.parametrize(
    "query",
    [
        "?status=bogus",
        "?page=abc",
        "?page=-3",
        "?page=99999",
        "?client=not-a-uuid",
        "?q=%22NEAR%28*%22",
        "?q=" + "x" * 500,
    ],
)
def test_bad_query_strings_still_answer_200(english: World, query: str) -> None:
    response = english.http(english.portal_a).get("/portal/" + query)
    assert response.status_code == 200


def test_pagination_and_query_count(english: World, django_assert_max_num_queries) -> None:
    world = english
    for i in range(30):
        services.create_ticket(
            actor=world.tech,
            client=world.client_a,
            site=world.site_a,
            subject=f"Laptop {i:02d} slow",
        )
    http = world.http(world.portal_a)
    with django_assert_max_num_queries(6):
        first = http.get("/portal/")
    assert first.status_code == 200
    body = first.content.decode()
    assert "Page 1 of 2" in body
    assert "page=2" in body
    with django_assert_max_num_queries(6):
        second = http.get("/portal/?page=2&status=open")
    assert "Page 2 of 2" in second.content.decode()
    # 31 open tickets of client A: 25 on page one, 6 on page two.
    assert first.content.count(b'class="badge status-') == 25
    assert second.content.count(b'class="badge status-') == 6


def test_query_count_for_a_contact_of_several_clients(
    world: World, two_client_contact: TwoClientContact, django_assert_max_num_queries
) -> None:
    for i in range(10):
        services.create_ticket(
            actor=world.tech, client=two_client_contact.client_c, subject=f"Castro {i}"
        )
    http = two_client_contact.http()
    with django_assert_max_num_queries(8):  # 7 + the announcement banner
        response = http.get(f"/portal/?client={two_client_contact.client_c.public_id}&q=castro")
    assert response.status_code == 200


def test_subject_html_is_escaped(english: World) -> None:
    world = english
    services.create_ticket(
        actor=world.tech, client=world.client_a, subject='<img src=x onerror="alert(1)">'
    )
    content = world.http(world.portal_a).get("/portal/").content.decode()
    assert '<img src=x onerror="alert(1)">' not in content
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in content
