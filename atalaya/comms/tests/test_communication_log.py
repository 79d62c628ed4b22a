"""The client's communication log: mail in, mail out and announcements in one timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from atalaya.comms import services
from atalaya.comms.log import communication_log
from atalaya.comms.models import Announcement, AnnouncementClient, Audience
from atalaya.comms.tests.helpers import announce
from atalaya.conftest import World
from atalaya.core.models import Client
from atalaya.mail.models import InboundMessage, Outcome
from atalaya.mail.outbox import queue_mail


def mail_in(client: Client, subject: str, at: Any, ticket: Any = None) -> InboundMessage:
    return InboundMessage.objects.create(
        message_id=f"{subject.replace(' ', '-')}@example.test",
        raw="mail/raw/none.eml",
        sha256="0" * 64,
        from_address=f"ana@{client.name.split()[0].lower()}.example",
        subject=subject,
        outcome=Outcome.APPENDED if ticket else Outcome.CREATED,
        client=client,
        ticket=ticket,
        received_at=at,
    )


def mail_out(client: Client, subject: str, at: Any, ticket: Any = None) -> Any:
    return queue_mail(
        key=f"log-test:{subject}",
        kind="reply",
        client=client,
        ticket=ticket,
        to_address="ana@example.test",
        subject=subject,
        body_text="text",
        now=at,
    )


def reach(announcement: Announcement, client: Client, at: Any) -> None:
    services.send_announcement(actor=None, announcement=announcement, now=at)


def test_mixed_timeline_newest_first_with_links(world: World) -> None:
    now = timezone.now()
    mail_in(world.client_a, "Printer again", now - timedelta(hours=5), world.ticket_a)
    mail_out(world.client_a, "Re: Printer again", now - timedelta(hours=4), world.ticket_a)
    announcement = announce(world.tech, audience=Audience.CHOSEN_CLIENTS, clients=[world.client_a])
    reach(announcement, world.client_a, now - timedelta(hours=3))
    mail_in(world.client_a, "New question", now - timedelta(hours=2))
    # Client B's rows never show on A's log.
    mail_in(world.client_b, "Beta secret", now - timedelta(hours=1), world.ticket_b)
    mail_out(world.client_b, "Beta reply", now - timedelta(hours=1), world.ticket_b)
    services.send_announcement(
        actor=None,
        announcement=announce(
            world.tech,
            audience=Audience.CHOSEN_CLIENTS,
            clients=[world.client_b],
            subject_en="Beta only",
        ),
    )
    page = communication_log(world.client_a, limit=10)
    assert [(e.kind, e.subject) for e in page.entries] == [
        ("in", "New question"),
        ("announcement", announcement.subject_en),
        ("out", "Re: Printer again"),
        ("in", "Printer again"),
    ]
    assert page.more_before is None
    assert page.entries[1].recipients == 1
    assert page.entries[2].ticket_number == world.ticket_a.number

    response = world.http(world.readonly).get(
        reverse("client_detail", args=[world.client_a.public_id])
    )
    text = response.content.decode()
    assert reverse("comms:detail", args=[announcement.public_id]) in text
    assert reverse("tickets:detail", args=[world.ticket_a.number]) in text
    assert "Beta secret" not in text and "Beta reply" not in text and "Beta only" not in text


def test_pages_by_time_without_gaps_or_repeats(world: World) -> None:
    now = timezone.now()
    for i in range(7):
        mail_in(world.client_a, f"in {i}", now - timedelta(minutes=10 * i + 1))
        mail_out(world.client_a, f"out {i}", now - timedelta(minutes=10 * i + 2))
    seen: list[str] = []
    before = None
    while True:
        page = communication_log(world.client_a, limit=4, before=before)
        seen += [e.subject for e in page.entries]
        if page.more_before is None:
            break
        before = page.more_before
    assert len(seen) == 14 and len(set(seen)) == 14
    assert seen[:3] == ["in 0", "out 0", "in 1"]
    # The page link of the client page takes the same cursor.
    response = world.http(world.tech).get(
        reverse("client_detail", args=[world.client_a.public_id]),
        {"log_before": (now - timedelta(minutes=35)).isoformat()},
    )
    subjects = [e.subject for e in response.context["comms_log"].entries]
    assert subjects[0] == "in 4"
    bad = world.http(world.tech).get(
        reverse("client_detail", args=[world.client_a.public_id]), {"log_before": "yesterday"}
    )
    assert bad.status_code == 200
    naive = world.http(world.tech).get(
        reverse("client_detail", args=[world.client_a.public_id]),
        {"log_before": "2000-01-01T10:00:00"},
    )
    assert naive.status_code == 200 and naive.context["comms_log"].entries == []


def test_query_count_is_fixed(world: World, django_assert_num_queries: Any) -> None:
    now = timezone.now()
    with django_assert_num_queries(3):
        communication_log(world.client_a, limit=25)
    for i in range(30):
        mail_in(world.client_a, f"in {i}", now - timedelta(minutes=i), world.ticket_a)
        mail_out(world.client_a, f"out {i}", now - timedelta(minutes=i), world.ticket_a)
    for _ in range(3):
        services.send_announcement(
            actor=None,
            announcement=announce(
                world.tech, audience=Audience.CHOSEN_CLIENTS, clients=[world.client_a]
            ),
        )
    assert AnnouncementClient.objects.filter(client=world.client_a).count() == 3
    with django_assert_num_queries(3):
        page = communication_log(world.client_a, limit=25)
    assert len(page.entries) == 25 and page.more_before is not None
