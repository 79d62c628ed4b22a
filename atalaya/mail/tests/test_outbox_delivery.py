"""Delivering the outbox to a real SMTP server: batches, backoff, failures, crashes, races."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from atalaya.conftest import World
from atalaya.mail import outbox
from atalaya.mail.models import (
    Delivery,
    FailingAddress,
    OutboundKind,
    OutboundMessage,
)
from atalaya.mail.tests.smtp_server import SmtpServer
from atalaya.tickets.tests.test_services import threads_use_a_file_database


def queue(
    world: World, n: int = 1, *, kind: str = OutboundKind.RESOLVED, to: str = ""
) -> list[OutboundMessage]:
    rows = []
    for i in range(n):
        row = outbox.queue_mail(
            key=f"test:{kind}:{to}:{i}:{time.monotonic_ns()}",
            kind=kind,
            client=world.client_a,
            to_address=to or f"person{i}@alfa.example",
            to_name=f"Person {i}",
            subject=f"Mail {i}",
            body_text=f"Body {i}",
        )
        assert row is not None
        rows.append(row)
    return rows


@pytest.fixture
def smtp(smtp_server: SmtpServer, settings: Any) -> SmtpServer:
    settings.SMTP_URL = smtp_server.url
    return smtp_server


def test_due_mail_is_sent_over_one_connection(world: World, smtp: SmtpServer) -> None:
    rows = queue(world, 5)
    report = outbox.deliver_due()
    assert (report.claimed, report.sent, report.failed) == (5, 5, 0)
    received = smtp.messages
    assert sorted(m.message_id for m in received) == sorted(f"<{r.message_id}>" for r in rows)
    for row in OutboundMessage.objects.all():
        assert row.status == Delivery.SENT and row.sent_at is not None
        assert (row.attempts, row.claimed_at, row.last_error) == (1, None, "")
    assert outbox.deliver_due().claimed == 0


def test_without_smtp_url_nothing_is_sent(world: World, settings: Any) -> None:
    settings.SMTP_URL = ""
    (row,) = queue(world)
    report = outbox.deliver_due()
    assert not report.configured and report.claimed == 0
    row.refresh_from_db()
    assert row.status == Delivery.QUEUED and row.attempts == 0


def test_mail_not_yet_due_waits(world: World, smtp: SmtpServer) -> None:
    (row,) = queue(world)
    OutboundMessage.objects.filter(pk=row.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=3)
    )
    assert outbox.deliver_due().claimed == 0
    assert outbox.deliver_due(now=timezone.now() + timedelta(minutes=4)).sent == 1


def test_temporary_failures_back_off_then_fail(world: World, smtp: SmtpServer) -> None:
    (row,) = queue(world)
    smtp.fail_next("451 4.3.0 Mailbox busy, try later", times=outbox.MAX_ATTEMPTS)
    now = timezone.now()
    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        report = outbox.deliver_due(now=now)
        assert report.claimed == 1
        row.refresh_from_db()
        assert row.attempts == attempt and "451 4.3.0" in row.last_error
        if attempt < outbox.MAX_ATTEMPTS:
            assert row.status == Delivery.QUEUED
            waits.append(row.next_attempt_at - now)
            # Not before its time.
            assert outbox.deliver_due(now=row.next_attempt_at - timedelta(seconds=1)).claimed == 0
            now = row.next_attempt_at
    assert row.status == Delivery.FAILED
    assert [int(w.total_seconds() // 60) for w in waits] == [1, 5, 30, 120, 360, 720, 1440]
    assert smtp.messages == []


def test_a_temporary_failure_then_success(world: World, smtp: SmtpServer) -> None:
    (row,) = queue(world)
    smtp.fail_next("421 4.7.0 Too many connections")
    now = timezone.now()
    assert outbox.deliver_due(now=now).retried == 1
    assert outbox.deliver_due(now=now + timedelta(minutes=1)).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Delivery.SENT, 2, "")
    assert len(smtp.messages) == 1


def test_unknown_user_fails_and_marks_the_address(world: World, smtp: SmtpServer) -> None:
    smtp.reject("gone@alfa.example", "550 5.1.1 <gone@alfa.example>: user unknown")
    first, ok = queue(world, to="gone@alfa.example")[0], queue(world)[0]
    report = outbox.deliver_due()
    assert (report.sent, report.failed) == (1, 1)
    first.refresh_from_db()
    assert first.status == Delivery.FAILED and "5.1.1" in first.last_error
    failing = FailingAddress.objects.get(address="gone@alfa.example")
    assert failing.is_failing and "user unknown" in failing.reason
    assert [m.rcpt_tos for m in smtp.messages] == [[ok.to_address]]
    # Later mail to the failing address is not tried at all.
    (later,) = queue(world, to="gone@alfa.example")
    report = outbox.deliver_due()
    assert report.skipped_failing == 1 and report.claimed == 1
    later.refresh_from_db()
    assert later.status == Delivery.FAILED and "bounces" in later.last_error
    assert later.attempts == 0


def test_a_rejected_message_is_not_a_bad_address(world: World, smtp: SmtpServer) -> None:
    smtp.fail_next("554 5.7.1 Message rejected as spam")
    (row,) = queue(world)
    assert outbox.deliver_due().failed == 1
    row.refresh_from_db()
    assert row.status == Delivery.FAILED and "5.7.1" in row.last_error
    assert not FailingAddress.objects.exists()


def test_unreachable_server_requeues_the_batch(world: World, settings: Any) -> None:
    from atalaya.mail.tests.smtp_server import _free_port

    settings.SMTP_URL = f"smtp://127.0.0.1:{_free_port()}?timeout=2"
    queue(world, 3)
    report = outbox.deliver_due()
    assert (report.claimed, report.retried, report.sent) == (3, 3, 0)
    assert set(OutboundMessage.objects.values_list("status", "attempts")) == {(Delivery.QUEUED, 1)}


def test_crash_before_sending_is_sent_once_after_the_lease(world: World, smtp: SmtpServer) -> None:
    (row,) = queue(world)
    crashed_at = timezone.now()
    # A worker claimed the row and died before talking to the server.
    assert OutboundMessage.objects.filter(pk=row.pk).update(
        status=Delivery.SENDING, claimed_at=crashed_at
    )
    # Within the lease the claim is respected: it may be a slow worker, not a dead one.
    assert outbox.deliver_due(now=crashed_at + timedelta(minutes=5)).claimed == 0
    report = outbox.deliver_due(now=crashed_at + outbox.LEASE + timedelta(seconds=1))
    assert (report.claimed, report.taken_over, report.sent) == (1, 1, 1)
    assert [m.message_id for m in smtp.messages] == [f"<{row.message_id}>"]
    assert outbox.deliver_due(now=crashed_at + timedelta(hours=1)).claimed == 0
    assert len(smtp.messages) == 1


def test_crash_after_sending_resends_the_same_mail(
    world: World, smtp: SmtpServer, settings: Any, tmp_path: Any
) -> None:
    (row,) = queue(world)
    sent_at = timezone.now()
    assert outbox.deliver_due(now=sent_at).sent == 1
    # The server said 250 but the worker died before writing "sent": the row is as
    # the worker's claim left it.
    OutboundMessage.objects.filter(pk=row.pk).update(
        status=Delivery.SENDING, claimed_at=sent_at, sent_at=None, attempts=0
    )
    report = outbox.deliver_due(now=sent_at + outbox.LEASE + timedelta(seconds=1))
    assert report.taken_over == 1 and report.sent == 1
    first, again = smtp.messages
    # The very same mail: same Message-ID, same Date, same bytes.
    assert first.message_id == again.message_id == f"<{row.message_id}>"
    assert first.data == again.data
    row.refresh_from_db()
    assert row.status == Delivery.SENT
    # Atalaya's own ledger keeps one of the two copies (a CC to one of its mailboxes).
    from atalaya.mail import inbound

    settings.MEDIA_ROOT = tmp_path
    results = [inbound.ingest(first.data), inbound.ingest(again.data)]
    assert [r.is_duplicate for r in results] == [False, True]
    assert results[0].inbound_id == results[1].inbound_id


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_a_mail_twice(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    rows = queue(world, 120)
    reports: list[outbox.DeliveryReport] = []
    statuses: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            reports.append(outbox.deliver_due(limit=500))
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    def read_back() -> None:
        statuses.extend(OutboundMessage.objects.values_list("status", flat=True))
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
    ids = [m.message_id for m in smtp.messages]
    assert len(ids) == len(set(ids)) == len(rows)
    assert sum(r.sent for r in reports) == len(rows)
    assert statuses == [Delivery.SENT] * len(rows)


def test_announcements_are_throttled(world: World, smtp: SmtpServer, settings: Any) -> None:
    settings.ANNOUNCEMENT_RATE_PER_S = 20
    queue(world, 8, kind=OutboundKind.REPLY)
    started = time.monotonic()
    assert outbox.deliver_due().sent == 8
    unthrottled = time.monotonic() - started
    queue(world, 8, kind=OutboundKind.ANNOUNCEMENT)
    started = time.monotonic()
    assert outbox.deliver_due().sent == 8
    throttled = time.monotonic() - started
    # Eight at 20 a second: seven gaps of 50 ms at least.
    assert throttled >= 7 / 20 - 0.01
    assert unthrottled < throttled


def test_retry_and_cancel(world: World, smtp: SmtpServer) -> None:
    smtp.reject("gone@alfa.example", "550 5.1.1 user unknown")
    failed, queued = queue(world, to="gone@alfa.example")[0], queue(world)[0]
    outbox.deliver_due()
    failed.refresh_from_db()
    assert failed.status == Delivery.FAILED
    # Queue another before delivering, to cancel it.
    (later,) = queue(world, to="later@alfa.example")
    with pytest.raises(PermissionDenied):
        outbox.cancel_message(later, actor=world.readonly)
    outbox.cancel_message(later, actor=world.tech)
    later.refresh_from_db()
    assert later.status == Delivery.CANCELLED
    with pytest.raises(ValidationError):
        outbox.cancel_message(later, actor=world.tech)
    with pytest.raises(ValidationError):
        outbox.retry_message(OutboundMessage.objects.get(pk=queued.pk), actor=world.tech)
    # The client fixed the mailbox; a technician sends it again.
    smtp.reset()
    outbox.retry_message(failed, actor=world.tech)
    assert failed.status == Delivery.QUEUED and failed.attempts == 0
    assert not FailingAddress.objects.get(address="gone@alfa.example").is_failing
    assert outbox.deliver_due().sent == 1
    assert [m.message_id for m in smtp.messages] == [f"<{failed.message_id}>"]
    assert outbox.deliver_due().claimed == 0  # the cancelled one stays unsent


def test_deliver_command(world: World, smtp: SmtpServer, settings: Any) -> None:
    queue(world, 2)
    out = StringIO()
    call_command("mail", "deliver", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert (data["configured"], data["sent"], data["failed"]) == (True, 2, 0)
    out = StringIO()
    call_command("mail", "deliver", stdout=out)
    assert "sent 0" in out.getvalue()
    settings.SMTP_URL = ""
    out = StringIO()
    call_command("mail", "deliver", stdout=out)
    assert "ATALAYA_SMTP_URL is empty" in out.getvalue()


def test_delivery_jobs(world: World, smtp: SmtpServer, settings: Any) -> None:
    from atalaya.mail import tasks

    queue(world, 2)
    # Jobs run inline in the tests (HUEY.immediate): the kicked job delivers.
    tasks.deliver_outbox()
    assert len(smtp.messages) == 2
    settings.SMTP_URL = "smtps://host:notaport"
    queue(world, 1)
    tasks.deliver_outbox()  # a bad setting is logged; the mail stays queued
    assert OutboundMessage.objects.filter(status=Delivery.QUEUED).count() == 1
