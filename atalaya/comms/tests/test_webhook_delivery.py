"""Webhook delivery against real HTTP servers on 127.0.0.1: signatures, retries, hangs,
refused ports, 410, redirects, two workers at once, rollbacks and repeated events."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.utils import timezone

from atalaya.comms.tests.helpers import announce
from atalaya.comms.tests.receiver import receiver
from atalaya.comms.webhooks import http, outbox, services, signing
from atalaya.comms.webhooks.models import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from atalaya.conftest import World
from atalaya.tickets import services as ticket_services
from atalaya.tickets.tests.test_services import threads_use_a_file_database

ALL = ["ticket.created", "announcement.published", "alert.opened"]


def hook(url: str, events: list[str] | None = None, name: str = "Chat") -> Webhook:
    return services.create_webhook(actor=None, name=name, url=url, events=events or ALL)


def new_ticket(world: World, subject: str = "Printer on fire") -> Any:
    return ticket_services.create_ticket(
        actor=world.tech, client=world.client_a, subject=subject, body="internal detail"
    )


def emit(webhook: Webhook, n: int, event: str = "ticket.created") -> list[WebhookDelivery]:
    for i in range(n):
        key = f"test:{webhook.pk}:{i}:{time.monotonic_ns()}"
        outbox.emit_event(event, {"n": i}, key=key, webhooks=[webhook])
    return list(WebhookDelivery.objects.filter(webhook=webhook).order_by("id"))


def test_a_new_ticket_reaches_a_receiver_that_checks_the_signature(world: World) -> None:
    with receiver() as r:
        webhook = hook(r.url)
        ticket = new_ticket(world)
        delivery = WebhookDelivery.objects.get(webhook=webhook)
        report = outbox.deliver_due()
    assert (report.claimed, report.delivered) == (1, 1)
    (got,) = r.requests
    secret = signing.secret_for(webhook.public_id, webhook.secret_version)
    assert signing.verify(
        secret, got.headers["X-Atalaya-Timestamp"], got.body, got.headers["X-Atalaya-Signature"]
    )
    assert not signing.verify(
        "wrong", got.headers["X-Atalaya-Timestamp"], got.body, got.headers["X-Atalaya-Signature"]
    )
    assert abs(int(got.headers["X-Atalaya-Timestamp"]) - time.time()) < 30
    assert got.headers["X-Atalaya-Event"] == "ticket.created"
    assert got.headers["X-Atalaya-Delivery"] == str(delivery.public_id)
    assert got.headers["Content-Type"] == "application/json"
    assert got.path == "/hook?x=1"
    body = json.loads(got.body)
    assert set(body) == {"id", "event", "occurred_at", "data"}
    assert body["data"] == {
        "number": ticket.number,
        "subject": "Printer on fire",
        "client": world.client_a.name,
        "priority": ticket.priority,
        "url": f"http://127.0.0.1:8000/tickets/{ticket.number}/",
    }
    assert b"internal detail" not in got.body
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    (attempt,) = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code == 200 and not attempt.error
    assert len(attempt.response_body) == 1024 and attempt.response_body.startswith("ok x")


def test_the_secret_is_derived_and_rotates(world: World, settings: Any) -> None:
    webhook = hook("https://chat.example/hook")
    first = signing.secret_for(webhook.public_id, 1)
    assert len(first) == 64 and first not in json.dumps(list(Webhook.objects.values()), default=str)
    services.rotate_secret(actor=world.admin, webhook=webhook)
    webhook.refresh_from_db()
    assert webhook.secret_version == 2
    assert signing.secret_for(webhook.public_id, 2) != first
    settings.SECRET_KEY = "another-key"
    assert signing.secret_for(webhook.public_id, 1) != first
    with pytest.raises(PermissionDenied):
        services.rotate_secret(actor=world.tech, webhook=webhook)


def test_500_then_200_is_retried_and_delivered_once(world: World) -> None:
    with receiver(answers=[500, 200]) as r:
        webhook = hook(r.url)
        (delivery,) = emit(webhook, 1)
        first = outbox.deliver_due()
        delivery.refresh_from_db()
        assert (first.retried, delivery.status, delivery.attempts) == (1, "queued", 1)
        assert delivery.last_status_code == 500
        wait = delivery.next_attempt_at - timezone.now()
        assert timedelta(seconds=50) < wait <= timedelta(minutes=1)
        assert outbox.deliver_due().claimed == 0  # not due yet
        later = timezone.now() + timedelta(minutes=2)
        assert outbox.deliver_due(now=later).delivered == 1
        assert outbox.deliver_due(now=later + timedelta(days=2)).claimed == 0
    assert len(r.requests) == 2
    assert len({q.headers["X-Atalaya-Delivery"] for q in r.requests}) == 1
    assert r.requests[0].body == r.requests[1].body
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert list(delivery.tries.values_list("status_code", flat=True)) == [500, 200]


def test_backoff_then_failure_after_eight_attempts(world: World) -> None:
    with receiver(answers=[503]) as r:
        (delivery,) = emit(hook(r.url), 1)
        waits = []
        now = timezone.now()
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.deliver_due(now=now)
            delivery.refresh_from_db()
            waits.append(delivery.next_attempt_at - timezone.now())
            now = delivery.next_attempt_at + timedelta(seconds=1)
        assert outbox.deliver_due(now=now + timedelta(days=3)).claimed == 0
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 8
    assert len(r.requests) == 8
    expected = [timedelta(minutes=m) for m in (1, 5, 30, 120, 360, 720, 1440)]
    for got, want in zip(waits[:7], expected, strict=True):
        assert want - timedelta(seconds=30) < got <= want


def test_a_hanging_receiver_times_out_and_does_not_hold_the_others(
    world: World, monkeypatch: Any
) -> None:
    monkeypatch.setattr(http, "TOTAL_TIMEOUT", 1.5)
    with receiver(hang=6) as slow, receiver() as fast:
        stuck = emit(hook(slow.url, name="Slow"), 1)[0]
        quick = emit(hook(fast.url, name="Fast"), 8)
        started = time.monotonic()
        report = outbox.deliver_due()
        took = time.monotonic() - started
    assert took < 4, took  # bounded by the 1.5 s deadline, not the 6 s hang
    assert report.delivered == 8 and report.retried == 1
    assert len(fast.requests) == 8
    stuck.refresh_from_db()
    assert stuck.status == DeliveryStatus.QUEUED and stuck.claimed_at is None
    assert "timed out" in stuck.last_error
    attempt = stuck.tries.get()
    assert 1400 <= attempt.duration_ms < 3000 and attempt.status_code is None
    assert all(
        d.status == DeliveryStatus.DELIVERED
        for d in WebhookDelivery.objects.filter(pk__in=[q.pk for q in quick])
    )


def test_a_dripping_receiver_is_cut_at_the_total_deadline(monkeypatch: Any) -> None:
    """Bytes every 0.3 s keep every socket read short: only the watchdog stops it."""
    monkeypatch.setattr(http, "TOTAL_TIMEOUT", 1.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def drip() -> None:
        conn, _addr = server.accept()
        conn.recv(65536)
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(20):
                conn.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.3)
        except OSError:
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    started = time.monotonic()
    outcome = http.post(f"http://127.0.0.1:{port}/", b"{}", {})
    assert time.monotonic() - started < 2.0
    assert outcome.status_code is None and "timed out" in outcome.error
    server.close()


def test_a_refused_port_is_recorded_and_retried(world: World) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    (delivery,) = emit(hook(f"http://127.0.0.1:{port}/"), 1)
    report = outbox.deliver_due()
    delivery.refresh_from_db()
    assert report.retried == 1
    assert delivery.status == DeliveryStatus.QUEUED and delivery.last_error == "connection refused"
    assert delivery.tries.get().error == "connection refused"


def test_410_gone_switches_the_webhook_off(world: World) -> None:
    with receiver(answers=[410]) as r:
        webhook = hook(r.url)
        first, second = emit(webhook, 2)
        # One request goes out; the answer stops the rest (in flight ones may still go).
        outbox.POOL_SIZE, saved = 1, outbox.POOL_SIZE
        try:
            report = outbox.deliver_due()
        finally:
            outbox.POOL_SIZE = saved
    webhook.refresh_from_db()
    assert not webhook.is_active and "410" in webhook.disabled_reason
    assert report.disabled == 1
    first.refresh_from_db()
    assert first.status == DeliveryStatus.FAILED and "410" in first.last_error
    assert len(r.requests) == 1
    second.refresh_from_db()
    assert second.status == DeliveryStatus.CANCELLED
    assert outbox.emit_event("ticket.created", {"n": 1}, key="after-410") == 0


def test_redirects_are_not_followed(world: World) -> None:
    with receiver(answers=[302], extra_headers={"Location": "http://127.0.0.1:9/elsewhere"}) as r:
        (delivery,) = emit(hook(r.url), 1)
        outbox.deliver_due()
    delivery.refresh_from_db()
    assert len(r.requests) == 1
    assert delivery.status == DeliveryStatus.QUEUED and delivery.last_status_code == 302
    assert "not followed" in delivery.last_error


def test_a_rollback_emits_nothing(world: World) -> None:
    hook("http://127.0.0.1:9/")
    with pytest.raises(RuntimeError), transaction.atomic():
        new_ticket(world)
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("the change fails after the event")
    assert WebhookDelivery.objects.count() == 0


def test_the_same_event_twice_is_one_delivery(world: World) -> None:
    webhook = hook("http://127.0.0.1:9/")
    other = hook("http://127.0.0.1:9/other", name="Other")
    assert outbox.emit_event("ticket.created", {"a": 1}, key="ticket.created:42") == 2
    with transaction.atomic():
        assert outbox.emit_event("ticket.created", {"a": 1}, key="ticket.created:42") == 0
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 1
    assert WebhookDelivery.objects.filter(webhook=other).count() == 1
    bodies = {json.loads(d.body)["id"] for d in WebhookDelivery.objects.all()}
    assert len(bodies) == 1  # one event id on every webhook


def test_only_active_subscribed_webhooks_get_an_event(world: World) -> None:
    hook("http://127.0.0.1:9/a", events=["alert.opened"], name="Alerts")
    off = hook("http://127.0.0.1:9/b", name="Off")
    services.update_webhook(
        actor=world.admin, webhook=off, name="Off", url=off.url, events=ALL, is_active=False
    )
    new_ticket(world)
    assert WebhookDelivery.objects.count() == 0


def test_public_announcements_are_published_private_ones_are_not(world: World) -> None:
    from atalaya.comms import services as comms_services

    webhook = hook("http://127.0.0.1:9/", events=["announcement.published"])
    private = announce(world.tech)
    public = announce(world.tech, is_public=True, subject_en="<b>Open</b>")
    comms_services.send_announcement(actor=world.tech, announcement=private)
    comms_services.send_announcement(actor=world.tech, announcement=public)
    (delivery,) = WebhookDelivery.objects.filter(webhook=webhook)
    data = json.loads(delivery.body)["data"]
    assert data["subject"]["en"] == "<b>Open</b>"
    assert data["url"]["es"].endswith(f"/news/{public.public_id}/?lang=es")
    assert "body" not in data


@pytest.mark.parametrize(
    "url",
    [
        "ftp://chat.example/hook",
        "javascript:alert(1)",
        "https://user:secret@chat.example/hook",
        "https://chat.example/" + "a" * 2000,
        "https:///nohost",
        "http://chat.example/a b",
        "",
    ],
)
def test_bad_urls_are_refused_by_name(world: World, url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        services.create_webhook(actor=world.admin, name="x", url=url, events=ALL)
    assert "url" in caught.value.error_dict


def test_private_addresses_are_allowed_and_only_admins_write(world: World) -> None:
    services.create_webhook(
        actor=world.admin, name="LAN chat", url="http://192.168.1.10:8065/hooks/x", events=ALL
    )
    with pytest.raises(ValidationError) as caught:
        services.create_webhook(
            actor=world.admin, name="x", url="http://a.example", events=["nope"]
        )
    assert "events" in caught.value.error_dict
    for user in (world.tech, world.readonly, world.billing):
        with pytest.raises(PermissionDenied):
            services.create_webhook(actor=user, name="x", url="http://a.example", events=ALL)


def test_retry_now_and_test_event(world: World) -> None:
    with receiver(answers=[500]) as r:
        webhook = hook(r.url)
        delivery = services.send_test_event(actor=world.admin, webhook=webhook)
        assert delivery.event == "webhook.test"
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.deliver_due(now=timezone.now() + timedelta(days=2))
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.FAILED
        r.answers = [200]
        services.retry_delivery(actor=world.admin, delivery=delivery)
        assert outbox.deliver_due().delivered == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    with pytest.raises(ValidationError):
        services.retry_delivery(actor=world.admin, delivery=delivery)
    assert json.loads(r.requests[-1].body)["event"] == "webhook.test"


def test_a_crashed_workers_claim_is_taken_over_after_the_lease(world: World) -> None:
    with receiver() as r:
        (delivery,) = emit(hook(r.url), 1)
        long_ago = timezone.now() - outbox.LEASE - timedelta(seconds=5)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SENDING, claimed_at=long_ago
        )
        report = outbox.deliver_due()
    assert (report.taken_over, report.delivered) == (1, 1)
    assert len(r.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_a_delivery_twice(world: World, tmp_path: Path) -> None:
    with receiver() as r:
        webhook = hook(r.url)
        rows = emit(webhook, 40)
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def worker() -> None:
            try:
                start.wait()
                outbox.deliver_due()
            except BaseException as error:  # surfaced below
                errors.append(error)
            finally:
                connections.close_all()

        statuses: list[str] = []

        def read_back() -> None:
            statuses.extend(WebhookDelivery.objects.values_list("status", flat=True))
            connections.close_all()

        with threads_use_a_file_database(tmp_path):
            threads = [threading.Thread(target=worker) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            reader = threading.Thread(target=read_back)
            reader.start()
            reader.join(60)
    assert not errors, errors
    ids = [q.headers["X-Atalaya-Delivery"] for q in r.requests]
    assert len(ids) == len(set(ids)) == len(rows)
    assert statuses == [DeliveryStatus.DELIVERED] * len(rows)
