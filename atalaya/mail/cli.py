"""What ``atalaya mail …`` does; the management command only parses the arguments.

Each function gets the command (for its stdout and style) and the parsed options.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


def ingest(command: BaseCommand, **options: Any) -> None:
    """Read one message on standard input into the pipeline (mail/inbound.py).

    Prints what became of it (``--json``: one object). Exit status 0 whenever the mail
    was stored, dead letters and duplicates included; 75 (EX_TEMPFAIL) when it could
    not be stored at all, so the MTA keeps it and delivers it again later.
    """
    import json
    import sys

    from atalaya.mail import inbound
    from atalaya.mail.models import Mailbox

    stdin = getattr(command, "stdin", None) or sys.stdin.buffer
    raw = stdin.read()
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    address = (options.get("mailbox") or "").strip().lower()
    try:
        mailbox = None
        if address:
            mailbox = Mailbox.objects.filter(address=address).first()
            if mailbox is None:
                # Still stored: the recipients may name a mailbox; losing mail is worse.
                command.stderr.write(f"There is no mailbox {address}; taken from the recipients.")
        result = inbound.ingest(raw, mailbox=mailbox)
    except Exception as exc:  # noqa: BLE001 - anything here means: not stored, try later
        command.stderr.write(f"The mail could not be stored: {type(exc).__name__}: {exc}")
        raise SystemExit(75) from None
    if options.get("json"):
        command.stdout.write(json.dumps(result.as_dict()))
    else:
        command.stdout.write(result.describe())


def fetch(command: BaseCommand, **options: Any) -> None:
    """Poll the active IMAP mailboxes once (mail/imap.py), or only ``--mailbox``.

    Prints one line per mailbox (``--json``: one object with a report per mailbox and
    the totals). Exits non-zero when a mailbox could not be fetched or a message could
    not be stored; the others are fetched all the same.
    """
    import json

    from django.core.management.base import CommandError

    from atalaya.mail import imap
    from atalaya.mail.models import Mailbox

    address = (options.get("mailbox") or "").strip().lower()
    if address:
        mailbox = Mailbox.objects.filter(address=address).first()
        if mailbox is None:
            raise CommandError(f"There is no mailbox {address}.")
        reports = [imap.fetch_mailbox(mailbox)]
    else:
        reports = imap.fetch_all()
    failed = [report for report in reports if report.failed]
    if options.get("json"):
        totals = {
            key: sum(getattr(report, key) for report in reports)
            for key in ("fetched", "new_tickets", "replies", "duplicates", "dead_letters", "errors")
        }
        command.stdout.write(
            json.dumps(
                {
                    "mailboxes": [report.as_dict() for report in reports],
                    **totals,
                    "failed": len(failed),
                }
            )
        )
    elif not reports:
        command.stdout.write("No active mailbox is fetched over IMAP.")
    else:
        for report in reports:
            (command.stderr if report.failed else command.stdout).write(report.describe())
    if failed:
        names = ", ".join(report.mailbox for report in failed)
        raise CommandError(f"{len(failed)} mailbox(es) failed: {names}", returncode=1)


def deliver(command: BaseCommand, **options: Any) -> None:
    """Send the outbox's due mail once (mail/outbox.py) and print what happened."""
    import json

    from django.core.management.base import CommandError

    from atalaya.mail import outbox, smtp

    try:
        report = outbox.deliver_due()
    except smtp.SmtpUrlError as error:
        raise CommandError(str(error)) from None
    if options.get("json"):
        command.stdout.write(json.dumps(report.as_dict()))
        return
    if not report.configured:
        command.stdout.write("ATALAYA_SMTP_URL is empty: nothing sent, the mail stays queued.")
        return
    command.stdout.write(
        f"claimed {report.claimed} (taken over {report.taken_over}), sent {report.sent}, "
        f"retry later {report.retried}, failed {report.failed} "
        f"(address bounces: {report.skipped_failing}) in {report.seconds:.2f} s"
    )
    for line in report.errors[:20]:
        command.stderr.write(line)
