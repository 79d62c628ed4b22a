"""A client's new business hours or holidays move the due times of its open tickets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from atalaya.core import services as core_services
from atalaya.tickets import services
from atalaya.tickets.models import Status, Ticket

# Monday 2026-03-02, 09:00 in Madrid (UTC+1): inside the default 09:00–18:00 hours.
MONDAY_9 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _open_and_closed(world) -> tuple[Ticket, Ticket]:
    open_ticket = services.create_ticket(
        actor=world.tech, client=world.client_a, subject="Open one", priority="normal", now=MONDAY_9
    )
    closed = services.create_ticket(
        actor=world.tech, client=world.client_a, subject="Done one", priority="normal", now=MONDAY_9
    )
    services.change_status(closed, actor=world.tech, status=Status.CLOSED, now=MONDAY_9)
    return open_ticket, closed


def test_shorter_days_push_open_tickets_due_times_out(world) -> None:
    open_ticket, closed = _open_and_closed(world)
    before_open, before_closed = open_ticket.resolution_due_at, closed.resolution_due_at
    core_services.update_client(
        actor=world.admin, client=world.client_a, workday_ends_at=time(14, 0)
    )
    open_ticket.refresh_from_db()
    closed.refresh_from_db()
    assert open_ticket.resolution_due_at > before_open
    assert closed.resolution_due_at == before_closed  # history is not rewritten


def test_a_new_holiday_moves_the_deadline_by_a_day(world) -> None:
    open_ticket, _closed = _open_and_closed(world)
    first_due = open_ticket.first_response_due_at  # 4 business hours: Monday 13:00 local
    core_services.add_holidays(
        actor=world.admin, client=world.client_a, days=[(date(2026, 3, 2), "Fiesta local")]
    )
    open_ticket.refresh_from_db()
    assert open_ticket.first_response_due_at - first_due == (
        datetime(2026, 3, 3, 13, 0) - datetime(2026, 3, 2, 13, 0)
    )


def test_other_clients_and_unrelated_changes_leave_due_times_alone(world) -> None:
    open_ticket, _closed = _open_and_closed(world)
    other = services.create_ticket(
        actor=world.tech, client=world.client_b, subject="Elsewhere", now=MONDAY_9
    )
    due, other_due = open_ticket.resolution_due_at, other.resolution_due_at
    core_services.update_client(actor=world.admin, client=world.client_a, phone="+34 600 000 000")
    core_services.update_client(
        actor=world.admin, client=world.client_a, workday_starts_at=time(10, 0)
    )
    open_ticket.refresh_from_db()
    other.refresh_from_db()
    assert open_ticket.resolution_due_at != due
    assert other.resolution_due_at == other_due
