"""Announcement services: validation, audience resolution, sending once, scheduling, cancelling."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.utils import timezone

from atalaya.comms import services
from atalaya.comms.models import (
    Announcement,
    AnnouncementClient,
    AnnouncementStatus,
    Audience,
    ContactRole,
)
from atalaya.comms.tasks import send_due_announcements
from atalaya.comms.tests.helpers import TEXTS, announce, contact_at
from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.core.models import AuditEvent, Contact
from atalaya.mail import addressing
from atalaya.mail.models import Delivery, FailingAddress, OutboundKind, OutboundMessage
from atalaya.tickets.tests.test_services import threads_use_a_file_database


def mails_of(announcement: Announcement) -> dict[str, OutboundMessage]:
    return {m.to_address: m for m in OutboundMessage.objects.filter(announcement=announcement)}


def field_errors(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(exc.value.message_dict)


# --- writing -----------------------------------------------------------------------------


def test_both_languages_are_required(world: World) -> None:
    with pytest.raises(ValidationError) as exc:
        announce(world.tech, subject_es=" ", body_en="")
    assert field_errors(exc) == {"subject_es", "body_en"}


def test_audience_must_be_complete(world: World) -> None:
    with pytest.raises(ValidationError) as exc:
        announce(world.tech, audience=Audience.CHOSEN_CLIENTS, clients=[])
    assert field_errors(exc) == {"clients"}
    with pytest.raises(ValidationError) as exc:
        announce(world.tech, audience=Audience.ROLE)
    assert field_errors(exc) == {"role"}
    with pytest.raises(ValidationError) as exc:
        announce(world.tech, audience="everyone")
    assert field_errors(exc) == {"audience"}


def test_expiry_must_follow_the_schedule(world: World) -> None:
    with pytest.raises(ValidationError) as exc:
        announce(world.tech, expires_at=timezone.now() - timedelta(minutes=1))
    assert field_errors(exc) == {"expires_at"}
    announcement = announce(world.tech, expires_at=timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError) as exc:
        services.schedule_announcement(
            actor=world.tech, announcement=announcement, when=timezone.now() + timedelta(days=2)
        )
    assert field_errors(exc) == {"scheduled_for"}


def test_only_ticket_writers_write_announcements(world: World) -> None:
    for user in (world.readonly, world.billing, world.portal_a):
        with pytest.raises(PermissionDenied):
            announce(user)
    announcement = announce(world.admin)
    with pytest.raises(PermissionDenied):
        services.send_announcement(actor=world.readonly, announcement=announcement)
    assert AuditEvent.objects.filter(object_type="announcement", action="created").count() == 1


def test_update_changes_a_draft_and_records_what_changed(world: World) -> None:
    announcement = announce(world.tech)
    services.update_announcement(
        actor=world.tech,
        announcement=announcement,
        **{**TEXTS, "subject_en": "Open as usual"},
        audience=Audience.CHOSEN_CLIENTS,
        clients=[world.client_b],
    )
    announcement.refresh_from_db()
    assert announcement.subject_en == "Open as usual"
    assert list(announcement.clients.all()) == [world.client_b]
    event = AuditEvent.objects.get(object_type="announcement", action="updated")
    assert set(event.after) == {"subject_en", "audience", "clients"}
    services.send_announcement(actor=world.tech, announcement=announcement)
    with pytest.raises(ValidationError):
        services.update_announcement(
            actor=world.tech, announcement=announcement, **TEXTS, audience=Audience.ALL_CLIENTS
        )


# --- the audience --------------------------------------------------------------------------


def test_all_clients_reaches_each_contact_once_in_their_language(world: World) -> None:
    both = contact_at([world.client_a, world.client_b], "Both", "both@alfa.example", "en")
    announcement = announce(world.tech)
    result = services.send_announcement(actor=world.tech, announcement=announcement)
    assert result is not None
    mails = mails_of(announcement)
    assert set(mails) == {"ana@alfa.example", "ana@beta.example", "both@alfa.example"}
    english = mails["both@alfa.example"]
    spanish = mails["ana@alfa.example"]
    assert (english.language, english.subject) == ("en", TEXTS["subject_en"])
    assert TEXTS["body_en"] in english.body_text and "Reply to this mail" in english.body_text
    assert (spanish.language, spanish.subject) == ("es", TEXTS["subject_es"])
    assert TEXTS["body_es"] in spanish.body_text and TEXTS["body_en"] not in spanish.body_text
    # Reached through the first of its memberships: client A.
    assert english.client_id == world.client_a.pk
    assert english.idempotency_key == f"announcement:{announcement.pk}:contact:{both.pk}"
    assert english.kind == OutboundKind.ANNOUNCEMENT and english.status == Delivery.QUEUED
    assert english.reply_to == addressing.mail_from()[1]
    assert english.from_address == addressing.sender_header()
    assert english.ticket_id is None and english.message_id.endswith("@atalaya.localhost")
    assert len({m.message_id for m in mails.values()}) == 3
    reached = dict(
        AnnouncementClient.objects.filter(announcement=announcement).values_list(
            "client_id", "recipients"
        )
    )
    assert reached == {world.client_a.pk: 2, world.client_b.pk: 1}
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.SENT and announcement.sent_at is not None
    sent = AuditEvent.objects.get(object_type="announcement", action="sent")
    assert sent.after == {"recipients": 3, "clients": 2}


def test_chosen_clients_and_roles_narrow_the_audience(world: World) -> None:
    boss_a = contact_at([world.client_a], "Boss A", "boss@alfa.example", is_decision_maker=True)
    contact_at([world.client_b], "Boss B", "boss@beta.example", is_decision_maker=True)
    contact_at([world.client_a], "Tech A", "it@alfa.example", is_technical=True)
    chosen = announce(world.tech, audience=Audience.CHOSEN_CLIENTS, clients=[world.client_a])
    services.send_announcement(actor=world.tech, announcement=chosen)
    assert set(mails_of(chosen)) == {"ana@alfa.example", "boss@alfa.example", "it@alfa.example"}

    bosses = announce(world.tech, audience=Audience.ROLE, role=ContactRole.DECISION_MAKER)
    services.send_announcement(actor=world.tech, announcement=bosses)
    assert set(mails_of(bosses)) == {"boss@alfa.example", "boss@beta.example"}

    bosses_of_a = announce(
        world.tech,
        audience=Audience.ROLE,
        role=ContactRole.DECISION_MAKER,
        clients=[world.client_a],
    )
    services.send_announcement(actor=world.tech, announcement=bosses_of_a)
    assert set(mails_of(bosses_of_a)) == {"boss@alfa.example"}
    assert mails_of(bosses_of_a)["boss@alfa.example"].contact_id == boss_a.pk

    techs = announce(world.tech, audience=Audience.ROLE, role=ContactRole.TECHNICAL)
    services.send_announcement(actor=world.tech, announcement=techs)
    assert set(mails_of(techs)) == {"it@alfa.example"}


def test_a_role_counts_at_the_client_where_the_contact_has_it(world: World) -> None:
    # Decision maker at B only: reached through B, though the A membership is older.
    person = contact_at([world.client_a], "Two hats", "hats@alfa.example")
    core_services.add_contact_to_client(
        actor=None, contact=person, client=world.client_b, is_decision_maker=True
    )
    announcement = announce(world.tech, audience=Audience.ROLE, role=ContactRole.DECISION_MAKER)
    services.send_announcement(actor=world.tech, announcement=announcement)
    assert mails_of(announcement)["hats@alfa.example"].client_id == world.client_b.pk


def test_unreachable_contacts_are_left_out(world: World) -> None:
    contact_at([world.client_a], "No mail", "")
    triage = contact_at([world.client_a], "Stranger", "who@alfa.example")
    Contact.objects.filter(pk=triage.pk).update(needs_triage=True)
    contact_at([world.client_a], "Bounces", "bounces@alfa.example")
    FailingAddress.objects.create(address="bounces@alfa.example", reason="5.1.1 user unknown")
    contact_at([world.client_a], "Fixed", "fixed@alfa.example")
    FailingAddress.objects.create(address="fixed@alfa.example", cleared_at=timezone.now())
    # The same inbox under two contact records gets one mail.
    contact_at([world.client_b], "Ana again", "ana@alfa.example")
    inactive = core_services.create_client(actor=None, name="Gone Ltd")
    contact_at([inactive], "Gone", "gone@gone.example")
    core_services.update_client(actor=None, client=inactive, is_active=False)

    announcement = announce(world.tech)
    preview = services.preview_announcement(announcement)
    result = services.send_announcement(actor=world.tech, announcement=announcement)
    expected = {"ana@alfa.example", "ana@beta.example", "fixed@alfa.example"}
    assert set(mails_of(announcement)) == expected
    assert result is not None and result.recipients == 3
    assert preview.contacts == 3 and preview.clients == 2


def test_preview_counts_per_language_and_renders_both(world: World) -> None:
    contact_at([world.client_b], "Ben", "ben@beta.example", "en")
    announcement = announce(world.tech)
    preview = services.preview_announcement(announcement)
    assert preview.per_language == {"en": 1, "es": 2}
    assert (preview.contacts, preview.clients) == (3, 2)
    assert preview.mails["es"].subject == TEXTS["subject_es"]
    assert "Responda a este" in preview.mails["es"].body or TEXTS["body_es"] in (
        preview.mails["es"].body
    )
    assert preview.mails["en"].subject == TEXTS["subject_en"]
    assert {row["email"] for row in preview.sample} == {
        "ana@alfa.example",
        "ana@beta.example",
        "ben@beta.example",
    }
    assert {row["client"] for row in preview.sample} == {"Alfa Asesores", "Beta Bodegas"}
    assert not OutboundMessage.objects.exists(), "a preview sends nothing"


# --- sending once --------------------------------------------------------------------------


def test_sending_again_changes_nothing(world: World) -> None:
    announcement = announce(world.tech)
    assert services.send_announcement(actor=world.tech, announcement=announcement)
    assert services.send_announcement(actor=world.tech, announcement=announcement) is None
    assert OutboundMessage.objects.filter(announcement=announcement).count() == 2
    assert AnnouncementClient.objects.filter(announcement=announcement).count() == 2


def test_a_crashed_send_is_taken_over_and_adds_only_what_is_missing(world: World) -> None:
    contact_at([world.client_a], "Carla", "carla@alfa.example")
    announcement = announce(world.tech)
    services.send_announcement(actor=world.tech, announcement=announcement)
    first = mails_of(announcement)
    # As if the worker died after the first batch: one mail missing, the claim stale.
    OutboundMessage.objects.filter(to_address="carla@alfa.example").delete()
    AnnouncementClient.objects.filter(announcement=announcement).delete()
    stale = timezone.now() - services.CLAIM_LEASE - timedelta(minutes=1)
    Announcement.objects.filter(pk=announcement.pk).update(
        status=AnnouncementStatus.SENDING, claimed_at=stale, sent_at=None
    )
    # A fresh claim is not taken over.
    fresh = announce(world.tech)
    Announcement.objects.filter(pk=fresh.pk).update(
        status=AnnouncementStatus.SENDING, claimed_at=timezone.now()
    )
    assert send_due_announcements.call_local() == 1
    again = mails_of(announcement)
    assert set(again) == set(first)
    for address in ("ana@alfa.example", "ana@beta.example"):
        assert again[address].message_id == first[address].message_id
    assert (
        AnnouncementClient.objects.get(announcement=announcement, client=world.client_a).recipients
        == 2
    )
    fresh.refresh_from_db()
    assert fresh.status == AnnouncementStatus.SENDING
    assert not OutboundMessage.objects.filter(announcement=fresh).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_twice(tmp_path: Path) -> None:
    client = core_services.create_client(actor=None, name="Race Co")
    for i in range(30):
        contact_at([client], f"Person {i}", f"p{i}@race.example")
    announcement = announce(None)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            result = services.send_announcement(
                actor=None, announcement=Announcement.objects.get(pk=announcement.pk)
            )
            with lock:
                results.append(result)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    counts: list[int] = []

    def read_back() -> None:
        counts.append(OutboundMessage.objects.filter(announcement_id=announcement.pk).count())
        counts.append(AnnouncementClient.objects.filter(announcement_id=announcement.pk).count())
        counts.append(AuditEvent.objects.filter(action="sent").count())
        connections.close_all()

    with threads_use_a_file_database(tmp_path):
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        reader = threading.Thread(target=read_back)
        reader.start()
        reader.join(timeout=60)
    assert not errors, repr(errors)
    assert sum(result is not None for result in results) == 1
    assert counts == [30, 1, 1]


# --- scheduling and cancelling -------------------------------------------------------------


def test_the_periodic_job_sends_what_is_due(world: World) -> None:
    announcement = announce(world.tech)
    when = timezone.now() + timedelta(hours=1)
    services.schedule_announcement(actor=world.tech, announcement=announcement, when=when)
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.SCHEDULED
    assert services.send_due_announcements(now=when - timedelta(minutes=1)) == 0
    assert not OutboundMessage.objects.exists()
    assert services.send_due_announcements(now=when + timedelta(seconds=30)) == 1
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.SENT
    assert OutboundMessage.objects.filter(announcement=announcement).count() == 2
    assert services.send_due_announcements(now=when + timedelta(minutes=2)) == 0


def test_scheduling_needs_a_future_time_and_a_draft(world: World) -> None:
    announcement = announce(world.tech)
    with pytest.raises(ValidationError) as exc:
        services.schedule_announcement(
            actor=world.tech, announcement=announcement, when=timezone.now() - timedelta(hours=1)
        )
    assert field_errors(exc) == {"scheduled_for"}
    services.send_announcement(actor=world.tech, announcement=announcement)
    with pytest.raises(ValidationError) as exc:
        services.schedule_announcement(
            actor=world.tech, announcement=announcement, when=timezone.now() + timedelta(hours=1)
        )
    assert field_errors(exc) == {"status"}


def test_cancelling_a_scheduled_announcement_keeps_it_from_going_out(world: World) -> None:
    announcement = announce(world.tech)
    when = timezone.now() + timedelta(hours=1)
    services.schedule_announcement(actor=world.tech, announcement=announcement, when=when)
    assert services.cancel_announcement(actor=world.tech, announcement=announcement) == 0
    assert services.send_due_announcements(now=when + timedelta(minutes=1)) == 0
    assert services.send_announcement(actor=world.tech, announcement=announcement) is None
    assert not OutboundMessage.objects.exists()
    with pytest.raises(ValidationError):
        services.cancel_announcement(actor=world.tech, announcement=announcement)


def test_cancelling_while_delivering_cancels_the_queued_mails(world: World) -> None:
    announcement = announce(world.tech)
    services.send_announcement(actor=world.tech, announcement=announcement)
    OutboundMessage.objects.filter(to_address="ana@beta.example").update(
        status=Delivery.SENT, sent_at=timezone.now()
    )
    assert services.cancel_announcement(actor=world.tech, announcement=announcement) == 1
    statuses = {m.to_address: m.status for m in mails_of(announcement).values()}
    assert statuses == {"ana@alfa.example": Delivery.CANCELLED, "ana@beta.example": Delivery.SENT}
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.CANCELLED
    event = AuditEvent.objects.get(object_type="announcement", action="cancelled")
    assert event.after["mails_cancelled"] == 1


def test_a_fully_delivered_announcement_cannot_be_cancelled(world: World) -> None:
    announcement = announce(world.tech)
    services.send_announcement(actor=world.tech, announcement=announcement)
    OutboundMessage.objects.filter(announcement=announcement).update(status=Delivery.SENT)
    with pytest.raises(ValidationError):
        services.cancel_announcement(actor=world.tech, announcement=announcement)
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.SENT


def test_a_cancel_half_way_stops_the_sender(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(7):
        contact_at([world.client_a], f"Person {i}", f"p{i}@alfa.example")
    announcement = announce(world.tech)
    monkeypatch.setattr(services, "BATCH_SIZE", 3)
    original = services._renew
    calls = {"n": 0}

    def renew_then_cancel(announcement_id: int, claim):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            # Someone presses cancel between the first and the second batch.
            services.cancel_announcement(actor=world.tech, announcement=announcement)
        return original(announcement_id, claim)

    monkeypatch.setattr(services, "_renew", renew_then_cancel)
    assert services.send_announcement(actor=world.tech, announcement=announcement) is None
    statuses = set(mails_of(announcement)[a].status for a in mails_of(announcement))
    assert statuses == {Delivery.CANCELLED}
    assert OutboundMessage.objects.filter(announcement=announcement).count() == 3
    assert not AnnouncementClient.objects.filter(announcement=announcement).exists()
