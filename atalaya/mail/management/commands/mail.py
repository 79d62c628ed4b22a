"""``atalaya mail ingest|fetch|deliver``: the mail channel from the command line.

``ingest`` reads one RFC 822 message on standard input, the way an MTA pipes mail
(Postfix: ``atalaya unix - n n - - pipe user=atalaya argv=/opt/atalaya/bin/atalaya
mail ingest --mailbox support@example.com``). Its exit status is 0 whenever the
message was stored, dead letters included, so the MTA does not bounce or retry it;
75 (EX_TEMPFAIL) when it could not be stored, so the MTA keeps it and tries again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Receive mail (ingest from standard input, fetch over IMAP) and send the outbox."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ingest = sub.add_parser("ingest", help="Read one message on standard input.")
        ingest.add_argument("--mailbox", default="", help="The address it was delivered to.")
        ingest.add_argument("--json", action="store_true", help="Print one JSON object.")
        fetch = sub.add_parser("fetch", help="Poll the IMAP mailboxes once.")
        fetch.add_argument("--mailbox", default="", help="Only this mailbox's address.")
        fetch.add_argument("--json", action="store_true", help="Print one JSON object.")
        deliver = sub.add_parser("deliver", help="Send the outbox's due mail once.")
        deliver.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        from atalaya.mail import cli

        getattr(cli, options["action"])(self, **options)
