"""``atalaya demo``: load the demo data (idempotent) and print the demo logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atalaya.core.demo import (
    DEFAULT_SEED,
    DEFAULT_TICKETS,
    DemoError,
    demo_logins,
    is_loaded,
    load_demo,
)
from atalaya.core.models import Client


def format_logins(logins: list[tuple[str, str, str]]) -> str:
    """The demo accounts as an aligned table, for the terminal."""
    width = max(len(username) for username, _p, _w in logins)
    lines = ["Demo logins (these passwords exist only in demo data):"]
    lines += [f"  {username:<{width}}  {password:<6}  {who}" for username, password, who in logins]
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Load demo data: an MSP team, 12 client companies, about 60 contacts and about 2,000 "
        "tickets over the last 90 days. Running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the database already has clients",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help="the same seed gives the same data (default %(default)s)",
        )
        parser.add_argument(
            "--tickets",
            type=int,
            default=DEFAULT_TICKETS,
            help="tickets to make, besides duplicates (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if is_loaded():
            self.stdout.write("The demo data is already loaded; nothing to do.")
        elif options["if_empty"] and Client.objects.exists():
            self.stdout.write("The database already has clients; not loading the demo data.")
            return
        else:
            if options["tickets"] < 1:
                raise CommandError("--tickets must be at least 1")
            self.stdout.write("Loading the demo data…")
            try:
                result = load_demo(
                    seed=options["seed"],
                    tickets=options["tickets"],
                    progress=lambda message: self.stdout.write(f"  {message}"),
                )
            except DemoError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded {result.tickets} tickets with {result.events} timeline events and "
                    f"{result.contacts} contacts in {result.seconds:.1f} s."
                )
            )
        logins = demo_logins()
        if logins:
            self.stdout.write(format_logins(logins))
