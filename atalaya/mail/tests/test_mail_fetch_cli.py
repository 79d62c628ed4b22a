"""``atalaya mail fetch``: what it prints and its exit status, against a real Dovecot.

The command runs in-process (the test database is not visible to a child process).
Its exit status is the return code of the CommandError it raises, which Django's
command runner passes to ``sys.exit``; the runner itself is not used because it closes
the database connections, the test's transaction among them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from atalaya.mail import services
from atalaya.mail.models import Mailbox
from atalaya.mail.tests import mails
from atalaya.mail.tests.imap_server import Dovecot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@dataclass
class Run:
    status: int
    out: str
    err: str


def run(*argv: str) -> Run:
    """The command's exit status and output, as the shell would see them."""
    out, err = StringIO(), StringIO()
    try:
        call_command("mail", "fetch", *argv, stdout=out, stderr=err)
    except CommandError as exc:
        # What the runner prints before it exits with exc.returncode.
        err.write(f"CommandError: {exc}\n")
        return Run(exc.returncode, out.getvalue(), err.getvalue())
    return Run(0, out.getvalue(), err.getvalue())


def mailbox_for(imap: Dovecot, user: str, address: str, **extra: Any) -> Mailbox:
    return services.create_mailbox(
        actor=None, address=address, **{**imap.mailbox_settings(user), **extra}
    )


def test_fetch_prints_a_line_per_mailbox(world: Any, imap: Dovecot, settings: Any) -> None:
    settings.MAIL_MAX_BYTES = 20_000  # a larger mail is kept as a dead letter
    user = imap.add_user()
    first = mails.build(subject="Wifi down in the warehouse")
    imap.append(user, first)
    imap.append(user, mails.reply_to(first, body="Still down."))
    imap.append(user, mails.build(subject="Huge", body="x" * 30_000))
    mailbox_for(imap, user, "support@atalaya.test")

    result = run()

    assert result.status == 0
    assert result.out.strip() == (
        "support@atalaya.test: 3 fetched, 1 new tickets, 1 replies, 0 duplicates, "
        "1 dead letters, 0 errors"
    )
    assert imap.unseen(user) == []


def test_fetch_json_is_one_object(world: Any, imap: Dovecot) -> None:
    user = imap.add_user()
    imap.append(user, mails.build(subject="Shared drive is full"))
    mailbox_for(imap, user, "support@atalaya.test")

    result = run("--json")

    assert result.status == 0
    data = json.loads(result.out)
    assert data["fetched"] == 1 and data["new_tickets"] == 1 and data["failed"] == 0
    (report,) = data["mailboxes"]
    assert report["mailbox"] == "support@atalaya.test"
    assert (report["new_tickets"], report["error"], report["failed"]) == (1, "", False)


def test_a_failed_mailbox_makes_the_exit_status_non_zero(world: Any, imap: Dovecot) -> None:
    good, other = imap.add_user(), imap.add_user()
    imap.append(good, mails.build(subject="Fetched despite the other one"))
    mailbox_for(imap, other, "a-broken@atalaya.test", imap_password="s3cret-but-wrong")
    mailbox_for(imap, good, "b-good@atalaya.test")

    result = run("--json")

    assert result.status == 1
    data = json.loads(result.out)
    by_address = {report["mailbox"]: report for report in data["mailboxes"]}
    assert by_address["a-broken@atalaya.test"]["failed"] is True
    assert "refused the login" in by_address["a-broken@atalaya.test"]["error"]
    assert by_address["b-good@atalaya.test"]["new_tickets"] == 1
    assert data["failed"] == 1
    assert "a-broken@atalaya.test" in result.err
    assert "s3cret-but-wrong" not in result.out + result.err

    # As text, the failure goes to standard error with the reason.
    imap.append(good, mails.build(subject="Another one"))
    result = run()
    assert result.status == 1
    assert "b-good@atalaya.test: 1 fetched, 1 new tickets" in result.out
    assert "a-broken@atalaya.test" in result.err and "refused the login" in result.err


def test_only_the_mailbox_asked_for(world: Any, imap: Dovecot) -> None:
    one, two = imap.add_user(), imap.add_user()
    imap.append(one, mails.build(subject="For one"))
    imap.append(two, mails.build(subject="For two"))
    mailbox_for(imap, one, "one@atalaya.test")
    mailbox_for(imap, two, "two@atalaya.test")

    result = run("--mailbox", "ONE@atalaya.test")

    assert result.status == 0
    assert result.out.startswith("one@atalaya.test: 1 fetched")
    assert imap.unseen(one) == [] and imap.unseen(two) == [1]


def test_an_unknown_or_non_imap_mailbox_is_an_error(world: Any) -> None:
    services.create_mailbox(actor=None, address="piped@atalaya.test")

    unknown = run("--mailbox", "nobody@atalaya.test")
    assert unknown.status == 1
    assert "There is no mailbox nobody@atalaya.test" in unknown.err
    piped = run("--mailbox", "piped@atalaya.test")
    assert piped.status == 1
    assert "no IMAP server" in piped.err


def test_nothing_to_fetch(db: None) -> None:
    result = run()
    assert result.status == 0
    assert "No active mailbox" in result.out
