"""``atalaya user create USERNAME --role ROLE``: staff accounts from the command line.

The first administrator of a fresh install is made this way (Django's createsuperuser
knows nothing of Atalaya's roles). The password is asked for, or read from
ATALAYA_NEW_PASSWORD for scripted installs, never taken as an argument (it would land
in the shell history and the process list).
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from atalaya.core.models import Role, User
from atalaya.core.services import create_staff_user

STAFF_ROLE_NAMES = [r.value for r in Role if r != Role.PORTAL]


class Command(BaseCommand):
    help = "Create staff users and list them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a staff user with a role.")
        create.add_argument("username")
        create.add_argument("--role", choices=STAFF_ROLE_NAMES, default=Role.TECHNICIAN.value)
        create.add_argument("--email", default="")
        create.add_argument("--language", choices=["en", "es"], default="en")
        create.add_argument("--time-zone", default="Europe/Madrid")
        sub.add_parser("list", help="Staff users with their roles.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for user in User.objects.exclude(role=Role.PORTAL).order_by("username"):
                state = "" if user.is_active else " (inactive)"
                self.stdout.write(f"{user.username}\t{user.role}{state}")
            return
        password = os.environ.get("ATALAYA_NEW_PASSWORD") or self._ask_password()
        try:
            user = create_staff_user(
                actor=None,
                username=options["username"],
                password=password,
                role=options["role"],
                email=options["email"],
                language=options["language"],
                time_zone=options["time_zone"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(f"Created {user.username} ({user.role}).")

    def _ask_password(self) -> str:
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords do not match.")
        return first
