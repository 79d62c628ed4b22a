"""The fast path of the demo loader: ticket lives replayed in memory, each table written once.

Calling the services 16,000 times costs about 20 s of CPU; this replays the same steps
with the same rules (tickets/services.py and tickets/sla.py) on in-memory rows and
writes them with ``bulk_create``, in about a tenth of that. It produces the rows the
services produce, row for row: test_demo.py loads one plan both ways and compares
every table, so a change to the services that this path does not follow fails there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Max
from django.utils import timezone

from atalaya.core.models import Contact, User
from atalaya.tickets import services, sla
from atalaya.tickets.models import (
    DONE_STATUSES,
    Counter,
    EventKind,
    Priority,
    SearchDocument,
    SlaPolicy,
    Status,
    Ticket,
    TicketEvent,
    TicketLink,
    TimeEntry,
)

if TYPE_CHECKING:
    from atalaya.core.demo.loader import _Loader
    from atalaya.core.demo.plan import Step, TicketPlan


class BulkReplayer:
    """Replays the plan's ticket steps as the services would, then saves in bulk."""

    def __init__(self, loader: _Loader) -> None:
        self.loader = loader
        self.calendars = {
            key: sla.BusinessCalendar.for_client(client) for key, client in loader.clients.items()
        }
        self.policies = {p.priority: p for p in SlaPolicy.objects.all()}
        self.client_key = {c.pk: key for key, c in loader.clients.items()}
        self.tickets: dict[int, Ticket] = {}
        # The two parts of each ticket's search document: public text and notes.
        self.search: dict[int, str] = {}
        self.notes: dict[int, str] = {}
        self.events: list[TicketEvent] = []
        self.entries: list[tuple[TimeEntry, TicketEvent]] = []
        self.links: list[TicketLink] = []
        counter = Counter.objects.filter(name="ticket").values_list("value", flat=True).first()
        if counter is None:
            counter = Ticket.objects.aggregate(highest=Max("number"))["highest"] or 0
        self.number = counter

    # The services' rules, on in-memory rows --------------------------------------------
    def _calendar(self, ticket: Ticket) -> sla.BusinessCalendar:
        return self.calendars[self.client_key[ticket.client_id]]

    def _apply_sla(self, ticket: Ticket) -> None:
        sla.lay_out_due_times(ticket, self.policies.get(ticket.priority), self._calendar(ticket))

    def _event(self, ticket: Ticket, kind: str, actor: User | None, **fields: Any) -> TicketEvent:
        event = services.timeline_event(ticket, kind, actor, **fields)
        self.events.append(event)
        return event

    def _set_status(self, ticket: Ticket, status: str, actor: User | None, now: datetime) -> None:
        before = ticket.status
        if before == status:
            return
        sla.move_status(
            ticket, status, now, self._calendar(ticket), self.policies.get(ticket.priority)
        )
        self._event(
            ticket,
            EventKind.STATUS,
            actor,
            now=now,
            is_public=True,
            data={"changes": {"status": [before, status]}},
        )

    def _append(self, ticket: Ticket, text: str, *, public: bool = True) -> None:
        if not text.strip():
            return
        part = self.search if public else self.notes
        before = part.get(ticket.number)
        part[ticket.number] = text if before is None else f"{before}\n{text}"

    def create(self, plan: TicketPlan, at: datetime) -> None:
        loader = self.loader
        actor = loader.users[plan.creator]
        contact: Contact | None = loader.contacts[plan.contact]
        queue = loader.queues.get(plan.queue or "")
        assignee = loader.users[plan.assignee] if plan.assignee else None
        priority = plan.priority
        if actor.is_portal:
            contact, assignee, queue = actor.contact, None, None
            if priority not in (Priority.LOW, Priority.NORMAL, Priority.HIGH):
                priority = Priority.NORMAL
        subject, body = plan.subject.strip(), plan.body.strip()
        self.number += 1
        ticket = Ticket(
            number=self.number,
            client=loader.clients[plan.client],
            site=loader.sites.get((plan.client, plan.site or "")),
            contact=contact,
            queue=queue,
            category=loader.categories[plan.category],
            subject=subject,
            priority=priority,
            assignee=assignee,
            status=Status.OPEN if assignee else Status.NEW,
            created_at=at,
            updated_at=at,
        )
        self._apply_sla(ticket)
        self.tickets[plan.key] = ticket
        self._event(
            ticket,
            EventKind.CREATED,
            actor,
            now=at,
            body=body,
            is_public=True,
            data={"subject": subject},
        )
        self.search[ticket.number] = f"{subject}\n{body}"

    def apply(self, step: Step) -> None:
        loader, ticket, at = self.loader, self.tickets[step.ticket], step.at
        actor = loader.users.get(step.actor)
        kind = step.kind
        if kind == "autoclose":
            if ticket.status == Status.RESOLVED:
                self._set_status(ticket, Status.CLOSED, None, at)
                ticket.updated_at = at
            return
        assert actor is not None, step
        if kind == "reply":
            body = step.body.strip()
            self._event(ticket, EventKind.REPLY, actor, now=at, body=body, is_public=True)
            if actor.is_msp_staff and ticket.first_responded_at is None:
                ticket.first_responded_at = at
            reopening = (Status.WAITING_CLIENT, *DONE_STATUSES)
            client_back = actor.is_portal and ticket.status in reopening
            if client_back or (actor.is_msp_staff and ticket.status == Status.NEW):
                self._set_status(ticket, Status.OPEN, actor, at)
            self._append(ticket, body)
        elif kind == "note":
            body = step.body.strip()
            self._event(ticket, EventKind.NOTE, actor, now=at, body=body)
            self._append(ticket, body, public=False)
        elif kind == "status":
            if ticket.status == step.value:
                return
            self._set_status(ticket, step.value, actor, at)
        elif kind == "assign":
            assignee = loader.users[step.value]
            if ticket.assignee_id == assignee.pk:
                return
            before = ticket.assignee.username if ticket.assignee else None
            ticket.assignee = assignee
            self._event(
                ticket,
                EventKind.ASSIGNMENT,
                actor,
                now=at,
                data={"changes": {"assignee": [before, assignee.username]}},
            )
            if ticket.status == Status.NEW:
                self._set_status(ticket, Status.OPEN, actor, at)
        elif kind == "priority":
            if ticket.priority == step.value:
                return
            before, ticket.priority = ticket.priority, step.value
            self._apply_sla(ticket)
            self._event(
                ticket,
                EventKind.PRIORITY,
                actor,
                now=at,
                data={"changes": {"priority": [before, step.value]}},
            )
        elif kind == "fields":
            queue = loader.queues[step.value]
            if ticket.queue == queue:
                return
            label = str(ticket.queue) if ticket.queue is not None else None
            ticket.queue = queue
            self._event(
                ticket,
                EventKind.FIELDS,
                actor,
                now=at,
                data={"changes": {"queue": [label, str(queue)]}},
            )
        elif kind == "time":
            work_type = loader.work_types.get(step.extra["work_type"])
            note = step.body.strip()
            entry = TimeEntry(
                ticket=ticket,
                user=actor,
                minutes=step.value,
                is_billable=step.extra["is_billable"],
                work_type=work_type,
                note=note,
                worked_on=timezone.localdate(at),
                created_at=at,
            )
            # The entry's id is filled in once the entries are saved.
            event = self._event(
                ticket,
                EventKind.TIME,
                actor,
                now=at,
                body=note,
                data={
                    "minutes": step.value,
                    "is_billable": step.extra["is_billable"],
                    "time_entry": None,
                    "work_type": work_type.name if work_type else None,
                },
            )
            self.entries.append((entry, event))
        elif kind == "merge":
            target = self.tickets[step.value]
            ticket.merged_into = target
            self._set_status(ticket, Status.CLOSED, actor, at)
            self._event(ticket, EventKind.MERGE, actor, now=at, data={"merged_into": target.number})
            ticket.updated_at = at
            self._event(target, EventKind.MERGE, actor, now=at, data={"merged_from": ticket.number})
            target.updated_at = at
            self._append(target, self.search[ticket.number])
            self._append(target, self.notes.get(ticket.number, ""), public=False)
            return
        elif kind == "link":
            other = self.tickets[step.value]
            self.links.append(
                TicketLink(from_ticket=ticket, to_ticket=other, created_by=actor, created_at=at)
            )
            self._event(ticket, EventKind.LINK, actor, now=at, data={"linked": other.number})
            self._event(other, EventKind.LINK, actor, now=at, data={"linked": ticket.number})
            other.updated_at = at
        else:  # pragma: no cover - the plan only makes the kinds above
            raise ValueError(f"unknown demo step {kind!r}")
        ticket.updated_at = at

    # Writing --------------------------------------------------------------------------
    def save(self, progress: Callable[[str], None]) -> None:
        tickets = sorted(self.tickets.values(), key=lambda t: t.number)
        merged = [(t, t.merged_into) for t in tickets if t.merged_into is not None]
        for ticket, _target in merged:
            # Saved in one batch, a ticket cannot point at another not yet saved.
            ticket.merged_into = None
        Ticket.objects.bulk_create(tickets, batch_size=500)
        for ticket, target in merged:
            ticket.merged_into = target
        Ticket.objects.bulk_update([t for t, _ in merged], ["merged_into"])
        Counter.objects.update_or_create(name="ticket", defaults={"value": self.number})
        TimeEntry.objects.bulk_create([entry for entry, _e in self.entries], batch_size=500)
        for entry, event in self.entries:
            event.data["time_entry"] = entry.pk
        TicketEvent.objects.bulk_create(self.events, batch_size=500)
        TicketLink.objects.bulk_create(self.links)
        SearchDocument.objects.bulk_create(
            [
                SearchDocument(
                    ticket=t, body=self.search[t.number], internal=self.notes.get(t.number, "")
                )
                for t in tickets
            ],
            batch_size=500,
        )
        progress(f"{len(tickets)} tickets, {len(self.events)} timeline events written")
