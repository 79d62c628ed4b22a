"""History is append-only: ticket timelines and the audit log are written, never rewritten.

A ticket's timeline is its audit history (every change with actor, time, before and
after); everything else leaves AuditEvent rows. Neither can be edited or deleted, not
row by row and not in bulk; mistakes are corrected by new events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from atalaya.core import services as core_services
from atalaya.core.models import AuditEvent
from atalaya.tickets import services
from atalaya.tickets.models import EventKind, Priority, Status, TicketEvent

T0 = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs ~1 s per user on a busy machine; the world fixture makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_ticket_history_records_every_change_in_order(world) -> None:
    ticket = world.ticket_a
    steps = [
        lambda now: services.assign_ticket(ticket, actor=world.admin, assignee=world.tech, now=now),
        lambda now: services.change_priority(
            ticket, actor=world.tech, priority=Priority.HIGH, now=now
        ),
        lambda now: services.add_reply(ticket, actor=world.tech, body="Try again now", now=now),
        lambda now: services.change_status(
            ticket, actor=world.tech, status=Status.WAITING_CLIENT, now=now
        ),
        lambda now: services.add_reply(ticket, actor=world.portal_a, body="Works, thanks", now=now),
        lambda now: services.log_time(ticket, actor=world.tech, minutes=15, now=now),
        lambda now: services.change_status(
            ticket, actor=world.tech, status=Status.RESOLVED, now=now
        ),
    ]
    for i, step in enumerate(steps):
        step(T0 + timedelta(minutes=i))
    events = list(TicketEvent.objects.filter(ticket=ticket).exclude(kind=EventKind.CREATED))
    summary = [
        (e.kind, e.actor.username if e.actor else e.actor_contact.name, e.changes or e.body)
        for e in events
    ]
    assert summary == [
        (EventKind.ASSIGNMENT, "admin", {"assignee": [None, "tech"]}),
        (EventKind.STATUS, "admin", {"status": [Status.NEW, Status.OPEN]}),
        (EventKind.PRIORITY, "tech", {"priority": [Priority.NORMAL, Priority.HIGH]}),
        (EventKind.REPLY, "tech", "Try again now"),
        (EventKind.STATUS, "tech", {"status": [Status.OPEN, Status.WAITING_CLIENT]}),
        (EventKind.REPLY, world.contact_a.name, "Works, thanks"),
        (EventKind.STATUS, world.contact_a.name, {"status": [Status.WAITING_CLIENT, Status.OPEN]}),
        (EventKind.TIME, "tech", ""),
        (EventKind.STATUS, "tech", {"status": [Status.OPEN, Status.RESOLVED]}),
    ]
    times = [e.created_at for e in events]
    assert times == sorted(times)
    assert times[0] == T0 and times[-1] == T0 + timedelta(minutes=6)


def test_a_correction_is_a_new_event_and_the_old_one_stays(world) -> None:
    services.change_priority(world.ticket_a, actor=world.tech, priority=Priority.URGENT, now=T0)
    later = T0 + timedelta(minutes=5)
    services.change_priority(world.ticket_a, actor=world.tech, priority=Priority.NORMAL, now=later)
    changes = [
        e.changes["priority"]
        for e in TicketEvent.objects.filter(ticket=world.ticket_a, kind=EventKind.PRIORITY)
    ]
    assert changes == [[Priority.NORMAL, Priority.URGENT], [Priority.URGENT, Priority.NORMAL]]


# --- append-only ------------------------------------------------------------------------


def test_ticket_event_refuses_update_and_delete(world) -> None:
    event = TicketEvent.objects.filter(ticket=world.ticket_a).first()
    original = event.body
    event.body = "rewritten history"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.save(update_fields=["body"])
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    event.refresh_from_db()
    assert event.body == original


def test_ticket_events_refuse_bulk_update_and_delete(world) -> None:
    events = TicketEvent.objects.filter(ticket=world.ticket_a)
    count = events.count()
    with pytest.raises(ValueError, match="append-only"):
        events.update(body="gone")
    with pytest.raises(ValueError, match="append-only"):
        events.delete()
    with pytest.raises(ValueError, match="append-only"):
        TicketEvent.objects.all().delete()
    event = events.first()
    event.body = "gone"
    # bulk_update runs inside atomic(savepoint=False); give it a savepoint to fail in.
    with pytest.raises(ValueError, match="append-only"), transaction.atomic():
        TicketEvent.objects.bulk_update([event], ["body"])
    assert events.count() == count
    assert not TicketEvent.objects.filter(body="gone").exists()


def test_audit_event_refuses_update_and_delete(world) -> None:
    audit = AuditEvent.objects.filter(object_type="client").first()
    assert audit is not None
    audit.action = "forged"
    with pytest.raises(ValueError, match="append-only"):
        audit.save()
    with pytest.raises(ValueError, match="append-only"):
        audit.delete()
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.filter(pk=audit.pk).update(action="forged")
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.all().delete()
    assert not AuditEvent.objects.filter(action="forged").exists()


def test_a_ticket_with_history_cannot_be_deleted(world) -> None:
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        world.ticket_a.delete()


# --- the audit log of non-ticket objects --------------------------------------------------


def test_core_services_leave_audit_events_with_actor_and_values(world) -> None:
    client = core_services.create_client(actor=world.admin, name="Gamma Gestoría")
    site = core_services.add_site(actor=world.admin, client=client, name="Main office")
    contact = core_services.create_contact(
        actor=world.tech, clients=[client], name="Gema", email="GEMA@gamma.example"
    )
    token, _raw = core_services.create_api_token(actor=world.tech, user=world.tech, name="laptop")
    core_services.revoke_api_token(actor=world.tech, token=token)

    def audit(obj_type: str, object_id: object, action: str) -> AuditEvent:
        return AuditEvent.objects.get(object_type=obj_type, object_id=str(object_id), action=action)

    created = audit("client", client.public_id, "created")
    assert created.actor == world.admin
    assert created.client == client
    assert created.after == {"name": "Gamma Gestoría"}
    assert audit("site", site.public_id, "created").after == {"name": "Main office"}
    contact_audit = audit("contact", contact.public_id, "created")
    assert contact_audit.actor == world.tech and contact_audit.client == client
    assert audit("apitoken", token.pk, "created").after == {"user": "tech", "name": "laptop"}
    assert audit("apitoken", token.pk, "revoked").actor == world.tech


def test_audit_log_is_for_staff_only(world) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert AuditEvent.objects.visible_to(world.readonly).exists()
    assert not AuditEvent.objects.visible_to(world.portal_a).exists()
    assert not AuditEvent.objects.visible_to(AnonymousUser()).exists()
    assert not AuditEvent.objects.visible_to(None).exists()
