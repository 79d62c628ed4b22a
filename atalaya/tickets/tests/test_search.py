"""Full-text search over subjects and timelines, one interface on SQLite and PostgreSQL.

SQLite uses FTS5 (porter stemming for English, accents folded, the last word a
prefix); PostgreSQL a GIN index over English and Spanish tsvectors. Where the engines
differ the tests assert each backend's own expectation rather than skip.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection, connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atalaya.core import services as core_services
from atalaya.tickets import search, services
from atalaya.tickets.models import SearchDocument, Ticket
from atalaya.tickets.search import filter_tickets
from atalaya.tickets.tests.test_services import threads_use_a_file_database


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def numbers(query: str, queryset=None, viewer=None) -> set[int]:
    qs = queryset if queryset is not None else Ticket.objects.all()
    return set(filter_tickets(qs, query, viewer=viewer).values_list("number", flat=True))


@pytest.fixture
def corpus(world) -> dict[str, Ticket]:
    def make(subject: str, body: str) -> Ticket:
        return services.create_ticket(
            actor=world.tech, client=world.client_a, subject=subject, body=body
        )

    return {
        "en": make("Outlook keeps disconnecting", "The laptop connected fine yesterday."),
        "es": make("No se puede conectar a la VPN", "Las conexiones fallan desde casa."),
        "accent": make("Servidor caído", "El servidor de ficheros está caído."),
        "other": make("Toner cartridge", "Order a new cartridge for the printer."),
    }


def test_subject_and_first_message_are_found(world, corpus) -> None:
    assert numbers("outlook") == {corpus["en"].number}
    assert numbers("yesterday") == {corpus["en"].number}
    assert numbers("cartridge printer") == {corpus["other"].number}


def test_every_word_must_match(world, corpus) -> None:
    assert numbers("cartridge outlook") == set()


def test_case_does_not_matter(world, corpus) -> None:
    assert numbers("OUTLOOK") == numbers("Outlook") == {corpus["en"].number}


def test_english_stemming(world, corpus) -> None:
    # "connecting" and "connected" share the stem "connect" on both engines.
    assert corpus["en"].number in numbers("connecting")
    assert corpus["en"].number in numbers("connects")


def test_spanish_forms(world, corpus) -> None:
    es = corpus["es"].number
    if connection.vendor == "postgresql":
        # The Spanish snowball stemmer: conectar / conecta / conectamos → "conect",
        # conexiones / conexión → "conexion".
        assert es in numbers("conecta")
        assert es in numbers("conectamos")
        assert es in numbers("conexión")
        assert es in numbers("conexion")
    else:
        # FTS5 has no Spanish stemmer: the same word, or a prefix of it, matches.
        assert es in numbers("conectar")
        assert es in numbers("conecta")  # the last word is a prefix
        assert es in numbers("conexiones")
        assert es not in numbers("conectamos")


def test_accents_are_folded(world, corpus) -> None:
    accent = corpus["accent"].number
    assert accent in numbers("caido")
    assert accent in numbers("caído")
    assert accent in numbers("CAÍDO")
    if connection.vendor == "sqlite":
        assert accent in numbers("esta caido")  # remove_diacritics folds every word


def test_sqlite_last_word_is_a_prefix_postgres_matches_whole_words(world, corpus) -> None:
    found = numbers("outl")
    if connection.vendor == "sqlite":
        assert found == {corpus["en"].number}
    else:
        assert found == set()


def test_text_of_later_replies_and_notes_is_found(world, corpus) -> None:
    ticket = world.ticket_b
    assert ticket.number not in numbers("firmware")
    services.add_reply(ticket, actor=world.tech, body="Updated the firmware of the printer.")
    assert numbers("firmware") == {ticket.number}
    services.add_note(ticket, actor=world.tech, body="Supplier RMA-4711 opened by ana@alfa.example")
    assert numbers("RMA-4711") == {ticket.number}
    assert numbers("rma-4711 supplier") == {ticket.number}
    assert numbers("ana@alfa.example") == {ticket.number}
    services.add_reply(ticket, actor=world.portal_b, body="Gracias, ya imprime")
    assert numbers("imprime") == {ticket.number}


def test_a_new_subject_is_found(world, corpus) -> None:
    services.update_ticket(world.ticket_b, actor=world.tech, subject="Plotter offline")
    assert numbers("plotter") == {world.ticket_b.number}


def test_merged_ticket_text_is_found_on_the_survivor(world, corpus) -> None:
    duplicate = services.create_ticket(
        actor=world.portal_a, client=world.client_a, subject="Kerberos", body="Clock skew error"
    )
    services.add_note(duplicate, actor=world.tech, body="Resynchronised NTP on the DC")
    services.merge_tickets(duplicate, world.ticket_a, actor=world.tech)
    assert world.ticket_a.number in numbers("kerberos")
    assert world.ticket_a.number in numbers("skew")
    assert world.ticket_a.number in numbers("resynchronised")


def test_search_respects_the_querysets_scope(world, corpus) -> None:
    b_tickets = Ticket.objects.visible_to(world.portal_b)
    assert numbers("outlook", b_tickets) == set()
    assert numbers("vpn", b_tickets) == set()
    assert numbers("printer", b_tickets) == {world.ticket_b.number}


def test_search_composes_with_other_filters_and_ordering(world, corpus) -> None:
    qs = filter_tickets(Ticket.objects.filter(client=world.client_a), "cartridge")
    assert list(qs.order_by("-created_at").values_list("number", flat=True)) == [
        corpus["other"].number
    ]
    assert qs.count() == 1


# --- what the client may search -------------------------------------------------------


def test_clients_do_not_find_tickets_by_words_of_internal_notes(world, corpus) -> None:
    services.add_note(world.ticket_a, actor=world.tech, body="Local admin password hunter2")
    mine = Ticket.objects.visible_to(world.portal_a)
    assert numbers("hunter2", mine, viewer=world.tech) == {world.ticket_a.number}
    assert numbers("hunter2", mine, viewer=world.readonly) == {world.ticket_a.number}
    # A client must not learn what an internal note says by probing the search.
    assert numbers("hunter2", mine, viewer=world.portal_a) == set()
    assert numbers("password", mine, viewer=world.portal_a) == set()
    # Their own public words still work, as do the subject and the staff's replies.
    services.add_reply(world.ticket_a, actor=world.tech, body="Please restart the router")
    assert numbers("router", mine, viewer=world.portal_a) == {world.ticket_a.number}
    assert numbers("vpn", mine, viewer=world.portal_a) == {
        world.ticket_a.number,
        corpus["es"].number,
    }
    assert numbers("morning", mine, viewer=world.portal_a) == {world.ticket_a.number}
    # Used as a subquery (Django renames its table aliases), the filter still holds.
    inner = filter_tickets(mine, "router", viewer=world.portal_a).values("pk")
    assert list(Ticket.objects.filter(pk__in=inner)) == [world.ticket_a]
    inner = filter_tickets(mine, "hunter2", viewer=world.portal_a).values("pk")
    assert not Ticket.objects.filter(pk__in=inner).exists()


# --- hostile queries ------------------------------------------------------------------

HOSTILE = [
    '"',
    '"vpn',
    "vpn*",
    "*",
    "NEAR(vpn",
    "NEAR(vpn connect, 2)",
    "vpn OR printer",
    "OR",
    "AND",
    "NOT",
    "-vpn",
    "vpn -printer",
    "^vpn",
    "body:vpn",
    "{body}: vpn",
    "vpn'); DROP TABLE tickets_ticket; --",
    "' OR 1=1 --",
    "%",
    "_",
    "__",
    "\\",
    "vpn\x00",
    "\x00",
    "!!!???...",
    "()[]{}<>|&~@#$",
    "😀",
    "x" * 10_000,
    "vpn " * 5_000,
    "",
    "   ",
]


@pytest.mark.parametrize("query", HOSTILE, ids=[repr(q[:20]) for q in HOSTILE])
def test_hostile_queries_never_raise(world, corpus, query: str) -> None:
    found = numbers(query)
    total = Ticket.objects.count()
    assert len(found) <= total
    assert numbers(query, viewer=world.portal_a) <= found


def test_hostile_queries_give_sensible_results(world, corpus) -> None:
    everything = set(Ticket.objects.values_list("number", flat=True))
    vpn = numbers("vpn")
    assert vpn == {world.ticket_a.number, corpus["es"].number}
    # Operators and quotes are ignored: the words in them are what is searched.
    assert numbers('"vpn') == vpn
    assert numbers("^vpn") == vpn
    assert numbers("-vpn") == vpn
    assert numbers("vpn*") == vpn
    assert numbers("NEAR(vpn") == set()  # "near" is a word too, and no ticket has it
    # A query with no words at all does not filter.
    for query in ("", "   ", "*", '"', "!!!???...", "()[]{}<>|&~@#$", "😀", "\x00"):
        assert numbers(query) == everything, query
    # SQL in a query is only text.
    assert numbers("vpn'); DROP TABLE tickets_ticket; --") == set()
    assert Ticket.objects.count() == len(everything)
    # Very long queries are cut to their first words rather than refused.
    assert numbers("vpn " * 5_000) == vpn
    assert len(search.terms_of("word " * 5_000)) <= 20


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    query=st.lists(
        st.one_of(
            st.characters(codec="utf-8", exclude_categories=["Cs"]),
            st.sampled_from(list("\"*^-:(){}[]+~'\\%_ ")),
            st.sampled_from(["NEAR", "OR", "AND", "NOT", "vpn", "printer", "é", " "]),
        ),
        max_size=30,
    ).map("".join)
)
def test_any_text_is_a_valid_query(world, query: str) -> None:
    found = numbers(query)
    assert found <= {world.ticket_a.number, world.ticket_b.number}
    assert numbers(query, viewer=world.portal_a) <= found


@pytest.mark.django_db(transaction=True)
def test_replies_saved_at_the_same_time_are_all_searchable(settings, tmp_path: Path) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tech = core_services.create_staff_user(
        actor=None, username="racer", password="a-long-enough-password", role="technician"
    )
    client = core_services.create_client(actor=None, name="Concurrent Co")
    ticket = services.create_ticket(actor=tech, client=client, subject="Busy ticket")
    words = [f"zebra{chr(ord('a') + i)}" for i in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(words))

    def reply(word: str) -> None:
        try:
            start.wait()
            services.add_reply(Ticket.objects.get(pk=ticket.pk), actor=tech, body=word)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    body: list[str] = []

    def read_back() -> None:
        body.append(SearchDocument.objects.get(ticket_id=ticket.pk).body)
        connections.close_all()

    with threads_use_a_file_database(tmp_path):
        threads = [threading.Thread(target=reply, args=(w,)) for w in words]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        reader = threading.Thread(target=read_back)
        reader.start()
        reader.join(timeout=60)
    assert not errors, errors
    assert [w for w in words if w not in body[0]] == []
