"""Fetching over IMAP from a real Dovecot on 127.0.0.1 into tickets (mail/imap.py).

Each test has mail users of its own on the session's Dovecot, and puts its messages in
with APPEND. What is checked is what the server and the database hold afterwards.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from atalaya.mail import imap as fetcher
from atalaya.mail import services
from atalaya.mail.models import InboundMessage, Mailbox, Outcome
from atalaya.mail.tests import mails
from atalaya.mail.tests.imap_server import Dovecot
from atalaya.tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_mailbox(imap_server: Dovecot, user: str, security: str = "imaps", **extra: Any) -> Mailbox:
    settings = {**imap_server.mailbox_settings(user, security), **extra}
    return services.create_mailbox(actor=None, address=f"in-{user}", **settings)


def test_imaps_fetch_opens_tickets_and_marks_the_messages_seen(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Scanner offline", body="The scanner is offline."))
    imap.append(user, mails.build(subject="New laptop", body="We need a laptop for Eva."))
    mailbox = make_mailbox(imap, user, "imaps")

    report = _fetch(mailbox)

    assert (report.fetched, report.new_tickets, report.errors, report.error) == (2, 2, 0, "")
    tickets = Ticket.objects.filter(subject__in=["Scanner offline", "New laptop"])
    assert {t.client_id for t in tickets} == {world.client_a.pk}
    assert tickets.count() == 2
    rows = InboundMessage.objects.filter(mailbox=mailbox)
    assert {row.outcome for row in rows} == {Outcome.CREATED}
    assert all(r"\Seen" in flags for flags in imap.flags(user).values())
    mailbox.refresh_from_db()
    assert mailbox.last_fetched_at is not None
    assert mailbox.last_error == ""
    assert mailbox.fetch_claimed_at is None


def _fetch(mailbox: Mailbox, **kwargs: Any) -> fetcher.FetchReport:
    return fetcher.fetch_mailbox(mailbox, timeout=10, **kwargs)


def test_starttls_fetch_threads_a_reply_into_its_ticket(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    first = mails.build(subject="Outlook keeps asking for the password")
    imap.append(user, first)
    mailbox = make_mailbox(imap, user, "starttls")
    assert _fetch(mailbox).new_tickets == 1
    ticket = Ticket.objects.get(subject="Outlook keeps asking for the password")

    imap.append(user, mails.reply_to(first, body="It happened again this morning."))
    report = _fetch(mailbox)

    assert (report.fetched, report.replies, report.new_tickets) == (1, 1, 0)
    reply = InboundMessage.objects.get(mailbox=mailbox, outcome=Outcome.APPENDED)
    assert reply.ticket_id == ticket.pk
    assert reply.matched_rule == "in_reply_to"
    assert imap.unseen(user) == []


def test_plain_imap_only_when_the_mailbox_is_set_up_so(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Plain fetch"))
    report = _fetch(make_mailbox(imap, user, "plain"))
    assert (report.fetched, report.new_tickets, report.error) == (1, 1, "")


def test_fetching_again_changes_nothing(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Fetched once"))
    mailbox = make_mailbox(imap, user)
    assert _fetch(mailbox).fetched == 1
    counts = (Ticket.objects.count(), InboundMessage.objects.count())

    again = _fetch(mailbox)
    assert (again.fetched, again.error) == (0, "")

    # Someone marks it unread in their mail program: it comes again, as a duplicate.
    (uid,) = imap.flags(user)
    imap.mark_unseen(user, uid)
    third = _fetch(mailbox)
    assert (third.fetched, third.duplicates, third.new_tickets) == (1, 1, 0)
    assert (Ticket.objects.count(), InboundMessage.objects.count()) == counts
    assert imap.unseen(user) == []


def test_a_message_that_cannot_be_stored_stays_unseen_and_comes_next_time(
    world: Any, imap: Dovecot, settings: Any, tmp_path: Path
) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Stored on the second run"))
    mailbox = make_mailbox(imap, user)
    # The media storage cannot be written: its directory would have to be inside a file
    # (unlike a read-only mode, this stops root as well).
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.MEDIA_ROOT = blocker / "media"

    report = _fetch(mailbox)

    assert (report.fetched, report.errors, report.failed) == (0, 1, True)
    assert "could not be stored" in report.describe()
    assert imap.unseen(user) == [1]
    assert not InboundMessage.objects.exists()
    mailbox.refresh_from_db()
    assert "could not be stored" in mailbox.last_error

    settings.MEDIA_ROOT = tmp_path / "media-ok"
    report = _fetch(mailbox)

    assert (report.fetched, report.new_tickets, report.errors) == (1, 1, 0)
    assert imap.unseen(user) == []
    assert Ticket.objects.filter(subject="Stored on the second run").exists()
    mailbox.refresh_from_db()
    assert mailbox.last_error == ""


def test_a_wrong_password_is_a_clear_error_on_the_mailbox(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Never fetched"))
    mailbox = make_mailbox(imap, user, imap_password="not-the-password")

    report = _fetch(mailbox)

    assert report.failed and report.fetched == 0
    assert "refused the login" in report.error and user in report.error
    assert "not-the-password" not in report.error
    mailbox.refresh_from_db()
    assert mailbox.last_error == report.error
    assert mailbox.last_fetched_at is None
    assert imap.unseen(user) == [1]


@pytest.mark.parametrize("security", ["imaps", "starttls"])
def test_an_untrusted_certificate_fails_closed(
    world: Any, imap: Dovecot, settings: Any, security: str
) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Behind a self-signed certificate"))
    mailbox = make_mailbox(imap, user, security)
    settings.MAIL_CA_FILE = ""  # only the system's CAs, which never signed the test server
    logged = len(imap.log_text())

    report = _fetch(mailbox)

    assert report.fetched == 0
    assert "certificate" in report.error and "not trusted" in report.error
    assert not InboundMessage.objects.exists()
    # The password never went out: Dovecot saw no login attempt for this user.
    # Dovecot's log process writes a moment later.
    deadline = time.monotonic() + 10
    while "TLS handshaking" not in imap.log_text()[logged:] and time.monotonic() < deadline:
        time.sleep(0.05)
    during = imap.log_text()[logged:]
    assert "TLS handshaking" in during
    assert f"user=<{user}>" not in during
    assert imap.unseen(user) == [1]


def test_one_broken_mailbox_does_not_stop_the_others(world: Any, imap: Dovecot) -> None:
    good, bad = imap.add_user(), imap.add_user()
    imap.append(good, mails.build(subject="Still fetched"))
    # Both broken ones sort before the good one, so they are tried first.
    services.create_mailbox(
        actor=None,
        address="a-wrong-password@atalaya.test",
        **{**imap.mailbox_settings(bad), "imap_password": "nope"},
    )
    services.create_mailbox(
        actor=None,
        address="b-server-down@atalaya.test",
        **{**imap.mailbox_settings(bad), "imap_port": _closed_port()},
    )
    fine = services.create_mailbox(
        actor=None, address="c-good@atalaya.test", **imap.mailbox_settings(good)
    )
    services.create_mailbox(actor=None, address="d-piped@atalaya.test")  # no IMAP: not fetched

    reports = {report.mailbox: report for report in imap_fetch_all()}

    assert set(reports) == {
        "a-wrong-password@atalaya.test",
        "b-server-down@atalaya.test",
        "c-good@atalaya.test",
    }
    assert "refused the login" in reports["a-wrong-password@atalaya.test"].error
    assert "refused the connection" in reports["b-server-down@atalaya.test"].error
    assert reports["c-good@atalaya.test"].new_tickets == 1
    fine.refresh_from_db()
    assert fine.last_error == "" and fine.last_fetched_at is not None


def imap_fetch_all() -> list[fetcher.FetchReport]:
    return fetcher.fetch_all(timeout=10)


def _closed_port() -> int:
    from atalaya.mail.tests.imap_server import free_port

    return free_port()  # nothing listens there once the probe socket is closed


def test_a_large_mailbox_is_fetched_a_limited_batch_per_run(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    for n in range(3):
        imap.append(user, mails.build(subject=f"Batch {n}"))
    mailbox = make_mailbox(imap, user)

    first = _fetch(mailbox, limit=2)
    assert (first.fetched, first.remaining) == (2, 1)
    assert imap.unseen(user) == [3]
    second = _fetch(mailbox, limit=2)
    assert (second.fetched, second.remaining) == (1, 0)
    assert imap.unseen(user) == []


def test_a_mailbox_another_run_holds_is_skipped_until_its_claim_runs_out(
    world: Any, imap: Dovecot
) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Claimed"))
    mailbox = make_mailbox(imap, user)
    Mailbox.objects.filter(pk=mailbox.pk).update(fetch_claimed_at=timezone.now())

    assert _fetch(mailbox).skipped
    assert imap.unseen(user) == [1]

    # A run that crashed long ago: its claim is stale and taken over.
    stale = timezone.now() - fetcher.FETCH_LEASE - timedelta(seconds=1)
    Mailbox.objects.filter(pk=mailbox.pk).update(fetch_claimed_at=stale)
    report = _fetch(mailbox)
    assert (report.skipped, report.fetched) == (False, 1)
    mailbox.refresh_from_db()
    assert mailbox.fetch_claimed_at is None


def test_the_periodic_job_fetches_every_active_mailbox(world: Any, imap: Dovecot) -> None:
    from atalaya.mail import tasks

    user, idle = imap.add_user(), imap.add_user()
    imap.append(user, mails.build(subject="From the job"))
    imap.append(idle, mails.build(subject="Inactive mailbox"))
    make_mailbox(imap, user)
    make_mailbox(imap, idle, is_active=False)

    # What the consumer runs each minute (huey keeps no result of periodic jobs).
    reports = tasks.fetch_mailboxes_every_minute.call_local()

    assert [(r["mailbox"], r["new_tickets"]) for r in reports] == [(f"in-{user}", 1)]
    assert imap.unseen(idle) == [1]


def test_a_folder_other_than_the_inbox(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="In the inbox"))
    # "Soporte técnico" in IMAP's modified UTF-7, written out by hand.
    imap.append(user, mails.build(subject="In Soporte técnico"), folder='"Soporte t&AOk-cnico"')
    mailbox = make_mailbox(imap, user, imap_folder="Soporte técnico")

    report = _fetch(mailbox)

    assert (report.fetched, report.error) == (1, "")
    assert Ticket.objects.filter(subject="In Soporte técnico").exists()
    assert imap.unseen(user) == [1]  # the inbox was left alone

    missing = make_mailbox(imap, imap.add_user(), imap_folder="No such folder")
    assert "could not be opened" in _fetch(missing).error


def test_an_unreadable_ca_file_is_named_in_the_error(
    world: Any, imap: Dovecot, settings: Any, tmp_path: Path
) -> None:
    user = imap.add_user()
    settings.MAIL_CA_FILE = str(tmp_path / "missing-ca.pem")

    report = _fetch(make_mailbox(imap, user))

    assert "missing-ca.pem" in report.error and "ATALAYA_MAIL_CA_FILE" in report.error
