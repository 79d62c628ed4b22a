"""The outbox page, retry and cancel, and the ticket page's delivery panel (three users)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from atalaya.conftest import World
from atalaya.mail import outbox
from atalaya.mail.models import Delivery, FailingAddress, OutboundKind, OutboundMessage


def queue(world: World, n: int = 1, *, to: str = "", status: str = "") -> list[OutboundMessage]:
    rows = []
    for i in range(n):
        row = outbox.queue_mail(
            key=f"view-test:{to}:{i}:{OutboundMessage.objects.count()}",
            kind=OutboundKind.RESOLVED,
            client=world.client_a,
            ticket=world.ticket_a,
            to_address=to or f"person{i}@alfa.example",
            to_name=f"Person {i}",
            subject=f"Mail {i} alfa",
            body_text="text",
        )
        assert row is not None
        if status:
            OutboundMessage.objects.filter(pk=row.pk).update(
                status=status, last_error="550 5.1.1 nope"
            )
        rows.append(row)
    return rows


OUTBOX = reverse("mail:outbox")


def test_outbox_for_staff(world: World, settings: Any) -> None:
    settings.SMTP_URL = ""
    queue(world, 2)
    queue(world, 1, to="gone@alfa.example", status=Delivery.FAILED)
    for user in (world.tech, world.readonly, world.billing, world.admin):
        response = world.http(user).get(OUTBOX)
        assert response.status_code == 200
    content = response.content.decode()
    assert "person0@alfa.example" in content and "gone@alfa.example" in content
    assert "ATALAYA_SMTP_URL is empty" in content
    failed = world.http(world.tech).get(OUTBOX, {"status": "failed"}).content.decode()
    assert "gone@alfa.example" in failed and "person0@alfa.example" not in failed
    assert "Send again" in failed


def test_outbox_shows_a_bad_smtp_url(world: World, settings: Any) -> None:
    settings.SMTP_URL = "smtp://host:notaport"
    content = world.http(world.tech).get(OUTBOX).content.decode()
    assert "bad port" in content


def test_outbox_is_not_for_portal_users_or_strangers(world: World) -> None:
    (row,) = queue(world)
    for user in (world.portal_a, world.portal_b):
        http = world.http(user)
        assert http.get(OUTBOX).status_code == 404
        assert http.post(reverse("mail:outbox_cancel", args=[row.pk])).status_code == 404
        assert http.post(reverse("mail:outbox_retry", args=[row.pk])).status_code == 404
    assert world.http(None).get(OUTBOX).status_code == 302
    row.refresh_from_db()
    assert row.status == Delivery.QUEUED


def test_outbox_query_count_does_not_grow(world: World, django_assert_max_num_queries: Any) -> None:
    queue(world, 3)
    http = world.http(world.tech)
    http.get(OUTBOX)
    with django_assert_max_num_queries(6) as small:
        http.get(OUTBOX)
    queue(world, 45, to="")
    with django_assert_max_num_queries(6) as big:
        response = http.get(OUTBOX)
    assert len(response.context["page"]) == 48
    assert len(big.captured_queries) == len(small.captured_queries)


def test_outbox_pages(world: World) -> None:
    for i in range(55):
        queue(world, 1, to=f"p{i}@alfa.example")
    http = world.http(world.tech)
    first = http.get(OUTBOX)
    assert len(first.context["page"]) == 50 and first.context["page"].has_next()
    second = http.get(OUTBOX, {"page": 2})
    assert len(second.context["page"]) == 5
    assert http.get(OUTBOX, {"page": "nonsense", "status": "nope"}).status_code == 200


def test_technician_cancels_a_queued_mail(world: World) -> None:
    (row,) = queue(world)
    response = world.http(world.tech).post(reverse("mail:outbox_cancel", args=[row.pk]))
    assert response.status_code == 302 and response["Location"] == OUTBOX
    row.refresh_from_db()
    assert row.status == Delivery.CANCELLED
    # Cancelling again is a message, not an error page.
    again = world.http(world.tech).post(
        reverse("mail:outbox_cancel", args=[row.pk]),
        {"next": f"{OUTBOX}?status=cancelled"},
        follow=True,
    )
    assert again.status_code == 200
    assert "Only a queued mail can be cancelled." in again.content.decode()


def test_technician_retries_a_failed_mail(world: World) -> None:
    (row,) = queue(world, to="gone@alfa.example", status=Delivery.FAILED)
    FailingAddress.objects.create(address="gone@alfa.example", reason="550 5.1.1")
    response = world.http(world.tech).post(
        reverse("mail:outbox_retry", args=[row.pk]), {"next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == OUTBOX
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Delivery.QUEUED, 0)
    assert not FailingAddress.objects.get(address="gone@alfa.example").is_failing


def test_read_only_staff_may_not_retry_or_cancel(world: World) -> None:
    (row,) = queue(world)
    (failed,) = queue(world, to="x@alfa.example", status=Delivery.FAILED)
    http = world.http(world.readonly)
    assert http.post(reverse("mail:outbox_cancel", args=[row.pk])).status_code == 403
    assert http.post(reverse("mail:outbox_retry", args=[failed.pk])).status_code == 403
    assert "Send again" not in http.get(OUTBOX).content.decode()
    row.refresh_from_db()
    failed.refresh_from_db()
    assert (row.status, failed.status) == (Delivery.QUEUED, Delivery.FAILED)


def test_wrong_methods(world: World) -> None:
    (row,) = queue(world)
    http = world.http(world.tech)
    assert http.post(OUTBOX).status_code == 405
    assert http.get(reverse("mail:outbox_cancel", args=[row.pk])).status_code == 405
    assert http.get(reverse("mail:outbox_retry", args=[row.pk])).status_code == 405


def test_missing_mail_is_404(world: World) -> None:
    http = world.http(world.tech)
    assert http.post(reverse("mail:outbox_cancel", args=[987654321])).status_code == 404


def test_ticket_page_shows_each_recipients_delivery(world: World, settings: Any) -> None:
    from atalaya.tickets import services as ts

    world.tech.time_zone = "America/Mexico_City"
    world.tech.save(update_fields=["time_zone"])
    ts.add_reply(world.ticket_a, actor=world.tech, body="hello")
    (sent,) = OutboundMessage.objects.filter(ticket=world.ticket_a)
    from datetime import UTC, datetime

    OutboundMessage.objects.filter(pk=sent.pk).update(
        status=Delivery.SENT, attempts=1, sent_at=datetime(2026, 12, 1, 18, 5, tzinfo=UTC)
    )
    queue(world, 1, to="gone@alfa.example", status=Delivery.FAILED)
    page = world.http(world.tech).get(reverse("tickets:detail", args=[world.ticket_a.number]))
    content = page.content.decode()
    assert "Outgoing mail" in content
    assert "ana@alfa.example" in content and "gone@alfa.example" in content
    assert "550 5.1.1 nope" in content
    assert "Sent" in content and "Failed" in content
    # 18:05 UTC is 12:05 in Mexico City, the viewer's zone.
    assert "12:05" in content
    # The client's portal page shows none of it.
    portal = world.http(world.portal_a).get(
        reverse("portal:ticket_detail", args=[world.ticket_a.number])
    )
    assert "gone@alfa.example" not in portal.content.decode()


@pytest.mark.parametrize("name", ["outbox_cancel", "outbox_retry"])
def test_other_clients_user_gets_404_on_mail_actions(world: World, name: str) -> None:
    (row,) = queue(world)
    assert (
        world.http(world.portal_b).post(reverse(f"mail:{name}", args=[row.pk])).status_code == 404
    )
