"""Ticket services: timeline events, permissions, cross-object checks, numbers, bad input.

Every write goes through atalaya.tickets.services; these tests pin what each service
records (actor, time, before, after), who may call it, and that refused input leaves
nothing behind.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

from atalaya.core import services as core_services
from atalaya.tickets import services
from atalaya.tickets.models import (
    Counter,
    EventKind,
    Priority,
    Queue,
    SearchDocument,
    Status,
    Ticket,
    TicketEvent,
    TimeEntry,
    WorkType,
)

T0 = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)  # Monday 10:00 in Madrid


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def last_event(ticket: Ticket) -> TicketEvent:
    return TicketEvent.objects.filter(ticket=ticket).order_by("-id").first()


def snapshot() -> tuple[int, int, int, int, int]:
    """Row counts that a refused write must leave untouched."""
    return (
        Ticket.objects.count(),
        TicketEvent.objects.count(),
        TimeEntry.objects.count(),
        SearchDocument.objects.count(),
        Counter.objects.get(name="ticket").value,
    )


def field_errors(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(exc.value.message_dict)


# --- create ---------------------------------------------------------------------------


def test_create_writes_ticket_first_event_clocks_and_search_text(world) -> None:
    ticket = services.create_ticket(
        actor=world.tech,
        client=world.client_a,
        site=world.site_a,
        contact=world.contact_a,
        subject="  Outlook asks for the password  ",
        body="Every five minutes.",
        now=T0,
    )
    ticket.refresh_from_db()
    assert ticket.subject == "Outlook asks for the password"
    assert ticket.status == Status.NEW
    assert ticket.created_at == ticket.updated_at == T0
    assert ticket.first_response_due_at is not None and ticket.resolution_due_at is not None
    (event,) = TicketEvent.objects.filter(ticket=ticket)
    assert event.kind == EventKind.CREATED
    assert event.actor == world.tech
    assert event.created_at == T0
    assert event.body == "Every five minutes."
    assert event.is_public
    assert event.data == {"subject": "Outlook asks for the password"}
    assert "Every five minutes." in ticket.search_document.body


def test_create_with_an_assignee_opens_the_ticket(world) -> None:
    ticket = services.create_ticket(
        actor=world.admin, client=world.client_a, subject="Laptop", assignee=world.tech
    )
    assert ticket.status == Status.OPEN
    assert ticket.assignee == world.tech


def test_ticket_numbers_are_unique_increasing_and_not_row_ids(world) -> None:
    numbers = [
        services.create_ticket(actor=world.tech, client=world.client_a, subject=f"n{i}").number
        for i in range(5)
    ]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 5
    assert numbers[0] > world.ticket_b.number > world.ticket_a.number
    # Numbers continue from the install's counter (seeded at 1000), not from row ids.
    assert world.ticket_a.number > 1000


def test_a_missing_counter_row_never_reuses_numbers(world) -> None:
    last = world.ticket_b.number
    Counter.objects.filter(name="ticket").delete()
    ticket = services.create_ticket(actor=world.tech, client=world.client_a, subject="x")
    assert ticket.number > last


# --- replies and notes ----------------------------------------------------------------


def test_first_staff_reply_stops_first_response_clock_and_opens_new_ticket(world) -> None:
    ticket = world.ticket_a
    event = services.add_reply(ticket, actor=world.tech, body="On it.", now=T0)
    ticket.refresh_from_db()
    assert event.kind == EventKind.REPLY and event.is_public
    assert event.actor == world.tech and event.actor_contact is None
    assert event.created_at == T0
    assert ticket.first_responded_at == T0
    assert ticket.status == Status.OPEN
    status_event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.STATUS)
    assert status_event.changes == {"status": [Status.NEW, Status.OPEN]}
    assert status_event.actor == world.tech
    # A second reply does not move the first response.
    services.add_reply(ticket, actor=world.tech, body="Fixed?", now=T0.replace(hour=9))
    ticket.refresh_from_db()
    assert ticket.first_responded_at == T0


def test_portal_reply_is_recorded_as_the_contact_and_keeps_first_response_open(world) -> None:
    event = services.add_reply(world.ticket_a, actor=world.portal_a, body="Still broken", now=T0)
    world.ticket_a.refresh_from_db()
    assert event.actor is None
    assert event.actor_contact == world.contact_a
    assert event.is_public
    assert world.ticket_a.first_responded_at is None
    assert world.ticket_a.status == Status.NEW


def test_portal_reply_reopens_a_resolved_ticket(world) -> None:
    services.change_status(world.ticket_a, actor=world.tech, status=Status.RESOLVED, now=T0)
    later = T0.replace(hour=12)
    services.add_reply(world.ticket_a, actor=world.portal_a, body="It broke again", now=later)
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.status == Status.OPEN
    assert world.ticket_a.resolved_at is None
    event = last_event(world.ticket_a)
    assert event.kind == EventKind.STATUS
    assert event.changes == {"status": [Status.RESOLVED, Status.OPEN]}
    assert event.actor_contact == world.contact_a


def test_note_is_internal(world) -> None:
    event = services.add_note(
        world.ticket_a, actor=world.tech, body="Password is in the vault", now=T0
    )
    assert event.kind == EventKind.NOTE
    assert not event.is_public
    assert event.actor == world.tech
    assert event.created_at == T0
    assert not TicketEvent.objects.visible_to(world.portal_a).filter(pk=event.pk).exists()
    assert TicketEvent.objects.visible_to(world.readonly).filter(pk=event.pk).exists()


def test_reply_and_note_text_becomes_searchable(world) -> None:
    services.add_reply(world.ticket_a, actor=world.tech, body="replyword", now=T0)
    services.add_note(world.ticket_a, actor=world.tech, body="noteword", now=T0)
    document = SearchDocument.objects.get(ticket=world.ticket_a)
    # The reply is public text; the note lives apart, so clients never match it.
    assert "replyword" in document.body and "noteword" not in document.body
    assert "noteword" in document.internal


# --- status, assignment, priority, fields --------------------------------------------


def test_status_change_event_has_actor_time_before_and_after(world) -> None:
    services.change_status(world.ticket_a, actor=world.tech, status=Status.WAITING_CLIENT, now=T0)
    event = last_event(world.ticket_a)
    assert event.kind == EventKind.STATUS
    assert event.actor == world.tech
    assert event.created_at == T0
    assert event.changes == {"status": [Status.NEW, Status.WAITING_CLIENT]}
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.updated_at == T0


def test_setting_the_same_status_writes_nothing(world) -> None:
    before = TicketEvent.objects.count()
    services.change_status(world.ticket_a, actor=world.tech, status=Status.NEW, now=T0)
    assert TicketEvent.objects.count() == before


def test_closing_and_reopening_keep_resolution_times_consistent(world) -> None:
    services.change_status(world.ticket_a, actor=world.tech, status=Status.RESOLVED, now=T0)
    closed_at = T0.replace(hour=10)
    services.change_status(world.ticket_a, actor=world.tech, status=Status.CLOSED, now=closed_at)
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.resolved_at == T0
    assert world.ticket_a.closed_at == closed_at
    services.change_status(world.ticket_a, actor=world.tech, status=Status.OPEN, now=closed_at)
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.resolved_at is None and world.ticket_a.closed_at is None


def test_unknown_status_or_priority_is_a_field_error(world) -> None:
    with pytest.raises(ValidationError) as exc:
        services.change_status(world.ticket_a, actor=world.tech, status="done")
    assert field_errors(exc) == {"status"}
    with pytest.raises(ValidationError) as exc:
        services.change_priority(world.ticket_a, actor=world.tech, priority="extreme")
    assert field_errors(exc) == {"priority"}
    with pytest.raises(ValidationError) as exc:
        services.create_ticket(actor=world.tech, client=world.client_a, subject="x", priority="x")
    assert field_errors(exc) == {"priority"}


def test_assignment_event_and_new_ticket_opens(world) -> None:
    services.assign_ticket(world.ticket_a, actor=world.admin, assignee=world.tech, now=T0)
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.assignee == world.tech
    assert world.ticket_a.status == Status.OPEN
    assignment = TicketEvent.objects.get(ticket=world.ticket_a, kind=EventKind.ASSIGNMENT)
    assert assignment.actor == world.admin
    assert assignment.created_at == T0
    assert assignment.changes == {"assignee": [None, "tech"]}
    assert not assignment.is_public
    services.assign_ticket(world.ticket_a, actor=world.admin, assignee=None, now=T0)
    assert last_event(world.ticket_a).changes == {"assignee": ["tech", None]}


@pytest.mark.parametrize("who", ["readonly", "billing", "portal_a"])
def test_only_technicians_and_admins_can_be_assignees(world, who: str) -> None:
    with pytest.raises(ValidationError) as exc:
        services.assign_ticket(world.ticket_a, actor=world.admin, assignee=getattr(world, who))
    assert field_errors(exc) == {"assignee"}
    with pytest.raises(ValidationError) as exc:
        services.create_ticket(
            actor=world.admin, client=world.client_a, subject="x", assignee=getattr(world, who)
        )
    assert field_errors(exc) == {"assignee"}


def test_priority_event(world) -> None:
    services.change_priority(world.ticket_a, actor=world.tech, priority=Priority.URGENT, now=T0)
    event = last_event(world.ticket_a)
    assert event.kind == EventKind.PRIORITY
    assert event.actor == world.tech and event.created_at == T0
    assert event.changes == {"priority": [Priority.NORMAL, Priority.URGENT]}


def test_update_ticket_records_each_changed_field(world) -> None:
    queue = Queue.objects.get(slug="projects")
    services.update_ticket(
        world.ticket_a, actor=world.tech, now=T0, subject="VPN down", queue=queue, site=world.site_a
    )
    event = last_event(world.ticket_a)
    assert event.kind == EventKind.FIELDS
    assert event.actor == world.tech and event.created_at == T0
    assert event.changes == {
        "subject": ["VPN does not connect", "VPN down"],
        "queue": [None, str(queue)],
    }
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.subject == "VPN down"
    assert world.ticket_a.queue == queue
    assert "VPN down" in world.ticket_a.search_document.body


def test_update_ticket_refuses_unknown_fields(world) -> None:
    with pytest.raises(ValidationError) as exc:
        services.update_ticket(world.ticket_a, actor=world.tech, client=world.client_b)
    assert field_errors(exc) == {"client"}
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.client == world.client_a


# --- cross-object validation --------------------------------------------------------


def test_site_and_contact_of_another_client_are_field_errors(world) -> None:
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        services.create_ticket(
            actor=world.tech,
            client=world.client_a,
            subject="x",
            site=world.site_b,
            contact=world.contact_b,
        )
    assert field_errors(exc) == {"site", "contact"}
    with pytest.raises(ValidationError) as exc:
        services.update_ticket(world.ticket_a, actor=world.tech, site=world.site_b)
    assert field_errors(exc) == {"site"}
    with pytest.raises(ValidationError) as exc:
        services.update_ticket(world.ticket_a, actor=world.tech, contact=world.contact_b)
    assert field_errors(exc) == {"contact"}
    assert snapshot() == before
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.site == world.site_a and world.ticket_a.contact == world.contact_a


def test_a_contact_of_two_clients_may_be_used_for_both(world) -> None:
    shared = core_services.create_contact(
        actor=None, clients=[world.client_a, world.client_b], name="Shared accountant"
    )
    for client in (world.client_a, world.client_b):
        ticket = services.create_ticket(
            actor=world.tech, client=client, subject="x", contact=shared
        )
        assert ticket.contact == shared


# --- time -----------------------------------------------------------------------------


def test_log_time_writes_entry_and_timeline_event(world) -> None:
    work_type = WorkType.objects.get(slug="remote")
    entry = services.log_time(
        world.ticket_a,
        actor=world.tech,
        minutes=45,
        is_billable=False,
        work_type=work_type,
        note="Reset the VPN profile",
        now=T0,
    )
    assert entry.minutes == 45 and not entry.is_billable and entry.user == world.tech
    assert entry.worked_on == T0.date()
    event = last_event(world.ticket_a)
    assert event.kind == EventKind.TIME
    assert event.actor == world.tech and event.created_at == T0
    assert event.data == {
        "minutes": 45,
        "is_billable": False,
        "time_entry": entry.pk,
        "work_type": work_type.name,
    }
    assert not event.is_public


@pytest.mark.parametrize("minutes", [0, -5, 1441, True, "30", 2.5, None])
def test_log_time_refuses_bad_minutes(world, minutes: object) -> None:
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        services.log_time(world.ticket_a, actor=world.tech, minutes=minutes)  # type: ignore[arg-type]
    assert field_errors(exc) == {"minutes"}
    assert snapshot() == before


# --- permissions ----------------------------------------------------------------------


def staff_writes(world, ticket: Ticket):
    """Every ticket write, as a callable taking the actor."""
    duplicate = services.create_ticket(actor=world.admin, client=ticket.client, subject="dup")
    other = world.ticket_b if ticket != world.ticket_b else world.ticket_a
    return {
        "create": lambda actor: services.create_ticket(
            actor=actor, client=ticket.client, subject="x"
        ),
        "reply": lambda actor: services.add_reply(ticket, actor=actor, body="x"),
        "note": lambda actor: services.add_note(ticket, actor=actor, body="x"),
        "status": lambda actor: services.change_status(ticket, actor=actor, status=Status.OPEN),
        "assign": lambda actor: services.assign_ticket(ticket, actor=actor, assignee=world.tech),
        "priority": lambda actor: services.change_priority(ticket, actor=actor, priority="high"),
        "update": lambda actor: services.update_ticket(ticket, actor=actor, subject="y"),
        "time": lambda actor: services.log_time(ticket, actor=actor, minutes=5),
        "merge": lambda actor: services.merge_tickets(duplicate, ticket, actor=actor),
        "link": lambda actor: services.link_tickets(ticket, other, actor=actor),
    }


WRITES = [
    "create",
    "reply",
    "note",
    "status",
    "assign",
    "priority",
    "update",
    "time",
    "merge",
    "link",
]


@pytest.mark.parametrize("role", ["readonly", "billing"])
@pytest.mark.parametrize("write", WRITES)
def test_readonly_and_billing_staff_may_not_write(world, role: str, write: str) -> None:
    action = staff_writes(world, world.ticket_a)[write]
    before = TicketEvent.objects.filter(ticket=world.ticket_a).count()
    with pytest.raises(PermissionDenied):
        action(getattr(world, role))
    assert TicketEvent.objects.filter(ticket=world.ticket_a).count() == before


@pytest.mark.parametrize("write", WRITES)
def test_inactive_technician_may_not_write(world, write: str) -> None:
    action = staff_writes(world, world.ticket_a)[write]
    world.tech.is_active = False
    world.tech.save(update_fields=["is_active"])
    with pytest.raises(PermissionDenied):
        action(world.tech)


@pytest.mark.parametrize(
    "write", ["note", "status", "assign", "priority", "update", "time", "link"]
)
def test_portal_user_may_not_do_staff_work_even_on_own_ticket(world, write: str) -> None:
    with pytest.raises(PermissionDenied):
        staff_writes(world, world.ticket_a)[write](world.portal_a)


@pytest.mark.parametrize("write", ["merge"])
def test_portal_user_may_not_merge(world, write: str) -> None:
    with pytest.raises(PermissionDenied):
        staff_writes(world, world.ticket_a)[write](world.portal_a)


def test_portal_user_creates_tickets_for_own_client_as_themselves(world) -> None:
    queue = Queue.objects.first()
    ticket = services.create_ticket(
        actor=world.portal_a,
        client=world.client_a,
        subject="New laptop",
        body="Please",
        contact=None,
        site=world.site_a,
        priority=Priority.URGENT,
        assignee=world.tech,
        queue=queue,
    )
    assert ticket.contact == world.contact_a
    assert ticket.assignee is None
    assert ticket.queue is None
    assert ticket.priority == Priority.NORMAL
    assert ticket.status == Status.NEW
    event = TicketEvent.objects.get(ticket=ticket)
    assert event.actor is None and event.actor_contact == world.contact_a


def test_portal_user_cannot_file_as_another_contact(world) -> None:
    colleague = core_services.create_contact(actor=None, clients=[world.client_a], name="Colleague")
    ticket = services.create_ticket(
        actor=world.portal_a, client=world.client_a, subject="x", contact=colleague
    )
    assert ticket.contact == world.contact_a


def test_portal_user_cannot_create_or_reply_for_another_client(world) -> None:
    before = snapshot()
    with pytest.raises(PermissionDenied):
        services.create_ticket(actor=world.portal_a, client=world.client_b, subject="x")
    with pytest.raises(PermissionDenied):
        services.add_reply(world.ticket_b, actor=world.portal_a, body="x")
    assert snapshot() == before


def test_portal_site_of_another_client_is_a_field_error(world) -> None:
    with pytest.raises(ValidationError) as exc:
        services.create_ticket(
            actor=world.portal_a, client=world.client_a, subject="x", site=world.site_b
        )
    assert field_errors(exc) == {"site"}


def test_deactivated_portal_user_may_do_nothing(world) -> None:
    world.portal_a.is_active = False
    world.portal_a.save(update_fields=["is_active"])
    with pytest.raises(PermissionDenied):
        services.create_ticket(actor=world.portal_a, client=world.client_a, subject="x")
    with pytest.raises(PermissionDenied):
        services.add_reply(world.ticket_a, actor=world.portal_a, body="x")


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("", "", "subject"),
        ("   \n\t ", "", "subject"),
        ("\x00\x00", "", "subject"),
        ("x" * 300, "", "subject"),
        ("ok", "x" * (services.MAX_BODY_LENGTH + 1), "body"),
    ],
    ids=["empty", "blank", "only-nul", "300-chars", "huge-body"],
)
def test_bad_ticket_input_is_a_field_error_and_saves_nothing(
    world, subject: str, body: str, field: str
) -> None:
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        services.create_ticket(actor=world.tech, client=world.client_a, subject=subject, body=body)
    assert field_errors(exc) == {field}
    assert snapshot() == before


def test_nul_bytes_are_removed_not_stored(world) -> None:
    # PostgreSQL cannot store NUL in text; they are stripped so the write never fails.
    ticket = services.create_ticket(
        actor=world.tech, client=world.client_a, subject="Pass\x00word", body="a\x00b"
    )
    ticket.refresh_from_db()
    assert ticket.subject == "Password"
    assert TicketEvent.objects.get(ticket=ticket).body == "ab"
    event = services.add_reply(ticket, actor=world.tech, body="c\x00d")
    event.refresh_from_db()
    assert event.body == "cd"


def test_subject_of_exactly_the_limit_is_accepted(world) -> None:
    ticket = services.create_ticket(actor=world.tech, client=world.client_a, subject="y" * 250)
    ticket.refresh_from_db()
    assert len(ticket.subject) == 250


@pytest.mark.parametrize("body", ["", "  ", "\x00", "x" * (services.MAX_BODY_LENGTH + 1)])
@pytest.mark.parametrize("kind", ["reply", "note"])
def test_bad_reply_or_note_is_a_field_error_and_saves_nothing(world, kind: str, body: str) -> None:
    write = services.add_reply if kind == "reply" else services.add_note
    world.ticket_a.refresh_from_db()
    updated = world.ticket_a.updated_at
    before = snapshot()
    doc_before = SearchDocument.objects.get(ticket=world.ticket_a).body
    with pytest.raises(ValidationError) as exc:
        write(world.ticket_a, actor=world.tech, body=body)
    assert field_errors(exc) == {"body"}
    assert snapshot() == before
    world.ticket_a.refresh_from_db()
    assert world.ticket_a.updated_at == updated
    assert world.ticket_a.first_responded_at is None
    assert SearchDocument.objects.get(ticket=world.ticket_a).body == doc_before


def test_bad_attachment_rolls_back_the_whole_ticket(world) -> None:
    before = snapshot()
    evil = SimpleUploadedFile("payload.exe", b"MZ...", content_type="application/octet-stream")
    with pytest.raises(ValidationError) as exc:
        services.create_ticket(
            actor=world.tech, client=world.client_a, subject="with file", attachments=[evil]
        )
    assert field_errors(exc) == {"attachments"}
    assert snapshot() == before


def test_oversized_attachment_is_refused(world, settings) -> None:
    settings.ATTACHMENT_MAX_BYTES = 10
    big = SimpleUploadedFile("log.txt", b"x" * 11, content_type="text/plain")
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        services.add_reply(world.ticket_a, actor=world.tech, body="log", attachments=[big])
    assert field_errors(exc) == {"attachments"}
    assert snapshot() == before


def test_long_time_note_is_a_field_error(world) -> None:
    with pytest.raises(ValidationError) as exc:
        services.log_time(world.ticket_a, actor=world.tech, minutes=5, note="n" * 501)
    assert field_errors(exc) == {"note"}


# --- numbers under concurrency ---------------------------------------------------------


@contextmanager
def threads_use_a_file_database(tmp_path: Path) -> Iterator[None]:
    """On SQLite, point new (per-thread) connections at a file copy of the test database.

    The in-memory test database uses SQLite's shared cache, whose table locks fail at
    once instead of waiting (busy_timeout does not apply). Production runs on a file in
    WAL mode with IMMEDIATE transactions, so that is what the threads must race on.
    PostgreSQL threads use the test database itself.
    """
    if connection.vendor != "sqlite":
        yield
        return
    original = connections.settings["default"]
    path = tmp_path / "race.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    connections.settings["default"] = {**original, "NAME": str(path)}
    try:
        yield
    finally:
        connections.settings["default"] = original


@pytest.mark.django_db(transaction=True)
def test_ticket_numbers_stay_unique_when_created_concurrently(settings, tmp_path: Path) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tech = core_services.create_staff_user(
        actor=None, username="racer", password="a-long-enough-password", role="technician"
    )
    client = core_services.create_client(actor=None, name="Concurrent Co")
    threads_count, per_thread = 4, 5
    numbers: list[int] = []
    stored: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads_count)

    def worker() -> None:
        try:
            start.wait()
            for i in range(per_thread):
                ticket = services.create_ticket(actor=tech, client=client, subject=f"race {i}")
                with lock:
                    numbers.append(ticket.number)
        except BaseException as exc:
            errors.append(exc)
        finally:
            # Each thread has its own connection; close it so the test DB can be dropped.
            connections.close_all()

    def read_back() -> None:
        stored.extend(Ticket.objects.filter(client_id=client.pk).values_list("number", flat=True))
        stored.append(Counter.objects.get(name="ticket").value)
        connections.close_all()

    with threads_use_a_file_database(tmp_path):
        threads = [threading.Thread(target=worker) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        reader = threading.Thread(target=read_back)
        reader.start()
        reader.join(timeout=60)
    assert not errors, f"{connection.vendor}: {errors!r}"
    assert len(numbers) == threads_count * per_thread
    assert len(set(numbers)) == len(numbers)
    *rows, counter = stored
    assert sorted(rows) == sorted(numbers)
    assert counter == max(numbers)
